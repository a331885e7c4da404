"""The process-pool executor: attempts run in ``capacity`` worker processes of this machine
(default: one per core), each process one attempt at a time.

The parent reports for the attempts its workers run: ``started`` when a worker takes an
attempt, a heartbeat while that worker process is alive, ``completed`` when the worker sends
the outcome back. Invariants:

* a worker process that dies (the asset called ``os._exit``, segfaulted, was killed)
  fails only the attempt it was running, as a retryable ``crash``; the worker is replaced
  and every other attempt carries on;
* cancelling an attempt terminates its worker process (an asset cannot ignore it) and
  reports the attempt ``cancelled``;
* workers are started with ``spawn`` (never ``fork``: the parent has threads) and set up
  once by the picklable ``setup`` callable, which returns the function that runs an asset.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from arco.orchestration.attempt import Heartbeat, Reporter, RunAsset, classify, one_line
from arco.orchestration.dispatch import TaskEnvelope, TaskResult

__all__ = ["ProcessPoolExecutor"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1

#: builds, inside a worker process, the function that runs an asset (must be picklable)
Setup = Callable[[], RunAsset]


class _NeverCancelled:
    """What a worker process passes as the heartbeat: the parent cancels by terminating."""

    def check_cancelled(self) -> None:
        return None


def _die_with_parent() -> None:
    """Linux: have the kernel kill this process when its parent dies (a killed controller
    must not leave attempts running, and recording successes, that no one reports)."""
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the call
        os._exit(1)


def _worker_main(setup: Setup, conn: Connection) -> None:
    """A worker process: take envelopes until the pipe closes, send back each outcome."""
    _die_with_parent()
    run_asset = setup()
    while True:
        try:
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            close = getattr(run_asset, "close", None)
            if callable(close):  # publish what the attempts recorded
                close()
            return
        envelope = TaskEnvelope.model_validate_json(raw)
        try:
            output = run_asset(envelope, _NeverCancelled())
            result = TaskResult.success(output)
        except Exception as exc:  # every outcome goes back to the parent
            result = classify(exc)
        conn.send_bytes(result.model_dump_json().encode())


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    attempt_id: str | None = None
    cancelled: bool = False


class ProcessPoolExecutor:
    """Run attempts in worker processes; see the module docstring."""

    name = "pool"

    def __init__(self, reporter: Reporter, setup: Setup, *, capacity: int | None = None) -> None:
        self.capacity = capacity or os.cpu_count() or 1
        self._reporter = reporter
        self._setup = setup
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._busy: dict[str, _Worker] = {}
        self._closed = False
        self._workers: list[_Worker] = []
        self._slots = threading.Semaphore(self.capacity)
        self._host = f"pool:{os.getpid()}"
        for _ in range(self.capacity):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_worker_main, args=(self._setup, child), name="arco-pool-worker", daemon=True
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        with self._lock:
            self._workers.append(worker)
        return worker

    def submit(self, envelope: TaskEnvelope) -> None:
        if self._closed:
            raise RuntimeError("the process pool is closed")
        threading.Thread(
            target=self._run, args=(envelope,), name=f"pool-{envelope.attempt_id}", daemon=True
        ).start()

    def cancel(self, attempt_id: str) -> None:
        with self._lock:
            worker = self._busy.get(attempt_id)
            if worker is None:
                return
            worker.cancelled = True
        worker.process.terminate()

    def close(self) -> None:
        """Idle workers end on EOF (publishing what they recorded); busy ones are
        terminated (their attempts are abandoned, and timed out by a controller)."""
        self._closed = True
        with self._lock:
            workers = list(self._workers)
            busy = {id(w) for w in self._busy.values()}
        for worker in workers:
            worker.conn.close()
            if id(worker) in busy:
                worker.process.terminate()
        for worker in workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)

    # --- one attempt ----------------------------------------------------------------------

    def _run(self, envelope: TaskEnvelope) -> None:
        self._slots.acquire()
        try:
            worker = self._idle.get()
            with self._lock:
                worker.attempt_id = envelope.attempt_id
                worker.cancelled = False
                self._busy[envelope.attempt_id] = worker
            try:
                result = self._attempt(worker, envelope)
            finally:
                with self._lock:
                    self._busy.pop(envelope.attempt_id, None)
                    worker.attempt_id = None
            if worker.process.is_alive():
                self._idle.put(worker)
            elif not self._closed:
                self._replace(worker)
            try:
                self._reporter.completed(envelope, result)
            except Exception as exc:  # the heartbeat timeout fails it instead
                log.warning("attempt %s: could not report: %s", envelope.attempt_id, one_line(exc))
        finally:
            self._slots.release()

    def _replace(self, dead: _Worker) -> None:
        with self._lock:
            if dead in self._workers:
                self._workers.remove(dead)
        dead.conn.close()
        self._idle.put(self._spawn())

    def _attempt(self, worker: _Worker, envelope: TaskEnvelope) -> TaskResult:
        try:
            self._reporter.started(envelope, f"{self._host}/{worker.process.pid}")
        except Exception as exc:
            log.warning(
                "attempt %s: could not report start: %s", envelope.attempt_id, one_line(exc)
            )
        heartbeat = Heartbeat(envelope, self._reporter, worker.process.terminate).start()
        try:
            worker.conn.send_bytes(envelope.model_dump_json().encode())
            raw = worker.conn.recv_bytes()
            return TaskResult.model_validate_json(raw)
        except (EOFError, OSError, BrokenPipeError):
            worker.process.join(timeout=5)
            if worker.cancelled or heartbeat.cancelled.is_set():
                return TaskResult.failure(
                    "cancelled: the worker was stopped", "cancelled", retryable=False
                )
            code = worker.process.exitcode
            return TaskResult.failure(
                f"the worker process running the attempt died (exit code {code})",
                "crash",
                retryable=True,
            )
        finally:
            heartbeat.stop()

    def workers(self) -> list[int]:
        """The process ids of the live workers (for tests and diagnostics)."""
        with self._lock:
            return [w.process.pid for w in self._workers if w.process.pid is not None]
