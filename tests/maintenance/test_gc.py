"""``arco.maintenance.gc.collect_garbage`` on a real catalog with crashed attempts left behind."""

from __future__ import annotations

import collections
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from arco.catalog import Catalog, WriterOptions
from arco.core.clock import ManualClock
from arco.errors import StorageError, TransientStorageError, ValidationError
from arco.maintenance.gc import GcReport, collect_garbage
from arco.maintenance.verify import verify_scope
from arco.metadata.commit_log import read_commit
from arco.metadata.layout import ledger_prefix
from arco.metadata.manifest import read_manifest
from arco.storage import FaultyStore, LocalFileStore, ObjectStore, ScopedStore, SimulatedCrash
from arco.tier2.envelope import EventEnvelope
from arco.tier2.ledger import EventLedger
from gc_support import gc_fence_records, without_gc_writes

LEASE_MS = 2_000
DAY_MS = 86_400_000
MANIFEST = "manifests/catalog.manifest.json"


FakeClock = ManualClock


def options() -> WriterOptions:
    return WriterOptions(background_checkpoints=False, checkpoint_every=4, lease_ms=LEASE_MS)


def real_now_ms(days: float = 0) -> int:
    return time.time_ns() // 1_000_000 + int(days * DAY_MS)


@dataclass
class World:
    root: LocalFileStore
    clock: FakeClock
    cat: Catalog

    @property
    def store(self) -> ObjectStore:
        return self.cat.store

    def reopen(self) -> Catalog:
        return Catalog(self.root, options=options(), holder="cold", clock=self.clock)


def crash(world: World, n: int, *, at: str | None = None, crash_after: int = 0) -> None:
    """Run one DDL in a writer that dies at its first put of a key containing ``at``, or
    after ``crash_after`` storage operations (if the commit needs that many)."""

    def hook(index: int, op: str, key: str) -> BaseException | None:
        if at is not None and op == "put" and at in key:
            faulty.crash_after = index
            return SimulatedCrash(f"crash at the put of {key} ({index})")
        return None

    faulty = FaultyStore(world.root, crash_after=None if at else crash_after, fault=hook)
    dead = Catalog(faulty, options=options(), holder=f"crasher-{n}", clock=world.clock)
    try:
        dead.create_namespace(f"crashed_{n}", description="published or not")
    except SimulatedCrash:
        world.clock.advance(LEASE_MS + 1)
    else:
        assert at is None  # the commit needed fewer than crash_after operations


def build(tmp_path: Path, seed: int = 7, commits: int = 36) -> World:
    """A catalog after a seeded random DDL workload with crashed attempts in between."""
    root = LocalFileStore(tmp_path / "store", fsync=False)
    clock = FakeClock()
    world = World(root, clock, Catalog(root, options=options(), holder="main", clock=clock))
    cat = world.cat
    rng = random.Random(seed)
    tables: list[tuple[str, str]] = []
    namespaces = ["base"]
    cat.create_namespace("base")
    for i in range(commits):
        roll = rng.random()
        if roll < 0.15 or not tables:
            name = f"ns{i}"
            cat.create_namespace(name, description=f"namespace {i}")
            namespaces.append(name)
        elif roll < 0.5:
            ns = rng.choice(namespaces)
            cols = [{"name": f"c{j}", "type": rng.choice(["int64", "string"])} for j in range(3)]
            cat.register_table(ns, f"t{i}", cols)
            tables.append((ns, f"t{i}"))
        elif roll < 0.8:
            ns, t = rng.choice(tables)
            cat.update_table(ns, t, add_columns=[{"name": f"x{i}", "type": "double"}])
        else:
            ns, t = tables.pop(rng.randrange(len(tables)))
            cat.drop_table(ns, t)
        if i % 9 == 1:
            crash(world, i, at="/commits/")  # leaves a ledger event and delta files
        elif i % 9 == 4:
            crash(world, i, at=MANIFEST)  # leaves ledger event, deltas and commit record
        elif i % 9 == 7:
            crash(world, i, crash_after=rng.randrange(3, 40))
    return world


