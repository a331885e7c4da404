"""The reporter of executors that run in (or report through) the controller's process: each
report is an event appended to the run ledger (durable when the call returns), visible at
once to this process (``Runs.state`` folds it in memory) and published by a background
round that batches the reports of many attempts; the controller is woken after each."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from arco.orchestration.dispatch import TaskEnvelope, TaskResult
from arco.orchestration.runs import (
    ATTEMPT_ACTIVE,
    Runs,
    attempt_completed,
    attempt_heartbeat,
    attempt_started,
)

__all__ = ["LedgerReporter"]


class LedgerReporter:
    """Report attempts by appending ``attempt_*`` events to ``runs``."""

    def __init__(self, runs: Runs, on_event: Callable[[], None] | None = None) -> None:
        self.runs = runs
        self._on_event = on_event or (lambda: None)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def started(self, envelope: TaskEnvelope, worker: str) -> None:
        self.runs.append(
            [attempt_started(envelope.run_id, envelope.task_key, envelope.attempt_id, worker)],
            fold="background",
        )
        self._on_event()

    def heartbeat(self, envelope: TaskEnvelope) -> bool:
        """True when the attempt should stop: its run is cancelling, or it is no longer the
        task's current attempt (it was timed out and another one runs)."""
        with self._lock:
            seq = next(self._seq)
        event = attempt_heartbeat(envelope.run_id, envelope.task_key, envelope.attempt_id, seq)
        self.runs.append([event], fold="background")
        attempt = self.runs.state().attempts.get(envelope.attempt_id)
        return attempt is None or attempt.cancel_requested or attempt.state not in ATTEMPT_ACTIVE

    def completed(self, envelope: TaskEnvelope, result: TaskResult) -> None:
        event = attempt_completed(
            envelope.run_id,
            envelope.task_key,
            envelope.attempt_id,
            result.status,
            error=result.error,
            error_category=result.error_category,
            retryable=result.retryable,
            output=result.output,
        )
        self.runs.append([event], fold="background")
        self._on_event()
