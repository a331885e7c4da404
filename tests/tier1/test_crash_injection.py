"""Crash and fault injection at every storage operation of a commit.

A representative DDL (register_table with an idempotency key, on a catalog that already
holds state) is run once on a fault-free FaultyStore to record its storage operations; then,
for every operation index i, a copy of the same prior state is crashed at operation i and
recovered by a new writer (new holder, clock advanced past the lease). The recovered state
must be exactly the old or exactly the new one (old iff the crash came at or before the
manifest put), a retry with the same idempotency key must return the published ids, and
nothing that was not published may ever appear later.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from arco.catalog import Catalog, Table, WriterOptions
from arco.errors import (
    ArcoError,
    CommitConflictError,
    TransientStorageError,
    VersionMismatchError,
)
from arco.maintenance.verify import verify_scope
from arco.metadata.commit_log import CommitRecord
from arco.metadata.commit_log import chain as commit_chain
from arco.metadata.manifest import read_manifest
from arco.storage import (
    FaultyStore,
    ForwardingStore,
    ObjectStore,
    RetryingStore,
    SimulatedCrash,
    open_store,
)
from arco.storage.port import PutMode
from catalog_support import FakeClock, inline_options

START_MS = 1_767_225_600_000
LEASE_MS = 2_000
NEW_COLUMNS: list[dict[str, Any]] = [
    {"name": "shipment_id", "type": "int64", "nullable": False},
    {"name": "carrier", "type": "string", "description": "who ships"},
    {"name": "shipped_at", "type": "timestamp[us, tz=UTC]"},
]
KEY = "crash-request-1"


def options(checkpoint_every: int = 1000, **kw: Any) -> WriterOptions:
    return inline_options(lease_ms=LEASE_MS, checkpoint_every=checkpoint_every, **kw)


def the_request(cat: Catalog) -> Table:
    return cat.register_table(
        "sales",
        "shipments",
        NEW_COLUMNS,
        description="crash me",
        properties={"owner": "ops"},
        idempotency_key=KEY,
    )


def build_prior_state() -> ObjectStore:
    """A catalog with a checkpoint, deltas after it and an idempotency key in use."""
    store = open_store("memory://", retry=False)
    cat = Catalog(
        store, options=inline_options(checkpoint_every=4), holder="setup", clock=FakeClock(0)
    )
    cat.create_namespace("sales", description="money", properties={"team": "a"})
    cat.create_namespace("ops")
    cat.register_table(
        "sales", "orders", [{"name": "id", "type": "int64"}], idempotency_key="setup-orders"
    )
    cat.update_table("sales", "orders", add_columns=[{"name": "amount", "type": "double"}])
    cat.register_table("ops", "jobs", [{"name": "job", "type": "string"}])
    cat.create_namespace("Ünïcode-名前")
    head = read_manifest(cat.store, "catalog")
    assert head is not None
    assert 0 < head.manifest.checkpoint_version < head.manifest.snapshot_version
    return store


def clone(src: ObjectStore) -> ObjectStore:
    dst = open_store("memory://", retry=False)
    for meta in src.list(""):
        dst.put(meta.key, src.get(meta.key).data, "create")
    return dst


def listing(cat: Catalog) -> dict[str, Any]:
    """Full content: namespaces with their tables and columns, as plain JSON values."""
    out: dict[str, Any] = {}
    state = cat.reader.state()
    for ns in sorted(state.namespaces.values(), key=lambda n: n.name):
        ns_view = cat.get_namespace(ns.name).model_dump(mode="json")
        tables = {}
        for t in sorted(state.tables_in(ns.namespace_id).rows, key=lambda t: t.name):
            tables[t.name] = cat.get_table(ns.name, t.name).model_dump(mode="json")
        ns_view["tables"] = tables
        out[ns.name] = ns_view
    return out


def ids_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k.endswith("_id") and isinstance(v, str):
                yield v
            else:
                yield from ids_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from ids_in(v)


def mask_new_ids(value: Any, known: set[str]) -> Any:
    """Replace ids that are not in ``known`` (created by the commit under test)."""
    if isinstance(value, dict):
        return {
            k: (
                "<new>"
                if k.endswith("_id") and isinstance(v, str) and v not in known
                else mask_new_ids(v, known)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_new_ids(v, known) for v in value]
    return value


def shipments(cat: Catalog) -> list[Table]:
    page = cat.list_tables("sales", limit=1000)
    return [t for t in page.items if t.name.casefold() == "shipments"]


def chain(cat: Catalog) -> list[CommitRecord]:
    return commit_chain(cat.store, "catalog")


def applied_keys(cat: Catalog) -> list[str]:
    return [o["idempotency_key"] for r in chain(cat) for o in r.operations]


def more_ddl(cat: Catalog, tag: str) -> None:
    cat.create_namespace(f"after-{tag}")
    cat.register_table(f"after-{tag}", "t", [{"name": "x", "type": "int32"}])
    cat.update_table("sales", "orders", set_properties={"touched": tag})
    cat.register_table("ops", f"jobs-{tag}", [{"name": "y", "type": "bool"}])


@dataclass
class Reference:
    prior: ObjectStore
    old: dict[str, Any]
    new_masked: dict[str, Any]
    known_ids: set[str]
    ops: list[tuple[int, str, str]]
    checkpoint_every: int


def reference(checkpoint: bool) -> Reference:
    prior = build_prior_state()
    head = read_manifest(Catalog(prior).store, "catalog")
    assert head is not None
    m = head.manifest
    # make the commit under test (version snapshot+1) the one that triggers a compaction
    every = len(m.delta_ranges()) + 1 if checkpoint else 1000
    old = listing(Catalog(prior))
    known = set(ids_in(old))
    faulty = FaultyStore(clone(prior))
    cat = Catalog(faulty, options=options(every), holder="A", clock=FakeClock(START_MS))
    result = the_request(cat)
    ops = list(faulty.ops)  # the storage operations of the request, nothing else
    new = listing(cat)
    assert new["sales"]["tables"]["shipments"] == result.model_dump(mode="json")
    kinds = [r.kind for r in chain(cat)]
    assert (kinds[-1] in {"checkpoint", "merge"}) == checkpoint
    return Reference(prior, old, mask_new_ids(new, known), known, ops, every)


@pytest.mark.parametrize("checkpoint", [False, True], ids=["plain", "with-checkpoint"])
def test_crash_at_every_operation_recovers_old_or_new(checkpoint: bool) -> None:
    ref = reference(checkpoint)
    manifest_puts = [i for i, op, key in ref.ops if op == "put" and "manifests/" in key]
    lock_puts = [i for i, op, key in ref.ops if op == "put" and "locks/" in key]
    assert len(manifest_puts) == (2 if checkpoint else 1)
    commit_point = manifest_puts[0]
    outcomes = []
    for i in range(len(ref.ops)):
        store = clone(ref.prior)
        clock = FakeClock(START_MS)
        crashing = FaultyStore(store, crash_after=i)
        a = Catalog(crashing, options=options(ref.checkpoint_every), holder="A", clock=clock)
        with pytest.raises(SimulatedCrash):
            the_request(a)
        assert crashing.crashed
        published = i > commit_point
        held_lock = sum(1 for j in lock_puts if j < i) % 2 == 1

        # a new process takes over after the dead writer's lease expired
        clock.advance(LEASE_MS + 1)
        b = Catalog(store, options=options(), holder="B", clock=clock)
        state = listing(b)
        if published:
            assert mask_new_ids(state, ref.known_ids) == ref.new_masked, i
            assert len(shipments(b)) == 1
        else:
            assert state == ref.old, i
        original = shipments(b)[0] if published else None
        assert verify_scope(b.store).ok, (i, verify_scope(b.store).findings)

        # more DDL by the new writer: the crashed request is not dragged in by it
        more_ddl(b, "x")
        if held_lock:
            fences = [r for r in chain(b) if r.kind == "fence"]
            assert [r.holder for r in fences] == ["B"], i
        assert len(shipments(b)) == (1 if published else 0), i
        assert applied_keys(b).count(KEY) == (1 if published else 0), i

        # the client retries with the same idempotency key
        retried = the_request(b)
        if original is not None:
            assert retried == original, i
        assert shipments(b) == [retried]
        more_ddl(b, "y")
        assert shipments(b) == [retried]
        assert applied_keys(b).count(KEY) == 1
        assert the_request(b) == retried  # and once more: still the same
        report = verify_scope(b.store)
        assert report.ok, (i, report.findings)
        outcomes.append(published)
    # both outcomes were exercised, in the expected order
    assert outcomes == [False] * (commit_point + 1) + [True] * (len(ref.ops) - commit_point - 1)


def manifest_put_index(ops: list[tuple[int, str, str]]) -> int:
    return next(i for i, op, key in ops if op == "put" and "manifests/" in key)


@pytest.mark.parametrize("retrying", [False, True], ids=["bare", "retrying-store"])
def test_timeout_after_manifest_write_is_a_success(retrying: bool) -> None:
    ref = reference(checkpoint=False)
    store = clone(ref.prior)
    index = manifest_put_index(ref.ops)
    faulty = FaultyStore(store, timeout_after_write={index})
    wrapped: ObjectStore = RetryingStore(faulty, base_delay=0.001) if retrying else faulty
    clock = FakeClock(START_MS)
    a = Catalog(wrapped, options=options(), holder="A", clock=clock)
    result = the_request(a)
    # the fault fired on the manifest put (and, with retries, the put was not repeated blindly)
    assert faulty.ops[index][1] == "put" and "manifests/" in faulty.ops[index][2]
    assert shipments(a) == [result]
    assert mask_new_ids(listing(a), ref.known_ids) == ref.new_masked
    assert applied_keys(a).count(KEY) == 1
    b = Catalog(store, options=options(), holder="B", clock=clock)
    more_ddl(b, "x")
    assert the_request(b) == result
    assert shipments(b) == [result]
    assert applied_keys(b).count(KEY) == 1
    assert verify_scope(b.store).ok


class RecordingStore(ForwardingStore):
    """Passes everything through and remembers the manifest puts that were attempted."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self.manifest_puts: list[tuple[str, bytes, PutMode]] = []

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        if "manifests/" in key:
            self.manifest_puts.append((key, bytes(data), mode))
        return self.inner.put(key, data, mode)


