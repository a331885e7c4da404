"""The compactor's Prometheus metrics count what it did."""

from __future__ import annotations

import pytest

from arco.core.clock import SYSTEM_CLOCK
from arco.executions import EXECUTIONS
from arco.observability.metrics import REGISTRY, exposition
from arco.storage import open_store
from arco.tier2.compactor import Compactor, CompactorOptions
from arco.tier2.envelope import parse_event
from arco.tier2.ledger import EventLedger


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"domain": "executions", **labels}) or 0.0


def test_compaction_updates_counters_and_lag_histogram() -> None:
    store = open_store("memory://")
    now = SYSTEM_CLOCK.now_ms()
    good = {"event_type": "materialization", "asset_key": "a/b", "run_id": "r", "status": "started"}
    events = [parse_event(good, source="t", now_ms=now) for _ in range(3)]
    events.append(parse_event({"event_type": "mystery"}, source="t", now_ms=now))
    keys = EventLedger(store, "executions").append(events)
    before = {
        "applied": sample("arco_compaction_events_total", outcome="applied"),
        "quarantined": sample("arco_compaction_events_total", outcome="quarantined"),
        "lag": sample("arco_visibility_lag_seconds_count"),
        "rounds": sample("arco_compaction_rounds_total", result="published"),
    }
    compactor = Compactor(store, EXECUTIONS, options=CompactorOptions(background_checkpoints=False))
    compactor.compact(keys)
    compactor.compact(keys)  # nothing new: no round, nothing counted
    assert sample("arco_compaction_events_total", outcome="applied") - before["applied"] == 3
    assert (
        sample("arco_compaction_events_total", outcome="quarantined") - before["quarantined"] == 1
    )
    assert sample("arco_visibility_lag_seconds_count") - before["lag"] == 4
    assert sample("arco_compaction_rounds_total", result="published") - before["rounds"] == 1
    assert b"arco_visibility_lag_seconds_bucket" in exposition()


def test_storage_requests_are_metered_by_backend_and_op() -> None:
    from arco.errors import ObjectNotFoundError

    store = open_store("memory://")
    before_put = (
        REGISTRY.get_sample_value(
            "arco_storage_operation_seconds_count", {"backend": "memory", "op": "put"}
        )
        or 0.0
    )
    store.put("k", b"v")
    with pytest.raises(ObjectNotFoundError):
        store.get("missing")
    after_put = REGISTRY.get_sample_value(
        "arco_storage_operation_seconds_count", {"backend": "memory", "op": "put"}
    )
    assert after_put == before_put + 1
    # a miss is an answer, not a storage error
    assert not REGISTRY.get_sample_value(
        "arco_storage_errors_total", {"backend": "memory", "op": "get", "code": "OBJECT_NOT_FOUND"}
    )


def test_tier1_commits_and_appends_are_counted(tmp_path: object) -> None:
    from arco.catalog import Catalog

    before = (
        REGISTRY.get_sample_value("arco_commit_duration_seconds_count", {"domain": "catalog"}) or 0
    )
    appended = (
        REGISTRY.get_sample_value("arco_events_appended_total", {"domain": "executions"}) or 0
    )
    with Catalog.open("memory://") as catalog:
        catalog.create_namespace("sales")
    assert (
        REGISTRY.get_sample_value("arco_commit_duration_seconds_count", {"domain": "catalog"})
        == before + 1
    )
    EventLedger(open_store("memory://"), "executions").append(
        [parse_event({"event_type": "x"}, source="t", now_ms=SYSTEM_CLOCK.now_ms())]
    )
    assert (
        REGISTRY.get_sample_value("arco_events_appended_total", {"domain": "executions"})
        == appended + 1
    )
