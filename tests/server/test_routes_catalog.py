"""REST routes of the catalog, lineage and search, with the conventions (Idempotency-Key,
ETag / If-Match, paging, one error shape), against a real app on a local store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from arco.catalog import (
    Catalog,
    CreateNamespace,
    RegisterTable,
    RenameTable,
    UpdateNamespace,
    UpdateTable,
)
from arco.core.scope import Scope
from arco.lineage import AddEdge, RemoveEdge
from arco.server import ServerSettings
from arco.server.wire import (
    AddEdgeBody,
    CreateNamespaceBody,
    EdgeRef,
    RegisterTableBody,
    TablePatchBody,
    UpdateNamespaceBody,
)
from arco.storage import open_store

API = "/api/v1"


@pytest.fixture
def library(dev_settings: ServerSettings) -> Iterator[Catalog]:
    """The same workspace as the dev client's default scope, read through the library."""
    with Catalog(open_store(dev_settings.store_url), Scope("default", "default")) as catalog:
        yield catalog


def _error(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert body["error"]["request_id"] == r.headers["X-Request-Id"]
    return str(body["error"]["message"])


def _table(client: TestClient, ns: str = "sales", name: str = "orders") -> dict[str, Any]:
    r = client.post(
        f"{API}/namespaces/{ns}/tables",
        json={
            "name": name,
            "columns": [
                {"name": "id", "type": "int64", "nullable": False},
                {"name": "amount", "type": "decimal128(12, 2)"},
            ],
            "description": "all orders",
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_namespace_lifecycle(dev_client: TestClient, library: Catalog) -> None:
    r = dev_client.post(
        f"{API}/namespaces",
        json={"name": "sales", "description": "Orders", "properties": {"owner": "bi"}},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["ETag"] == f'"{created["version"]}"'
    assert r.headers["Location"] == f"{API}/namespaces/sales"
    # exactly the library model, dumped as JSON
    assert created == library.get_namespace("sales").model_dump(mode="json")

    got = dev_client.get(f"{API}/namespaces/sales")
    assert got.status_code == 200 and got.json() == created
    assert got.headers["ETag"] == r.headers["ETag"]

    patched = dev_client.patch(
        f"{API}/namespaces/sales",
        json={"set_properties": {"tier": "gold"}, "remove_properties": ["owner"]},
        headers={"If-Match": r.headers["ETag"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["properties"] == {"tier": "gold"}
    assert patched.json()["description"] == "Orders"  # absent: unchanged
    assert patched.headers["ETag"] == f'"{patched.json()["version"]}"' != r.headers["ETag"]

    # null clears; the unquoted form of If-Match works too
    version = patched.json()["version"]
    cleared = dev_client.patch(
        f"{API}/namespaces/sales", json={"description": None}, headers={"If-Match": str(version)}
    )
    assert cleared.status_code == 200 and cleared.json()["description"] is None

    assert dev_client.delete(f"{API}/namespaces/sales").status_code == 204
    message = _error(dev_client.get(f"{API}/namespaces/sales"), 404, "NOT_FOUND")
    assert message == "namespace 'sales' does not exist"


def test_if_match(dev_client: TestClient) -> None:
    v1 = dev_client.post(f"{API}/namespaces", json={"name": "sales"}).json()["version"]
    dev_client.patch(f"{API}/namespaces/sales", json={"description": "x"})
    stale = dev_client.patch(
        f"{API}/namespaces/sales", json={"description": "y"}, headers={"If-Match": f'"{v1}"'}
    )
    assert "if_match expected version" in _error(stale, 412, "PRECONDITION_FAILED")
    gone = dev_client.delete(f"{API}/namespaces/sales", headers={"If-Match": f'"{v1}"'})
    _error(gone, 412, "PRECONDITION_FAILED")
    bad = dev_client.delete(f"{API}/namespaces/sales", headers={"If-Match": "v-one"})
    assert _error(bad, 400, "VALIDATION_FAILED").startswith("If-Match:")
    anything = dev_client.delete(f"{API}/namespaces/sales", headers={"If-Match": "*"})
    assert anything.status_code == 204


def test_idempotency_key(dev_client: TestClient) -> None:
    key = {"Idempotency-Key": "create-sales-1"}
    first = dev_client.post(f"{API}/namespaces", json={"name": "sales"}, headers=key)
    again = dev_client.post(f"{API}/namespaces", json={"name": "sales"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["ETag"] == first.headers["ETag"]
    # without the key, the same request is a second create
    _error(dev_client.post(f"{API}/namespaces", json={"name": "sales"}), 409, "ALREADY_EXISTS")
    other = dev_client.post(f"{API}/namespaces", json={"name": "other"}, headers=key)
    assert "already used" in _error(other, 409, "IDEMPOTENCY_KEY_REUSED")

    # deletes replay too: the second DELETE with the key is the first one's 204
    drop = {"Idempotency-Key": "drop-sales-1"}
    assert dev_client.delete(f"{API}/namespaces/sales", headers=drop).status_code == 204
    assert dev_client.delete(f"{API}/namespaces/sales", headers=drop).status_code == 204
    _error(dev_client.delete(f"{API}/namespaces/sales"), 404, "NOT_FOUND")

    too_long = dev_client.post(
        f"{API}/namespaces", json={"name": "x"}, headers={"Idempotency-Key": "k" * 256}
    )
    assert _error(too_long, 400, "VALIDATION_FAILED").startswith("Idempotency-Key:")


def test_paging(dev_client: TestClient) -> None:
    names = [f"ns{i:02d}" for i in range(5)]
    for name in reversed(names):
        assert dev_client.post(f"{API}/namespaces", json={"name": name}).status_code == 201
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if token is not None:
            params["page_token"] = token
        page = dev_client.get(f"{API}/namespaces", params=params).json()
        assert set(page) == {"items", "next_page_token"}
        seen += [ns["name"] for ns in page["items"]]
        pages += 1
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == names and pages == 3
    assert len(dev_client.get(f"{API}/namespaces").json()["items"]) == 5  # default limit 100
    for limit in (0, 1001, "x"):
        r = dev_client.get(f"{API}/namespaces", params={"limit": limit})
        assert _error(r, 400, "VALIDATION_FAILED").startswith("limit:")
    bad = dev_client.get(f"{API}/namespaces", params={"page_token": "garbage"})
    assert _error(bad, 400, "VALIDATION_FAILED").startswith("page_token:")


def test_table_lifecycle(dev_client: TestClient, library: Catalog) -> None:
    dev_client.post(f"{API}/namespaces", json={"name": "sales"})
    dev_client.post(f"{API}/namespaces", json={"name": "archive"})
    r = dev_client.post(
        f"{API}/namespaces/sales/tables",
        json={"name": "orders", "columns": [{"name": "id", "type": "int64", "nullable": False}]},
    )
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"{API}/namespaces/sales/tables/orders"
    assert r.headers["ETag"] == f'"{r.json()["version"]}"'
    assert r.json() == library.get_table("sales", "orders").model_dump(mode="json")
    dup = dev_client.post(f"{API}/namespaces/sales/tables", json={"name": "orders"})
    _error(dup, 409, "ALREADY_EXISTS")

    updated = dev_client.patch(
        f"{API}/namespaces/sales/tables/orders",
        json={
            "add_columns": [{"name": "amount", "type": "float64"}],
            "rename_columns": {"id": "order_id"},
            "set_properties": {"owner": "bi"},
        },
        headers={"If-Match": r.headers["ETag"]},
    )
    assert updated.status_code == 200, updated.text
    assert [c["name"] for c in updated.json()["columns"]] == ["order_id", "amount"]
    assert updated.json() == library.get_table("sales", "orders").model_dump(mode="json")

    stale = dev_client.patch(
        f"{API}/namespaces/sales/tables/orders",
        json={"new_name": "orders2"},
        headers={"If-Match": r.headers["ETag"]},
    )
    _error(stale, 412, "PRECONDITION_FAILED")
    moved = dev_client.patch(
        f"{API}/namespaces/sales/tables/orders",
        json={"new_name": "old_orders", "new_namespace": "archive"},
        headers={"If-Match": updated.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["namespace"], moved.json()["name"]) == ("archive", "old_orders")
    assert moved.json()["table_id"] == r.json()["table_id"]
    _error(dev_client.get(f"{API}/namespaces/sales/tables/orders"), 404, "NOT_FOUND")
    got = dev_client.get(f"{API}/namespaces/archive/tables/old_orders")
    assert got.json() == moved.json() and got.headers["ETag"] == moved.headers["ETag"]

    assert dev_client.get(f"{API}/namespaces/sales/tables").json() == {
        "items": [],
        "next_page_token": None,
    }
    listed = dev_client.get(f"{API}/namespaces/archive/tables").json()
    assert listed["items"] == [moved.json()]

    _error(dev_client.delete(f"{API}/namespaces/archive"), 409, "CONFLICT")
    dropped = dev_client.delete(
        f"{API}/namespaces/archive/tables/old_orders", headers={"If-Match": moved.headers["ETag"]}
    )
    assert dropped.status_code == 204 and dropped.content == b""
    _error(dev_client.delete(f"{API}/namespaces/archive/tables/old_orders"), 404, "NOT_FOUND")


def test_table_validation(dev_client: TestClient) -> None:
    missing = dev_client.post(f"{API}/namespaces/nope/tables", json={"name": "t"})
    assert _error(missing, 404, "NOT_FOUND") == "namespace 'nope' does not exist"
    dev_client.post(f"{API}/namespaces", json={"name": "sales"})
    bad_type = dev_client.post(
        f"{API}/namespaces/sales/tables",
        json={"name": "t", "columns": [{"name": "a", "type": "nonsense"}]},
    )
    assert _error(bad_type, 400, "VALIDATION_FAILED").startswith("columns[0].type:")
    unknown = dev_client.post(f"{API}/namespaces/sales/tables", json={"name": "t", "colour": 1})
    assert _error(unknown, 400, "VALIDATION_FAILED").startswith("colour:")
    _table(dev_client)
    mixed = dev_client.patch(
        f"{API}/namespaces/sales/tables/orders", json={"new_name": "x", "description": "d"}
    )
    assert "cannot be combined" in _error(mixed, 400, "VALIDATION_FAILED")
    no_name = dev_client.patch(
        f"{API}/namespaces/sales/tables/orders", json={"new_namespace": "sales"}
    )
    assert _error(no_name, 400, "VALIDATION_FAILED").startswith("new_name:")
    not_json = dev_client.post(
        f"{API}/namespaces", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert _error(not_json, 400, "VALIDATION_FAILED") == "body: not valid JSON"


def test_lineage(dev_client: TestClient, library: Catalog) -> None:
    edges = [("raw/orders", "sales/orders"), ("sales/orders", "bi/revenue")]
    for source, target in edges:
        r = dev_client.post(
            f"{API}/lineage/edges", json={"source": source, "target": target, "run_id": "r1"}
        )
        assert r.status_code == 201, r.text
        assert r.headers["ETag"] == f'"{r.json()["version"]}"'
    up = dev_client.get(f"{API}/lineage/bi/revenue", params={"direction": "up", "depth": 1})
    assert up.status_code == 200, up.text
    assert up.json() == library.lineage("bi/revenue", direction="upstream", depth=1).model_dump(
        mode="json"
    )
    assert [n["asset"] for n in up.json()["nodes"]] == ["bi/revenue", "sales/orders"]
    down = dev_client.get(f"{API}/lineage/raw/orders", params={"direction": "down"}).json()
    assert [n["asset"] for n in down["nodes"]] == ["raw/orders", "sales/orders", "bi/revenue"]
    both = dev_client.get(f"{API}/lineage/sales/orders").json()
    assert (both["direction"], both["depth"], len(both["edges"])) == ("both", 3, 2)
    lonely = dev_client.get(f"{API}/lineage/x/y").json()
    assert lonely["nodes"] == [{"asset": "x/y", "distance": 0}] and lonely["edges"] == []

    _error(dev_client.get(f"{API}/lineage/sales/orders?depth=0"), 400, "VALIDATION_FAILED")
    _error(dev_client.get(f"{API}/lineage/sales/orders?depth=51"), 400, "VALIDATION_FAILED")
    _error(dev_client.get(f"{API}/lineage/sales/orders?direction=up2"), 400, "VALIDATION_FAILED")
    _error(dev_client.get(f"{API}/lineage/not-an-asset"), 400, "VALIDATION_FAILED")
    self_edge = dev_client.post(f"{API}/lineage/edges", json={"source": "a/b", "target": "a/b"})
    _error(self_edge, 400, "VALIDATION_FAILED")

    ref = {"source": "raw/orders", "target": "sales/orders"}
    assert dev_client.request("DELETE", f"{API}/lineage/edges", json=ref).status_code == 204
    _error(dev_client.request("DELETE", f"{API}/lineage/edges", json=ref), 404, "NOT_FOUND")
    after = dev_client.get(f"{API}/lineage/sales/orders", params={"direction": "up"}).json()
    assert after["edges"] == []


def test_search(dev_client: TestClient, library: Catalog) -> None:
    dev_client.post(f"{API}/namespaces", json={"name": "sales", "description": "Revenue data"})
    _table(dev_client)
    r = dev_client.get(f"{API}/search", params={"q": "ord"})
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [h.model_dump(mode="json") for h in library.search("ord")]}
    assert (r.json()["items"][0]["kind"], r.json()["items"][0]["table"]) == ("table", "orders")
    assert len(dev_client.get(f"{API}/search", params={"q": "a", "limit": 1}).json()["items"]) == 1
    assert dev_client.get(f"{API}/search", params={"q": "zzzz"}).json() == {"items": []}
    _error(dev_client.get(f"{API}/search"), 400, "VALIDATION_FAILED")
    _error(dev_client.get(f"{API}/search", params={"q": "a", "limit": 0}), 400, "VALIDATION_FAILED")


@pytest.mark.parametrize(
    ("body", "requests", "path_fields"),
    [
        (CreateNamespaceBody, [CreateNamespace], set()),
        (UpdateNamespaceBody, [UpdateNamespace], {"name"}),
        (RegisterTableBody, [RegisterTable], {"namespace"}),
        (TablePatchBody, [UpdateTable, RenameTable], {"namespace", "name"}),
        (AddEdgeBody, [AddEdge], set()),
        (EdgeRef, [RemoveEdge], set()),
    ],
)
def test_bodies_are_the_request_fields(
    body: type[BaseModel], requests: list[type[BaseModel]], path_fields: set[str]
) -> None:
    """Request bodies stay the library request fields minus op, if_match and path fields."""
    wanted = {
        name: field
        for request in requests
        for name, field in request.model_fields.items()
        if name not in {"op", "if_match", *path_fields}
    }
    assert set(body.model_fields) == set(wanted)
    for name, field in body.model_fields.items():
        if len(requests) == 1:  # a PATCH makes every field optional
            assert field.annotation == wanted[name].annotation, name
            assert field.get_default(call_default_factory=True) == wanted[name].get_default(
                call_default_factory=True
            ), name


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_names_are_a_validation_error_and_write_nothing(
    dev_client: TestClient, library: Catalog, name: str
) -> None:
    message = _error(
        dev_client.post(f"{API}/namespaces", json={"name": name}), 400, "VALIDATION_FAILED"
    )
    assert message.startswith("name: must not be")
    edge = {"source": f"{name}/orders", "target": "sales/orders"}
    _error(dev_client.post(f"{API}/lineage/edges", json=edge), 400, "VALIDATION_FAILED")
    assert library.list_namespaces().items == []
