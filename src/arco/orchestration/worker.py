"""``arco worker``: a process that takes attempts from a server and runs them (spec §3).

The worker protocol (the routes are under ``/api/v1``; docs/api.md):

1. ``GET /workers/config`` (the caller's credentials: a user token, or the development
   scope headers) tells the worker the store URL, tenant and workspace it works for and
   where the code is; the worker reads and writes the data directly in that store
   (``--store`` overrides the URL when the worker reaches the store by another one).
2. ``POST /workers/poll`` ``{"worker", "slots", "wait_s"}`` long-polls for one envelope
   (200 ``{"envelope": ...}``, or 204 after ``wait_s`` without work). The worker polls only
   while it has a free slot.
3. Each attempt runs in a process of the worker's pool (:class:`ProcessPoolExecutor`,
   ``--capacity`` processes): ``started``, a ``heartbeat`` every
   ``envelope.heartbeat_interval_s`` and ``completed`` go to
   ``{callback_url}/started|heartbeat|completed`` with the envelope's task token (a
   renewed token comes back with each heartbeat). A heartbeat answered with
   ``{"cancel": true}`` terminates the process running the attempt, which is then reported
   ``cancelled``; a process that dies fails only its attempt (a retryable ``crash``).

Callbacks are retried on connection errors, timeouts, 429 and 5xx (``completed`` for up
to ``completed_retry_s``, a heartbeat once: the next one follows anyway); a refused
callback (401, 403, 404) is not. If the worker itself dies, the server's heartbeat
timeout fails its attempts and the run retries them elsewhere.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from arco.errors import ArcoError
from arco.orchestration.attempt import Reporter, one_line
from arco.orchestration.dispatch import TaskEnvelope, TaskResult
from arco.orchestration.engine import AssetRunner
from arco.orchestration.executors.pool import ProcessPoolExecutor

__all__ = [
    "CallbackRefusedError",
    "HttpReporter",
    "Worker",
    "WorkerConfig",
    "WorkerError",
]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
_RETRY_STATUSES = frozenset({429, 502, 503, 504})


class WorkerError(ArcoError):
    """The worker cannot work for this server (refused credentials, no HTTP executor)."""

    code = "WORKER_ERROR"


class CallbackRefusedError(ArcoError):
    """The server refused a callback (its status and error message)."""

    code = "CALLBACK_REFUSED"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class WorkerConfig(BaseModel):
    """``GET /workers/config``: what a worker of the caller's workspace needs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    store_url: str
    tenant: str
    workspace: str
    executor: str
    code_location: str | None = None
    poll_wait_s: float = 20.0


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or f"HTTP {response.status_code}")
    return f"HTTP {response.status_code}"


class _Http:
    """Requests to the server with retries on connection errors and retryable statuses."""

    def __init__(
        self, client: httpx.Client, *, backoff: float = 0.2, max_backoff: float = 5.0
    ) -> None:
        self.client = client
        self.backoff = backoff
        self.max_backoff = max_backoff

    def send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        retry_for_s: float = 0.0,
    ) -> httpx.Response:
        """The response (status < 400); retried until ``retry_for_s`` has passed."""
        deadline = time.monotonic() + retry_for_s
        attempt = 0
        while True:
            try:
                kwargs: dict[str, Any] = {"json": json, "headers": headers}
                if timeout is not None:
                    kwargs["timeout"] = timeout
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if time.monotonic() >= deadline:
                    raise
                log.info("%s %s: %s (retrying)", method, url, type(exc).__name__)
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in _RETRY_STATUSES or time.monotonic() >= deadline:
                    raise CallbackRefusedError(
                        f"{method} {url}: {_message(response)}", response.status_code
                    )
            time.sleep(min(self.max_backoff, self.backoff * 2.0**attempt))
            attempt += 1


class HttpReporter:
    """Reports attempts to the server's callback routes (the :class:`Reporter` of
    ``arco worker``); keeps each attempt's newest token and heartbeat number."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        worker: str,
        slots: int = 1,
        completed_retry_s: float = 120.0,
        heartbeat_retry_s: float = 2.0,
    ) -> None:
        self._http = _Http(client)
        self.worker = worker
        self.slots = slots
        self.completed_retry_s = completed_retry_s
        self.heartbeat_retry_s = heartbeat_retry_s
        self._tokens: dict[str, str] = {}
        self._seq: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _url(envelope: TaskEnvelope, what: str) -> str:
        """The callback URL (a path is relative to the server's base URL, an absolute URL
        is used as it is)."""
        base = envelope.callback_url or f"{API_PREFIX}/attempts/{envelope.attempt_id}"
        return f"{base.rstrip('/')}/{what}"

    def _headers(self, envelope: TaskEnvelope) -> dict[str, str]:
        with self._lock:
            token = self._tokens.get(envelope.attempt_id) or envelope.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def started(self, envelope: TaskEnvelope, worker: str) -> None:
        """Report the start; CallbackRefusedError (409) if the attempt is no longer the
        task's current one (the heartbeat then stops it)."""
        response = self._http.send(
            "POST",
            self._url(envelope, "started"),
            json={"worker": self.worker},
            headers=self._headers(envelope),
            retry_for_s=self.completed_retry_s,
        )
        if not response.json().get("accepted", False):
            raise CallbackRefusedError(
                f"attempt {envelope.attempt_id} is no longer current; it will be stopped", 409
            )

    def heartbeat(self, envelope: TaskEnvelope) -> bool:
        with self._lock:
            seq = next(self._seq.setdefault(envelope.attempt_id, itertools.count(1)))
        try:
            response = self._http.send(
                "POST",
                self._url(envelope, "heartbeat"),
                json={"seq": seq, "worker": self.worker, "slots": self.slots},
                headers=self._headers(envelope),
                retry_for_s=self.heartbeat_retry_s,
            )
        except CallbackRefusedError as exc:
            if exc.status in (401, 403, 404):  # the token or attempt is gone: stop it
                log.warning("attempt %s: heartbeat refused (%s)", envelope.attempt_id, exc)
                return True
            raise
        body = response.json()
        token = body.get("token")
        if isinstance(token, str) and token:
            with self._lock:
                self._tokens[envelope.attempt_id] = token
        return bool(body.get("cancel", False))

    def completed(self, envelope: TaskEnvelope, result: TaskResult) -> None:
        try:
            response = self._http.send(
                "POST",
                self._url(envelope, "completed"),
                json=result.model_dump(mode="json"),
                headers=self._headers(envelope),
                retry_for_s=self.completed_retry_s,
            )
        finally:
            with self._lock:
                self._tokens.pop(envelope.attempt_id, None)
                self._seq.pop(envelope.attempt_id, None)
        body = response.json()
        if not body.get("accepted", False):
            log.warning(
                "attempt %s: result not accepted (%s)",
                envelope.attempt_id,
                body.get("reason") or "stale",
            )


