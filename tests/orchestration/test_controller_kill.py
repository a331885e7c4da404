"""Kill the controller mid-run (issue 12): ``arco run --wait`` drives a run on the process
pool and is killed with SIGKILL while a task runs; ``arco runs wait`` in a new process takes
the lease over once it expires, times the orphaned attempt out, retries it and finishes
the run. No task succeeds twice, and what had succeeded is not run again."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from arco.executions import Executions
from arco.orchestration.runs import Runs
from orchestration_support import (
    STALLING_PIPELINE,
    alive,
    deploy_code,
    run_stalling_pipeline,
    wait_for_file,
    wait_for_run,
    write_code,
)

pytestmark = pytest.mark.slow  # three processes and two timeouts: ~20 s


def test_a_killed_controller_is_replaced_and_no_task_succeeds_twice(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'store'}"
    signals = tmp_path / "signals"
    signals.mkdir()
    deploy_code(url, write_code(tmp_path / "code", STALLING_PIPELINE.format(signals=str(signals))))

    first = run_stalling_pipeline(url, log=tmp_path / "1.log")
    try:
        wait_for_file(signals / "middle-1")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    orphan = int((signals / "middle-1").read_text())
    deadline = time.monotonic() + 10
    while alive(orphan):  # the pool worker dies with its controller
        assert time.monotonic() < deadline, "the killed controller's worker kept running"
        time.sleep(0.05)

    with Runs.open(url) as runs:
        runs.compact()
        [run] = runs.list_runs().items
        assert run.state == "RUNNING"
        run_id = run.run_id

    (signals / "go").touch()
    second = wait_for_run(url, run_id, log=tmp_path / "2.log")
    assert second.wait(timeout=120) == 0, (tmp_path / "2.log").read_text()

    with Runs.open(url) as runs:
        runs.compact()
        assert runs.get_run(run_id).state == "SUCCEEDED"
        attempts = runs.attempts(run_id)
        by_task: dict[str, list[str]] = {}
        for a in attempts:
            by_task.setdefault(a.task_key, []).append(a.state)
        assert by_task == {
            "demo/first:materialize": ["SUCCEEDED"],
            "demo/middle:materialize": ["TIMED_OUT", "SUCCEEDED"],
            "demo/last:materialize": ["SUCCEEDED"],
        }
    with Executions.open(url) as executions:
        executions.compact()
        done = [m.asset_key for m in executions.list_materializations(run_id=run_id).items]
        assert sorted(done) == ["demo/first", "demo/last", "demo/middle"]
