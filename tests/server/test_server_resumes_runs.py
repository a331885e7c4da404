"""A run triggered straight on the store (no API call names it) is driven to its end by an
``arco serve`` whose executor it names, once the server has the workspace open: the
server's compaction loop folds the run ledger and starts the workspace's controller."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from arco.orchestration.deploy import current
from arco.orchestration.runs import Runs
from arco.orchestration.trigger import RunRequest, run_triggered
from orchestration_support import deploy_code, workspace_store, write_code
from serve_support import serve_process

CODE = """
import pyarrow as pa
from arco import asset

@asset(namespace="demo")
def a(context):
    return pa.table({"x": [1]})

@asset(namespace="demo")
def b(context, a: pa.Table):
    return a
"""


def test_the_server_drives_a_run_triggered_on_the_store(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'store'}"
    deploy_code(url, write_code(tmp_path / "code", CODE))
    found = current(workspace_store(url))
    assert found is not None
    payload = run_triggered(
        found[1], found[0].fingerprint, RunRequest(selection=("*",), executor="inprocess")
    )
    with Runs.open(url) as runs:
        run_id = runs.trigger(payload)
    with serve_process(url, tmp_path / "server.log", "--executor", "inprocess") as server:
        # any request opens the workspace; none names the run
        assert httpx.get(f"{server.url}/api/v1/namespaces").status_code == 200
        deadline = time.monotonic() + 60
        with Runs.open(url) as runs:
            while True:
                runs.compact()
                state = runs.get_run(run_id).state
                if state == "SUCCEEDED":
                    break
                assert time.monotonic() < deadline, f"the run is still {state}"
                time.sleep(0.2)
            assert [t.state for t in runs.tasks(run_id)] == ["SUCCEEDED", "SUCCEEDED"]