class _Releasing:
    """A reporter that frees a worker slot once an attempt reported ``completed``."""

    def __init__(self, inner: Reporter, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release = release

    def started(self, envelope: TaskEnvelope, worker: str) -> None:
        self._inner.started(envelope, worker)

    def heartbeat(self, envelope: TaskEnvelope) -> bool:
        return self._inner.heartbeat(envelope)

    def completed(self, envelope: TaskEnvelope, result: TaskResult) -> None:
        try:
            self._inner.completed(envelope, result)
        finally:
            self._release()


def default_worker_id() -> str:
    """``host:pid:random`` (unique per process)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Poll a server for attempts and run them; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        tenant: str | None = None,
        workspace: str | None = None,
        code_location: str | None = None,
        store_url: str | None = None,
        capacity: int = 1,
        worker_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if capacity < 1:
            raise WorkerError(f"capacity: must be at least 1 (got {capacity})")
        base = url.rstrip("/")
        if base.endswith(API_PREFIX):
            base = base[: -len(API_PREFIX)]
        headers = {"User-Agent": "arco-worker"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if tenant:
            headers["X-Tenant-Id"] = tenant
        if workspace:
            headers["X-Workspace-Id"] = workspace
        self.client = httpx.Client(
            base_url=base, headers=headers, timeout=httpx.Timeout(30.0), transport=transport
        )
        self._http = _Http(self.client)
        self.code_location = code_location
        self.store_url = store_url
        self.capacity = capacity
        self.worker_id = worker_id or default_worker_id()
        self.reporter = HttpReporter(self.client, worker=self.worker_id, slots=capacity)

    def config(self, *, retry_for_s: float = 30.0) -> WorkerConfig:
        """The server's answer to ``GET /workers/config`` (WorkerError if refused)."""
        try:
            response = self._http.send(
                "GET", f"{API_PREFIX}/workers/config", retry_for_s=retry_for_s
            )
        except CallbackRefusedError as exc:
            raise WorkerError(f"the server refused the worker: {exc.message}") from None
        config = WorkerConfig.model_validate(response.json())
        if config.executor != "http":
            raise WorkerError(
                f"the server runs tasks with the {config.executor!r} executor; start it with "
                "`arco serve --executor http` to use workers"
            )
        return config

    def poll(self, wait_s: float) -> TaskEnvelope | None:
        """One long poll: an envelope, or None after ``wait_s`` without work."""
        try:
            response = self._http.send(
                "POST",
                f"{API_PREFIX}/workers/poll",
                json={"worker": self.worker_id, "slots": self.capacity, "wait_s": wait_s},
                timeout=wait_s + 15.0,
            )
        except CallbackRefusedError as exc:
            raise WorkerError(f"the server refused the poll: {exc.message}") from None
        if response.status_code == 204 or not response.content:
            return None
        return TaskEnvelope.model_validate(response.json()["envelope"])

    def run(
        self,
        stop: threading.Event,
        *,
        on_ready: Callable[[WorkerConfig], None] | None = None,
    ) -> None:
        """Poll and run attempts until ``stop`` is set (attempts still running are then
        abandoned: the server's heartbeat timeout retries them)."""
        config = self.config()
        runner = AssetRunner(
            self.store_url or config.store_url,
            config.tenant,
            config.workspace,
            self.code_location or config.code_location,
        )
        slots = threading.BoundedSemaphore(self.capacity)
        pool = ProcessPoolExecutor(
            _Releasing(self.reporter, slots.release), runner, capacity=self.capacity
        )
        failures = 0
        if on_ready is not None:
            on_ready(config)
        try:
            while not stop.is_set():
                if not slots.acquire(timeout=0.5):
                    continue
                try:
                    envelope = self.poll(config.poll_wait_s)
                except httpx.TransportError as exc:
                    slots.release()
                    failures += 1
                    log.warning("poll failed: %s (retrying)", one_line(exc))
                    stop.wait(min(10.0, 0.2 * 2.0**failures))
                    continue
                except BaseException:
                    slots.release()
                    raise
                failures = 0
                if envelope is None:
                    slots.release()
                    continue
                log.info(
                    "attempt %s of %s (run %s)",
                    envelope.attempt,
                    envelope.task_key,
                    envelope.run_id,
                )
                pool.submit(envelope)
        finally:
            pool.close()
            self.client.close()
