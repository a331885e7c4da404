"""``arco schedules|sensors|backfills``: reading and steering automation on the store, then
one controller pass turning a pushed message and a poll sensor into runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arco.cli import app
from arco.orchestration.automation.controller import AutomationOptions
from arco.orchestration.automation.service import AutomationService
from orchestration_support import orchestrator, write_code

CODE = """
import pyarrow as pa
from arco import (
    DailyPartitions, RequestedRun, ScheduleDef, SensorResult, asset, push_sensor, sensor,
)

@asset(namespace="cli", partitions=DailyPartitions(start="2026-11-01", end="2026-11-08"))
def daily(context):
    return pa.table({"day": [context.partition_key]})

@asset(namespace="cli")
def plain(context):
    return pa.table({"x": [1]})

nightly = ScheduleDef(name="nightly", cron="0 3 * * *", timezone="Europe/Berlin", target=["cli/plain"])
inbox = push_sensor("inbox", target=["cli/plain"])

@sensor(target=["cli/plain"], minimum_interval_s=1)
def poller(context):
    seen = int(context.cursor or 0)
    return SensorResult([RequestedRun(run_key=f"n{seen + 1}")], cursor=str(seen + 1))
"""


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"file://{tmp_path / 'store'}"
    code = write_code(tmp_path / "code", CODE, name="automation_cli_pipeline.py")
    with orchestrator(url, code):
        pass  # deployed
    return url


def _arco(store: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--store", store, *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _json(store: str, *args: str) -> object:
    code, out = _arco(store, *args, "--json")
    assert code == 0, out
    return json.loads(out)


def test_schedules_sensors_and_backfills_on_the_store(store: str, tmp_path: Path) -> None:
    schedules = _json(store, "schedules", "list")
    assert isinstance(schedules, list)
    assert [(s["name"], s["status"], s["timezone"]) for s in schedules] == [
        ("nightly", "running", "Europe/Berlin")
    ]
    assert schedules[0]["next_tick_at"] is not None
    assert _arco(store, "schedules", "pause", "nightly") == (0, "schedule nightly paused\n")
    paused = _json(store, "schedules", "list")
    assert isinstance(paused, list) and paused[0]["status"] == "paused"
    assert paused[0]["next_tick_at"] is None
    code, out = _arco(store, "schedules", "pause", "nope")
    assert code == 1 and "schedule 'nope' is not in the current deployment" in out
    sensors = _json(store, "sensors", "list")
    assert isinstance(sensors, list)
    assert sorted((s["name"], s["kind"]) for s in sensors) == [
        ("inbox", "push"),
        ("poller", "poll"),
    ]
    # a message pushed twice under one id is one message
    for _ in range(2):
        code, out = _arco(
            store, "sensors", "push", "inbox", "--message-id", "m1", "--payload", '{"a": 1}'
        )
        assert code == 0, out
    code, out = _arco(store, "sensors", "push", "inbox", "--message-id", "m2", "--payload", "[1]")
    assert code == 1 and "--payload: must be a JSON object" in out
    code, out = _arco(store, "sensors", "push", "poller", "--message-id", "m3")
    assert code == 1 and "not a push sensor" in out
    # backfills: a range, progress, control, and clear refusals
    created = _json(
        store,
        "backfills",
        "create",
        "cli/daily",
        "--from",
        "2026-11-02",
        "--to",
        "2026-11-04",
        "--max-in-flight",
        "2",
        "--id",
        "bf-cli",
    )
    assert isinstance(created, dict)
    assert (created["partition_count"], created["chunk_count"]) == (3, 3)
    chunks = created["chunks"]
    assert [c["partitions"] for c in chunks] == [
        ["date=d:2026-11-02"],
        ["date=d:2026-11-03"],
        ["date=d:2026-11-04"],
    ]
    code, out = _arco(store, "backfills", "create", "cli/nope", "-p", "2026-11-02")
    assert code == 1 and "'cli/nope' is not in the current deployment" in out
    code, out = _arco(store, "backfills", "create", "cli/plain", "-p", "2026-11-02")
    assert code == 1 and "must all be partitioned" in out
    code, out = _arco(
        store, "backfills", "create", "cli/daily", "-p", "2026-11-02", "--from", "2026-11-02"
    )
    assert code == 1 and "not both" in out
    code, out = _arco(store, "backfills", "list")
    assert code == 0 and "bf-cli" in out and "0/3" in out
    assert _arco(store, "backfills", "pause", "bf-cli")[1].strip().endswith("PAUSED")
    code, out = _arco(store, "backfills", "retry", "bf-cli")
    assert code == 1 and "only a FAILED one is retried" in out
    code, out = _arco(store, "backfills", "show", "bf-cli")
    assert code == 0 and "date=d:2026-11-03" in out
    assert _arco(store, "backfills", "cancel", "bf-cli")[1].strip().endswith("CANCELLED")


def test_one_pass_turns_a_pushed_message_and_a_poll_sensor_into_runs(
    store: str, tmp_path: Path
) -> None:
    for _ in range(2):
        assert _arco(store, "sensors", "push", "inbox", "--message-id", "m1")[0] == 0
    code = tmp_path / "code"
    with (
        orchestrator(store, code) as orch,
        AutomationService(orch, options=AutomationOptions(idle_wait_s=0.05)) as service,
    ):
        first = service.step()  # the poll sensor's evaluation is applied in this pass
        second = service.step()  # ... and its runs triggered in this one (or the first)
        runs = orch.runs.state().runs.values()
        keys = sorted(r.run_key or "" for r in runs)
    assert first.errors == [] and second.errors == []
    assert first.evaluations == 1
    assert keys == sorted(["push:inbox:m1:0", "sensor:poller:0:n1"]), keys
    sensors = _json(store, "sensors", "list")
    assert isinstance(sensors, list)
    assert {s["name"]: s["cursor"] for s in sensors}["poller"] == "1"