def assert_never_published_later(
    store: ObjectStore, clock: FakeClock, lost_put: tuple[str, bytes, PutMode]
) -> None:
    """More commits by another writer, then a delayed copy of the lost write: never visible."""
    c = Catalog(store, options=options(checkpoint_every=3), holder="C", clock=clock)
    assert shipments(c) == []
    for tag in ("p", "q", "r"):
        more_ddl(c, tag)
        assert shipments(c) == []
    key, data, mode = lost_put
    with pytest.raises(VersionMismatchError):
        store.put(key, data, mode)  # the lost request arrives late: rejected
    assert shipments(c) == []
    assert KEY not in applied_keys(c)
    report = verify_scope(c.store)
    assert report.ok, report.findings


def test_single_transient_failure_on_manifest_put_is_sealed_and_retried() -> None:
    """The failed attempt is sealed by a fence version; the writer's own retry applies it."""
    ref = reference(checkpoint=False)
    store = clone(ref.prior)
    index = manifest_put_index(ref.ops)
    rec = RecordingStore(
        FaultyStore(store, fail_ops={index: TransientStorageError("injected 503")})
    )
    clock = FakeClock(START_MS)
    a = Catalog(rec, options=options(), holder="A", clock=clock)
    result = the_request(a)
    lost = rec.manifest_puts[0]
    kinds = [r.kind for r in chain(a)]
    assert kinds[-2:] == ["fence", "ddl"]  # the failed attempt's version was sealed
    assert shipments(a) == [result]
    assert applied_keys(a).count(KEY) == 1
    with pytest.raises(VersionMismatchError):
        store.put(*lost)  # the failed attempt's manifest can never land later
    assert shipments(a) == [result]
    assert verify_scope(a.store).ok


