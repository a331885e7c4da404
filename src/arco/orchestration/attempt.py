"""Running one attempt, whatever executor hosts it: report ``started``, keep a heartbeat
going, run the asset, classify the outcome and report ``completed`` exactly once.

Invariants:

* ``completed`` is reported for every attempt that reported ``started``, whatever the asset
  did (an exception, a bad return value, a failed blocking check); only the death of the
  process itself prevents it, and then the heartbeat timeout fails the attempt;
* a heartbeat answer that asks for cancellation is remembered (:attr:`Heartbeat.cancelled`)
  so the asset can stop at its next check, and the outcome is then reported as
  ``cancelled``;
* an exception's message becomes a one-line error; a :class:`TaskFailure` decides itself
  whether another attempt may help, any other exception is retryable (the asset's retry
  policy bounds how often), a refused output or blocking check is not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from arco.errors import ArcoError
from arco.orchestration.dispatch import TaskEnvelope, TaskFailure, TaskResult

__all__ = [
    "AttemptCancelled",
    "Cancellation",
    "Heartbeat",
    "Reporter",
    "execute_attempt",
    "one_line",
]

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Where an attempt reports to: the run ledger directly, or a server over HTTP."""

    def started(self, envelope: TaskEnvelope, worker: str) -> None: ...

    def heartbeat(self, envelope: TaskEnvelope) -> bool:
        """Record that the attempt is alive; True when its run asks it to stop."""
        ...

    def completed(self, envelope: TaskEnvelope, result: TaskResult) -> None: ...


class AttemptCancelled(Exception):
    """Raised inside an asset (by ``context.check_cancelled()``) once its run is cancelled."""


class Cancellation(Protocol):
    """What the code running an asset can ask: has the run asked this attempt to stop?"""

    def check_cancelled(self) -> None:
        """AttemptCancelled if it has."""
        ...


#: runs the asset of an envelope; returns the task output as JSON (None: no table)
RunAsset = Callable[[TaskEnvelope, Cancellation], "dict[str, Any] | None"]


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (the message alone for Arco's own errors)."""
    if isinstance(exc, ArcoError):
        text = exc.message
    elif isinstance(exc, TaskFailure):  # the asset's own words
        text = str(exc) or type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


class Heartbeat:
    """A thread that reports a heartbeat every ``interval_s`` until stopped."""

    def __init__(
        self,
        envelope: TaskEnvelope,
        reporter: Reporter,
        on_cancel: Callable[[], None] | None = None,
    ) -> None:
        self.envelope = envelope
        self.reporter = reporter
        self._on_cancel = on_cancel
        self.cancelled = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"heartbeat-{envelope.attempt_id}", daemon=True
        )

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def beat(self) -> None:
        """One heartbeat now (errors are logged: the next one may get through)."""
        try:
            if self.reporter.heartbeat(self.envelope) and not self.cancelled.is_set():
                self.cancelled.set()
                if self._on_cancel is not None:
                    self._on_cancel()
        except Exception as exc:
            log.warning("attempt %s: heartbeat failed: %s", self.envelope.attempt_id, one_line(exc))

    def check_cancelled(self) -> None:
        """AttemptCancelled if the run asked this attempt to stop."""
        if self.cancelled.is_set():
            raise AttemptCancelled(f"run {self.envelope.run_id} was cancelled")

    def _loop(self) -> None:
        while not self._stop.wait(self.envelope.heartbeat_interval_s):
            self.beat()


def classify(exc: BaseException) -> TaskResult:
    """The failed result an exception from the asset (or its IO) stands for."""
    if isinstance(exc, AttemptCancelled):
        return TaskResult.failure(one_line(exc), "cancelled", retryable=False)
    if isinstance(exc, TaskFailure):
        return TaskResult.failure(one_line(exc), exc.category, retryable=exc.retryable)
    return TaskResult.failure(one_line(exc), "error", retryable=True)


def execute_attempt(
    envelope: TaskEnvelope, reporter: Reporter, run_asset: RunAsset, *, worker: str
) -> TaskResult:
    """Run one attempt end to end (see the module docstring); returns what was reported."""
    reporter.started(envelope, worker)
    heartbeat = Heartbeat(envelope, reporter).start()
    try:
        result = TaskResult.success(run_asset(envelope, heartbeat))
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            heartbeat.stop()
            raise
        log.info("attempt %s of %s failed: %s", envelope.attempt, envelope.task_key, one_line(exc))
        result = classify(exc)
    finally:
        heartbeat.stop()
    if heartbeat.cancelled.is_set() and result.status == "failed":
        result = TaskResult.failure(result.error or "cancelled", "cancelled", retryable=False)
    reporter.completed(envelope, result)
    return result
