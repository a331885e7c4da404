"""Queries in worker processes, each query's memory bounded by killing its worker.

DuckDB's ``memory_limit`` bounds only what its buffer manager tracks. The vectors an
expression produces are not tracked: ``SELECT repeat('x', 100000000) FROM range(100)``
grows a process by gigabytes inside one vector operation, where no interrupt is checked,
and converting such rows to Arrow doubles it. No check inside the process can stop that in
time, so the server does not run queries in its own process:

* a :class:`WorkerPool` keeps up to ``size`` worker processes (forked from a
  ``forkserver`` that has imported the engine, so a new one starts in milliseconds and
  inherits none of the server's threads); each holds its own
  :class:`~arco.query.engine.QueryEngine` (snapshot and database caches, ``1/size`` of the
  configured cache each) and opens the store itself from its URL;
* one query at a time per worker: the worker loads the snapshots, reports its resident
  memory (the baseline), runs the statement, encodes the response body and sends it back;
* while it runs, the calling thread polls the worker's resident set size every
  ``POLL_S`` seconds; above baseline + ``memory_bytes`` the worker is killed (SIGKILL) and
  the query fails with :class:`~arco.query.engine.QueryMemoryError` (a 400 naming the
  limit). The bound is exceeded at most by what a process allocates in one poll interval;
* a worker that does not answer within the time limit plus ``GRACE_S`` is killed (the
  engine's own interrupt normally ends the query first: 504);
* a worker whose resident set stays above its first baseline + ``memory_bytes`` after a
  query (allocator caches) is retired, and so is one that has served ``max_queries``
  queries or is older than ``max_age_s`` (hygiene only, so the bounds are loose: each
  recycling costs the next query a cold database. The growth that recycling was first
  meant to return came from the merge query the engine ran in DuckDB at every table
  replacement, which kept 5-8 KB per execution; the engine now merges in Arrow and
  replaces only the tables whose files changed, see :mod:`arco.query.engine`); a dead
  worker is replaced on next use;
* a worker serves the scopes it has cached when it can (affinity), any idle one otherwise;
  a query that finds every worker busy for ``timeout_s`` gets QueryBusyError (503).

Linux only for the memory bound (``/proc``); elsewhere workers run without it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any

from arco.core.scope import Scope
from arco.errors import ArcoError
from arco.query.engine import (
    QueryBusyError,
    QueryEngine,
    QueryLimits,
    QueryTimeoutError,
    memory_error,
)
from arco.query.runner import EncodedResult, encode

log = logging.getLogger("arco.query")

#: seconds between two looks at a running worker's memory
POLL_S = 0.002
#: seconds a worker may overrun the time limit before it is killed
GRACE_S = 5.0
#: scopes a worker remembers having cached (for affinity)
AFFINITY_SCOPES = 32
#: a worker is replaced after this many queries or this many seconds (see the docstring)
MAX_QUERIES = 50_000
MAX_AGE_S = 1800.0

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes(pid: int) -> int | None:
    """Resident set size of process ``pid`` (None where ``/proc`` is not available or the
    process is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class QueryWorkerError(ArcoError):
    """A query worker died without an answer (not the query's memory or time)."""

    code = "INTERNAL"


# --- the worker process ------------------------------------------------------------------


def _serve(conn: Connection, store_url: str, limits: QueryLimits, cache_bytes: int) -> None:
    """A worker's loop: ``(prefix, sql, fmt)`` in; ``("ready", rss)`` then ``("ok",
    EncodedResult)`` or ``("error", exc)`` out; ends when the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    import pyarrow as pa

    # Arrow's default pool (mimalloc) keeps what the merges and conversions of every
    # refresh freed; with the system allocator a worker started ~16 MB smaller and grew
    # less over repeated table refreshes (docs/benchmarks/README.md, "query workers' memory")
    pa.set_memory_pool(pa.system_memory_pool())
    from arco.storage import open_store
    from arco.storage.keys import ScopedStore

    root = open_store(store_url)
    engine = QueryEngine(limits, max_cached_bytes=cache_bytes, max_databases=4)
    pid = os.getpid()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        prefix, sql, fmt = request

        def ready() -> None:
            conn.send(("ready", rss_bytes(pid)))

        try:
            result = engine.query(ScopedStore(root, prefix), prefix, sql, on_ready=ready)
            reply: tuple[str, Any] = ("ok", encode(result, fmt))
        except ArcoError as exc:
            reply = ("error", exc)
        except Exception as exc:  # reported to the server's log, never to the caller
            reply = ("error", QueryWorkerError(f"{type(exc).__name__}: {exc}"))
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


# --- the pool ----------------------------------------------------------------------------


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    #: resident size after its first snapshot load (None until then)
    first_baseline: int | None = None
    #: when it was started, on the pool's clock
    started: float = 0.0
    queries: int = 0
    scopes: OrderedDict[str, None] = field(default_factory=OrderedDict)
    busy: bool = False

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()
        self.process.join(timeout=5)
        with contextlib.suppress(OSError):
            self.conn.close()


class WorkerPool:
    """Runs queries in up to ``size`` worker processes (see the module docstring)."""

    def __init__(
        self,
        store_url: str,
        limits: QueryLimits,
        *,
        size: int = 2,
        cache_bytes: int = 512 << 20,
        max_queries: int = MAX_QUERIES,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.store_url = store_url
        self.limits = limits
        self.size = size
        self._cache_bytes = max(1 << 20, cache_bytes // size)
        self.max_queries = max_queries
        self.max_age_s = max_age_s
        self._clock = clock
        self._workers: list[_Worker] = []
        self._starting = 0
        self._cond = threading.Condition()
        self._closed = False
        self._ctx = _context()
        #: how many workers were killed for memory, time, or found dead (tests, metrics)
        self.kills = {"memory": 0, "time": 0, "dead": 0, "retired": 0, "recycled": 0}

    # --- QueryRunner ---------------------------------------------------------------------

    def run(self, scope: Scope, sql: str, fmt: str) -> EncodedResult:
        """Run one statement in a worker; raises what the engine raises, QueryMemoryError
        when the worker outgrew the bound, QueryBusyError when no worker came free."""
        worker = self._acquire(scope.prefix)
        healthy = False
        try:
            reply = self._exchange(worker, (scope.prefix, sql, fmt))
            healthy = True
        finally:
            self._release(worker, scope.prefix, healthy)
        kind, value = reply
        if kind == "ok":
            assert isinstance(value, EncodedResult)
            return value
        assert isinstance(value, ArcoError)
        if isinstance(value, QueryWorkerError):
            log.error("query worker failed: %s", value.message)
        raise value

    def close(self) -> None:
        with self._cond:
            self._closed = True
            workers, self._workers = self._workers, []
            self._cond.notify_all()
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.conn.close()  # the worker ends on EOF
        for worker in workers:
            worker.process.join(timeout=2)
            if worker.alive():
                worker.kill()

    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        with self._cond:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    # --- one exchange --------------------------------------------------------------------

    def _exchange(self, worker: _Worker, request: tuple[str, str, str]) -> tuple[str, Any]:
        limits = self.limits
        pid = worker.process.pid
        assert pid is not None
        try:
            worker.conn.send(request)
        except (OSError, ValueError) as exc:
            self._lose(worker, "dead")
            raise QueryWorkerError("the query worker is gone; retry the query") from exc
        baseline: int | None = None
        # loading the snapshots has no limit of its own; a worker stuck in it is still ended
        deadline = time.monotonic() + 2 * (limits.timeout_s + GRACE_S)
        while True:
            try:
                has_reply = worker.conn.poll(POLL_S)
                reply = worker.conn.recv() if has_reply else None
            except (EOFError, OSError) as exc:
                self._lose(worker, "dead")
                raise QueryWorkerError("the query worker died while running the query") from exc
            if reply is not None:
                if reply[0] != "ready":
                    return reply  # type: ignore[no-any-return]
                baseline = reply[1]
                if worker.first_baseline is None:
                    worker.first_baseline = baseline
                deadline = time.monotonic() + limits.timeout_s + GRACE_S
                continue
            if baseline is not None:
                rss = rss_bytes(pid)
                if rss is not None and rss - baseline > limits.memory_bytes:
                    self._lose(worker, "memory")
                    raise memory_error(limits.memory_bytes)
            if time.monotonic() > deadline:
                self._lose(worker, "time")
                raise QueryTimeoutError(
                    f"query exceeded the {limits.timeout_s:g}s time limit and was stopped"
                )
            if not worker.alive():
                self._lose(worker, "dead")
                raise QueryWorkerError("the query worker died while running the query")

    def _retire(self, worker: _Worker) -> None:
        """Replace an idle, healthy worker: it leaves the pool now and ends on EOF (no
        query is lost; the next one that needs a worker starts a fresh one)."""
        with self._cond:
            self.kills["recycled"] += 1
            if worker in self._workers:
                self._workers.remove(worker)
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            worker.conn.close()
        threading.Thread(target=worker.process.join, args=(5,), daemon=True).start()

    def _lose(self, worker: _Worker, reason: str) -> None:
        worker.kill()
        with self._cond:
            self.kills[reason] += 1
            if worker in self._workers:
                self._workers.remove(worker)
            self._cond.notify_all()

    # --- acquiring and releasing workers ----------------------------------------------------

    def _acquire(self, prefix: str) -> _Worker:
        deadline = time.monotonic() + self.limits.timeout_s
        with self._cond:
            while True:
                if self._closed:
                    raise QueryBusyError("the query service is shutting down")
                idle = [w for w in self._workers if not w.busy]
                if idle:
                    worker = next((w for w in idle if prefix in w.scopes), None)
                    if worker is None and len(self._workers) + self._starting < self.size:
                        break  # a fresh worker rather than evicting another's cache
                    worker = worker or idle[0]
                    worker.busy = True
                    return worker
                if len(self._workers) + self._starting < self.size:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise QueryBusyError(
                        f"every query worker stayed busy for {self.limits.timeout_s:g}s; "
                        "retry later"
                    )
                self._cond.wait(left)
            self._starting += 1
        try:
            worker = self._spawn()
        finally:
            with self._cond:
                self._starting -= 1
        with self._cond:
            worker.busy = True
            self._workers.append(worker)
        return worker

    def _release(self, worker: _Worker, prefix: str, healthy: bool) -> None:
        if not healthy:
            return  # already removed by _lose
        worker.queries += 1
        retire = False
        if worker.first_baseline is not None:
            rss = rss_bytes(worker.process.pid or 0)
            retire = rss is not None and rss > worker.first_baseline + self.limits.memory_bytes
        if retire:
            self._lose(worker, "retired")
            return
        if worker.queries >= self.max_queries or self._clock() - worker.started >= self.max_age_s:
            self._retire(worker)
            return
        with self._cond:
            worker.scopes[prefix] = None
            worker.scopes.move_to_end(prefix)
            while len(worker.scopes) > AFFINITY_SCOPES:
                worker.scopes.popitem(last=False)
            worker.busy = False
            self._cond.notify_all()

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_serve,
            args=(child, self.store_url, self.limits, self._cache_bytes),
            name="arco-query-worker",
            daemon=True,
        )
        process.start()
        child.close()
        return _Worker(process, parent, started=self._clock())


def _context() -> ForkServerContext | SpawnContext:
    """``forkserver`` (a clean, single-threaded parent that has imported the engine) where
    available, ``spawn`` elsewhere; never ``fork`` from a threaded server."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx: ForkServerContext = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["arco.query.workers"])
        return ctx
    return multiprocessing.get_context("spawn")
