"""The Iceberg REST routes under /iceberg, in-process: every endpoint, the spec's ErrorModel
and exception types, 304, paging, scope (dev prefix, production token and foreign
prefixes), the OAuth2 token endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pyiceberg.catalog.rest import TableResponse
from pyiceberg.table import CommitTableResponse

from arco.server import ServerSettings, create_app
from arco.server.routes.iceberg import supported_endpoints
from arco.server.settings import AuthSettings, IcebergClient

BASE = "/iceberg/v1/acme.main"
SCHEMA = {
    "type": "struct",
    "schema-id": 0,
    "fields": [
        {"id": 1, "name": "id", "type": "long", "required": True},
        {"id": 2, "name": "name", "type": "string", "required": False},
    ],
}
SECRET = "s" * 40
CLIENT = IcebergClient("etl", "client-secret-0123456789", "acme", "main")


@pytest.fixture
def client(dev_settings: ServerSettings) -> Iterator[TestClient]:
    with TestClient(create_app(dev_settings)) as c:
        yield c


@pytest.fixture
def prod(tmp_path: Path) -> Iterator[TestClient]:
    settings = ServerSettings(
        store_url=f"file://{tmp_path / 'prod'}",
        compactor=False,
        auth=AuthSettings(algorithms=("HS256",), secret=SECRET),
        iceberg_clients=(CLIENT, IcebergClient("other", "other-secret-0123456789", "beta", "w")),
        signing_key=b"k" * 32,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def error_of(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == status
    assert body["error"]["type"] == kind, body
    message: str = body["error"]["message"]
    assert "Traceback" not in message
    return message


def create_table(c: TestClient, ns: str, name: str, **extra: Any) -> httpx.Response:
    return c.post(f"{BASE}/namespaces/{ns}/tables", json={"name": name, "schema": SCHEMA, **extra})


def snapshot(location: str, snapshot_id: int, parent: int | None, seq: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "snapshot-id": snapshot_id,
        "sequence-number": seq,
        "timestamp-ms": 1_700_000_000_000 + seq,
        "manifest-list": f"{location}/metadata/snap-{snapshot_id}.avro",
        "summary": {"operation": "append"},
        "schema-id": 0,
    }
    if parent is not None:
        out["parent-snapshot-id"] = parent
    return out


# --- config and oauth -----------------------------------------------------------------------


def test_config_names_the_prefix_and_exactly_the_supported_endpoints(client: TestClient) -> None:
    r = client.get("/iceberg/v1/config", params={"warehouse": "acme/main"})
    assert r.status_code == 200
    body = r.json()
    assert body["overrides"] == {"prefix": "acme.main"}
    assert body["defaults"] == {}
    assert body["endpoints"] == supported_endpoints()
    assert len(body["endpoints"]) == 23
    assert "POST /v1/{prefix}/transactions/commit" in body["endpoints"]
    assert not any("credentials" in e or "plan" in e for e in body["endpoints"])
    error_of(
        client.get("/iceberg/v1/config", params={"warehouse": "nope"}), 400, "BadRequestException"
    )


def test_dev_oauth_token_for_any_credential(client: TestClient) -> None:
    r = client.post(
        "/iceberg/v1/oauth/tokens",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert r.status_code == 200
    assert r.json()["token_type"] == "bearer" and r.json()["access_token"]
    bad = client.post("/iceberg/v1/oauth/tokens", data={"grant_type": "password"})
    assert bad.status_code == 400 and bad.json()["error"] == "unsupported_grant_type"


# --- namespaces -----------------------------------------------------------------------------


def test_namespaces(client: TestClient) -> None:
    ns = f"{BASE}/namespaces"
    r = client.post(ns, json={"namespace": ["sales"], "properties": {"owner": "a", "x": "1"}})
    assert r.status_code == 200 and r.json() == {
        "namespace": ["sales"],
        "properties": {"owner": "a", "x": "1"},
    }
    error_of(client.post(ns, json={"namespace": ["sales"]}), 409, "AlreadyExistsException")
    assert client.post(ns, json={"namespace": ["sales", "eu"]}).status_code == 200
    assert client.post(ns, json={"namespace": ["hr"]}).status_code == 200
    assert client.get(ns).json()["namespaces"] == [["hr"], ["sales"]]
    assert client.get(ns, params={"parent": "sales"}).json()["namespaces"] == [["sales", "eu"]]
    first = client.get(ns, params={"pageSize": 1}).json()
    assert first["namespaces"] == [["hr"]] and first["next-page-token"]
    second = client.get(ns, params={"pageSize": 1, "pageToken": first["next-page-token"]}).json()
    assert second["namespaces"] == [["sales"]] and "next-page-token" not in second
    error_of(client.get(ns, params={"pageSize": 0}), 400, "BadRequestException")
    error_of(client.get(ns, params={"parent": "nope"}), 404, "NoSuchNamespaceException")

    nested = client.get(f"{ns}/sales%1Feu")
    assert nested.status_code == 200 and nested.json()["namespace"] == ["sales", "eu"]
    assert client.head(f"{ns}/sales").status_code == 204
    assert client.head(f"{ns}/nope").status_code == 404
    error_of(client.get(f"{ns}/nope"), 404, "NoSuchNamespaceException")
    error_of(client.get(f"{ns}/a.b"), 400, "BadRequestException")

    r = client.post(
        f"{ns}/sales/properties", json={"removals": ["x", "absent"], "updates": {"y": "2"}}
    )
    assert r.json() == {"updated": ["y"], "removed": ["x"], "missing": ["absent"]}
    assert client.get(f"{ns}/sales").json()["properties"] == {"owner": "a", "y": "2"}

    assert create_table(client, "sales", "orders").status_code == 200
    assert client.delete(f"{ns}/sales%1Feu").status_code == 204
    error_of(client.delete(f"{ns}/sales"), 409, "NamespaceNotEmptyException")
    assert client.delete(f"{ns}/hr").status_code == 204
    error_of(client.delete(f"{ns}/hr"), 404, "NoSuchNamespaceException")


def test_idempotency_key_replays_a_create(client: TestClient) -> None:
    ns = f"{BASE}/namespaces"
    headers = {"Idempotency-Key": "k-1"}
    first = client.post(ns, json={"namespace": ["a"]}, headers=headers)
    again = client.post(ns, json={"namespace": ["a"]}, headers=headers)
    assert first.status_code == again.status_code == 200
    error_of(
        client.post(ns, json={"namespace": ["a"]}, headers={"Idempotency-Key": "\x01"}),
        400,
        "BadRequestException",
    )


# --- tables ---------------------------------------------------------------------------------


def test_tables_create_load_etag_refs_list_commit(client: TestClient) -> None:
    client.post(f"{BASE}/namespaces", json={"namespace": ["sales"]})
    staged = create_table(client, "sales", "staged", **{"stage-create": True})
    assert staged.status_code == 200 and "metadata-location" not in staged.json()
    assert client.head(f"{BASE}/namespaces/sales/tables/staged").status_code == 404

    created = create_table(client, "sales", "orders", properties={"k": "v"})
    assert created.status_code == 200
    meta = created.json()["metadata"]
    location = meta["location"]
    assert created.json()["metadata-location"].startswith(location + "/metadata/")
    error_of(create_table(client, "sales", "orders"), 409, "AlreadyExistsException")
    error_of(create_table(client, "nope", "orders"), 404, "NoSuchNamespaceException")
    error_of(
        client.post(f"{BASE}/namespaces/sales/tables", content=b"{not json"),
        400,
        "BadRequestException",
    )
    error_of(
        client.post(f"{BASE}/namespaces/sales/tables", json={"name": "x"}),
        400,
        "BadRequestException",
    )

    url = f"{BASE}/namespaces/sales/tables/orders"
    loaded = client.get(url)
    assert loaded.status_code == 200
    tag = loaded.headers["ETag"]
    cached = client.get(url, headers={"If-None-Match": tag})
    assert cached.status_code == 304 and cached.content == b""
    assert client.head(url).status_code == 204

    # two snapshots, main names the second: refs returns only it
    uuid = meta["table-uuid"]
    commit = {
        "requirements": [{"type": "assert-table-uuid", "uuid": uuid}],
        "updates": [
            {"action": "add-snapshot", "snapshot": snapshot(location, 11, None, 1)},
            {"action": "add-snapshot", "snapshot": snapshot(location, 12, 11, 2)},
            {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": 12},
        ],
    }
    r = client.post(url, json=commit, headers={"Idempotency-Key": "c-1"})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["current-snapshot-id"] == 12
    replay = client.post(url, json=commit, headers={"Idempotency-Key": "c-1"})
    assert replay.json()["metadata-location"] == r.json()["metadata-location"]
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 200  # moved on
    every = client.get(url).json()["metadata"]["snapshots"]
    refs = client.get(url, params={"snapshots": "refs"}).json()["metadata"]["snapshots"]
    assert [s["snapshot-id"] for s in every] == [11, 12]
    assert [s["snapshot-id"] for s in refs] == [12]
    error_of(client.get(url, params={"snapshots": "some"}), 400, "BadRequestException")

    stale = {
        "requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": 11}],
        "updates": [],
    }
    error_of(client.post(url, json=stale), 409, "CommitFailedException")
    error_of(
        client.post(url, json={"identifier": {"namespace": ["x"], "name": "y"}}),
        400,
        "BadRequestException",
    )
    error_of(
        client.post(f"{BASE}/namespaces/sales/tables/nope", json={}), 404, "NoSuchTableException"
    )
    error_of(client.get(f"{BASE}/namespaces/sales/tables/nope"), 404, "NoSuchTableException")

    assert create_table(client, "sales", "returns").status_code == 200
    listed = client.get(f"{BASE}/namespaces/sales/tables", params={"pageSize": 1}).json()
    assert listed["identifiers"] == [{"namespace": ["sales"], "name": "orders"}]
    rest = client.get(
        f"{BASE}/namespaces/sales/tables", params={"pageToken": listed["next-page-token"]}
    ).json()
    assert rest["identifiers"] == [{"namespace": ["sales"], "name": "returns"}]

    assert client.post(f"{url}/metrics", json={"report-type": "scan-report"}).status_code == 204
    error_of(
        client.post(f"{BASE}/namespaces/sales/tables/nope/metrics", json={"report-type": "x"}),
        404,
        "NoSuchTableException",
    )


def test_table_bodies_are_what_pyiceberg_models_serialize(client: TestClient) -> None:
    """Load, create and commit answers are assembled around the cached metadata JSON; they
    must equal pyiceberg's own serialization of the same results."""
    assert client.post(f"{BASE}/namespaces", json={"namespace": ["bodies"]}).status_code == 200
    created = create_table(client, "bodies", "t", properties={"k": "välue"})
    assert created.status_code == 200, created.text
    location = created.json()["metadata"]["location"]
    for seq in (1, 2, 3):
        commit = client.post(
            f"{BASE}/namespaces/bodies/tables/t",
            json={
                "requirements": [],
                "updates": [
                    {"action": "add-snapshot", "snapshot": snapshot(location, seq, None, seq)},
                    {
                        "action": "set-snapshot-ref",
                        "ref-name": "main",
                        "type": "branch",
                        "snapshot-id": seq,
                    },
                ],
            },
        )
        assert commit.status_code == 200, commit.text
        expected = CommitTableResponse.model_validate(commit.json())
        assert commit.json() == json.loads(expected.model_dump_json())
        assert set(commit.json()) == {"metadata", "metadata-location"}
    loaded = client.get(f"{BASE}/namespaces/bodies/tables/t")
    assert loaded.status_code == 200
    result = TableResponse.model_validate(loaded.json())
    assert loaded.json() == json.loads(result.model_dump_json())
    assert loaded.json()["metadata-location"] == commit.json()["metadata-location"]
    assert loaded.json()["metadata"] == commit.json()["metadata"]
    assert [s["snapshot-id"] for s in loaded.json()["metadata"]["snapshots"]] == [1, 2, 3]
    assert created.json() == json.loads(
        TableResponse.model_validate(created.json()).model_dump_json()
    )
    staged = create_table(client, "bodies", "staged", **{"stage-create": True})
    assert staged.status_code == 200 and "metadata-location" not in staged.json()


