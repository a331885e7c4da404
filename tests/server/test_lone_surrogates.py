"""JSON can carry lone surrogates ("\\ud800") that no UTF-8 file can hold: every string a
request can put anywhere is refused with a 400 naming the field, or harmlessly not found,
never a 500 (issue 10: more defects of the kind found; the property key and the SQL text
were 500s)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

H = {"X-Tenant-Id": "acme", "X-Workspace-Id": "main", "Content-Type": "application/json"}
S = "\\ud800"  # as it appears in JSON text

WRITES = [
    ("post", "/namespaces", '{"name": "n1", "description": "%s"}'),
    ("post", "/namespaces", '{"name": "%s"}'),
    ("post", "/namespaces", '{"name": "n2", "properties": {"a": "%s"}}'),
    ("post", "/namespaces", '{"name": "n3", "properties": {"%s": "a"}}'),
    ("patch", "/namespaces/sales", '{"description": "%s"}'),
    ("patch", "/namespaces/sales", '{"set_properties": {"%s": "x"}}'),
    ("post", "/namespaces/sales/tables", '{"name": "t1", "location": "%s"}'),
    ("post", "/namespaces/sales/tables", '{"name": "t2", "format": "%s"}'),
    ("post", "/namespaces/sales/tables", '{"name": "t3", "properties": {"%s": "v"}}'),
    (
        "post",
        "/namespaces/sales/tables",
        '{"name": "t4", "columns": [{"name": "a", "type": "int64", "description": "%s"}]}',
    ),
    (
        "post",
        "/namespaces/sales/tables",
        '{"name": "t5", "columns": [{"name": "a", "type": "%s"}]}',
    ),
    ("patch", "/namespaces/sales/tables/orders", '{"description": "%s"}'),
    ("patch", "/namespaces/sales/tables/orders", '{"set_properties": {"%s": "v"}}'),
    ("patch", "/namespaces/sales/tables/orders", '{"rename_columns": {"id": "%s"}}'),
    ("patch", "/namespaces/sales/tables/orders", '{"new_name": "%s"}'),
    ("post", "/lineage/edges", '{"source": "a/b", "target": "c/d", "run_id": "%s"}'),
    ("post", "/lineage/edges", '{"source": "a/%s", "target": "c/d"}'),
    (
        "post",
        "/events",
        '{"events": [{"event_type": "materialization", "asset_key": "a/b", "run_id": "%s", '
        '"status": "succeeded"}]}',
    ),
    (
        "post",
        "/events",
        '{"events": [{"event_type": "materialization", "asset_key": "a/b", "run_id": "r", '
        '"status": "succeeded", "partition_key": "%s"}]}',
    ),
    ("post", "/query", '{"sql": "SELECT \'%s\'"}'),
]
READS = [
    "/search?q=%ED%A0%80",
    "/materializations?asset_key=a/%ED%A0%80",
    "/namespaces/%ED%A0%80",
    "/lineage/a%2F%ED%A0%80",
]


@pytest.fixture
def client(dev_client: TestClient) -> TestClient:
    dev_client.post("/api/v1/namespaces", json={"name": "sales"}, headers=H)
    created = dev_client.post(
        "/api/v1/namespaces/sales/tables",
        json={"name": "orders", "columns": [{"name": "id", "type": "int64"}]},
        headers=H,
    )
    assert created.status_code == 201
    return dev_client


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_lone_surrogate_in_a_write_is_a_400(
    client: TestClient, method: str, path: str, body: str
) -> None:
    r = client.request(method, f"/api/v1{path}", content=(body % S).encode(), headers=H)
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"]["code"] in ("VALIDATION_FAILED", "INVALID_KEY")
    assert "\n" not in r.json()["error"]["message"]


@pytest.mark.parametrize("path", READS)
def test_a_lone_surrogate_in_a_read_is_not_a_5xx(client: TestClient, path: str) -> None:
    r = client.get(f"/api/v1{path}", headers=H)
    assert r.status_code < 500, r.text[:300]
