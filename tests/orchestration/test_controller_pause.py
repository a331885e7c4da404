"""Pause the controller past its lease (issue 12, item 4: one controller acts, fenced):
``arco run --wait`` drives a run on the process pool and is stopped (SIGSTOP, with its
pool workers) while a task runs; ``arco runs wait`` takes the lease over once it expires,
times the stalled attempt out, retries it and finishes the run. Then the first controller
is resumed (SIGCONT): its lease is lost, so it acts no more (no attempt is created or
changed after the resume, no task succeeds twice) and it follows the run to its end, as
``--wait`` asks, exiting with its result."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from arco.executions import Executions
from arco.orchestration.runs import Runs
from orchestration_support import (
    STALLING_PIPELINE,
    deploy_code,
    run_stalling_pipeline,
    wait_for_file,
    wait_for_run,
    write_code,
)

pytestmark = pytest.mark.slow  # three processes, a lease and a heartbeat timeout: ~20 s


def _attempts(url: str, run_id: str) -> dict[str, dict[str, Any]]:
    with Runs.open(url) as runs:
        runs.compact()
        return {a.attempt_id: a.model_dump(mode="json") for a in runs.attempts(run_id)}


@pytest.mark.parametrize("resume", ["after", "during"])
def test_a_paused_controller_finds_its_lease_lost_and_acts_no_more(
    tmp_path: Path, resume: str
) -> None:
    """``after``: resumed once the other controller finished the run; ``during``: while
    the other one still drives it (the attempt it retried is running)."""
    url = f"file://{tmp_path / 'store'}"
    signals = tmp_path / "signals"
    signals.mkdir()
    deploy_code(url, write_code(tmp_path / "code", STALLING_PIPELINE.format(signals=str(signals))))

    first = run_stalling_pipeline(
        url,
        log=tmp_path / "1.log",
        session=True,  # its own process group: stopped and resumed with its pool workers
    )
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for_file(signals / "middle-1")
        os.killpg(first.pid, signal.SIGSTOP)
        with Runs.open(url) as runs:
            runs.compact()
            [run] = runs.list_runs().items
            assert run.state == "RUNNING"
            run_id = run.run_id

        if resume == "after":
            (signals / "go").touch()  # the stopped attempt cannot see it; its retry will
        second = wait_for_run(url, run_id, log=tmp_path / "2.log")
        if resume == "after":
            assert second.wait(timeout=120) == 0, (tmp_path / "2.log").read_text()
        else:
            wait_for_file(signals / "middle-2")
        before = _attempts(url, run_id)
    finally:
        os.killpg(first.pid, signal.SIGCONT)

    try:
        if resume == "during":
            time.sleep(3)  # passes of the resumed controller while the other one acts
            assert first.poll() is None
            during = _attempts(url, run_id)
            assert during.keys() == before.keys(), "an attempt was created"
            for attempt_id, row in during.items():  # only the running retry heartbeats
                if not (row["attempt"] == 2 and row["state"] == "RUNNING"):
                    assert row == before[attempt_id], "an attempt was changed"
            (signals / "go").touch()
            assert second is not None
            assert second.wait(timeout=120) == 0, (tmp_path / "2.log").read_text()
        # it follows the run (finished by the other controller) and reports its result
        code = first.wait(timeout=60)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    log = (tmp_path / "1.log").read_text()
    assert code == 0, log
    assert "SUCCEEDED" in log

    after = _attempts(url, run_id)
    timed_out = [a for a in after.values() if a["state"] == "TIMED_OUT"]
    assert [(a["task_key"], a["attempt"]) for a in timed_out] == [("demo/middle:materialize", 1)]
    assert before[timed_out[0]["attempt_id"]] == timed_out[0]  # unchanged since the pause
    succeeded: dict[str, int] = {}
    for a in after.values():
        if a["state"] == "SUCCEEDED":
            succeeded[a["task_key"]] = succeeded.get(a["task_key"], 0) + 1
    assert succeeded == dict.fromkeys(
        ["demo/first:materialize", "demo/middle:materialize", "demo/last:materialize"], 1
    )
    assert second is not None
    if resume == "after":
        assert after == before  # no attempt created or changed since the resume
    else:
        # what came after the pause was dispatched and run by the other controller
        new = [a for k, a in after.items() if k not in before]
        assert [a["task_key"] for a in new] == ["demo/last:materialize"]
        assert str(new[0]["worker"]).startswith(f"pool:{second.pid}/")
        assert "lease lost" in log
        # the stalled attempt was stopped by the answer to its first heartbeat after the
        # resume (it is no longer current), before it could see the go file and write
        with Executions.open(url) as executions:
            executions.compact()
            done = [m.asset_key for m in executions.list_materializations(run_id=run_id).items]
            assert sorted(done) == ["demo/first", "demo/last", "demo/middle"]
    with Runs.open(url) as runs:
        runs.compact()
        assert runs.get_run(run_id).state == "SUCCEEDED"
