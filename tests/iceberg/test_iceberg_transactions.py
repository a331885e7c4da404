"""Multi-table commits: all or nothing, pending pointers, the decision object, aborts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pyiceberg.table.update import AssertTableUUID, SetPropertiesUpdate

from arco.core.clock import ManualClock
from arco.errors import OutcomeUnknownError, TransientStorageError
from arco.iceberg import IcebergTables, TableChange, TableIdent
from arco.iceberg.errors import (
    BadRequest,
    CommitFailed,
    CommitStateUnknown,
    IdempotencyKeyReused,
    NoSuchTable,
    ServiceUnavailable,
)
from arco.metadata.layout import ICEBERG_POINTERS, ICEBERG_TRANSACTIONS
from arco.storage import FaultyStore, open_store
from iceberg_support import append_requirements, append_updates, create_request, service

A = TableIdent(("ns",), "a")
B = TableIdent(("ns",), "b")
TIMEOUT_MS = 5_000


def setup(**kw: object) -> tuple[IcebergTables, IcebergTables, FaultyStore, ManualClock]:
    """(coordinator on a fault-injecting store, another process on the same store, ...)."""
    root = open_store("memory://", retry=False)
    faulty = FaultyStore(root)
    clock = ManualClock()
    svc = service(faulty, clock=clock, txn_timeout_ms=TIMEOUT_MS, **kw)  # type: ignore[arg-type]
    svc.namespaces.create(["ns"])
    for ident in (A, B):
        svc.create_table(["ns"], create_request(ident.name))
    other = service(root, clock=clock, holder="other", txn_timeout_ms=TIMEOUT_MS)
    return svc, other, faulty, clock


def props(updates: dict[str, str]) -> list[SetPropertiesUpdate]:
    return [SetPropertiesUpdate(updates=updates)]


def before_put(faulty: FaultyStore, where: str, nth: int, action: Callable[[], object]) -> None:
    """Run ``action`` before the ``nth`` put (0-based) whose key contains ``where``."""
    seen = 0

    def hook(index: int, op: str, key: str) -> BaseException | None:
        nonlocal seen
        if op == "put" and where in key:
            if seen == nth:
                result = action()
                seen += 1
                return result if isinstance(result, BaseException) else None
            seen += 1
        return None

    faulty.fault = hook


def decisions(svc: IcebergTables) -> list[str]:
    out = []
    for meta in svc.catalog.store.list(ICEBERG_TRANSACTIONS):
        txn = meta.key.rsplit("/", 1)[-1].removesuffix(".json")
        decision = svc.pointers.decision(txn)
        assert decision is not None
        out.append(decision)
    return sorted(out)


def test_all_tables_commit_together() -> None:
    svc, other, _, _ = setup()
    a, b = svc.load_table(A), svc.load_table(B)
    results = svc.commit_transaction(
        [
            TableChange(B, [AssertTableUUID(uuid=b.metadata.table_uuid)], props({"t": "b"})),
            TableChange(A, append_requirements(a.metadata), append_updates(a.metadata, 9)),
        ]
    )
    assert [r.metadata.properties for r in results] == [{"t": "b"}, {}]
    assert results[1].metadata.current_snapshot_id == 9
    assert other.load_table(B) == results[0] and other.load_table(A) == results[1]
    assert decisions(svc) == ["commit"]
    # the catalog rows follow; the markers stay until each table's next commit
    assert svc.catalog.get_table("ns", "a").properties["iceberg.current-snapshot-id"] == "9"
    for ident in (A, B):
        _, _, table_uuid = svc.lookup(ident)
        assert svc.pointers.read(table_uuid).pointer.pending is not None
    after = svc.commit_table(A, [], props({"next": "1"}))
    assert after.metadata.current_snapshot_id == 9
    _, _, a_uuid = svc.lookup(A)
    assert svc.pointers.read(a_uuid).pointer.pending is None


def test_a_failed_requirement_applies_nothing() -> None:
    svc, _, _, _ = setup()
    a, b = svc.load_table(A), svc.load_table(B)
    with pytest.raises(CommitFailed, match=r"ns\.b: assert-ref-snapshot-id"):
        svc.commit_transaction(
            [
                TableChange(A, [], props({"x": "1"})),
                TableChange(
                    B,
                    append_requirements(b.metadata.model_copy(update={"current_snapshot_id": 5})),
                    props({"x": "1"}),
                ),
            ]
        )
    assert svc.load_table(A) == a and svc.load_table(B) == b
    assert decisions(svc) == []


def test_bad_transactions() -> None:
    svc, _, _, _ = setup()
    with pytest.raises(BadRequest, match="must not be empty"):
        svc.commit_transaction([])
    with pytest.raises(BadRequest, match="appears twice"):
        svc.commit_transaction(
            [TableChange(A, [], []), TableChange(TableIdent(("NS",), "A"), [], [])]
        )
    with pytest.raises(NoSuchTable):
        svc.commit_transaction(
            [TableChange(A, [], []), TableChange(TableIdent(("ns",), "c"), [], [])]
        )


def test_readers_see_the_old_state_until_the_decision() -> None:
    svc, other, faulty, _ = setup()
    a, b = svc.load_table(A), svc.load_table(B)
    seen: list[tuple[object, object]] = []
    before_put(
        faulty,
        ICEBERG_TRANSACTIONS,
        0,
        lambda: seen.append((other.load_table(A), other.load_table(B))),
    )
    svc.commit_transaction(
        [TableChange(A, [], props({"x": "1"})), TableChange(B, [], props({"x": "2"}))]
    )
    assert seen == [(a, b)]  # both pointers pending, no decision: the old state
    assert other.load_table(A).metadata.properties == {"x": "1"}


def test_a_moved_pointer_aborts_restores_and_retries() -> None:
    svc, other, faulty, _ = setup()
    # before the second pointer swap, another writer commits to that table
    second = sorted([svc.lookup(A)[2], svc.lookup(B)[2]])[1]
    before_put(
        faulty,
        f"{ICEBERG_POINTERS}{second}",
        0,
        lambda: other.commit_table(
            A if svc.lookup(A)[2] == second else B, [], props({"other": "1"})
        ),
    )
    results = svc.commit_transaction(
        [TableChange(A, [], props({"x": "1"})), TableChange(B, [], props({"x": "2"}))]
    )
    assert decisions(svc) == ["abort", "commit"]
    moved = A if svc.lookup(A)[2] == second else B
    assert svc.load_table(moved).metadata.properties["other"] == "1"
    assert [r.metadata.properties["x"] for r in results] == ["1", "2"]


def test_a_timeout_abort_that_wins_makes_the_coordinator_retry() -> None:
    svc, other, faulty, clock = setup()

    def time_out() -> None:
        clock.advance(TIMEOUT_MS + 1)
        other.load_table(A)  # a reader meets the expired marker and aborts

    before_put(faulty, ICEBERG_TRANSACTIONS, 0, time_out)
    results = svc.commit_transaction(
        [TableChange(A, [], props({"x": "1"})), TableChange(B, [], props({"x": "2"}))]
    )
    assert decisions(svc) == ["abort", "commit"]
    assert other.load_table(A) == results[0] and other.load_table(B) == results[1]


def test_storage_failure_before_the_decision_is_not_committed() -> None:
    svc, other, faulty, _ = setup()
    a, b = svc.load_table(A), svc.load_table(B)
    before_put(faulty, ICEBERG_POINTERS, 1, lambda: TransientStorageError("down"))
    with pytest.raises(ServiceUnavailable, match="not committed"):
        svc.commit_transaction(
            [TableChange(A, [], props({"x": "1"})), TableChange(B, [], props({"x": "2"}))]
        )
    assert other.load_table(A) == a and other.load_table(B) == b
    assert decisions(svc) == ["abort"]


def test_an_unknown_decision_that_cannot_be_read_back() -> None:
    svc, _, faulty, _ = setup()

    def lose() -> BaseException:
        index = len(faulty.ops)  # the next operation: the read-back of this put
        faulty.fail_ops[index] = TransientStorageError("read back fails")
        return OutcomeUnknownError("lost")

    before_put(faulty, ICEBERG_TRANSACTIONS, 0, lose)
    with pytest.raises(CommitStateUnknown):
        svc.commit_transaction(
            [TableChange(A, [], props({"x": "1"})), TableChange(B, [], props({"x": "2"}))]
        )


def test_idempotent_transactions() -> None:
    svc, _, _, _ = setup()
    changes = [TableChange(A, [], props({"x": "1"})), TableChange(B, [], props({"x": "2"}))]
    first = svc.commit_transaction(changes, idempotency_key="t1")
    svc.commit_table(A, [], props({"later": "1"}))
    assert svc.commit_transaction(changes, idempotency_key="t1") == first
    with pytest.raises(IdempotencyKeyReused):
        svc.commit_transaction(changes[:1], idempotency_key="t1")
