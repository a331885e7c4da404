"""The ``Executions`` facade: constructed like ``Catalog``, append → fold → list/show."""

from __future__ import annotations

import pytest

from arco import Catalog, Executions, Scope, parse_event
from arco.core.clock import ManualClock
from arco.errors import IdempotencyConflictError, NotFoundError, ValidationError
from arco.storage import ObjectStore, open_store
from arco.tier2.envelope import EventEnvelope

NOW = ManualClock().now_ms()


def event(run_id: str, status: str = "succeeded", **extra: object) -> EventEnvelope:
    payload = {
        "event_type": "materialization",
        "asset_key": "sales/orders",
        "run_id": run_id,
        "status": status,
        **extra,
    }
    return parse_event(payload, source="test", now_ms=NOW)


@pytest.fixture
def root() -> ObjectStore:
    return open_store("memory://")


def test_constructed_like_catalog_from_the_root_store_and_a_scope(root: ObjectStore) -> None:
    scope = Scope("acme", "main")
    catalog = Catalog(root, scope)
    with Executions(root, scope, fold="inline") as executions:
        assert executions.root_store is root and executions.scope == scope
        assert executions.store.url == catalog.store.url  # both scoped to the same prefix
        keys = executions.append([event("r1")])
    catalog.close()
    assert keys and all(not k.startswith("tenant=") for k in keys)
    listed = [m.key for m in root.list("tenant=acme/workspace=main/ledger/executions/")]
    assert len(listed) == 1
    assert not list(root.list("tenant=default/"))  # nothing outside the scope


def test_append_fold_list_and_show(root: ObjectStore) -> None:
    with Executions(root, fold="inline") as executions:
        executions.append([event("r1", rows=10), event("r2", status="failed")])
        page = executions.list_materializations(asset_key="sales/orders")
        assert {m.run_id for m in page.items} == {"r1", "r2"}
        failed = executions.list_materializations(status="failed").items
        assert [m.run_id for m in failed] == ["r2"]
        shown = executions.get_materialization(failed[0].materialization_id)
        assert shown == failed[0]
        with pytest.raises(NotFoundError, match="does not exist"):
            executions.get_materialization("nope")
        with pytest.raises(ValidationError, match=r"^status: must be one of"):
            executions.list_materializations(status="done")


def test_append_once_replays_and_refuses_another_request(root: ObjectStore) -> None:
    with Executions(root, fold="inline") as executions:
        first = executions.append_once([event("r1")], "key-1", "hash-a")
        again = executions.append_once([event("r9")], "key-1", "hash-a")
        assert again == first  # the recorded events, not the new ones
        with pytest.raises(IdempotencyConflictError, match=r"^idempotency_key: 'key-1'"):
            executions.append_once([event("r1")], "key-1", "hash-b")
        assert [m.run_id for m in executions.list_materializations().items] == ["r1"]
