"""The HTTP executor: attempts wait in a queue of the server until an ``arco worker``
process takes them (``POST /api/v1/workers/poll``); the worker then reports ``started``,
``heartbeat`` and ``completed`` to the server's callback routes with the attempt's task
token (:mod:`arco.server.task_tokens`), and those routes append the events to the run
ledger. The executor itself holds no run state. Invariants:

* **capacity** is the number of worker slots seen recently: each poll and each heartbeat
  names its worker and how many attempts it runs at once; a worker not heard from for
  ``seen_ttl_s`` no longer counts. It is at least 1, so a run never stalls for want of
  capacity: an attempt no worker takes is timed out at its start deadline by the
  controller, which cancels it here (dropping it from the queue) and retries it;
* an envelope is handed to exactly one poll, in dispatch order, and carries the callback
  path ``/api/v1/attempts/{attempt_id}`` and a token for that attempt (``token_for``);
* :meth:`cancel` drops a queued envelope and remembers the attempt, so its next heartbeat
  is answered with ``cancel`` (the ledger says so too once the run is cancelling: see the
  heartbeat route);
* :meth:`close` empties the queue and ends every waiting poll with nothing.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from arco.orchestration.dispatch import TaskEnvelope

__all__ = ["CALLBACK_PREFIX", "HttpExecutor"]

#: the callback URL of an attempt, relative to the server (workers join it to their --url)
CALLBACK_PREFIX = "/api/v1/attempts/"
#: how long a worker counts towards the capacity after it was last heard from
DEFAULT_SEEN_TTL_S = 60.0
#: cancelled attempt ids remembered (for their heartbeats), oldest forgotten first
_MAX_CANCELLED = 10_000


class HttpExecutor:
    """A queue of dispatched envelopes for polling workers; see the module docstring."""

    name = "http"

    def __init__(
        self,
        token_for: Callable[[TaskEnvelope], str] | None = None,
        *,
        seen_ttl_s: float = DEFAULT_SEEN_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_for = token_for
        self._seen_ttl_s = seen_ttl_s
        self._clock = clock
        self._queue: deque[TaskEnvelope] = deque()
        self._workers: dict[str, tuple[int, float]] = {}
        self._cancelled: OrderedDict[str, None] = OrderedDict()
        self._ready = threading.Condition()
        self._closed = False
        self._floor = 1

    # --- the Executor interface -----------------------------------------------------------

    @property
    def capacity(self) -> int:
        """Worker slots heard from within ``seen_ttl_s`` (at least the floor, 1)."""
        now = self._clock()
        with self._ready:
            for worker, (_, seen) in list(self._workers.items()):
                if now - seen > self._seen_ttl_s:
                    del self._workers[worker]
            return max(self._floor, sum(slots for slots, _ in self._workers.values()))

    @capacity.setter
    def capacity(self, floor: int) -> None:
        """The least capacity (default 1) whatever the workers heard from."""
        self._floor = max(1, floor)

    def submit(self, envelope: TaskEnvelope) -> None:
        """Queue the attempt with its callback path and token."""
        update: dict[str, object] = {"callback_url": CALLBACK_PREFIX + envelope.attempt_id}
        if self._token_for is not None:
            update["token"] = self._token_for(envelope)
        ready = envelope.model_copy(update=update)
        with self._ready:
            if self._closed:
                raise RuntimeError("the HTTP executor is closed")
            self._queue.append(ready)
            self._ready.notify()

    def cancel(self, attempt_id: str) -> None:
        """Drop the attempt if no worker took it yet; its heartbeats will say cancel."""
        with self._ready:
            self._cancelled[attempt_id] = None
            self._cancelled.move_to_end(attempt_id)
            while len(self._cancelled) > _MAX_CANCELLED:
                self._cancelled.popitem(last=False)
            kept = [e for e in self._queue if e.attempt_id != attempt_id]
            if len(kept) != len(self._queue):
                self._queue = deque(kept)

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._queue.clear()
            self._ready.notify_all()

    # --- what the worker routes call ------------------------------------------------------

    def seen(self, worker: str, slots: int) -> None:
        """``worker`` (with ``slots`` attempts at once) is alive."""
        with self._ready:
            self._workers[worker] = (max(1, slots), self._clock())

    def take(self, worker: str, slots: int = 1, timeout: float = 0.0) -> TaskEnvelope | None:
        """The oldest queued envelope, waiting up to ``timeout`` seconds for one."""
        self.seen(worker, slots)
        deadline = time.monotonic() + max(0.0, timeout)
        with self._ready:
            while not self._queue:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    return None
                self._ready.wait(left)
            return self._queue.popleft()

    def is_cancelled(self, attempt_id: str) -> bool:
        """Whether :meth:`cancel` was called for the attempt."""
        with self._ready:
            return attempt_id in self._cancelled

    def queued(self) -> int:
        """Envelopes waiting for a worker."""
        with self._ready:
            return len(self._queue)

    def workers(self) -> dict[str, int]:
        """Workers heard from recently, with their slots."""
        now = self._clock()
        with self._ready:
            return {
                w: slots
                for w, (slots, seen) in self._workers.items()
                if now - seen <= self._seen_ttl_s
            }
