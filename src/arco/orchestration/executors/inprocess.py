"""The in-process executor: attempts run on threads of the controller's process
(``arco dev``, tests, small deployments). A cancel request reaches the attempt directly,
without waiting for its next heartbeat."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from arco.orchestration.attempt import Cancellation, Heartbeat, Reporter, RunAsset, execute_attempt
from arco.orchestration.dispatch import TaskEnvelope

__all__ = ["InProcessExecutor"]

log = logging.getLogger(__name__)


class InProcessExecutor:
    """Run attempts on a pool of ``capacity`` threads."""

    name = "inprocess"

    def __init__(self, reporter: Reporter, run_asset: RunAsset, *, capacity: int = 4) -> None:
        self.capacity = capacity
        self._reporter = reporter
        self._run_asset = run_asset
        self._threads = ThreadPoolExecutor(capacity, thread_name_prefix="arco-task")
        self._running: dict[str, Heartbeat] = {}
        self._lock = threading.Lock()
        self._worker = f"inprocess:{os.getpid()}"

    def submit(self, envelope: TaskEnvelope) -> None:
        self._threads.submit(self._attempt, envelope)

    def cancel(self, attempt_id: str) -> None:
        with self._lock:
            heartbeat = self._running.get(attempt_id)
        if heartbeat is not None:
            heartbeat.cancelled.set()

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        close = getattr(self._run_asset, "close", None)
        if callable(close):  # publish what the attempts recorded
            close()

    def _attempt(self, envelope: TaskEnvelope) -> None:
        def run(env: TaskEnvelope, cancellation: Cancellation) -> dict[str, Any] | None:
            with self._lock:
                if isinstance(cancellation, Heartbeat):
                    self._running[env.attempt_id] = cancellation
            try:
                return self._run_asset(env, cancellation)
            finally:
                with self._lock:
                    self._running.pop(env.attempt_id, None)

        try:
            execute_attempt(envelope, self._reporter, run, worker=self._worker)
        except Exception:  # the heartbeat timeout fails an attempt that could not report
            log.exception(
                "attempt %s of %s could not report", envelope.attempt_id, envelope.task_key
            )
