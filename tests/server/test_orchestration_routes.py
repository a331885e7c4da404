"""The orchestration routes in-process: deploy, assets, runs (trigger, run_key, list, get,
cancel, attempts, logs) on the in-process executor, and the worker protocol (poll, the
three callbacks, their answers) on the HTTP executor, driven by hand."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from arco.core.scope import DEFAULT_SCOPE
from arco.orchestration.discovery import build_manifest, load_definitions
from arco.server import ServerSettings, create_app
from arco.server.settings import OrchestrationSettings
from arco.storage import ScopedStore, open_store

PIPELINE = textwrap.dedent(
    """
    import pyarrow as pa

    from arco import asset

    ARCO_NAMESPACE = "routes"


    @asset
    def a(context):
        return pa.table({"x": [1, 2, 3]})


    @asset
    def b(context, a):
        return a
    """
)


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("routes-code") / "orchestration_routes_pipeline.py"
    path.write_text(PIPELINE)
    return path


def _manifest(code: Path) -> dict[str, Any]:
    return build_manifest(load_definitions(str(code))).model_dump(mode="json")


def _app(tmp_path: Path, code: Path, executor: str) -> TestClient:
    settings = ServerSettings(
        store_url=f"file://{tmp_path / 'store'}",
        dev=True,
        compactor=False,
        orchestration=OrchestrationSettings(
            executor=executor,
            code_location=str(code),
            heartbeat_interval_s=0.2,
            heartbeat_timeout_s=5,
        ),
    )
    return TestClient(create_app(settings))


@pytest.fixture
def inprocess(tmp_path: Path, code: Path) -> Iterator[TestClient]:
    with _app(tmp_path, code, "inprocess") as client:
        yield client


@pytest.fixture
def http(tmp_path: Path, code: Path) -> Iterator[TestClient]:
    with _app(tmp_path, code, "http") as client:
        yield client


def _wait(client: TestClient, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        run: dict[str, Any] = client.get(f"/api/v1/runs/{run_id}").json()
        if run["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    message: str = error["message"]
    return message


def test_deploy_assets_and_runs(inprocess: TestClient, code: Path, tmp_path: Path) -> None:
    c = inprocess
    assert c.get("/api/v1/assets").json() == {"items": [], "next_page_token": None}
    _error(c.get("/api/v1/deployments/current"), 404, "NOT_FOUND")
    message = _error(
        c.post("/api/v1/runs", json={"selection": ["routes/a"]}), 400, "VALIDATION_FAILED"
    )
    assert "nothing is deployed" in message

    manifest = _manifest(code)
    first = c.post("/api/v1/deployments", json=manifest)
    assert first.status_code == 201 and first.json()["status"] == "created"
    again = c.post("/api/v1/deployments", json=manifest)
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    current = c.get("/api/v1/deployments/current").json()
    assert current["fingerprint"] == first.json()["fingerprint"]
    keys = [a["key"] for a in c.get("/api/v1/assets", params={"limit": 1}).json()["items"]]
    assert keys == ["routes/a"]
    assert c.get("/api/v1/assets/routes/b").json()["deps"] == ["routes/a"]
    _error(c.get("/api/v1/assets/routes/zzz"), 404, "NOT_FOUND")
    bad = {"selection": ["routes/a"], "executor": "pool"}
    assert "executor" in _error(c.post("/api/v1/runs", json=bad), 400, "VALIDATION_FAILED")
    _error(c.post("/api/v1/runs", json={"selection": ["routes/none"]}), 400, "VALIDATION_FAILED")

    body = {"selection": ["+routes/b"], "run_key": "k1", "tags": {"who": "test"}}
    created = c.post("/api/v1/runs", json=body)
    assert created.status_code == 201, created.text
    run_id = created.json()["run_id"]
    assert created.headers["Location"] == f"/api/v1/runs/{run_id}"
    assert [t["asset_key"] for t in created.json()["tasks"]] == ["routes/a", "routes/b"]
    replay = c.post("/api/v1/runs", json=body)
    assert replay.status_code == 200 and replay.json()["run_id"] == run_id
    conflict = c.post("/api/v1/runs", json={**body, "priority": 5})
    _error(conflict, 409, "IDEMPOTENCY_KEY_REUSED")
    # without a run_key, the Idempotency-Key header makes a retried POST safe
    plain = {"selection": ["routes/a"]}
    keyed = c.post("/api/v1/runs", json=plain, headers={"Idempotency-Key": "retry-1"})
    assert keyed.status_code == 201 and keyed.json()["run_key"] == "idempotency-key:retry-1"
    retried = c.post("/api/v1/runs", json=plain, headers={"Idempotency-Key": "retry-1"})
    assert retried.status_code == 200 and retried.json()["run_id"] == keyed.json()["run_id"]
    other = c.post(
        "/api/v1/runs", json=body | {"run_key": None}, headers={"Idempotency-Key": "retry-1"}
    )
    _error(other, 409, "IDEMPOTENCY_KEY_REUSED")
    assert _wait(c, keyed.json()["run_id"])["state"] == "SUCCEEDED"

    run = _wait(c, run_id)
    assert run["state"] == "SUCCEEDED", run
    assert [t["state"] for t in run["tasks"]] == ["SUCCEEDED", "SUCCEEDED"]
    listed = c.get("/api/v1/runs", params={"state": "SUCCEEDED"}).json()["items"]
    assert run_id in [r["run_id"] for r in listed] and len(listed) == 2
    assert c.get("/api/v1/runs", params={"state": "FAILED"}).json()["items"] == []
    _error(c.get("/api/v1/runs", params={"state": "NOPE"}), 400, "VALIDATION_FAILED")
    attempts = c.get(f"/api/v1/runs/{run_id}/attempts").json()["items"]
    assert len(attempts) == 2 and {a["state"] for a in attempts} == {"SUCCEEDED"}
    task_b = run["tasks"][1]["task_key"]
    only_b = c.get(f"/api/v1/runs/{run_id}/attempts", params={"task": task_b}).json()["items"]
    assert [a["task_key"] for a in only_b] == [task_b]

    # logs: the chunks stored under logs/{run_id}/{attempt_id}/, per attempt
    store = ScopedStore(open_store(f"file://{tmp_path / 'store'}"), DEFAULT_SCOPE.prefix)
    first_id = next(a["attempt_id"] for a in attempts if a["task_key"] != task_b)
    store.put(f"logs/{run_id}/{first_id}/999999.log", b"hello from a\n")
    text = c.get(f"/api/v1/runs/{run_id}/logs")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert "hello from a" in text.text and f"({first_id}) <==" in text.text
    one = c.get(f"/api/v1/runs/{run_id}/logs", params={"attempt_id": first_id})
    assert one.text.endswith("hello from a\n")
    assert "hello" not in c.get(f"/api/v1/runs/{run_id}/logs", params={"task": task_b}).text
    unknown = "01JUNKNOWNRUN0000000000000"
    _error(c.get(f"/api/v1/runs/{unknown}/logs"), 404, "NOT_FOUND")
    _error(c.get(f"/api/v1/runs/{unknown}"), 404, "NOT_FOUND")
    _error(c.post(f"/api/v1/runs/{unknown}/cancel"), 404, "NOT_FOUND")
    done = c.post(f"/api/v1/runs/{run_id}/cancel", json={"reason": "late"})
    assert done.status_code == 200 and done.json()["state"] == "SUCCEEDED"
    _error(c.post("/api/v1/workers/poll", json={"worker": "w"}), 409, "CONFLICT")
    assert c.get("/api/v1/workers/config").json()["executor"] == "inprocess"


def test_worker_protocol_by_hand(http: TestClient, code: Path) -> None:
    c = http
    config = c.get("/api/v1/workers/config").json()
    assert config["executor"] == "http" and config["store_url"].startswith("file:///")
    assert config["code_location"] == str(code)
    assert c.post("/api/v1/workers/poll", json={"worker": "w", "wait_s": 0}).status_code == 204
    assert c.post("/api/v1/deployments", json=_manifest(code)).status_code == 201
    run_id = c.post("/api/v1/runs", json={"selection": ["routes/a"]}).json()["run_id"]
    deadline = time.monotonic() + 30
    polled = c.post("/api/v1/workers/poll", json={"worker": "w", "slots": 2, "wait_s": 5})
    while polled.status_code == 204:
        assert time.monotonic() < deadline
        polled = c.post("/api/v1/workers/poll", json={"worker": "w", "wait_s": 5})
    assert polled.status_code == 200, polled.text
    envelope = polled.json()["envelope"]
    attempt_id = envelope["attempt_id"]
    assert envelope["run_id"] == run_id
    assert envelope["callback_url"] == f"/api/v1/attempts/{attempt_id}"
    auth = {"Authorization": f"Bearer {envelope['token']}"}
    base = f"/api/v1/attempts/{attempt_id}"
    started = c.post(f"{base}/started", json={"worker": "w"}, headers=auth)
    assert started.json() == {"accepted": True, "reason": None}
    beat = c.post(f"{base}/heartbeat", json={"seq": 1, "worker": "w"}, headers=auth).json()
    assert beat["cancel"] is False and beat["token"]
    renewed = {"Authorization": f"Bearer {beat['token']}"}
    run = c.get(f"/api/v1/runs/{run_id}").json()
    assert run["state"] == "RUNNING" and run["tasks"][0]["state"] == "RUNNING"
    result = {"status": "failed", "error": "boom", "error_category": "error", "retryable": False}
    done = c.post(f"{base}/completed", json=result, headers=renewed)
    assert done.json() == {"accepted": True, "reason": None}
    assert c.post(f"{base}/completed", json=result, headers=auth).json()["accepted"] is True
    late = c.post(f"{base}/completed", json={"status": "succeeded"}, headers=auth).json()
    assert late["accepted"] is False and "FAILED" in late["reason"]
    beat = c.post(f"{base}/heartbeat", json={"seq": 2}, headers=auth).json()
    assert beat["cancel"] is True
    run = _wait(c, run_id)
    assert run["state"] == "FAILED" and run["tasks"][0]["error"] == "boom"
    _error(c.post(f"{base}/started", json={}), 401, "UNAUTHENTICATED")
    other = "/api/v1/attempts/01JOTHERATTEMPT00000000000/started"
    _error(c.post(other, json={}, headers=auth), 403, "FORBIDDEN")


def test_settings_refuse_unknown_executors_and_timers() -> None:
    from arco.errors import ValidationError

    base = ServerSettings(store_url="memory://x", dev=True)
    for bad in (
        OrchestrationSettings(executor="threads"),
        OrchestrationSettings(heartbeat_interval_s=5, heartbeat_timeout_s=5),
        OrchestrationSettings(capacity=0),
    ):
        with pytest.raises(ValidationError):
            replace(base, orchestration=bad).check()
