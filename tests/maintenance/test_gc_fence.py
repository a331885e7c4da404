"""GC fences every in-flight publish before it deletes (issue 9, defect 3).

Each test pauses a writer of published files between writing them and swapping the manifest
(the tier-1 writer after its last lease renewal, a tier-2 fold round, a tier-2 checkpoint
adoption after its stall check), runs GC meanwhile, and resumes it. Without GC's fence the
writer's compare-and-swap succeeded and published files GC had just deleted: every read of
the domain failed. With it the swap fails, the writer retries from the new head (or abandons
stale compaction output), and the domain stays readable and verifies clean.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from arco.catalog import Catalog
from arco.errors import CommitConflictError
from arco.executions import EXECUTIONS
from arco.maintenance.gc import collect_garbage
from arco.maintenance.verify import verify_scope
from arco.storage import ForwardingStore, LocalFileStore, ObjectStore, open_store
from arco.storage.port import PutMode
from arco.tier2.compactor import Compactor
from arco.tier2.ledger import EventLedger
from catalog_support import FakeClock, inline_options
from executions_support import BASE_MS, fresh_state, mat, opts, view

SOON = 60_000  # GC's "now": a minute ahead of the store's clock


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def gc_now(store: ObjectStore, min_age_s: int = 0) -> list[str]:
    """Run GC at the store's time; the reasons of what it deleted."""
    time.sleep(0.01)  # the store's clock moves past what the paused writer just wrote
    report = collect_garbage(store, min_age_s=min_age_s, now_ms=now_ms() + SOON)
    return [item.reason for item in report.deleted]


@pytest.mark.parametrize("attempts", [1, 3], ids=["no-retry", "retry"])
def test_a_ddl_writer_paused_after_its_last_renewal_cannot_publish_collected_files(
    attempts: int,
) -> None:
    clock = FakeClock()
    cat = Catalog(
        open_store("memory://"),
        options=inline_options(commit_attempts=attempts, checkpoint_every=100_000),
        holder="A",
        clock=clock,
    )
    cat.create_namespace("ns")
    collected: list[list[str]] = []

    def pause_before_the_swap(step: str) -> None:
        if step == "manifest" and not collected:  # the lease was renewed just before
            collected.append(gc_now(cat.store))

    cat.writer.on_step = pause_before_the_swap
    if attempts == 1:
        with pytest.raises(CommitConflictError):
            cat.register_table("ns", "t", [{"name": "x", "type": "int64"}])
        assert cat.list_tables("ns").items == []
    else:
        table = cat.register_table("ns", "t", [{"name": "x", "type": "int64"}])
        assert cat.list_tables("ns").items == [table]
    assert "unreferenced_snapshot" in collected[0]  # the paused attempt's delta files
    cold = Catalog(cat.root_store)
    assert [n.name for n in cold.list_namespaces().items] == ["ns"]
    assert verify_scope(cat.store).ok, verify_scope(cat.store).to_json()


def test_a_fold_round_paused_before_its_swap_folds_again_after_gc() -> None:
    store = open_store("memory://")
    clock = FakeClock()
    ledger = EventLedger(store, "executions")
    compactor = Compactor(store, EXECUTIONS, clock=clock, options=opts(checkpoint_every=10**6))
    compactor.compact(ledger.append([mat(1, at=BASE_MS)]))
    second = ledger.append([mat(2, at=BASE_MS + 1), mat(3, at=BASE_MS + 2)])
    collected: list[list[str]] = []

    def pause_before_the_swap(step: str) -> None:
        if step == "manifest" and not collected:
            collected.append(gc_now(store))

    compactor.on_step = pause_before_the_swap
    result = compactor.compact(second)
    assert result.conflicts == 1 and result.folded == 2  # lost to the fence, then folded
    assert "unreferenced_snapshot" in collected[0]  # the paused round's delta files
    assert set(view(fresh_state(store))) == {f"00000000-0000-4000-8000-{i:012d}" for i in (1, 2, 3)}
    report = verify_scope(store, now_ms=clock.now_ms())
    assert report.ok, report.to_json()


def test_a_checkpoint_adoption_paused_before_its_swap_is_abandoned() -> None:
    store = open_store("memory://")
    clock = FakeClock()
    ledger = EventLedger(store, "executions")
    compactor = Compactor(store, EXECUTIONS, clock=clock, options=opts(checkpoint_every=10**6))
    for i in range(4):  # four delta ranges: a merge is due
        compactor.compact(ledger.append([mat(i, at=BASE_MS + i)]))
    before = view(fresh_state(store))
    paused: list[list[str]] = []

    def pause_before_the_swap(step: str) -> None:
        if step == "manifest" and not paused:  # the merged files are written, unreferenced
            paused.append(gc_now(store))

    compactor.on_step = pause_before_the_swap
    assert compactor.checkpoint() is False  # lost to GC's fence, then abandoned: fenced
    assert "unreferenced_snapshot" in paused[0]  # the merge output GC collected
    assert view(fresh_state(store)) == before
    report = verify_scope(store, now_ms=clock.now_ms())
    assert report.ok, report.to_json()


class GcAtAdoption(ForwardingStore):
    """Runs GC once, right before the adoption takes the lock (after the merge was written)."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self.armed = False
        self.collected: list[str] = []
        self.scoped: ObjectStore | None = None

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        if self.armed and "locks/" in key and self.scoped is not None:
            self.armed = False
            self.collected = gc_now(self.scoped)
        return self.inner.put(key, data, mode)


@pytest.mark.parametrize("when", ["before the swap", "before reading the head"])
def test_a_tier1_adoption_overtaken_by_gc_never_publishes_collected_files(
    tmp_path: Path, when: str
) -> None:
    clock = FakeClock()
    root = GcAtAdoption(LocalFileStore(tmp_path / "store", fsync=False))
    cat = Catalog(root, options=inline_options(checkpoint_every=100_000), clock=clock)
    root.scoped = cat.store
    for n in range(4):
        cat.create_namespace(f"ns{n}")
    if when == "before the swap":
        collected: list[list[str]] = []

        def gc_between_write_and_swap(step: str) -> None:
            if step == "commit" and not collected:  # the adoption read the head already
                collected.append(gc_now(cat.store))

        cat.writer.on_step = gc_between_write_and_swap
        with pytest.raises(CommitConflictError):  # its swap loses to the fence
            cat.writer.checkpoint()
        assert "unreferenced_snapshot" in collected[0]
    else:
        root.armed = True
        assert cat.writer.checkpoint() is False  # it read the fence: abandoned
        assert "unreferenced_snapshot" in root.collected
    cold = Catalog(LocalFileStore(tmp_path / "store", fsync=False))
    assert len(cold.list_namespaces().items) == 4
    assert verify_scope(cat.store).ok
