"""The commit trail names who made each change and in which request (spec: who, when,
what, request id)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from arco.catalog import Catalog
from arco.metadata.commit_log import chain
from arco.observability.request_context import bound_request_id, current_request_id


def test_commit_records_carry_the_request_id(dev_client: TestClient) -> None:
    r = dev_client.post(
        "/api/v1/namespaces", json={"name": "sales"}, headers={"X-Request-Id": "req-create-1"}
    )
    assert r.status_code == 201, r.text
    r = dev_client.patch(
        "/api/v1/namespaces/sales",
        json={"description": "orders"},
        headers={"X-Request-Id": "req-update-2"},
    )
    assert r.status_code == 200, r.text
    commits = dev_client.get("/api/v1/commits/catalog").json()["items"]
    ids = [op.get("request_id") for c in commits for op in c["operations"]]
    assert ids == ["req-update-2", "req-create-1"]  # newest first
    # and who: the authenticated subject (development mode calls everyone "dev")
    assert {op.get("subject") for c in commits for op in c["operations"]} == {"dev"}


def test_library_callers_can_name_their_request() -> None:
    assert current_request_id() is None
    with Catalog.open("memory://") as catalog:
        with bound_request_id("batch-42"):
            catalog.create_namespace("a")
        catalog.create_namespace("b")
        records = chain(catalog.store, "catalog")
    assert [r.operations[0].get("request_id") for r in records] == ["batch-42", None]
    assert all("subject" not in r.operations[0] for r in records)
    assert current_request_id() is None


def test_commit_records_name_the_token_subject(tmp_path: object) -> None:
    import time

    import jwt

    from arco.server import ServerSettings, create_app
    from arco.server.settings import AuthSettings

    secret = "s" * 32
    settings = ServerSettings(
        store_url=f"file://{tmp_path}/store",
        auth=AuthSettings(algorithms=("HS256",), secret=secret),
        compactor=False,
    )
    claims = {"tenant": "acme", "workspace": "lab", "sub": "alice", "exp": time.time() + 600}
    token = jwt.encode(claims, secret, algorithm="HS256")
    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert (
            client.post("/api/v1/namespaces", json={"name": "x"}, headers=headers).status_code
            == 201
        )
        commits = client.get("/api/v1/commits/catalog", headers=headers).json()["items"]
    assert [op["subject"] for c in commits for op in c["operations"]] == ["alice"]
