"""Tenant isolation and existence privacy.

Tenant A probes every route with tenant B's names, ids, file paths, page tokens and
idempotency keys, and gets exactly what it gets for objects that do not exist: the same
status, the same error code and the same message once the echoed names are swapped. Its
listings never show B's objects. Run in development mode (scope from ``X-Tenant-Id``) and in
production mode (scope from a JWT).
"""

from __future__ import annotations

import base64
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from arco.core.scope import Scope
from arco.server import ServerSettings, create_app
from arco.server.settings import AuthSettings, OrchestrationSettings

API = "/api/v1"
SECRET = "isolation-test-secret-of-enough-length"

#: B's names and their never-used stand-ins (same length, so messages line up)
B_NS, MISSING_NS = "bsecret", "nsecret"
B_TABLE, MISSING_TABLE = "btable", "ntable"
B_ASSET, MISSING_ASSET = f"{B_NS}/{B_TABLE}", f"{MISSING_NS}/{MISSING_TABLE}"
B_DOWN, MISSING_DOWN = f"{B_NS}/bdown", f"{MISSING_NS}/bdown"
B_RUN = "brun-private"
B_KEY = "b-idempotency-key"

Headers = Callable[[str], dict[str, str]]
#: runs wait for HTTP workers (none come): B's run stays queued, nothing executes
HTTP_WORKERS = OrchestrationSettings(executor="http")


@pytest.fixture(params=["dev", "jwt"])
def mode(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, Headers]]:
    store_url = f"file://{tmp_path / 'store'}"
    if request.param == "dev":
        settings = ServerSettings(
            store_url=store_url, dev=True, compactor=False, orchestration=HTTP_WORKERS
        )

        def headers(tenant: str) -> dict[str, str]:
            return {"X-Tenant-Id": tenant, "X-Workspace-Id": "main"}

    else:
        settings = ServerSettings(
            store_url=store_url,
            compactor=False,
            auth=AuthSettings(algorithms=("HS256",), secret=SECRET),
            orchestration=HTTP_WORKERS,
        )

        def headers(tenant: str) -> dict[str, str]:
            claims = {"tenant": tenant, "workspace": "main", "sub": f"user-{tenant}"}
            token = jwt.encode({**claims, "exp": int(time.time()) + 600}, SECRET, "HS256")
            # dev headers are ignored in production: they must not widen the scope
            return {"Authorization": f"Bearer {token}", "X-Tenant-Id": "tenant-b"}

    with TestClient(create_app(settings)) as client:
        yield client, headers


@dataclasses.dataclass
class World:
    client: TestClient
    a: dict[str, str]
    b: dict[str, str]
    fresh: dict[str, str]  # a tenant that never wrote anything
    b_materialization: str
    b_commit_token: str
    b_files: list[str]
    b_commit_ids: set[str]
    b_event_ids: list[str]


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


@pytest.fixture
def world(mode: tuple[TestClient, Headers]) -> World:
    client, headers = mode
    a, b, fresh = headers("tenant-a"), headers("tenant-b"), headers("tenant-c")
    # B's private world: a namespace, a table, lineage, events, all with an idempotency key
    _ok(
        client.post(
            f"{API}/namespaces", json={"name": B_NS}, headers={**b, "Idempotency-Key": B_KEY}
        ),
        201,
    )
    table = {"name": B_TABLE, "columns": [{"name": "id", "type": "int64"}], "description": "b only"}
    _ok(client.post(f"{API}/namespaces/{B_NS}/tables", json=table, headers=b), 201)
    _ok(
        client.post(f"{API}/lineage/edges", json={"source": B_ASSET, "target": B_DOWN}, headers=b),
        201,
    )
    event = {
        "event_type": "materialization",
        "asset_key": B_ASSET,
        "run_id": B_RUN,
        "status": "succeeded",
    }
    event_ids = _ok(client.post(f"{API}/events", json={"events": [event]}, headers=b), 202)[
        "event_ids"
    ]
    services = client.app.state.services  # type: ignore[attr-defined]
    assert services.workspaces.get(Scope("tenant-b", "main")).executions.flush(30)
    mats = _ok(client.get(f"{API}/materializations", headers=b))["items"]
    assert len(mats) == 1
    commits = _ok(client.get(f"{API}/commits/catalog", params={"limit": 1}, headers=b))
    assert commits["next_page_token"] is not None
    files = [f["path"] for f in _ok(client.get(f"{API}/manifests/catalog", headers=b))["files"]]
    b_commits = {
        c["commit_id"]
        for domain in ("catalog", "lineage", "executions")
        for c in _ok(client.get(f"{API}/commits/{domain}", headers=b))["items"]
    }
    # A has a catalog of its own (so its listings are not trivially empty)
    _ok(client.post(f"{API}/namespaces", json={"name": "aown"}, headers=a), 201)
    return World(
        client,
        a,
        b,
        fresh,
        mats[0]["materialization_id"],
        commits["next_page_token"],
        files,
        b_commits,
        event_ids,
    )


