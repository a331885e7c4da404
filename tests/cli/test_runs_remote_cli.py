"""``arco --url ... runs list|show|logs|cancel`` go through the server (the client), like the
catalog commands, instead of failing for want of a store."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from arco.cli import app
from arco.client import Client
from arco.orchestration.discovery import build_manifest, load_definitions
from orchestration_support import write_code
from serve_support import serve_process

CODE = """
import pyarrow as pa
from arco import asset

@asset(namespace="demo")
def hello(context):
    print("hello from the server's executor")
    return pa.table({"x": [1]})
"""


def test_runs_commands_work_through_the_server(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", CODE)
    store = f"file://{tmp_path / 'store'}"
    options = ("--executor", "inprocess", "--code", str(code))
    with serve_process(store, tmp_path / "server.log", *options) as server:
        with Client(server.url, tenant="default", workspace="default") as client:
            client.deploy(build_manifest(load_definitions(str(code))))
            run_id = client.trigger_run(["demo/hello"]).run_id
            deadline = time.monotonic() + 60
            while client.get_run(run_id).state != "SUCCEEDED":
                assert time.monotonic() < deadline, "the run did not finish"
                time.sleep(0.1)
        runner = CliRunner()

        def arco(*args: str) -> str:
            got = runner.invoke(app, ["--url", server.url, *args])
            assert got.exit_code == 0, got.output
            return got.output

        listed = json.loads(arco("runs", "list", "--json"))
        assert [(r["run_id"], r["state"]) for r in listed] == [(run_id, "SUCCEEDED")]
        shown = json.loads(arco("runs", "show", run_id, "--json"))
        assert shown["run"]["run_id"] == run_id
        assert [t["state"] for t in shown["tasks"]] == ["SUCCEEDED"]
        assert "hello from the server's executor" in arco("runs", "logs", run_id)
        assert "hello from the server's executor" in arco("runs", "logs", run_id, "--follow")
        cancelled = json.loads(arco("runs", "cancel", run_id, "--json"))
        assert cancelled["state"] == "SUCCEEDED"  # finished runs stay as they are