def test_transient_failure_on_manifest_put_without_retry_fails_for_good() -> None:
    ref = reference(checkpoint=False)
    store = clone(ref.prior)
    index = manifest_put_index(ref.ops)
    rec = RecordingStore(
        FaultyStore(store, fail_ops={index: TransientStorageError("injected 503")})
    )
    clock = FakeClock(START_MS)
    a = Catalog(rec, options=options(commit_attempts=1), holder="A", clock=clock)
    with pytest.raises(CommitConflictError):
        the_request(a)
    assert shipments(a) == []
    assert_never_published_later(store, clock, rec.manifest_puts[0])


@pytest.mark.parametrize("retrying", [False, True], ids=["bare", "retrying-store"])
def test_persistent_transient_failure_on_manifest_put_fails_and_never_appears(
    retrying: bool,
) -> None:
    """Every manifest put of writer A fails: the call fails (retryably) in bounded work."""
    ref = reference(checkpoint=False)
    store = clone(ref.prior)

    def fault(index: int, op: str, key: str) -> BaseException | None:
        if op == "put" and "manifests/" in key:
            return TransientStorageError(f"injected 503 at operation {index}")
        return None

    faulty = FaultyStore(store, fault=fault)
    inner: ObjectStore = RetryingStore(faulty, base_delay=0.0001) if retrying else faulty
    rec = RecordingStore(inner)
    clock = FakeClock(START_MS)
    a = Catalog(rec, options=options(), holder="A", clock=clock)
    with pytest.raises(ArcoError) as info:
        the_request(a)
    exc = info.value
    # The outcome is a storage failure the client may retry, not "your request is invalid".
    assert exc.retryable, f"{type(exc).__name__}: {exc}"
    # Bounded work: a handful of manifest attempts, not an unbounded recursion.
    assert len(rec.manifest_puts) <= 20, len(rec.manifest_puts)
    assert shipments(Catalog(store)) == []
    assert_never_published_later(store, clock, rec.manifest_puts[0])
