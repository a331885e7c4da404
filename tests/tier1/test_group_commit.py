"""Group commit within one process, and fencing of a stale lock holder.

* Many threads submitting DDL to one Catalog are batched into fewer commits, and every
  request still gets its own result (or its own error).
* A writer that pauses after preparing its commit while another writer takes over its
  expired (or forcibly broken) lease cannot publish: its attempt stays invisible, and
  only its own retry (a new attempt under a new lease) may apply the request.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from arco.catalog import Catalog, Namespace, Table
from arco.catalog.operations import CreateNamespace, Operation, UpdateNamespace, build_request
from arco.errors import (
    AlreadyExistsError,
    FencedError,
    IdempotencyConflictError,
    PreconditionFailedError,
    ValidationError,
)
from arco.maintenance.gc import collect_garbage
from arco.maintenance.verify import verify_scope
from arco.metadata.commit_log import CommitRecord, read_commit
from arco.metadata.commit_log import chain as commit_chain
from arco.metadata.layout import commits_prefix
from arco.metadata.manifest import read_manifest
from arco.storage import LocalFileStore, ObjectStore, open_store
from arco.tier1.lock import LeaseLock
from catalog_support import FakeClock, inline_options

THREADS = 16
PER_THREAD = 20
LEASE_MS = 1_000


def chain(cat: Catalog) -> list[CommitRecord]:
    return commit_chain(cat.store, "catalog")


def all_commit_records(cat: Catalog) -> list[CommitRecord]:
    return [
        read_commit(cat.store, "catalog", meta.key.rsplit("/", 1)[1].removesuffix(".json"))
        for meta in cat.store.list(commits_prefix("catalog"))
    ]


def test_concurrent_threads_are_batched_and_each_gets_its_own_result(tmp_path: Path) -> None:
    cat = Catalog(
        LocalFileStore(tmp_path / "store", fsync=False),
        options=inline_options(checkpoint_every=100_000),
    )
    start = threading.Barrier(THREADS)
    results: dict[tuple[int, int], Any] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            start.wait()
            for j in range(PER_THREAD):
                if j % 2 == 0:
                    r: Any = cat.create_namespace(
                        f"g{i}-{j}", properties={"t": str(i)}, idempotency_key=f"{i}/{j}"
                    )
                else:
                    r = cat.register_table(
                        f"g{i}-{j - 1}",
                        f"tab{j}",
                        [{"name": f"c{i}", "type": "int64"}],
                        idempotency_key=f"{i}/{j}",
                    )
                results[(i, j)] = r
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    requests = THREADS * PER_THREAD
    assert len(results) == requests

    # each request got its own result
    for (i, j), r in results.items():
        if j % 2 == 0:
            assert isinstance(r, Namespace) and r.name == f"g{i}-{j}"
            assert r.properties == {"t": str(i)}
        else:
            assert isinstance(r, Table)
            assert (r.namespace, r.name) == (f"g{i}-{j - 1}", f"tab{j}")
            assert r.namespace_id == results[(i, j - 1)].namespace_id
            assert [c.name for c in r.columns] == [f"c{i}"]
    ids = [r.namespace_id if isinstance(r, Namespace) else r.table_id for r in results.values()]
    assert len(set(ids)) == requests

    # batching happened: fewer commits than requests, and some commits carry many requests
    commits = cat.writer.commits
    assert commits < requests, commits
    records = chain(cat)
    assert [r.snapshot_version for r in records] == list(range(1, len(records) + 1))
    assert len(records) == commits == cat.snapshot_version()
    sizes = [len(r.operations) for r in records]
    assert sum(sizes) == requests
    assert max(sizes) > 1

    # every result is visible with the same ids, and was committed in the version it names
    by_version = {r.snapshot_version: r for r in records}
    for (i, j), r in results.items():
        if isinstance(r, Namespace):
            assert cat.get_namespace(r.name) == r
            target = r.name
        else:
            assert cat.get_table(r.namespace, r.name) == r
            target = f"{r.namespace}.{r.name}"
        ops = by_version[r.version].operations
        assert {"target": target, "idempotency_key": f"{i}/{j}"}.items() <= next(
            o for o in ops if o["idempotency_key"] == f"{i}/{j}"
        ).items()
    assert len(cat.list_namespaces(limit=1000).items) == requests // 2
    print(f"{requests} requests in {commits} commits (largest batch {max(sizes)})")
    assert verify_scope(cat.store).ok


def test_a_failing_request_fails_only_itself_within_a_batch(tmp_path: Path) -> None:
    cat = Catalog(
        LocalFileStore(tmp_path / "store"), options=inline_options(checkpoint_every=100_000)
    )
    existing = cat.create_namespace("existing")
    commits_before = cat.writer.commits

    in_flight = threading.Event()
    release = threading.Event()

    def hold_first_commit(step: str) -> None:
        if step == "ledger" and not in_flight.is_set():
            in_flight.set()
            assert release.wait(30)

    cat.writer.on_step = hold_first_commit
    results: dict[str, Any] = {}

    def run(label: str, fn: Callable[[], Any]) -> threading.Thread:
        def target() -> None:
            try:
                results[label] = fn()
            except Exception as exc:
                results[label] = exc

        t = threading.Thread(target=target)
        t.start()
        return t

    threads = [run("first", lambda: cat.create_namespace("first"))]
    assert in_flight.wait(30)
    # queue the next batch in a known order while the first commit is in flight
    batch: list[tuple[str, Callable[[], Any]]] = [
        ("a", lambda: cat.create_namespace("a", description="A")),
        ("dup-existing", lambda: cat.create_namespace("EXISTING")),
        ("table", lambda: cat.register_table("first", "t", [{"name": "x", "type": "utf8"}])),
        ("dup-in-batch", lambda: cat.create_namespace("A")),
        ("keyed", lambda: cat.create_namespace("k", idempotency_key="K")),
        ("keyed-again", lambda: cat.create_namespace("k", idempotency_key="K")),
        ("keyed-other-body", lambda: cat.create_namespace("k2", idempotency_key="K")),
        ("update", lambda: cat.update_namespace("existing", set_properties={"p": "1"})),
        ("missing", lambda: cat.register_table("nope", "t")),
    ]
    for n, (label, fn) in enumerate(batch, start=1):
        threads.append(run(label, fn))
        deadline = time.monotonic() + 10
        while len(cat.writer._queue) < n:
            assert time.monotonic() < deadline, "request was not queued"
            time.sleep(0.001)
    release.set()
    for t in threads:
        t.join(timeout=30)

    assert isinstance(results["first"], Namespace)
    assert isinstance(results["dup-existing"], AlreadyExistsError)
    assert isinstance(results["dup-in-batch"], AlreadyExistsError)
    assert isinstance(results["keyed-other-body"], IdempotencyConflictError)
    assert type(results["missing"]).__name__ == "NotFoundError"
    ok = ["a", "table", "keyed", "keyed-again", "update"]
    for label in ok:
        assert not isinstance(results[label], Exception), (label, results[label])
    assert results["keyed-again"] == results["keyed"]
    assert results["a"].description == "A" and results["a"].name == "a"
    assert results["table"].namespace_id == results["first"].namespace_id
    assert results["update"].namespace_id == existing.namespace_id
    assert results["update"].properties == {"p": "1"}

    # exactly two commits: the one in flight, and one for the whole batch
    assert cat.writer.commits == commits_before + 2
    batch_version = results["first"].version + 1
    assert {results[label].version for label in ok} == {batch_version}
    last = chain(cat)[-1]
    assert last.snapshot_version == batch_version
    assert [o["target"] for o in last.operations] == ["a", "first.t", "k", "existing"]
    # the failed requests left no trace
    names = sorted(ns.name for ns in cat.list_namespaces().items)
    assert names == ["a", "existing", "first", "k"]
    assert cat.get_namespace("existing").properties == {"p": "1"}
    assert verify_scope(cat.store).ok


def two_writers(store: ObjectStore, clock: FakeClock, attempts: int) -> tuple[Catalog, Catalog]:
    opts = {"lease_ms": LEASE_MS, "checkpoint_every": 100_000, "commit_attempts": attempts}
    a = Catalog(store, options=inline_options(**opts), holder="A", clock=clock)
    b = Catalog(store, options=inline_options(**opts), holder="B", clock=clock)
    return a, b


def orphans(cat: Catalog) -> list[CommitRecord]:
    in_chain = {r.commit_id for r in chain(cat)}
    return [r for r in all_commit_records(cat) if r.commit_id not in in_chain]


@pytest.mark.parametrize("attempts", [1, 3], ids=["no-retry", "retry"])
@pytest.mark.parametrize("backend", ["memory", "local"])
def test_paused_holder_whose_lease_expired_cannot_publish(
    attempts: int, backend: str, tmp_path: Path
) -> None:
    store = open_store("memory://") if backend == "memory" else LocalFileStore(tmp_path / "s")
    clock = FakeClock()
    a, b = two_writers(store, clock, attempts)
    a.create_namespace("ns")
    before = read_manifest(a.store, "catalog")
    assert before is not None
    paused: list[int] = []

    def pause_then_lose_lease(step: str) -> None:
        if step == "manifest" and not paused:
            lease = LeaseLock(a.store, "catalog").read()
            assert lease is not None and lease.holder == "A"
            paused.append(lease.fencing_token)
            clock.advance(LEASE_MS + 500)  # A is paused (GC, partition) past its lease
            b.create_namespace("by-b")  # B takes the expired lease over and commits

    a.writer.on_step = pause_then_lose_lease
    if attempts == 1:
        with pytest.raises(FencedError):
            a.register_table("ns", "by-a", [{"name": "x", "type": "int64"}])
        assert [t.name for t in a.list_tables("ns").items] == []
    else:
        table = a.register_table("ns", "by-a", [{"name": "x", "type": "int64"}])
        # re-applied by A's own retry, under a new lease: visible once, with the returned ids
        assert a.list_tables("ns").items == [table]
        assert b.get_table("ns", "by-a") == table
    a_token = paused[0]

    records = chain(a)
    kinds = [(r.kind, r.holder) for r in records]
    # B fenced A out right after the takeover, then committed
    assert kinds[1:3] == [("fence", "B"), ("ddl", "B")]
    fence = records[1]
    assert fence.fencing_token > a_token > before.manifest.fencing_token
    tokens = [r.fencing_token for r in records]
    assert tokens == sorted(tokens)
    # A's paused attempt was written but never became part of the chain
    lost = orphans(a)
    assert len(lost) == 1
    assert lost[0].holder == "A" and lost[0].fencing_token == a_token
    assert [o["target"] for o in lost[0].operations] == ["ns.by-a"]
    if attempts == 3:
        assert kinds[3] == ("ddl", "A") and records[3].fencing_token > fence.fencing_token
        assert len(records) == 4
    else:
        assert len(records) == 3

    # more commits by both writers never resurrect the failed attempt
    a.writer.on_step = None
    for n in range(3):
        a.create_namespace(f"more-a-{n}")
        b.create_namespace(f"more-b-{n}")
    tables = a.list_tables("ns").items
    assert [t.name for t in tables] == ([] if attempts == 1 else ["by-a"])
    assert sum(o["target"] == "ns.by-a" for r in chain(a) for o in r.operations) == (
        0 if attempts == 1 else 1
    )
    report = verify_scope(a.store)
    assert report.ok, report.findings


def test_broken_lock_fences_the_holder_and_the_token_keeps_increasing() -> None:
    store = open_store("memory://")
    clock = FakeClock()
    a, b = two_writers(store, clock, attempts=3)
    a.create_namespace("ns")
    seen: dict[str, int] = {}

    def operator_breaks_the_lock(step: str) -> None:
        if step == "manifest" and not seen:
            held = LeaseLock(a.store, "catalog").read()
            assert held is not None and held.holder == "A"
            assert held.expires_at_ms > clock.now_ms()  # A's lease is still valid
            seen["a"] = held.fencing_token
            operator = LeaseLock(
                a.store, "catalog", holder="operator", lease_ms=LEASE_MS, clock=clock
            )
            broken = operator.break_lock()
            seen["operator"] = broken.fencing_token
            # the operator walks away without releasing: B waits for that lease, then takes over
            b.create_namespace("by-b")

    a.writer.on_step = operator_breaks_the_lock
    ns = a.create_namespace("by-a")
    assert seen["operator"] > seen["a"]
    records = chain(a)
    fences = [r for r in records if r.kind == "fence"]
    assert [r.holder for r in fences] == ["B"]
    assert fences[0].fencing_token > seen["operator"]
    last = records[-1]
    assert (last.holder, [o["target"] for o in last.operations]) == ("A", ["by-a"])
    assert last.fencing_token > fences[0].fencing_token
    assert a.get_namespace("by-a") == ns
    assert Counter(o["target"] for r in records for o in r.operations)["by-a"] == 1
    lost = orphans(a)
    assert [(r.holder, r.fencing_token) for r in lost] == [("A", seen["a"])]
    lock = LeaseLock(a.store, "catalog").read()
    assert lock is not None and lock.fencing_token >= last.fencing_token
    assert verify_scope(a.store).ok


def test_lease_lock_break_and_takeover_never_reuse_a_token() -> None:
    store = open_store("memory://")
    clock = FakeClock()

    def lock(holder: str) -> LeaseLock:
        return LeaseLock(store, "catalog", holder=holder, lease_ms=LEASE_MS, clock=clock)

    one, two, three, four = lock("one"), lock("two"), lock("three"), lock("four")
    l1 = one.acquire()
    assert not l1.took_over
    l2 = two.break_lock()  # forced while l1 is valid
    assert l2.fencing_token > l1.fencing_token
    with pytest.raises(FencedError):
        one.renew(l1)
    assert one.release(l1) is False  # a stale release does not free the lock
    state = one.read()
    assert state is not None and state.holder == "two"
    clock.advance(LEASE_MS + 1)  # two's lease expires unreleased
    l3 = three.acquire()
    assert l3.took_over and l3.fencing_token > l2.fencing_token
    with pytest.raises(FencedError):
        two.renew(l2)
    assert three.release(l3) is True
    released = three.read()
    assert released is not None and released.holder is None
    assert released.fencing_token == l3.fencing_token  # release keeps the token
    l4 = four.break_lock()  # breaking a free lock still increments
    assert l4.fencing_token > l3.fencing_token
    assert four.release(l4)
    l5 = one.acquire()
    assert not l5.took_over and l5.fencing_token > l4.fencing_token


@pytest.mark.parametrize("backend", ["memory", "local"])
def test_a_takeover_whose_fence_renews_the_lease_does_not_fence_itself(
    backend: str, tmp_path: Path
) -> None:
    """Issue 9, defect 2: the lease the fence's publish renewed must be the one the change
    and the release use (a discarded renewal made B fail "taken over" against itself)."""
    store = open_store("memory://") if backend == "memory" else LocalFileStore(tmp_path / "s")
    clock = FakeClock()
    a, b = two_writers(store, clock, attempts=1)
    a.create_namespace("ns")
    # A dies holding the lease; B takes it over once it expired
    dead = LeaseLock(a.store, "catalog", holder="A", lease_ms=LEASE_MS, clock=clock).acquire()
    clock.advance(LEASE_MS + 1)
    steps: list[str] = []

    def slow_before_the_fence_swap(step: str) -> None:
        steps.append(step)
        if steps == ["commit"]:  # the fence's commit record: B is slow, little lease is left
            clock.advance(LEASE_MS * 3 // 4)

    b.writer.on_step = slow_before_the_fence_swap
    ns = b.create_namespace("by-b")  # must neither fail nor fence itself
    assert steps[:2] == ["commit", "manifest"] and "ledger" in steps
    kinds = [(r.kind, r.holder) for r in chain(b)]
    assert kinds[-2:] == [("fence", "B"), ("ddl", "B")]
    assert b.get_namespace("by-b") == ns
    # and the lock was released: A's successor does not wait for B's lease to run out
    lock = LeaseLock(b.store, "catalog").read()
    assert lock is not None and lock.holder is None
    assert lock.fencing_token > dead.fencing_token
    b.writer.on_step = None
    a.create_namespace("after")  # no wait: the clock stands still, the lock is free
    assert verify_scope(a.store).ok


def test_an_adoption_that_renews_the_lease_releases_the_renewed_lease() -> None:
    """The same discarded-renewal defect in the adoption of a merge or checkpoint: releasing
    the stale lease failed, and the lock stayed held for a whole lease."""
    clock = FakeClock()
    a, _ = two_writers(open_store("memory://"), clock, attempts=1)
    for n in range(4):
        a.create_namespace(f"ns{n}")
    slow = {"commit": True}

    def slow_adoption(step: str) -> None:
        if slow.pop(step, False):
            clock.advance(LEASE_MS * 3 // 4)

    a.writer.on_step = slow_adoption
    assert a.writer.checkpoint()
    assert not slow  # the adoption's commit step ran, slowly
    lock = LeaseLock(a.store, "catalog").read()
    assert lock is not None and lock.holder is None
    assert verify_scope(a.store).ok


@pytest.mark.parametrize("attempts", [1, 3], ids=["no-retry", "retry"])
def test_an_expired_lease_is_lost_even_if_nobody_took_it(attempts: int) -> None:
    """Issue 9, defect 3 (the writer's half): a writer paused past its lease must not renew
    and publish, even when nobody touched the lock meanwhile, because GC deletes whatever
    unreferenced files it wrote once they are ``min_age`` old."""
    clock = FakeClock()
    a, _ = two_writers(open_store("memory://"), clock, attempts)
    a.create_namespace("ns")
    paused: list[str] = []

    def pause_and_collect(step: str) -> None:
        if step == "commit" and not paused:
            paused.append(step)
            clock.advance(LEASE_MS * 2)  # e.g. a suspended VM; nobody else writes
            # GC runs meanwhile and removes the attempt's delta files as unreferenced
            time.sleep(0.01)  # (written before GC's fence by the store's clock)
            real_now = int(time.time() * 1000) + 60_000
            report = collect_garbage(a.store, min_age_s=0, now_ms=real_now)
            assert any(i.reason == "unreferenced_snapshot" for i in report.deleted)

    a.writer.on_step = pause_and_collect
    if attempts == 1:
        with pytest.raises(FencedError, match="expired"):
            a.register_table("ns", "t", [{"name": "x", "type": "int64"}])
        assert a.list_tables("ns").items == []
    else:  # the retry takes the lock again and writes its files anew
        table = a.register_table("ns", "t", [{"name": "x", "type": "int64"}])
        assert a.list_tables("ns").items == [table]
    cold = Catalog(a.root_store, options=inline_options())
    assert cold.get_namespace("ns").name == "ns"  # every file the manifest names exists
    report = verify_scope(a.store)
    assert report.ok, report.findings


def test_submit_all_is_one_commit_and_each_request_gets_its_own_outcome(tmp_path: Path) -> None:
    cat = Catalog(
        LocalFileStore(tmp_path / "store", fsync=False),
        options=inline_options(checkpoint_every=100_000),
    )
    cat.create_namespace("existing")
    version = cat.snapshot_version()
    requests: list[Operation] = [
        build_request(CreateNamespace, name="a"),
        build_request(CreateNamespace, name="existing"),  # refused: already exists
        build_request(UpdateNamespace, name="existing", description="d", if_match=99),
        build_request(CreateNamespace, name="b", description="B"),
    ]
    outcomes = cat.submit_all(requests)
    assert cat.snapshot_version() == version + 1  # one commit for all four
    assert [type(o) for o in outcomes] == [
        Namespace,
        AlreadyExistsError,
        PreconditionFailedError,
        Namespace,
    ]
    assert [n.name for n in cat.list_namespaces().items] == ["a", "b", "existing"]
    assert cat.get_namespace("existing").description is None
    assert cat.submit_all([]) == []
    assert cat.snapshot_version() == version + 1


def test_submit_all_refuses_an_invalid_request_without_queueing_it(tmp_path: Path) -> None:
    cat = Catalog(LocalFileStore(tmp_path / "store", fsync=False), options=inline_options())
    bad = CreateNamespace.model_construct(
        name="x" * 1000, description=None, properties={}, if_match=None
    )
    outcomes = cat.submit_all([bad, build_request(CreateNamespace, name="ok")])
    assert isinstance(outcomes[0], ValidationError) and "name" in outcomes[0].message
    assert isinstance(outcomes[1], Namespace)
    assert [n.name for n in cat.list_namespaces().items] == ["ok"]
