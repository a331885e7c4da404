"""The publish protocol on its own: record before swap, read-back, seal, adoption.

Both tiers commit through :class:`Publisher` (the tier-1 and tier-2 crash tests exercise it
through the writer and the compactor); these tests pin each branch of the unknown-outcome
resolution and of adoption directly, with and without a seal.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from arco.core.clock import ManualClock
from arco.core.ids import next_ulid_after
from arco.errors import (
    CommitConflictError,
    CommitStateUnknownError,
    StorageBusyError,
    TransientStorageError,
    VersionMismatchError,
)
from arco.metadata.commit_log import read_commit
from arco.metadata.layout import manifest_key
from arco.metadata.manifest import FileEntry, Manifest, StoredManifest, read_manifest
from arco.metadata.publish import DEFAULT_MIN_AGE_S, Publisher
from arco.storage import FaultyStore, open_store
from arco.storage.port import IfVersion

DOMAIN = "catalog"
FIRST_ID = "01KB0000000000000000000000"


def entry(name: str, version: int) -> FileEntry:
    return FileEntry(
        path=f"snapshots/{DOMAIN}/{name}.parquet",
        table="tables",
        kind="delta",
        version=version,
        from_version=version,
        sha256="0" * 64,
        bytes=1,
        rows=1,
    )


def seal_of(publisher: Publisher) -> Callable[[StoredManifest | None, Manifest], Manifest]:
    def seal(head: StoredManifest | None, failed: Manifest) -> Manifest:
        commit_id = next_ulid_after(failed.commit_id)
        return publisher.successor(
            head,
            files=head.manifest.files if head else (),
            checkpoint_version=0,
            watermark=commit_id,
            fencing_token=failed.fencing_token,
            commit_id=commit_id,
        )

    return seal


def make(
    *, sealed: bool, fault: Callable[[int, str, str], BaseException | None] | None = None
) -> tuple[FaultyStore, Publisher, ManualClock]:
    store = FaultyStore(open_store("memory://", retry=False), fault=fault)
    clock = ManualClock(1_767_225_600_000)
    publisher = Publisher(store, DOMAIN, holder=lambda: "tester", clock=clock)
    if sealed:
        publisher = Publisher(
            store, DOMAIN, holder=lambda: "tester", clock=clock, seal=seal_of(publisher)
        )
    return store, publisher, clock


def next_version(publisher: Publisher, files: tuple[FileEntry, ...]) -> Manifest:
    head = publisher.read_head()
    after = head.manifest.commit_id if head else FIRST_ID
    commit_id = next_ulid_after(after)
    return publisher.successor(
        head,
        files=files,
        checkpoint_version=0,
        watermark=commit_id,
        fencing_token=1,
        commit_id=commit_id,
    )


def manifest_puts_fail(
    times: int, *, applied: bool
) -> Callable[[int, str, str], BaseException | None]:
    """The next ``times`` manifest puts fail with an unknown outcome (applied or not)."""
    left = [times]
    armed = [False]

    def fault(index: int, op: str, key: str) -> BaseException | None:
        if op != "put" or not key.endswith(".manifest.json") or not armed[0] or left[0] <= 0:
            return None
        left[0] -= 1
        return None if applied else TransientStorageError("lost connection")

    fault.arm = lambda: armed.__setitem__(0, True)  # type: ignore[attr-defined]
    return fault


@pytest.mark.parametrize("sealed", [False, True])
def test_publish_writes_the_record_before_the_swap(sealed: bool) -> None:
    store, publisher, _ = make(sealed=sealed)
    steps: list[str] = []
    order: list[str] = []
    publisher.on_step = steps.append
    m1 = next_version(publisher, (entry("a", 1),))
    publisher.publish(None, m1, "ddl", [{"op": "x"}], ledger_event=m1.commit_id)
    for _, op, key in store.ops:
        if op == "put":
            order.append(key.split("/")[0])
    assert steps == ["commit", "manifest"]
    assert order == ["commits", "manifests"]
    head = read_manifest(store, DOMAIN)
    assert head is not None and head.manifest == m1
    record = read_commit(store, DOMAIN, m1.commit_id)
    assert record.manifest == m1 and record.kind == "ddl" and record.holder == "tester"
    assert record.ledger_event == m1.commit_id and record.operations == [{"op": "x"}]


@pytest.mark.parametrize("sealed", [False, True])
def test_unknown_outcome_that_applied_is_a_success(sealed: bool) -> None:
    store, publisher, _ = make(sealed=sealed)
    m1 = next_version(publisher, (entry("a", 1),))
    publisher.publish(None, m1, "ddl", [])
    head = publisher.read_head()
    m2 = next_version(publisher, (entry("a", 1), entry("b", 2)))
    # the manifest put (after the commit record's) is applied, then its response is lost
    store.timeout_after_write = {len(store.ops) + 1}
    publisher.publish(head, m2, "ddl", [])
    assert any(op == "put" and "manifests/" in key for i, op, key in store.ops[-3:])
    now = read_manifest(store, DOMAIN)
    assert now is not None and now.manifest == m2


def test_unknown_outcome_not_applied_without_seal_is_a_conflict_and_nothing_else() -> None:
    fault = manifest_puts_fail(1, applied=False)
    store, publisher, _ = make(sealed=False, fault=fault)
    m1 = next_version(publisher, (entry("a", 1),))
    publisher.publish(None, m1, "compact", [])
    head = publisher.read_head()
    fault.arm()  # type: ignore[attr-defined]
    m2 = next_version(publisher, (entry("a", 1), entry("b", 2)))
    with pytest.raises(CommitConflictError, match="not published"):
        publisher.publish(head, m2, "compact", [])
    now = read_manifest(store, DOMAIN)
    assert now is not None and now.raw == head.raw  # type: ignore[union-attr]


def test_unknown_outcome_not_applied_with_seal_fences_the_old_head() -> None:
    fault = manifest_puts_fail(1, applied=False)
    store, publisher, _ = make(sealed=True, fault=fault)
    m1 = next_version(publisher, (entry("a", 1),))
    publisher.publish(None, m1, "ddl", [])
    head = publisher.read_head()
    assert head is not None
    fault.arm()  # type: ignore[attr-defined]
    m2 = next_version(publisher, (entry("a", 1), entry("b", 2)))
    with pytest.raises(CommitConflictError, match="not published"):
        publisher.publish(head, m2, "ddl", [])
    now = read_manifest(store, DOMAIN)
    assert now is not None
    assert now.manifest.snapshot_version == 2 and now.manifest.files == m1.files
    assert now.manifest.commit_id > m2.commit_id
    assert read_commit(store, DOMAIN, now.manifest.commit_id).kind == "fence"
    # a delayed copy of the failed write can never land: it is conditional on the old head
    with pytest.raises(VersionMismatchError):
        store.inner.put(manifest_key(DOMAIN), m2.to_bytes(), IfVersion(head.object_version))


def test_seal_with_an_unknown_outcome_is_commit_state_unknown() -> None:
    fault = manifest_puts_fail(2, applied=False)
    _, publisher, _ = make(sealed=True, fault=fault)
    m1 = next_version(publisher, (entry("a", 1),))
    publisher.publish(None, m1, "ddl", [])
    head = publisher.read_head()
    fault.arm()  # type: ignore[attr-defined]
    with pytest.raises(CommitStateUnknownError):
        publisher.publish(head, next_version(publisher, ()), "ddl", [])


def test_adoption_replaces_files_keeps_the_rest() -> None:
    _, publisher, clock = make(sealed=False)
    a, b, c = entry("a", 1), entry("b", 2), entry("c", 3)
    publisher.publish(None, next_version(publisher, (a, b, c)), "compact", [])
    current = publisher.read_head()
    assert current is not None
    merged = entry("ab", 2)
    adopted = publisher.adoption(
        current,
        (a, b),
        (merged,),
        planned_on=current,
        written_at_ms=clock.now_ms(),
        checkpoint_version=None,
    )
    assert adopted is not None
    assert adopted.files == (merged, c)
    assert adopted.snapshot_version == 2 and adopted.parent_hash == current.hash
    assert adopted.watermark == current.manifest.watermark  # kept unless told otherwise
    assert adopted.fencing_token == current.manifest.fencing_token
    told = publisher.adoption(
        current,
        (a, b),
        (merged,),
        planned_on=current,
        written_at_ms=clock.now_ms(),
        checkpoint_version=2,
        fencing_token=7,
        watermark=lambda commit_id: commit_id,
    )
    assert told is not None
    assert told.watermark == told.commit_id and told.fencing_token == 7
    assert told.checkpoint_version == 2


def test_adoption_is_abandoned_when_superseded_stalled_or_fenced() -> None:
    _, publisher, clock = make(sealed=False)
    a, b = entry("a", 1), entry("b", 2)
    publisher.publish(None, next_version(publisher, (a, b)), "compact", [])
    planned = publisher.read_head()
    assert planned is not None
    written = clock.now_ms()

    def adopt(current: StoredManifest | None, replaced: tuple[FileEntry, ...]) -> Manifest | None:
        return publisher.adoption(
            current,
            replaced,
            (entry("y", 1),),
            planned_on=planned,
            written_at_ms=written,
            checkpoint_version=None,
        )

    assert adopt(planned, (entry("gone", 1),)) is None  # compacted by someone else
    assert adopt(None, ()) is None
    # a plain commit since the plan does not matter; a fence does
    publisher.publish(planned, next_version(publisher, (a, b, entry("c", 3))), "compact", [])
    later = publisher.read_head()
    assert adopt(later, (a,)) is not None
    fence = next_version(publisher, later.manifest.files)  # type: ignore[union-attr]
    publisher.publish(later, fence, "fence", [{"op": "gc_fence"}])
    fenced = publisher.read_head()
    publisher.publish(fenced, next_version(publisher, fenced.manifest.files), "compact", [])  # type: ignore[union-attr]
    assert adopt(publisher.read_head(), (a,)) is None  # GC may be deleting our output
    # stalled: written longer ago than half the minimum age GC keeps unreferenced files
    clock.advance(DEFAULT_MIN_AGE_S * 1000 // 2)
    assert adopt(later, (a,)) is not None
    clock.advance(1)
    assert adopt(later, (a,)) is None


def test_a_busy_store_is_a_definite_failure_not_sealed() -> None:
    # the local store's lock held by a stopped process: nothing was written, nothing to seal
    def busy(index: int, op: str, key: str) -> BaseException | None:
        armed = key.endswith(".manifest.json") and op == "put"
        return StorageBusyError("held the object's lock") if armed and index > 3 else None

    store, publisher, _ = make(sealed=True, fault=busy)
    m1 = next_version(publisher, ())
    publisher.publish(None, m1, "ddl", [])
    head = publisher.read_head()
    with pytest.raises(StorageBusyError):
        publisher.publish(head, next_version(publisher, (entry("b", 2),)), "ddl", [])
    now = read_manifest(store, DOMAIN)
    assert now is not None and now.manifest == m1  # no seal was attempted over the head