def test_rename_drop_register_transactions(client: TestClient) -> None:
    client.post(f"{BASE}/namespaces", json={"namespace": ["a"]})
    client.post(f"{BASE}/namespaces", json={"namespace": ["b"]})
    first = create_table(client, "a", "t1").json()
    create_table(client, "a", "t2")
    rename = {
        "source": {"namespace": ["a"], "name": "t1"},
        "destination": {"namespace": ["b"], "name": "moved"},
    }
    assert client.post(f"{BASE}/tables/rename", json=rename).status_code == 204
    error_of(client.post(f"{BASE}/tables/rename", json=rename), 404, "NoSuchTableException")
    moved = client.get(f"{BASE}/namespaces/b/tables/moved").json()
    assert moved["metadata"]["table-uuid"] == first["metadata"]["table-uuid"]

    # drop without purge, then register its metadata file again
    assert client.delete(f"{BASE}/namespaces/b/tables/moved").status_code == 204
    error_of(client.delete(f"{BASE}/namespaces/b/tables/moved"), 404, "NoSuchTableException")
    register = {"name": "again", "metadata-location": moved["metadata-location"]}
    r = client.post(f"{BASE}/namespaces/b/register", json=register)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["table-uuid"] == first["metadata"]["table-uuid"]
    error_of(
        client.post(f"{BASE}/namespaces/b/register", json={**register, "overwrite": True}),
        406,
        "UnsupportedOperationException",
    )
    r = client.delete(f"{BASE}/namespaces/b/tables/again", params={"purgeRequested": "true"})
    assert r.status_code == 204
    error_of(
        client.post(f"{BASE}/namespaces/b/register", json={**register, "name": "third"}),
        400,
        "BadRequestException",
    )

    t2 = client.get(f"{BASE}/namespaces/a/tables/t2").json()
    change = {
        "identifier": {"namespace": ["a"], "name": "t2"},
        "requirements": [{"type": "assert-table-uuid", "uuid": t2["metadata"]["table-uuid"]}],
        "updates": [{"action": "set-properties", "updates": {"txn": "1"}}],
    }
    txn = client.post(f"{BASE}/transactions/commit", json={"table-changes": [change]})
    assert txn.status_code == 204, txn.text
    props = client.get(f"{BASE}/namespaces/a/tables/t2").json()["metadata"]["properties"]
    assert props["txn"] == "1"
    failing = {**change, "requirements": [{"type": "assert-table-uuid", "uuid": "0" * 32}]}
    error_of(
        client.post(f"{BASE}/transactions/commit", json={"table-changes": [failing]}),
        409,
        "CommitFailedException",
    )
    error_of(
        client.post(f"{BASE}/transactions/commit", json={"table-changes": []}),
        400,
        "BadRequestException",
    )