def snapshot_of(cat: Catalog) -> dict[str, Any]:
    """Every namespace with its tables and their columns."""
    out: dict[str, Any] = {}
    token: str | None = None
    while True:
        page = cat.list_namespaces(page_token=token)
        for ns in page.items:
            tables = {}
            for t in cat.list_tables(ns.name, limit=1000).items:
                cols = [c.model_dump(mode="json") for c in cat.list_columns(ns.name, t.name)]
                tables[t.name] = (t.model_dump(mode="json"), cols)
            out[ns.name] = (ns.model_dump(mode="json"), tables)
        token = page.next_page_token
        if not token:
            return out


def keys(store: ObjectStore) -> dict[str, int]:
    return {m.key: m.size for m in store.list("")}


def reader(store: ObjectStore) -> Callable[[str], bytes]:
    return lambda key: store.get(key).data


def same_but_gc_fences(store: ObjectStore, listing: dict[str, int]) -> bool:
    """Nothing deleted or changed, GC's own fence writes aside."""
    read = reader(store)
    return without_gc_writes(keys(store), read) == without_gc_writes(listing, read)


def kept_manifest_files(store: ObjectStore, keep_versions: int) -> set[str]:
    head = read_manifest(store, "catalog")
    assert head is not None
    files = {f.path for f in head.manifest.files}
    commit_id: str | None = head.manifest.commit_id
    for _ in range(keep_versions):
        if commit_id is None:
            break
        record = read_commit(store, "catalog", commit_id)
        files.update(f.path for f in record.manifest.files)
        commit_id = record.parent_commit_id
    return files


def items(report: GcReport) -> list[tuple[str, str, int]]:
    return [(i.key, i.reason, i.bytes) for i in report.deleted]


def backdate(root: LocalFileStore, days: float) -> None:
    """Make every stored object look ``days`` old."""
    t = time.time() - days * 86400
    for path in root.root.rglob("*"):
        if path.is_file():
            os.utime(path, (t, t))


def test_gc_removes_garbage_and_keeps_every_kept_version(tmp_path: Path) -> None:
    world = build(tmp_path)
    before = snapshot_of(world.cat)
    keep = 3
    live = kept_manifest_files(world.store, keep)
    listing = keys(world.store)
    # an hour from now: everything is past min_age 0, no commit is past the ledger retention
    report = collect_garbage(world.store, keep_versions=keep, min_age_s=0, now_ms=real_now_ms(0.05))

    reasons = {i.reason for i in report.deleted}
    assert {"unreferenced_snapshot", "orphan_commit", "orphan_ledger_event"} <= reasons
    assert "compacted_ledger_event" not in reasons
    orphans = collections.Counter(i.reason for i in report.deleted)
    assert orphans["orphan_ledger_event"] > orphans["orphan_commit"]
    after = keys(world.store)
    fences = gc_fence_records(set(after) - set(listing), reader(world.store))
    assert len(fences) == 1  # the catalog's (lineage was never written: nothing to fence)
    assert set(after) == (set(listing) - {i.key for i in report.deleted}) | fences
    assert all(listing[k] == b for k, _, b in items(report))
    assert live <= set(after)
    assert not any(k.startswith(("manifests/", "locks/")) for k, _, _ in items(report))
    # crashed attempts are gone: every remaining commit record is on the chain
    # (GC's own fence record is on the chain but not reported: a dry run has none)
    assert report.kept["chain_commit"] == sum(1 for k in after if k.startswith("commits/")) - 1
    assert verify_scope(world.store).ok, verify_scope(world.store).to_json()
    assert snapshot_of(world.reopen()) == before
    # a second run finds nothing more, and the catalog keeps working
    again = collect_garbage(world.store, keep_versions=keep, min_age_s=0, now_ms=real_now_ms(0.05))
    assert again.deleted == []
    cat = world.reopen()
    cat.create_namespace("after_gc")
    assert "after_gc" in snapshot_of(world.reopen())
    assert verify_scope(world.store).ok


