"""Executors: where attempts run. One interface (:class:`Executor`), one module per kind.

An executor only *hosts* attempts: it receives an envelope, runs
:func:`arco.orchestration.attempt.execute_attempt` somewhere, and that reports through a
:class:`~arco.orchestration.attempt.Reporter`. It decides nothing about the run; the
controller does, from the run ledger, whatever the executor did or failed to do.
"""

from __future__ import annotations

from typing import Protocol

from arco.orchestration.dispatch import TaskEnvelope

__all__ = ["Executor"]


class Executor(Protocol):
    """Runs attempts; reports go to the reporter it was built with."""

    #: the executor's name as runs record it (``inprocess``, ``pool``, ``dask://...``)
    name: str
    #: attempts it runs at once; the controller dispatches no more than this
    capacity: int

    def submit(self, envelope: TaskEnvelope) -> None:
        """Start the attempt (non-blocking). It reports ``started`` once it runs."""
        ...

    def cancel(self, attempt_id: str) -> None:
        """Ask a running attempt to stop (best effort; heartbeats also carry the request)."""
        ...

    def close(self) -> None:
        """Stop accepting attempts and release workers (running attempts are abandoned)."""
        ...
