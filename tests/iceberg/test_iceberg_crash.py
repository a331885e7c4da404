"""Crash injection at every storage operation of a commit and of a multi-table transaction.

Each scenario runs once on a fault-free FaultyStore to count its storage operations; then,
for every operation index i, a copy of the same prior state is crashed at operation i (that
operation and every later one raise SimulatedCrash) and a new process recovers: every table
must be exactly at its old or exactly at its new metadata (for a transaction: all tables
old, or all new), new iff the crash came after the commit point (the pointer swap; the
decision object). The catalog row converges with a sync, and the next commit works.
"""

from __future__ import annotations

from typing import Any

import pytest
from pyiceberg.table.update import SetPropertiesUpdate

from arco.core.clock import ManualClock
from arco.iceberg import IcebergTables, LoadedTable, TableChange, TableIdent
from arco.metadata.layout import ICEBERG_POINTERS, ICEBERG_TRANSACTIONS
from arco.storage import FaultyStore, ObjectStore, SimulatedCrash, open_store
from iceberg_support import append_requirements, append_updates, create_request, service

A = TableIdent(("ns",), "a")
B = TableIdent(("ns",), "b")
START_MS = 1_767_225_600_000
TIMEOUT_MS = 5_000


def clone(src: ObjectStore) -> ObjectStore:
    dst = open_store("memory://", retry=False)
    for meta in src.list(""):
        dst.put(meta.key, src.get(meta.key).data, "create")
    return dst


def make(store: ObjectStore, clock: ManualClock, holder: str) -> IcebergTables:
    return service(store, clock=clock, holder=holder, txn_timeout_ms=TIMEOUT_MS)


def prior_state() -> tuple[ObjectStore, dict[str, LoadedTable]]:
    """Two tables with some history (a snapshot on each)."""
    store = open_store("memory://", retry=False)
    svc = make(store, ManualClock(START_MS), "setup")
    svc.namespaces.create(["ns"])
    before = {}
    for i, ident in enumerate((A, B)):
        created = svc.create_table(["ns"], create_request(ident.name))
        before[ident.name] = svc.commit_table(ident, [], append_updates(created.metadata, 10 + i))
    return store, before


def state_of(loaded: LoadedTable, old: LoadedTable) -> str:
    """``old``, ``new`` (built on old by the scenario), or a failure."""
    if loaded == old:
        return "old"
    md = loaded.metadata
    assert old.metadata_location is not None
    assert md.metadata_log[-1].metadata_file == old.metadata_location, "not built on the old state"
    return "new"


def run_with_crashes(
    scenario: Any, commit_point: Any
) -> list[tuple[int, str, str, dict[str, str]]]:
    """For every operation index: crash there, recover, report (index, op, key, states)."""
    store, before = prior_state()
    dry = FaultyStore(clone(store))
    scenario(make(dry, ManualClock(START_MS + 1_000), "dry"))
    point = commit_point(dry.ops)
    outcomes = []
    for index, op, key in dry.ops:
        crashed_store = clone(store)
        clock = ManualClock(START_MS + 1_000)
        svc = make(FaultyStore(crashed_store, crash_after=index), clock, f"crash-{index}")
        with pytest.raises(SimulatedCrash):
            scenario(svc)
        clock.advance(60_000)  # past the catalog lease (and any transaction timeout)
        fresh = make(crashed_store, clock, f"recover-{index}")
        states = {
            name: state_of(fresh.load_table(TableIdent(("ns",), name)), old)
            for name, old in before.items()
        }
        expected = "new" if index > point else "old"
        assert set(states.values()) <= {expected, "old"}, (index, op, key, states)
        outcomes.append((index, op, key, states))
        # the catalog row follows the pointer after a sync, and the next commit works
        for name in before:
            ident = TableIdent(("ns",), name)
            loaded = fresh.load_table(ident)
            fresh.sync.sync_table(fresh.lookup(ident)[2])
            row = fresh.catalog.get_table("ns", name)
            assert row.properties["iceberg.metadata-location"] == loaded.metadata_location
            after = fresh.commit_table(ident, [], [SetPropertiesUpdate(updates={"next": "1"})])
            assert after.metadata.metadata_log[-1].metadata_file == loaded.metadata_location
    return outcomes


def test_crash_at_every_step_of_a_commit() -> None:
    def scenario(svc: IcebergTables) -> None:
        md = svc.load_table(A).metadata
        svc.commit_table(A, append_requirements(md), append_updates(md, 99))

    def swap_index(ops: list[tuple[int, str, str]]) -> int:
        [index] = [i for i, op, key in ops if op == "put" and ICEBERG_POINTERS in key]
        return index

    outcomes = run_with_crashes(scenario, swap_index)
    point = swap_index([(i, op, key) for i, op, key, _ in outcomes])
    for index, _, _, states in outcomes:
        assert states["a"] == ("new" if index > point else "old")
        assert states["b"] == "old"
    assert any(index > point for index, *_ in outcomes), "the sync's steps were crashed too"


def test_crash_at_every_step_of_a_transaction() -> None:
    def scenario(svc: IcebergTables) -> None:
        a, b = svc.load_table(A).metadata, svc.load_table(B).metadata
        svc.commit_transaction(
            [
                TableChange(A, append_requirements(a), append_updates(a, 98)),
                TableChange(B, append_requirements(b), append_updates(b, 97)),
            ]
        )

    def decision_index(ops: list[tuple[int, str, str]]) -> int:
        [index] = [i for i, op, key in ops if op == "put" and ICEBERG_TRANSACTIONS in key]
        return index

    outcomes = run_with_crashes(scenario, decision_index)
    point = decision_index([(i, op, key) for i, op, key, _ in outcomes])
    swaps = [i for i, op, key, _ in outcomes if op == "put" and ICEBERG_POINTERS in key]
    assert len(swaps) == 2 and max(swaps) < point
    for index, _, _, states in outcomes:
        expected = "new" if index > point else "old"
        assert states == {"a": expected, "b": expected}, (index, states)
