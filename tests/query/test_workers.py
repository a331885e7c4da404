"""WorkerPool: queries in worker processes, each query's memory bounded (issue 10, defect 3).

The memory bombs below grow a process by gigabytes inside DuckDB vectors its memory limit
does not track; run in the server's process, nothing could stop them.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arco.catalog import Catalog, ColumnSpec
from arco.core.scope import Scope
from arco.errors import ValidationError
from arco.query.engine import (
    QueryBusyError,
    QueryEngine,
    QueryLimits,
    QueryMemoryError,
    QueryTimeoutError,
)
from arco.query.runner import InProcessRunner
from arco.query.workers import QueryWorkerError, WorkerPool, rss_bytes
from arco.storage import open_store

pytestmark = pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")

SCOPE = Scope("acme", "main")
LIMIT = 192 << 20
#: what a worker may allocate between two looks at its memory, and sampling jitter
SLACK = 96 << 20

BOMBS = [
    # one constant 100 MB string, flattened into 100 rows of an Arrow batch
    "SELECT repeat('x', 100000000) FROM range(100)",
    # 30 distinct 100 MB strings in one DuckDB vector
    "SELECT repeat('x', 100000000 + i * 0) FROM range(30) t(i)",
    # lists of 10 M integers
    "SELECT range(10000000 + i * 0) FROM range(30) t(i)",
    # an aggregate (DuckDB's own limit catches this one)
    "SELECT string_agg(repeat('x', 1000000 + i * 0), '') FROM range(3000) t(i)",
]


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"file://{tmp_path / 'store'}"
    with Catalog.open(url, SCOPE) as catalog:
        catalog.create_namespace("sales")
        catalog.register_table("sales", "orders", [ColumnSpec(name="id", type="int64")])
    return url


@pytest.fixture
def pool(store_url: str) -> Iterator[WorkerPool]:
    pool = WorkerPool(store_url, QueryLimits(memory_bytes=LIMIT, timeout_s=5.0), size=1)
    yield pool
    pool.close()


class PeakSampler:
    """The highest resident size of the pool's workers, sampled every millisecond."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pool.pids():
                self.peak = max(self.peak, rss_bytes(pid) or 0)
            time.sleep(0.001)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def rows(body: bytes) -> list[list[object]]:
    return json.loads(body)["rows"]


def test_results_equal_the_in_process_engine(pool: WorkerPool, store_url: str) -> None:
    sql = (
        "SELECT n.name, t.name FROM catalog.tables t JOIN catalog.namespaces n USING (namespace_id)"
    )
    local = InProcessRunner(open_store(store_url), QueryEngine())
    try:
        for fmt in ("json", "csv", "arrow"):
            got, want = pool.run(SCOPE, sql, fmt), local.run(SCOPE, sql, fmt)
            assert (got.body, got.media_type, got.row_count) == (
                want.body,
                want.media_type,
                want.row_count,
            )
    finally:
        local.close()
    assert rows(pool.run(SCOPE, sql, "json").body) == [["sales", "orders"]]


def test_engine_errors_cross_the_process_boundary(pool: WorkerPool) -> None:
    with pytest.raises(ValidationError, match=r"^sql: "):
        pool.run(SCOPE, "SELECT * FROM nowhere", "json")
    with pytest.raises(ValidationError, match="read-only"):
        pool.run(SCOPE, "DROP TABLE catalog.tables", "json")
    assert rows(pool.run(SCOPE, "SELECT 41 + 1", "json").body) == [[42]]


@pytest.mark.parametrize("sql", BOMBS)
def test_a_query_cannot_grow_its_worker_past_the_bound(pool: WorkerPool, sql: str) -> None:
    pool.run(SCOPE, "SELECT count(*) FROM catalog.tables", "json")  # snapshots cached
    (pid,) = pool.pids()
    idle = rss_bytes(pid) or 0
    with PeakSampler(pool) as sampler, pytest.raises(QueryMemoryError) as err:
        pool.run(SCOPE, sql, "json")
    assert "192 MiB" in err.value.message and "query_memory_bytes" in err.value.message
    assert sampler.peak - idle <= LIMIT + SLACK, f"peak {(sampler.peak - idle) >> 20} MiB"
    # the next query is served (by a fresh worker where the old one was killed)
    assert rows(pool.run(SCOPE, "SELECT 1", "json").body) == [[1]]


def test_the_time_limit_still_applies(store_url: str) -> None:
    pool = WorkerPool(store_url, QueryLimits(timeout_s=0.5), size=1)
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            pool.run(SCOPE, "SELECT count(*) FROM range(100000000000) a", "json")
        assert time.monotonic() - started < 5
        assert rows(pool.run(SCOPE, "SELECT 2", "json").body) == [[2]]
    finally:
        pool.close()


def test_a_worker_killed_mid_query_fails_that_query_only(pool: WorkerPool) -> None:
    pool.run(SCOPE, "SELECT 1", "json")
    (pid,) = pool.pids()
    threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(QueryWorkerError):
        pool.run(SCOPE, "SELECT count(*) FROM range(100000000000) a", "json")
    assert pool.kills["dead"] == 1
    assert rows(pool.run(SCOPE, "SELECT 3", "json").body) == [[3]]
    assert pool.pids() != [pid]


def test_a_query_that_finds_every_worker_busy_gets_busy(store_url: str) -> None:
    pool = WorkerPool(store_url, QueryLimits(timeout_s=0.3), size=1)
    try:
        pool.run(SCOPE, "SELECT 1", "json")
        held = pool._acquire(SCOPE.prefix)  # what a long query holds
        with pytest.raises(QueryBusyError):
            pool.run(SCOPE, "SELECT 1", "json")
        pool._release(held, SCOPE.prefix, healthy=True)
        assert rows(pool.run(SCOPE, "SELECT 4", "json").body) == [[4]]
    finally:
        pool.close()


def test_workers_end_with_the_pool(store_url: str) -> None:
    pool = WorkerPool(store_url, QueryLimits(), size=2)
    pool.run(SCOPE, "SELECT 1", "json")
    pids = pool.pids()
    assert len(pids) == 1  # started on demand
    pool.close()
    for pid in pids:
        assert rss_bytes(pid) is None or _is_zombie_or_gone(pid)


def _is_zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_workers_are_recycled_after_max_queries_and_max_age(store_url: str) -> None:
    by_count = WorkerPool(store_url, QueryLimits(), size=1, max_queries=3)
    try:
        pids = []
        for _ in range(7):
            assert rows(by_count.run(SCOPE, "SELECT 42", "json").body) == [[42]]
            pids.extend(by_count.pids())
        # queries 1-3 on the first worker, 4-6 on the second, 7 on a third
        assert len(set(pids)) == 3
        assert by_count.kills["recycled"] == 2
    finally:
        by_count.close()
    now = [0.0]
    by_age = WorkerPool(store_url, QueryLimits(), size=1, max_age_s=300, clock=lambda: now[0])
    try:
        by_age.run(SCOPE, "SELECT 1", "json")
        first = by_age.pids()
        assert len(first) == 1
        now[0] += 299
        by_age.run(SCOPE, "SELECT 1", "json")
        assert by_age.pids() == first  # not old enough yet
        now[0] += 1
        by_age.run(SCOPE, "SELECT 1", "json")  # served by the old worker, which then retires
        assert by_age.pids() == [] and by_age.kills["recycled"] == 1
        by_age.run(SCOPE, "SELECT 1", "json")
        assert len(by_age.pids()) == 1 and by_age.pids() != first
    finally:
        by_age.close()
