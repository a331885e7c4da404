"""Model-based test of the pointer and transaction protocol, with crashes and timeouts.

Random single-table commits and multi-table transactions run in fresh "processes" (service
instances on one store and one fake clock), each possibly crashed at a random storage
operation; the clock jumps now and then past the transaction timeout. The model is a set of
applied commit ids per table: a commit counts iff its commit point ran before the crash (the
pointer swap; for a transaction, the creation of its ``commit`` decision). After every step a
brand-new process must read exactly the model on every table: a transaction is all or
nothing, a crashed one never appears later, a landed one never disappears.
"""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pyiceberg.table.update import SetPropertiesUpdate

from arco.core.clock import ManualClock
from arco.iceberg import IcebergTables, TableChange, TableIdent
from arco.metadata.layout import ICEBERG_POINTERS, ICEBERG_TRANSACTIONS
from arco.storage import FaultyStore, SimulatedCrash, open_store
from iceberg_support import create_request, service

TABLES = [TableIdent(("ns",), name) for name in ("a", "b", "c")]
TIMEOUT_MS = 3_000
crash_points = st.none() | st.integers(min_value=0, max_value=40)


class PointerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = open_store("memory://", retry=False)
        self.clock = ManualClock()
        self.processes = 0
        setup = self.process()
        setup.namespaces.create(["ns"])
        for ident in TABLES:
            setup.create_table(["ns"], create_request(ident.name))
        self.uuids = {ident.name: setup.lookup(ident)[2] for ident in TABLES}
        self.model: dict[str, set[str]] = {ident.name: set() for ident in TABLES}
        self.next_id = 0

    def process(self, crash_after: int | None = None) -> IcebergTables:
        self.processes += 1
        store = (
            self.root if crash_after is None else FaultyStore(self.root, crash_after=crash_after)
        )
        self.faulty = store if isinstance(store, FaultyStore) else None
        return service(
            store, clock=self.clock, holder=f"p{self.processes}", txn_timeout_ms=TIMEOUT_MS
        )

    def commit_id(self) -> str:
        self.next_id += 1
        return f"c{self.next_id}"

    def executed_puts(self) -> list[str]:
        assert self.faulty is not None
        limit = self.faulty.crash_after
        return [
            key for i, op, key in self.faulty.ops if op == "put" and (limit is None or i < limit)
        ]

    @rule(table=st.sampled_from(TABLES), crash=crash_points)
    def commit(self, table: TableIdent, crash: int | None) -> None:
        cid = self.commit_id()
        svc = self.process(crash)
        try:
            svc.commit_table(table, [], [SetPropertiesUpdate(updates={cid: "1"})])
            landed = True
        except SimulatedCrash:
            pointer = f"{ICEBERG_POINTERS}{self.uuids[table.name]}"
            landed = any(pointer in key for key in self.executed_puts())
            event(f"commit crashed, {'landed' if landed else 'not landed'}")
        if landed:
            self.model[table.name].add(cid)

    @rule(
        tables=st.lists(st.sampled_from(TABLES), min_size=2, max_size=3, unique=True),
        crash=crash_points,
    )
    def transaction(self, tables: list[TableIdent], crash: int | None) -> None:
        cid = self.commit_id()
        svc = self.process(crash)
        changes = [TableChange(t, [], [SetPropertiesUpdate(updates={cid: "1"})]) for t in tables]
        try:
            svc.commit_transaction(changes)
            landed = True
        except SimulatedCrash:
            # only a coordinator creates "commit", and only for its own transaction
            created = [key for key in self.executed_puts() if ICEBERG_TRANSACTIONS in key]
            reader = self.process()
            decided = [
                reader.pointers.decision(key.rsplit("/", 1)[-1].removesuffix(".json"))
                for key in created
            ]
            landed = "commit" in decided
            event(f"transaction crashed, {'committed' if landed else 'not committed'}")
        if landed:
            for t in tables:
                self.model[t.name].add(cid)

    @rule(ms=st.sampled_from([0, 500, TIMEOUT_MS + 1]))
    def time_passes(self, ms: int) -> None:
        self.clock.advance(ms)

    @invariant()
    def every_table_is_at_the_model(self) -> None:
        reader = self.process()
        for ident in TABLES:
            properties = reader.load_table(ident).metadata.properties
            assert set(properties) == self.model[ident.name], ident


pytest.mark.timeout(900)(PointerMachine.TestCase)
PointerMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPointerProtocol = PointerMachine.TestCase