# --- views ----------------------------------------------------------------------------------


def _view_version(version_id: int, sql: str) -> dict[str, Any]:
    return {
        "version-id": version_id,
        "timestamp-ms": 1_700_000_000_000 + version_id,
        "schema-id": 0,
        "summary": {"engine-name": "test"},
        "representations": [{"type": "sql", "sql": sql, "dialect": "spark"}],
        "default-namespace": ["v"],
    }


def test_views(client: TestClient) -> None:
    client.post(f"{BASE}/namespaces", json={"namespace": ["v"]})
    views = f"{BASE}/namespaces/v/views"
    body = {"name": "recent", "schema": SCHEMA, "view-version": _view_version(1, "select 1")}
    r = client.post(views, json=body)
    assert r.status_code == 200, r.text
    uuid = r.json()["metadata"]["view-uuid"]
    error_of(client.post(views, json=body), 409, "AlreadyExistsException")
    assert client.get(views).json()["identifiers"] == [{"namespace": ["v"], "name": "recent"}]
    assert client.head(f"{views}/recent").status_code == 204
    assert client.head(f"{views}/nope").status_code == 404
    error_of(client.get(f"{views}/nope"), 404, "NoSuchViewException")
    replace = {
        "requirements": [{"type": "assert-view-uuid", "uuid": uuid}],
        "updates": [
            {"action": "add-view-version", "view-version": _view_version(2, "select 2")},
            {"action": "set-current-view-version", "view-version-id": -1},
        ],
    }
    r = client.post(f"{views}/recent", json=replace)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["current-version-id"] == 2
    wrong = {**replace, "requirements": [{"type": "assert-view-uuid", "uuid": "x"}]}
    error_of(client.post(f"{views}/recent", json=wrong), 409, "CommitFailedException")
    rename = {
        "source": {"namespace": ["v"], "name": "recent"},
        "destination": {"namespace": ["v"], "name": "latest"},
    }
    assert client.post(f"{BASE}/views/rename", json=rename).status_code == 204
    assert client.get(f"{views}/latest").json()["metadata"]["view-uuid"] == uuid
    assert client.delete(f"{views}/latest").status_code == 204
    error_of(client.delete(f"{views}/latest"), 404, "NoSuchViewException")