def test_compacted_ledger_events_past_retention(tmp_path: Path) -> None:
    world = build(tmp_path, seed=3, commits=12)
    before = snapshot_of(world.cat)
    report = collect_garbage(world.store, min_age_s=0, now_ms=real_now_ms(10))
    compacted = [i.key for i in report.deleted if i.reason == "compacted_ledger_event"]
    chain_events = {
        r.ledger_event
        for r in (
            read_commit(world.store, "catalog", k.removeprefix("commits/catalog/")[:-5])
            for k in keys(world.store)
            if k.startswith("commits/")
        )
        if r.ledger_event
    }
    assert {f"ledger/catalog/{e}.json" for e in chain_events} == set(compacted)
    assert not any(k.startswith("ledger/catalog/") for k in keys(world.store))
    assert snapshot_of(world.reopen()) == before
    # verify still flags chain commits whose event was compacted away (see the GC report)
    assert all(f.code == "missing_ledger_event" for f in verify_scope(world.store).findings)


def test_keep_versions_one_keeps_only_the_head(tmp_path: Path) -> None:
    world = build(tmp_path, seed=11, commits=20)
    before = snapshot_of(world.cat)
    head = read_manifest(world.store, "catalog")
    assert head is not None
    report = collect_garbage(world.store, keep_versions=1, min_age_s=0, now_ms=real_now_ms(0.05))
    remaining = {k for k in keys(world.store) if k.startswith("snapshots/")}
    dirs = {k.rsplit("/", 1)[0] for k in remaining}
    assert dirs == {f.path.rsplit("/", 1)[0] for f in head.manifest.files}
    assert report.kept["live_snapshot"] == len(remaining)
    assert snapshot_of(world.reopen()) == before


def test_dry_run_reports_exactly_what_a_real_run_deletes(tmp_path: Path) -> None:
    world = build(tmp_path, seed=5)
    listing = keys(world.store)
    now = real_now_ms(10)
    dry = collect_garbage(world.store, keep_versions=2, min_age_s=0, now_ms=now, dry_run=True)
    assert keys(world.store) == listing
    assert dry.deleted and dry.dry_run
    real = collect_garbage(world.store, keep_versions=2, min_age_s=0, now_ms=now)
    assert items(real) == items(dry)
    assert real.kept == dry.kept
    assert {**real.to_json(), "dry_run": True} == dry.to_json()
    after = keys(world.store)
    fences = gc_fence_records(set(after) - set(listing), reader(world.store))
    assert set(after) == (set(listing) - {k for k, _, _ in items(real)}) | fences


def test_nothing_younger_than_min_age_is_deleted(tmp_path: Path) -> None:
    world = build(tmp_path, seed=9)
    listing = keys(world.store)
    report = collect_garbage(world.store, min_age_s=10**9, now_ms=real_now_ms(10))
    assert report.deleted == []
    assert same_but_gc_fences(world.store, listing)
    # everything was just written: the default min_age keeps it all
    assert collect_garbage(world.store, keep_versions=1).deleted == []
    assert same_but_gc_fences(world.store, listing)

    # old garbage goes, a crashed attempt from just now stays
    backdate(world.root, days=2)
    old = keys(world.store)
    crash(world, 99, at=MANIFEST)
    young = set(keys(world.store)) - set(old)
    assert any(k.startswith("commits/") for k in young)
    assert any(k.startswith("ledger/catalog/") for k in young)
    assert any(k.startswith("snapshots/") for k in young)
    report = collect_garbage(world.store, keep_versions=1, min_age_s=3600)
    deleted = {k for k, _, _ in items(report)}
    assert deleted and not deleted & young
    assert report.kept["young"] >= len(young - {MANIFEST} - {"locks/catalog.lock.json"})


