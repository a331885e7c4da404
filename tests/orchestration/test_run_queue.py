"""The run queue (issue 12, item 6): at most ``max_concurrent_runs`` runs of a workspace
are active, the others wait highest priority first, then oldest; ``arco runs list`` says
why a run waits (its place in the queue, a retry backoff, a pool at its limit)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from arco.cli import app
from arco.orchestration.runs import Run
from arco.orchestration.trigger import RunRequest
from orchestration_support import orchestrator, write_code

runner = CliRunner()

PIPELINE = """
import time
from pathlib import Path
import pyarrow as pa
from arco import asset, RetryPolicy

GO = Path({go!r})

def _gate():
    deadline = time.monotonic() + 60
    while not GO.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("no go file")
        time.sleep(0.02)

@asset(namespace="demo")
def gate(context):
    _gate()
    return pa.table({{"x": [1]}})

@asset(namespace="demo")
def quick(context):
    time.sleep(0.2)
    return pa.table({{"x": [1]}})

@asset(namespace="demo", tags={{"pool": "warehouse"}})
def hold(context):
    _gate()
    return pa.table({{"x": [1]}})

@asset(namespace="demo", tags={{"pool": "warehouse"}})
def other(context):
    return pa.table({{"x": [1]}})

@asset(namespace="demo", retry=RetryPolicy(max_attempts=2, backoff_s=600, jitter=0))
def flaky(context):
    raise ConnectionError("the warehouse is down")
"""


def _url(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'store'}"


def _wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def _reasons(url: str, *options: str) -> dict[str, str]:
    """``arco runs list``'s reason column by run id."""
    listed = runner.invoke(app, ["--store", url, "runs", "list", *options], env={"COLUMNS": "400"})
    assert listed.exit_code == 0, listed.output
    reasons = {}
    for line in listed.output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 7 and cells[1] and cells[1] != "run":
            reasons[cells[1]] = cells[6]
    return reasons


def test_max_concurrent_runs_holds_and_priority_orders_the_queue(tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = write_code(tmp_path / "code", PIPELINE.format(go=str(go)))
    url = _url(tmp_path)
    with orchestrator(url, code, max_concurrent_runs=1) as orch:
        first = orch.trigger(RunRequest(selection=("demo/gate",)))
        orch.start()
        _wait_for(lambda: orch.runs.get_run(first).state == "RUNNING")
        low_1 = orch.trigger(RunRequest(selection=("demo/quick",), tags={"n": "1"}))
        low_2 = orch.trigger(RunRequest(selection=("demo/quick",), tags={"n": "2"}))
        urgent = orch.trigger(RunRequest(selection=("demo/quick",), priority=5))
        time.sleep(0.5)  # passes of the controller: the queued runs stay queued
        assert [orch.runs.get_run(r).state for r in (low_1, low_2, urgent)] == ["TRIGGERED"] * 3

        orch.runs.flush()
        reasons = _reasons(url, "--max-runs", "1")
        assert reasons[urgent] == "queued: 1 runs active (max 1), position 1 of 3"
        assert reasons[low_1] == "queued: 1 runs active (max 1), position 2 of 3"
        assert reasons[low_2] == "queued: 1 runs active (max 1), position 3 of 3"

        go.touch()
        done: list[Run] = [orch.wait(r, timeout=60) for r in (first, low_1, low_2, urgent)]
    assert {r.state for r in done} == {"SUCCEEDED"}
    order = sorted(done, key=lambda r: r.started_at or 0)
    assert [r.run_id for r in order] == [first, urgent, low_1, low_2]
    for before, after in itertools.pairwise(order):  # never two runs RUNNING at once
        assert before.ended_at is not None and after.started_at is not None
        assert before.ended_at <= after.started_at


def test_runs_list_says_why_a_run_waits(tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = write_code(tmp_path / "code", PIPELINE.format(go=str(go)))
    url = _url(tmp_path)
    with orchestrator(url, code, pool_limits={"warehouse": 1}) as orch:
        holding = orch.trigger(RunRequest(selection=("demo/hold",)))
        orch.start()
        _wait_for(lambda: orch.runs.tasks(holding)[0].state == "RUNNING")
        waiting = orch.trigger(RunRequest(selection=("demo/other",)))
        retrying = orch.trigger(RunRequest(selection=("demo/flaky",)))
        _wait_for(lambda: orch.runs.tasks(retrying)[0].state == "RETRY_WAIT")
        time.sleep(0.5)
        assert orch.runs.tasks(waiting)[0].state == "READY"

        orch.runs.flush()
        reasons = _reasons(url, "--pool", "warehouse=1")
        assert (
            reasons[waiting] == "ready tasks wait for pool capacity (warehouse: 1 of max 1 in use)"
        )
        assert reasons[retrying].startswith("retry backoff until ")
        assert reasons[holding] == "-"  # it runs

        bad = runner.invoke(app, ["--store", url, "runs", "list", "--pool", "warehouse"])
        assert bad.exit_code != 0 and "NAME=N" in bad.output

        orch.cancel(retrying)
        go.touch()
        assert orch.wait(holding, timeout=60).state == "SUCCEEDED"
        assert orch.wait(waiting, timeout=60).state == "SUCCEEDED"
        assert orch.wait(retrying, timeout=60).state == "CANCELLED"