# --- errors and scope -----------------------------------------------------------------------


def test_errors_are_the_error_model(client: TestClient) -> None:
    error_of(client.get("/iceberg/v1/acme.main/nothing"), 404, "NotFoundException")
    error_of(client.get("/iceberg/v1/no-dot/namespaces"), 400, "BadRequestException")
    error_of(client.put(f"{BASE}/namespaces"), 405, "MethodNotAllowedException")
    big = client.post(f"{BASE}/namespaces", content=b" " * (2 << 20))
    error_of(big, 413, "BadRequestException")
    # the rest of the API keeps its own shape
    r = client.get("/api/v1/namespaces/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"


def test_access_log_names_the_route_template(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="arco.server.access"):
        client.get(f"{BASE}/namespaces/nope")
        client.get("/api/v1/namespaces")
    routes = [getattr(r, "route", None) for r in caplog.records if r.name == "arco.server.access"]
    assert routes == ["/iceberg/v1/{prefix}/namespaces/{namespace}", "/api/v1/namespaces"]


def test_dev_prefix_selects_the_scope(client: TestClient) -> None:
    client.post(f"{BASE}/namespaces", json={"namespace": ["sales"]})
    create_table(client, "sales", "orders")
    other = "/iceberg/v1/beta.main/namespaces/sales/tables/orders"
    missing = f"{BASE}/namespaces/nope/tables/orders"
    assert client.get(other).json()["error"]["message"] == "namespace 'sales' does not exist"
    error_of(client.get(other), 404, "NoSuchNamespaceException")
    error_of(client.get(missing), 404, "NoSuchNamespaceException")
    # Arco's API sees the Iceberg table in the same scope
    table = client.get(
        "/api/v1/namespaces/sales/tables/orders",
        headers={"X-Tenant-Id": "acme", "X-Workspace-Id": "main"},
    ).json()
    assert table["format"] == "iceberg"
    assert [c["name"] for c in table["columns"]] == ["id", "name"]


def _token(c: TestClient, credential: tuple[str, str]) -> httpx.Response:
    return c.post(
        "/iceberg/v1/oauth/tokens",
        data={
            "grant_type": "client_credentials",
            "client_id": credential[0],
            "client_secret": credential[1],
            "scope": "catalog",
        },
    )


def test_production_tokens_and_scope(prod: TestClient) -> None:
    error_of(prod.get("/iceberg/v1/config"), 401, "NotAuthorizedException")
    bad = _token(prod, ("etl", "wrong-secret-0123456789"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert _token(prod, ("nobody", CLIENT.secret)).status_code == 401
    granted = _token(prod, (CLIENT.client_id, CLIENT.secret))
    assert granted.status_code == 200, granted.text
    assert granted.json()["expires_in"] == 3600
    auth = {"Authorization": f"Bearer {granted.json()['access_token']}"}

    config = prod.get("/iceberg/v1/config", headers=auth).json()
    assert config["overrides"]["prefix"] == "acme.main"
    assert (
        prod.get("/iceberg/v1/config", params={"warehouse": "beta/w"}, headers=auth).status_code
        == 404
    )
    assert (
        prod.post(f"{BASE}/namespaces", json={"namespace": ["s"]}, headers=auth).status_code == 200
    )
    assert create_table_auth(prod, auth).status_code == 200
    # the same token is an ordinary user token of the Arco API
    assert prod.get("/api/v1/namespaces/s/tables/t", headers=auth).json()["format"] == "iceberg"

    # tenant beta: acme's table under acme's prefix is the 404 of a missing one
    beta = _token(prod, ("other", "other-secret-0123456789")).json()["access_token"]
    beta_auth = {"Authorization": f"Bearer {beta}"}
    foreign = prod.get(f"{BASE}/namespaces/s/tables/t", headers=beta_auth)
    own_missing = prod.get("/iceberg/v1/beta.w/namespaces/s/tables/t", headers=beta_auth)
    assert foreign.status_code == own_missing.status_code == 404
    assert foreign.json() == own_missing.json()
    assert prod.head(f"{BASE}/namespaces/s/tables/t", headers=beta_auth).status_code == 404
    error_of(
        prod.post(f"{BASE}/namespaces", json={"namespace": ["x"]}, headers=beta_auth),
        404,
        "NoSuchNamespaceException",
    )
    forged = {"Authorization": f"Bearer {beta[:-4]}AAAA"}
    error_of(prod.get(f"{BASE}/namespaces", headers=forged), 401, "NotAuthorizedException")


def create_table_auth(c: TestClient, auth: dict[str, str]) -> httpx.Response:
    return c.post(f"{BASE}/namespaces/s/tables", json={"name": "t", "schema": SCHEMA}, headers=auth)