def _swap(value: Any, swaps: dict[str, str]) -> Any:
    """``value`` with every B name replaced by its stand-in (in strings, recursively)."""
    if isinstance(value, str):
        for old, new in swaps.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, list | tuple):
        return type(value)(_swap(v, swaps) for v in value)
    if isinstance(value, dict):
        return {_swap(k, swaps): _swap(v, swaps) for k, v in value.items()}
    return value


def _view(r: Any) -> tuple[int, Any]:
    """What a response tells: status and body, minus the per-request id."""
    body = r.json() if r.content else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = {"error": {k: v for k, v in body["error"].items() if k != "request_id"}}
    return r.status_code, body


def _probe(
    client: TestClient,
    method: str,
    path: str,
    missing_path: str,
    headers: dict[str, str],
    *,
    json: Any = None,
    missing_json: Any = None,
    params: dict[str, Any] | None = None,
    missing_params: dict[str, Any] | None = None,
    swaps: dict[str, str],
) -> tuple[int, Any]:
    """The same request for B's object and for a missing one: identical after swapping."""
    probe = client.request(method, path, json=json, params=params, headers=headers)
    missing = client.request(
        method,
        missing_path,
        json=json if missing_json is None else missing_json,
        params=params if missing_params is None else missing_params,
        headers=headers,
    )
    assert _swap(_view(probe), swaps) == _view(missing), (method, path)
    return _view(probe)


#: every API route (method, OpenAPI path) the probes below cover
PROBED = {
    ("get", "/api/v1/namespaces"),
    ("post", "/api/v1/namespaces"),
    ("get", "/api/v1/namespaces/{ns}"),
    ("patch", "/api/v1/namespaces/{ns}"),
    ("delete", "/api/v1/namespaces/{ns}"),
    ("get", "/api/v1/namespaces/{ns}/tables"),
    ("post", "/api/v1/namespaces/{ns}/tables"),
    ("get", "/api/v1/namespaces/{ns}/tables/{table}"),
    ("patch", "/api/v1/namespaces/{ns}/tables/{table}"),
    ("delete", "/api/v1/namespaces/{ns}/tables/{table}"),
    ("post", "/api/v1/lineage/edges"),
    ("delete", "/api/v1/lineage/edges"),
    ("get", "/api/v1/lineage/{asset}"),
    ("get", "/api/v1/search"),
    ("get", "/api/v1/manifests/{domain}"),
    ("get", "/api/v1/commits/{domain}"),
    ("post", "/api/v1/events"),
    ("get", "/api/v1/materializations"),
    ("get", "/api/v1/materializations/{materialization_id}"),
    ("post", "/api/v1/query"),
    ("post", "/api/v1/browser/urls"),
    # orchestration: test_orchestration_of_b_is_invisible
    ("post", "/api/v1/deployments"),
    ("get", "/api/v1/deployments/current"),
    ("get", "/api/v1/assets"),
    ("get", "/api/v1/assets/status"),
    ("get", "/api/v1/assets/{asset}"),
    ("post", "/api/v1/runs"),
    ("get", "/api/v1/runs"),
    ("get", "/api/v1/runs/{run_id}"),
    ("post", "/api/v1/runs/{run_id}/cancel"),
    ("get", "/api/v1/runs/{run_id}/attempts"),
    ("get", "/api/v1/runs/{run_id}/logs"),
    ("get", "/api/v1/workers/config"),
    ("post", "/api/v1/workers/poll"),
    ("post", "/api/v1/attempts/{attempt_id}/started"),
    ("post", "/api/v1/attempts/{attempt_id}/heartbeat"),
    ("post", "/api/v1/attempts/{attempt_id}/completed"),
    # automation: test_automation_of_b_is_invisible
    ("get", "/api/v1/schedules"),
    ("get", "/api/v1/schedules/{name}/ticks"),
    ("post", "/api/v1/schedules/{name}/pause"),
    ("post", "/api/v1/schedules/{name}/resume"),
    ("get", "/api/v1/sensors"),
    ("post", "/api/v1/sensors/{name}/pause"),
    ("post", "/api/v1/sensors/{name}/resume"),
    ("post", "/api/v1/sensors/{name}/messages"),
    ("get", "/api/v1/backfills"),
    ("post", "/api/v1/backfills"),
    ("get", "/api/v1/backfills/{backfill_id}"),
    ("post", "/api/v1/backfills/{backfill_id}/pause"),
    ("post", "/api/v1/backfills/{backfill_id}/resume"),
    ("post", "/api/v1/backfills/{backfill_id}/cancel"),
    ("post", "/api/v1/backfills/{backfill_id}/retry"),
}


