"""The reporter of executors that run in (or report through) the controller's process: each
report is an event appended to the run ledger, visible at once to this process
(``Runs.state`` folds it in memory) and published by a background round that batches the
reports of many attempts.

``started`` is appended on a background thread while the asset already runs (its durable
write is off the task's critical path); every later report of that attempt first waits for
it (appending it again if that write failed), so ``started`` is durable before
``heartbeat`` or ``completed`` is, and the fold never meets a completion it has not seen
start. ``heartbeat`` and ``completed`` are durable when the call returns. The controller
is woken after ``completed`` (``started`` changes nothing it acts on)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from arco.orchestration.dispatch import TaskEnvelope, TaskResult
from arco.orchestration.runs import (
    ATTEMPT_ACTIVE,
    Runs,
    attempt_completed,
    attempt_heartbeat,
    attempt_started,
)
from arco.tier2.envelope import EventEnvelope

__all__ = ["LedgerReporter"]


class LedgerReporter:
    """Report attempts by appending ``attempt_*`` events to ``runs``."""

    def __init__(self, runs: Runs, on_event: Callable[[], None] | None = None) -> None:
        self.runs = runs
        self._on_event = on_event or (lambda: None)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._writer: ThreadPoolExecutor | None = None
        self._started: dict[str, tuple[EventEnvelope, Future[list[str]]]] = {}

    def started(self, envelope: TaskEnvelope, worker: str) -> None:
        event = attempt_started(envelope.run_id, envelope.task_key, envelope.attempt_id, worker)
        with self._lock:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(4, thread_name_prefix="arco-report")
            future = self._writer.submit(self.runs.append, [event], fold="background")
            self._started[envelope.attempt_id] = (event, future)

    def _started_durable(self, envelope: TaskEnvelope) -> None:
        """Wait for the attempt's ``started`` to be written; write it again if that failed."""
        with self._lock:
            pending = self._started.get(envelope.attempt_id)
        if pending is None:
            return
        event, future = pending
        if future.exception() is not None:  # same idempotency key: at most one folds
            self.runs.append([event], fold="background")
        with self._lock:
            self._started.pop(envelope.attempt_id, None)

    def close(self) -> None:
        """Finish the ``started`` writes under way."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)

    def heartbeat(self, envelope: TaskEnvelope) -> bool:
        """True when the attempt should stop: its run is cancelling, or it is no longer the
        task's current attempt (it was timed out and another one runs)."""
        self._started_durable(envelope)
        with self._lock:
            seq = next(self._seq)
        event = attempt_heartbeat(envelope.run_id, envelope.task_key, envelope.attempt_id, seq)
        self.runs.append([event], fold="background")
        attempt = self.runs.state().attempts.get(envelope.attempt_id)
        return attempt is None or attempt.cancel_requested or attempt.state not in ATTEMPT_ACTIVE

    def completed(self, envelope: TaskEnvelope, result: TaskResult) -> None:
        self._started_durable(envelope)
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