def test_tier2_ledger_events_are_never_touched(tmp_path: Path) -> None:
    world = build(tmp_path, seed=1, commits=10)
    ledger = EventLedger(world.store, "executions")
    written = ledger.append(
        [
            EventEnvelope(
                event_id=f"01JQ3Z7W8X9Y0ABCDEFGHJKM{n:02d}",
                event_type="materialization",
                event_version=1,
                idempotency_key=None,
                occurred_at="2026-01-01T00:00:00.000Z",
                source="test",
                trace_id=None,
                payload={"n": n},
            )
            for n in range(5)
        ]
    )
    backdate(world.root, days=30)
    report = collect_garbage(world.store, keep_versions=1, min_age_s=0, ledger_retention_s=0)
    assert report.deleted
    assert not any(k.startswith(ledger_prefix("executions")) for k, _, _ in items(report))
    assert sorted(k for k in keys(world.store) if k.startswith("ledger/executions/")) == sorted(
        written
    )
    with pytest.raises(ValidationError):
        collect_garbage(world.store, domains=("executions",))


@pytest.mark.parametrize("op", ["list", "get"])
def test_storage_errors_abort_without_deleting(tmp_path: Path, op: str) -> None:
    world = build(tmp_path, seed=2, commits=12)
    listing = keys(world.store)
    plain = collect_garbage(world.store, min_age_s=0, now_ms=real_now_ms(10), dry_run=True)
    assert plain.deleted
    scoped_prefix = "tenant=default/workspace=default/"
    for nth in range(3 if op == "list" else 5):
        seen = {"n": 0}

        def fault(index: int, name: str, key: str, nth: int = nth) -> BaseException | None:
            if name != op:
                return None
            seen["n"] += 1
            if seen["n"] != nth + 1:
                return None
            error = TransientStorageError if nth % 2 else StorageError
            return error(f"injected {op} failure")

        faulty = ScopedStore(FaultyStore(world.root, fault=fault), scoped_prefix)
        with pytest.raises(StorageError, match="injected"):
            collect_garbage(faulty, min_age_s=0, now_ms=real_now_ms(10))
        assert same_but_gc_fences(world.store, listing)


def test_missing_chain_record_is_conservative(tmp_path: Path) -> None:
    world = build(tmp_path, seed=4, commits=20)
    head = read_manifest(world.store, "catalog")
    assert head is not None
    parent = read_commit(world.store, "catalog", head.manifest.commit_id).parent_commit_id
    assert parent is not None
    world.root.delete(f"tenant=default/workspace=default/commits/catalog/{parent}.json")
    listing = keys(world.store)

    report = collect_garbage(world.store, keep_versions=5, min_age_s=0, now_ms=real_now_ms(0.05))
    assert report.deleted == []
    assert report.warnings and "missing" in report.warnings[0]
    assert report.kept["chain_broken"] > 0
    assert same_but_gc_fences(world.store, listing)

    # the kept window (head only) could be read: unreferenced snapshots may go, but no
    # commit record and no ledger event without a known commit
    report = collect_garbage(world.store, keep_versions=1, min_age_s=0, now_ms=real_now_ms(0.05))
    assert {i.reason for i in report.deleted} == {"unreferenced_snapshot"}
    assert report.warnings
    assert {f.path for f in head.manifest.files} <= set(keys(world.store))
    assert snapshot_of(world.reopen()) is not None


def test_empty_scope_and_bad_arguments(tmp_path: Path) -> None:
    store = ScopedStore(LocalFileStore(tmp_path, fsync=False), "tenant=a/workspace=b/")
    report = collect_garbage(store)
    assert report.deleted == [] and report.kept == {} and report.warnings == []
    assert report.to_json()["summary"] == {}
    with pytest.raises(ValidationError):
        collect_garbage(store, keep_versions=0)
    with pytest.raises(ValidationError):
        collect_garbage(store, min_age_s=-1)