def test_every_api_route_is_probed(dev_client: TestClient) -> None:
    routes = {
        (method, path)
        for path, item in dev_client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        if path.startswith(API)
        for method in item
    }
    assert routes - PROBED == set(), "add a probe for the new route(s) to this module"


def _routes(client: TestClient) -> set[str]:
    return set(client.app.openapi()["paths"])  # type: ignore[attr-defined]


def test_probing_b_is_probing_nothing(world: World) -> None:
    c, a = world.client, world.a
    swaps = {B_NS: MISSING_NS, B_TABLE: MISSING_TABLE, world.b_materialization: "m" * 36}
    missing_mid = "m" * 36
    ns, mns = f"{API}/namespaces/{B_NS}", f"{API}/namespaces/{MISSING_NS}"
    t, mt = f"{ns}/tables/{B_TABLE}", f"{mns}/tables/{MISSING_TABLE}"

    def probe(method: str, path: str, missing: str, **kw: Any) -> tuple[int, Any]:
        return _probe(c, method, path, missing, a, swaps=swaps, **kw)

    assert probe("GET", ns, mns)[0] == 404
    assert probe("PATCH", ns, mns, json={"description": "x"})[0] == 404
    assert probe("DELETE", ns, mns)[0] == 404
    assert probe("GET", f"{ns}/tables", f"{mns}/tables")[0] == 404
    assert probe("POST", f"{ns}/tables", f"{mns}/tables", json={"name": "t"})[0] == 404
    assert probe("GET", t, mt)[0] == 404
    assert probe("PATCH", t, mt, json={"description": "x"})[0] == 404
    assert probe("PATCH", t, mt, json={"new_name": "moved"})[0] == 404
    assert probe("DELETE", t, mt)[0] == 404
    edge = {"source": B_ASSET, "target": B_DOWN}
    missing_edge = {"source": MISSING_ASSET, "target": MISSING_DOWN}
    lineage = f"{API}/lineage/edges"
    assert probe("DELETE", lineage, lineage, json=edge, missing_json=missing_edge)[0] == 404
    for direction in ("up", "down", "both"):
        status, graph = probe(
            "GET",
            f"{API}/lineage/{B_ASSET}",
            f"{API}/lineage/{MISSING_ASSET}",
            params={"direction": direction},
        )
        assert status == 200 and graph["edges"] == []
    search = f"{API}/search"
    for q in (B_NS, B_TABLE, "b only"):
        status, hits = probe(
            "GET",
            search,
            search,
            params={"q": q},
            missing_params={"q": _swap(q, {**swaps, "b only": "n only"})},
        )
        assert status == 200 and hits == {"items": []}
    assert (
        probe(
            "GET",
            f"{API}/materializations/{world.b_materialization}",
            f"{API}/materializations/{missing_mid}",
        )[0]
        == 404
    )
    mats = f"{API}/materializations"
    for field, value in (("asset_key", B_ASSET), ("run_id", B_RUN)):
        status, page = probe(
            "GET",
            mats,
            mats,
            params={field: value},
            missing_params={field: _swap(value, {**swaps, "brun": "nrun"})},
        )
        assert status == 200 and page["items"] == []

    # a page token of B's commit chain names nothing in A's workspace
    unknown = (
        base64.urlsafe_b64encode(f'{{"commit":"{_ulid_like()}"}}'.encode()).decode().rstrip("=")
    )
    for domain in ("catalog", "lineage", "executions"):
        commits = f"{API}/commits/{domain}"
        status, _ = probe(
            "GET",
            commits,
            commits,
            params={"page_token": world.b_commit_token},
            missing_params={"page_token": unknown},
        )
        assert status == 400

    # domains A never wrote look exactly like those of a tenant that never wrote anything
    for domain in ("lineage", "executions"):
        for route in ("manifests", "commits"):
            assert _view(c.get(f"{API}/{route}/{domain}", headers=a)) == _view(
                c.get(f"{API}/{route}/{domain}", headers=world.fresh)
            )

    routes = _routes(c)
    if f"{API}/browser/urls" in routes:
        # B's file paths are not files of A's manifests
        fake = [_swap(p, dict.fromkeys("123456789", "0")) for p in world.b_files]
        browser = f"{API}/browser/urls"
        probe(
            "POST",
            browser,
            browser,
            json={"domain": "catalog", "paths": world.b_files},
            missing_json={"domain": "catalog", "paths": fake},
        )
    if f"{API}/query" in routes:
        query = f"{API}/query"
        sql = f"SELECT name FROM catalog.namespaces WHERE name = '{B_NS}'"
        status, result = probe(
            "POST", query, query, json={"sql": sql}, missing_json={"sql": _swap(sql, swaps)}
        )
        assert status == 200 and result["rows"] == []


