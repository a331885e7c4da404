"""``arco events append --domain runs`` and ``arco compact --domain runs`` go to the runs
domain (not to the executions domain, the default)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from arco.cli import app
from arco.orchestration.runs import Runs
from arco.storage import open_store

runner = CliRunner()

TRIGGER = {
    "event_type": "run_triggered",
    "run_id": "r1",
    "request_hash": "h",
    "plan_fingerprint": "fp",
    "executor": "inline",
    "tasks": [{"task_key": "a", "asset_key": "test/a"}],
}


def arco(root: Path, *args: str, input: str | None = None) -> Result:
    return runner.invoke(app, ["--store", f"file://{root}", *args], input=input)


def test_append_and_compact_the_runs_domain(tmp_path: Path) -> None:
    store = tmp_path / "store"
    appended = arco(
        store,
        "events",
        "append",
        "-",
        "--domain",
        "runs",
        "--no-fold",
        input=json.dumps(TRIGGER) + "\n",
    )
    assert appended.exit_code == 0, appended.output
    assert "to runs" in appended.stdout
    with Runs(open_store(f"file://{store}"), fold="off") as runs:
        assert "r1" not in runs.state().runs
    compacted = arco(store, "compact", "--domain", "runs", "--json")
    assert compacted.exit_code == 0, compacted.output
    assert json.loads(compacted.stdout)["outcomes"] == {"applied": 1}
    with Runs(open_store(f"file://{store}"), fold="off") as runs:
        assert runs.get_run("r1").state == "TRIGGERED"
    # nothing went to the executions domain
    assert not list(
        open_store(f"file://{store}").list("tenant=default/workspace=default/ledger/executions/")
    )


def test_an_invalid_runs_event_names_the_line_and_field(tmp_path: Path) -> None:
    bad = {**TRIGGER, "run_id": "a b"}
    result = arco(
        tmp_path,
        "events",
        "append",
        "-",
        "--domain",
        "runs",
        input=json.dumps(TRIGGER) + "\n" + json.dumps(bad) + "\n",
    )
    assert result.exit_code == 1
    assert "line 2: payload.run_id: must not contain a space" in result.stderr
