"""REST routes of events, materializations, manifests and commits, against a real app on a
local store; plus the request-level idempotency of event appends under storage faults."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from arco.core.scope import Scope
from arco.errors import IdempotencyConflictError, TransientStorageError
from arco.executions import Executions
from arco.metadata.commit_log import chain
from arco.metadata.manifest import read_manifest
from arco.server import ServerSettings
from arco.storage import ScopedStore, open_store
from arco.storage.faults import FaultyStore
from arco.tier2.envelope import EventEnvelope

API = "/api/v1"
DEFAULT = Scope("default", "default")


def _error(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    return str(r.json()["error"]["message"])


def _mat(asset: str = "sales/orders", run: str = "r1", status: str = "succeeded") -> dict[str, Any]:
    return {"event_type": "materialization", "asset_key": asset, "run_id": run, "status": status}


def _flush(client: TestClient, scope: Scope = DEFAULT) -> None:
    assert client.app.state.services.workspaces.get(scope).executions.flush(30)  # type: ignore[attr-defined]


def test_append_and_list(dev_client: TestClient) -> None:
    body = {"events": [_mat(run="r1"), _mat(run="r2", status="failed"), _mat("bi/x", "r3")]}
    r = dev_client.post(f"{API}/events", json=body)
    assert r.status_code == 202, r.text
    ids = r.json()["event_ids"]
    assert len(ids) == 3 and ids == sorted(ids)  # generated ids follow request order
    _flush(dev_client)

    page = dev_client.get(f"{API}/materializations").json()
    assert {m["event_id"] for m in page["items"]} == set(ids)
    assert page["next_page_token"] is None
    only = dev_client.get(f"{API}/materializations", params={"asset_key": "bi/x"}).json()
    assert [m["run_id"] for m in only["items"]] == ["r3"]
    failed = dev_client.get(f"{API}/materializations", params={"status": "failed"}).json()
    assert [m["run_id"] for m in failed["items"]] == ["r2"]
    by_run = dev_client.get(f"{API}/materializations", params={"run_id": "r1"}).json()
    assert [m["status"] for m in by_run["items"]] == ["succeeded"]

    first = dev_client.get(f"{API}/materializations", params={"limit": 2}).json()
    rest = dev_client.get(
        f"{API}/materializations", params={"limit": 2, "page_token": first["next_page_token"]}
    ).json()
    assert len(first["items"]) == 2 and len(rest["items"]) == 1 and rest["next_page_token"] is None
    assert first["items"] + rest["items"] == page["items"]

    one = page["items"][0]
    got = dev_client.get(f"{API}/materializations/{one['materialization_id']}")
    assert got.status_code == 200 and got.json() == one
    assert got.headers["ETag"] == f'"{one["version"]}"'
    missing = dev_client.get(f"{API}/materializations/nope")
    assert _error(missing, 404, "NOT_FOUND") == "materialization 'nope' does not exist"
    bad = dev_client.get(f"{API}/materializations", params={"status": "done"})
    assert _error(bad, 400, "VALIDATION_FAILED").startswith("status:")
    _error(dev_client.get(f"{API}/materializations?asset_key=x"), 400, "VALIDATION_FAILED")


def test_envelopes_and_validation(dev_client: TestClient) -> None:
    envelope = {
        "event_id": "01J0000000000000000000000A",
        "event_type": "materialization",
        "occurred_at": "2026-11-26T13:07:46.123+01:00",
        "source": "dagster",
        "payload": {"asset_key": "sales/orders", "run_id": "r9", "status": "started"},
    }
    r = dev_client.post(f"{API}/events", json={"events": [envelope]})
    assert r.status_code == 202 and r.json() == {"event_ids": [envelope["event_id"]]}
    assert dev_client.post(f"{API}/events", json={"events": []}).json() == {"event_ids": []}

    # one invalid event: nothing of the batch is appended
    unknown = dev_client.post(
        f"{API}/events", json={"events": [_mat(run="ok"), {"event_type": "x"}]}
    )
    assert _error(unknown, 400, "VALIDATION_FAILED").startswith("events[1].event_type:")
    bad_payload = dev_client.post(f"{API}/events", json={"events": [_mat(status="done")]})
    assert _error(bad_payload, 400, "VALIDATION_FAILED").startswith("events[0].payload.status")
    no_type = dev_client.post(f"{API}/events", json={"events": [{"asset_key": "a/b"}]})
    assert _error(no_type, 400, "VALIDATION_FAILED").startswith("events[0].event_type:")
    _error(dev_client.post(f"{API}/events", json={"events": [1]}), 400, "VALIDATION_FAILED")
    _error(dev_client.post(f"{API}/events", json={}), 400, "VALIDATION_FAILED")
    _flush(dev_client)
    runs = [m["run_id"] for m in dev_client.get(f"{API}/materializations").json()["items"]]
    assert runs == ["r9"]


def test_events_idempotency_key(dev_client: TestClient) -> None:
    body = {"events": [_mat(run="r1"), _mat(run="r2")]}
    key = {"Idempotency-Key": "batch-1"}
    first = dev_client.post(f"{API}/events", json=body, headers=key)
    again = dev_client.post(f"{API}/events", json=body, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    other = dev_client.post(f"{API}/events", json={"events": [_mat(run="r3")]}, headers=key)
    assert "already used" in _error(other, 409, "IDEMPOTENCY_KEY_REUSED")
    # an invalid request leaves no record behind: the key stays usable
    k2 = {"Idempotency-Key": "batch-2"}
    _error(
        dev_client.post(f"{API}/events", json={"events": [{"event_type": "x"}]}, headers=k2),
        400,
        "VALIDATION_FAILED",
    )
    assert (
        dev_client.post(f"{API}/events", json={"events": [_mat(run="r4")]}, headers=k2).status_code
        == 202
    )
    _flush(dev_client)
    items = dev_client.get(f"{API}/materializations").json()["items"]
    assert sorted(m["run_id"] for m in items) == ["r1", "r2", "r4"]  # the replay added nothing


def test_append_once_completes_after_a_failed_append() -> None:
    """The record is written first: a request that failed while appending is completed by
    its retry, with the same event ids, and each event is folded once."""
    failing = {"on": True}

    def fault(_: int, op: str, key: str) -> BaseException | None:
        if failing["on"] and op == "put" and "/ledger/" in f"/{key}":
            return TransientStorageError("injected: ledger put failed")
        return None

    root = FaultyStore(open_store("memory://append-once"), fault=fault)
    events = [
        EventEnvelope(
            event_id=f"01J00000000000000000000{i:03d}",
            event_type="materialization",
            event_version=1,
            occurred_at="2026-11-26T13:07:46.123Z",
            source="test",
            payload={"asset_key": "sales/orders", "run_id": f"r{i}", "status": "succeeded"},
        )
        for i in range(3)
    ]
    with Executions(root, DEFAULT, fold="inline") as executions:
        with pytest.raises(TransientStorageError):
            executions.append_once(events, "k", "hash-1")
        assert executions.list_materializations().items == []
        failing["on"] = False
        # the retry may even carry other generated ids: the recorded events are used
        assert executions.append_once(events[:1], "k", "hash-1") == [e.event_id for e in events]
        assert executions.append_once(events, "k", "hash-1") == [e.event_id for e in events]
        with pytest.raises(IdempotencyConflictError):
            executions.append_once(events, "k", "hash-2")
        executions.compact()
        runs = sorted(m.run_id for m in executions.list_materializations().items)
    assert runs == ["r0", "r1", "r2"]


def test_manifests(dev_client: TestClient, dev_settings: ServerSettings) -> None:
    store = ScopedStore(open_store(dev_settings.store_url), DEFAULT.prefix)
    for domain in ("catalog", "lineage", "executions"):
        r = dev_client.get(f"{API}/manifests/{domain}")
        assert (
            _error(r, 404, "NOT_FOUND")
            == f"domain {domain!r} has no manifest yet (nothing was written)"
        )
    dev_client.post(f"{API}/namespaces", json={"name": "sales"})
    dev_client.post(f"{API}/lineage/edges", json={"source": "a/b", "target": "c/d"})
    dev_client.post(f"{API}/events", json={"events": [_mat()]})
    _flush(dev_client)
    for domain in ("catalog", "lineage", "executions"):
        r = dev_client.get(f"{API}/manifests/{domain}")
        assert r.status_code == 200, r.text
        stored = read_manifest(store, domain)
        assert stored is not None
        assert r.json() == stored.manifest.model_dump(mode="json")
        assert r.headers["ETag"] == f'"{stored.manifest.snapshot_version}"'
        assert r.json()["files"], domain
    _error(dev_client.get(f"{API}/manifests/search"), 400, "VALIDATION_FAILED")


def test_commits(dev_client: TestClient, dev_settings: ServerSettings) -> None:
    store = ScopedStore(open_store(dev_settings.store_url), DEFAULT.prefix)
    assert dev_client.get(f"{API}/commits/catalog").json() == {"items": [], "next_page_token": None}
    for name in ("a", "b", "c", "d", "e"):
        dev_client.post(
            f"{API}/namespaces", json={"name": name}, headers={"Idempotency-Key": f"k-{name}"}
        )
    records = chain(store, "catalog")[::-1]  # newest first
    everything = dev_client.get(f"{API}/commits/catalog").json()
    assert [c["commit_id"] for c in everything["items"]] == [r.commit_id for r in records]
    newest = everything["items"][0]
    assert set(newest) == {
        "commit_id",
        "kind",
        "snapshot_version",
        "holder",
        "committed_at",
        "operations",
    }
    assert newest["kind"] == "ddl" and newest["snapshot_version"] == records[0].snapshot_version
    assert newest["operations"][0]["op"] == "create_namespace"
    assert newest["operations"][0]["idempotency_key"] == "k-e"

    walked: list[str] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if token:
            params["page_token"] = token
        page = dev_client.get(f"{API}/commits/catalog", params=params).json()
        assert len(page["items"]) <= 2
        walked += [c["commit_id"] for c in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert walked == [r.commit_id for r in records]

    # a well-formed token naming a commit this workspace does not have
    unknown = base64.urlsafe_b64encode(b'{"commit":"01J80000000000000000000000"}').decode()
    for bad in ("garbage", unknown.rstrip("=")):
        r = dev_client.get(f"{API}/commits/catalog", params={"page_token": bad})
        assert (
            _error(r, 400, "VALIDATION_FAILED")
            == "page_token: not a token returned by a previous page"
        )
    _error(dev_client.get(f"{API}/commits/catalog", params={"limit": 0}), 400, "VALIDATION_FAILED")
    _error(dev_client.get(f"{API}/commits/nope"), 400, "VALIDATION_FAILED")