def _ulid_like() -> str:
    return "01J8" + uuid.uuid4().hex.upper()[:22].translate(str.maketrans("ILOU", "0123"))


def test_writes_with_b_names_and_keys_act_in_a_only(world: World) -> None:
    """Creating what B has, with B's idempotency key, is a fresh create in A (no 409)."""
    c, a = world.client, world.a
    for name in (B_NS, MISSING_NS):
        r = c.post(
            f"{API}/namespaces",
            json={"name": name, "description": "a"},
            headers={**a, "Idempotency-Key": B_KEY if name == B_NS else "fresh-key"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["description"] == "a"
        r = c.post(f"{API}/namespaces/{name}/tables", json={"name": B_TABLE}, headers=a)
        assert r.status_code == 201, r.text
    for source, target in ((B_ASSET, B_DOWN), (MISSING_ASSET, MISSING_DOWN)):
        r = c.post(f"{API}/lineage/edges", json={"source": source, "target": target}, headers=a)
        assert r.status_code == 201, r.text
    event = {
        "event_type": "materialization",
        "asset_key": B_ASSET,
        "run_id": "a-run",
        "status": "started",
    }
    for key in (B_KEY, "fresh-events-key"):
        r = c.post(f"{API}/events", json={"events": [event]}, headers={**a, "Idempotency-Key": key})
        assert r.status_code == 202, r.text
        assert set(r.json()["event_ids"]).isdisjoint(world.b_event_ids)
    # B's objects are untouched by all of this
    b_ns = c.get(f"{API}/namespaces/{B_NS}", headers=world.b).json()
    assert b_ns["description"] is None
    b_edges = c.get(f"{API}/lineage/{B_ASSET}", headers=world.b).json()["edges"]
    assert [e["version"] for e in b_edges] == [1]


def test_listings_never_show_b(world: World) -> None:
    c, a = world.client, world.a
    names = [n["name"] for n in c.get(f"{API}/namespaces", headers=a).json()["items"]]
    assert names == ["aown"]
    assert c.get(f"{API}/materializations", headers=a).json() == {
        "items": [],
        "next_page_token": None,
    }
    a_commits = {
        x["commit_id"]
        for domain in ("catalog", "lineage", "executions")
        for x in c.get(f"{API}/commits/{domain}", headers=a).json()["items"]
    }
    assert a_commits and a_commits.isdisjoint(world.b_commit_ids)
    manifest = c.get(f"{API}/manifests/catalog", headers=a).json()
    assert manifest["commit_id"] not in world.b_commit_ids
    assert {f["path"] for f in manifest["files"]}.isdisjoint(world.b_files)
    assert c.get(f"{API}/search", params={"q": "b"}, headers=a).json() == {"items": []}
    if f"{API}/query" in _routes(c):
        r = c.post(f"{API}/query", json={"sql": "SELECT name FROM catalog.namespaces"}, headers=a)
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == [["aown"]]


def test_orchestration_of_b_is_invisible(world: World) -> None:
    """B's deployment, runs and attempts: A's requests for them are requests for nothing,
    A's own deployment and runs are A's, and B's queued attempt never reaches A's poll."""
    c, a, b = world.client, world.a, world.b
    manifest = {"format": 1, "assets": [{"key": B_ASSET, "entry_point": "b_code:asset"}]}
    _ok(c.post(f"{API}/deployments", json=manifest, headers=b), 201)
    run = _ok(
        c.post(f"{API}/runs", json={"selection": [B_ASSET], "run_key": B_KEY}, headers=b), 201
    )
    b_run = run["run_id"]
    deadline = time.monotonic() + 30
    while not (attempts := _ok(c.get(f"{API}/runs/{b_run}/attempts", headers=b))["items"]):
        assert time.monotonic() < deadline, "B's run was never dispatched"
        time.sleep(0.02)
    b_attempt = attempts[0]["attempt_id"]
    missing_run, missing_attempt = _ulid_like(), _ulid_like()
    swaps = {B_ASSET: MISSING_ASSET, b_run: missing_run, b_attempt: missing_attempt}

    def probe(method: str, path: str, missing: str, **kw: Any) -> tuple[int, Any]:
        return _probe(c, method, path, missing, a, swaps=swaps, **kw)

    runs, mruns = f"{API}/runs/{b_run}", f"{API}/runs/{missing_run}"
    assert probe("GET", runs, mruns)[0] == 404
    assert probe("POST", f"{runs}/cancel", f"{mruns}/cancel", json={})[0] == 404
    assert probe("GET", f"{runs}/attempts", f"{mruns}/attempts")[0] == 404
    assert probe("GET", f"{runs}/logs", f"{mruns}/logs")[0] == 404
    assert probe("GET", f"{API}/assets/{B_ASSET}", f"{API}/assets/{MISSING_ASSET}")[0] == 404
    status_of = f"{API}/assets/status?asset="
    assert probe("GET", status_of + B_ASSET, status_of + MISSING_ASSET)[0] == 404
    trigger = f"{API}/runs"
    status, _ = probe(
        "POST",
        trigger,
        trigger,
        json={"selection": [B_ASSET], "run_key": B_KEY},
        missing_json={"selection": [MISSING_ASSET], "run_key": B_KEY},
    )
    assert status == 400  # A has nothing deployed
    # A's user credential is no task token: B's attempt and a missing one answer alike
    for what, body in (
        ("started", {}),
        ("heartbeat", {"seq": 1}),
        ("completed", {"status": "succeeded"}),
    ):
        path, mpath = (
            f"{API}/attempts/{b_attempt}/{what}",
            f"{API}/attempts/{missing_attempt}/{what}",
        )
        assert probe("POST", path, mpath, json=body)[0] == 401
    # A's listings and its own deployment: nothing of B's
    assert _view(c.get(f"{API}/deployments/current", headers=a)) == _view(
        c.get(f"{API}/deployments/current", headers=world.fresh)
    )
    assert _ok(c.get(f"{API}/assets", headers=a)) == {"items": [], "next_page_token": None}
    assert _ok(c.get(f"{API}/assets/status", headers=a)) == {"items": [], "next_page_token": None}
    assert _ok(c.get(f"{API}/runs", headers=a)) == {"items": [], "next_page_token": None}
    assert _ok(c.post(f"{API}/deployments", json=manifest, headers=a), 201)["status"] == "created"
    mine = _ok(c.post(trigger, json={"selection": [B_ASSET], "run_key": B_KEY}, headers=a), 201)
    assert mine["run_id"] != b_run
    assert [r["run_id"] for r in _ok(c.get(trigger, headers=a))["items"]] == [mine["run_id"]]
    config = _ok(c.get(f"{API}/workers/config", headers=a))
    assert (config["tenant"], config["workspace"]) == ("tenant-a", "main")
    # B's queued attempt is B's workers' alone (A's poll gets A's own run)
    polled = c.post(f"{API}/workers/poll", json={"worker": "a", "wait_s": 5}, headers=a)
    assert polled.status_code == 200, polled.text
    assert polled.json()["envelope"]["run_id"] == mine["run_id"]
    assert (
        c.post(f"{API}/workers/poll", json={"worker": "a", "wait_s": 0}, headers=a).status_code
        == 204
    )
    assert _ok(c.get(runs, headers=b))["state"] in ("TRIGGERED", "RUNNING")


def test_automation_of_b_is_invisible(world: World) -> None:
    """B's schedules, sensors and backfills: A's requests for them are requests for nothing
    (A has nothing deployed: 404 like a workspace without definitions), and A's listings
    never show B's."""
    c, a, b = world.client, world.a, world.b
    asset = {
        "key": B_ASSET,
        "entry_point": "b_code:asset",
        "partitions": {"kind": "static", "values": ["x", "y"]},
    }
    schedule = {
        "name": "b_nightly",
        "cron": "0 3 * * *",
        "target": [B_ASSET],
        "partitions": {"kind": "keys", "keys": ["key=s:eA"]},
    }
    sensor = {"name": "b_inbox", "kind": "push", "target": [B_ASSET]}
    manifest = {"format": 1, "assets": [asset], "schedules": [schedule], "sensors": [sensor]}
    _ok(c.post(f"{API}/deployments", json=manifest, headers=b), 201)
    assert [s["name"] for s in _ok(c.get(f"{API}/schedules", headers=b))["items"]] == ["b_nightly"]
    backfill = _ok(
        c.post(
            f"{API}/backfills",
            json={
                "assets": [B_ASSET],
                "partitions": ["key=s:eA", "key=s:eQ"],
                "backfill_id": "bfb",
            },
            headers=b,
        ),
        201,
    )
    assert backfill["partition_count"] == 2
    message = {"message_id": "m1", "payload": {}}
    assert c.post(f"{API}/sensors/b_inbox/messages", json=message, headers=b).status_code == 202
    swaps = {"bfb": "bfmissing", "b_nightly": "nope", "b_inbox": "nope"}

    def probe(method: str, path: str, missing: str, **kw: Any) -> tuple[int, Any]:
        return _probe(c, method, path, missing, a, swaps=swaps, **kw)

    assert probe("GET", f"{API}/backfills/bfb", f"{API}/backfills/bfmissing")[0] == 404
    for action in ("pause", "resume", "cancel", "retry"):
        path, missing = f"{API}/backfills/bfb/{action}", f"{API}/backfills/bfmissing/{action}"
        assert probe("POST", path, missing)[0] == 404
    for action in ("pause", "resume"):
        path, missing = f"{API}/schedules/b_nightly/{action}", f"{API}/schedules/nope/{action}"
        assert probe("POST", path, missing)[0] == 404
        path, missing = f"{API}/sensors/b_inbox/{action}", f"{API}/sensors/nope/{action}"
        assert probe("POST", path, missing)[0] == 404
    path, missing = f"{API}/sensors/b_inbox/messages", f"{API}/sensors/nope/messages"
    assert probe("POST", path, missing, json=message)[0] == 404
    ticks, missing = f"{API}/schedules/b_nightly/ticks", f"{API}/schedules/nope/ticks"
    assert probe("GET", ticks, missing) == (200, {"items": []})
    for listing in ("schedules", "sensors"):
        assert c.get(f"{API}/{listing}", headers=a).status_code == 404  # nothing deployed
    assert _ok(c.get(f"{API}/backfills", headers=a)) == {"items": []}
    created = c.post(
        f"{API}/backfills", json={"assets": [B_ASSET], "partitions": ["key=s:eA"]}, headers=a
    )
    assert created.status_code == 404, created.text  # A has nothing deployed
