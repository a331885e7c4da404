"""The fast path folds events it is handed without reading their ledger objects back."""

from __future__ import annotations

import pytest

from arco.core.clock import SYSTEM_CLOCK
from arco.errors import ValidationError
from arco.executions import EXECUTIONS
from arco.storage import CountingStore, open_store
from arco.tier2.compactor import Compactor, CompactorOptions
from arco.tier2.envelope import EventEnvelope, parse_event
from arco.tier2.ingestor import Ingestor
from arco.tier2.ledger import EventLedger


def events(n: int) -> list[EventEnvelope]:
    now = SYSTEM_CLOCK.now_ms()
    payload = {"event_type": "materialization", "asset_key": "a/b", "run_id": "r"}
    return [
        parse_event({**payload, "status": "succeeded", "rows": i}, source="t", now_ms=now + i)
        for i in range(n)
    ]


def test_handed_events_are_folded_without_ledger_reads() -> None:
    store = CountingStore(open_store("memory://"))
    batch = events(20)
    keys = EventLedger(store, "executions").append(batch)
    compactor = Compactor(store, EXECUTIONS, options=CompactorOptions(background_checkpoints=False))
    store.reset()
    result = compactor.compact(keys, batch)
    assert result.outcomes == {"applied": 20}
    assert store.counts["get"] <= 2  # the manifest (and nothing under ledger/)
    rows = compactor.head()[1].materializations.values()
    assert sorted(r.rows for r in rows) == list(range(20))


def test_handed_events_must_match_the_keys() -> None:
    store = open_store("memory://")
    batch = events(2)
    keys = EventLedger(store, "executions").append(batch)
    compactor = Compactor(store, EXECUTIONS)
    with pytest.raises(ValidationError, match=r"^events: must match keys one to one"):
        compactor.compact(keys, batch[:1])
    with pytest.raises(ValidationError, match=r"^events: .* is not the event of key"):
        compactor.compact(keys, batch[::-1])
    assert compactor.head()[0] is None  # nothing was folded


def test_ingestor_folds_in_the_background_without_reading_back() -> None:
    store = CountingStore(open_store("memory://"))
    with Ingestor(store, EXECUTIONS, fold="background") as ingestor:
        ingestor.append(events(5))
        assert ingestor.flush(timeout=30)
        reads_of_ledger = store.counts["get"]
        state = ingestor.compactor.head()[1]
    assert len(state.materializations) == 5
    assert reads_of_ledger <= 3
