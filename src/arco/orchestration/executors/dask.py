"""The Dask executor: attempts run as tasks of a Dask distributed cluster
(``dask://scheduler:8786``), for users who outgrow one machine.

The controller's process holds each attempt's future and reports for it, as the process
pool does: ``started`` at submission, a heartbeat while the future is pending, ``completed``
with the outcome the Dask task returns. Invariants:

* each attempt is submitted once, with ``retries=0`` and a key unique to the attempt, so
  Dask never reruns an attempt by itself: a worker that dies mid-attempt surfaces as an
  error of the future (``KilledWorker`` when the scheduler's ``allowed-failures`` is 0, as
  :func:`local_cluster` sets), reported as a retryable ``crash``, and the run's retry policy
  starts a new attempt, elsewhere;
* should the scheduler retry anyway (a cluster configured to), the heartbeat still stops
  when the controller's process dies, and the attempt is timed out like any other;
* cancelling an attempt cancels its future (Dask stops it if it has not finished).

Workers need Arco and the code location importable, and the store reachable, like
``arco worker`` processes.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from arco.errors import ValidationError
from arco.orchestration.attempt import Heartbeat, Reporter, RunAsset, classify, one_line
from arco.orchestration.dispatch import TaskEnvelope, TaskResult
from arco.orchestration.executors.pool import Setup

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DaskExecutor", "parse_dask_url"]

log = logging.getLogger(__name__)

_RUNNERS: dict[bytes, RunAsset] = {}
_RUNNERS_LOCK = threading.Lock()


class _NeverCancelled:
    def check_cancelled(self) -> None:
        return None


def parse_dask_url(url: str) -> str:
    """``dask://host:port`` -> the scheduler address ``tcp://host:port``."""
    if not url.startswith("dask://") or not url[len("dask://") :]:
        raise ValidationError(f"executor: a Dask scheduler is dask://HOST:PORT (got {url!r})")
    return "tcp://" + url[len("dask://") :]


def _run_on_worker(setup: Setup, setup_id: bytes, envelope_json: str) -> str:
    """Runs on a Dask worker: the asset of the envelope; the TaskResult as JSON."""
    with _RUNNERS_LOCK:
        run_asset = _RUNNERS.get(setup_id)
        if run_asset is None:
            run_asset = _RUNNERS[setup_id] = setup()
    envelope = TaskEnvelope.model_validate_json(envelope_json)
    try:
        result = TaskResult.success(run_asset(envelope, _NeverCancelled()))
    except Exception as exc:
        result = classify(exc)
    return result.model_dump_json()


class DaskExecutor:
    """Submit attempts to a Dask cluster; see the module docstring."""

    def __init__(
        self,
        reporter: Reporter,
        setup: Setup,
        client: Client,
        *,
        name: str,
        capacity: int | None = None,
    ) -> None:
        import pickle

        self.name = name
        self._client = client
        self._reporter = reporter
        self._setup = setup
        self._setup_id = pickle.dumps(setup)
        workers = len(client.scheduler_info().get("workers", {})) or 1
        self.capacity = capacity or max(workers, 1) * 2
        self._futures: dict[str, Any] = {}  # distributed.Future (untyped)
        self._lock = threading.Lock()
        self._host = f"dask:{os.getpid()}"

    def submit(self, envelope: TaskEnvelope) -> None:
        future: Any = self._client.submit(
            _run_on_worker,
            self._setup,
            self._setup_id,
            envelope.model_dump_json(),
            key=f"arco-{envelope.attempt_id}",
            retries=0,
            pure=False,
        )
        with self._lock:
            self._futures[envelope.attempt_id] = future
        threading.Thread(
            target=self._watch,
            args=(envelope, future),
            name=f"dask-{envelope.attempt_id}",
            daemon=True,
        ).start()

    def cancel(self, attempt_id: str) -> None:
        with self._lock:
            future = self._futures.get(attempt_id)
        if future is not None:
            future.cancel()

    def close(self) -> None:
        with self._lock:
            futures = list(self._futures.values())
        for future in futures:
            future.cancel()

    def _watch(self, envelope: TaskEnvelope, future: Any) -> None:
        try:
            self._reporter.started(envelope, self._host)
        except Exception as exc:
            log.warning(
                "attempt %s: could not report start: %s", envelope.attempt_id, one_line(exc)
            )
        heartbeat = Heartbeat(envelope, self._reporter, future.cancel).start()
        try:
            result = self._outcome(future, heartbeat)
        finally:
            heartbeat.stop()
            with self._lock:
                self._futures.pop(envelope.attempt_id, None)
        try:
            self._reporter.completed(envelope, result)
        except Exception as exc:
            log.warning("attempt %s: could not report: %s", envelope.attempt_id, one_line(exc))

    @staticmethod
    def _outcome(future: Any, heartbeat: Heartbeat) -> TaskResult:
        try:
            raw = future.result()
        except Exception as exc:
            if future.cancelled() or heartbeat.cancelled.is_set():
                return TaskResult.failure(
                    "cancelled: the Dask task was cancelled", "cancelled", retryable=False
                )
            return TaskResult.failure(
                f"the Dask task failed: {one_line(exc)}", "crash", retryable=True
            )
        return TaskResult.model_validate_json(raw)
