"""The automation controller as real ``arco automation run`` processes (issue 13): two on one
workspace elect one leader; kill -9 of the leader while five tasks of a backfill run — the
other takes over within 30 s, the killed attempts time out and run again (the asset allows
two attempts), the backfill ends SUCCEEDED and every partition is materialized exactly
once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arco.core.scope import DEFAULT_SCOPE
from arco.executions import Executions
from arco.orchestration.automation import Automation, backfill_requested
from arco.orchestration.partitions import DailyPartitions
from arco.storage import open_store
from orchestration_support import deploy_code, wait_until, write_code

CODE = """
import time
import pyarrow as pa
from arco import DailyPartitions, RetryPolicy, asset

@asset(
    namespace="lead",
    partitions=DailyPartitions(start="2026-11-01", end="2026-11-06"),
    retry=RetryPolicy(max_attempts=2, backoff_s=0),
)
def slow(context):
    time.sleep(4)
    return pa.table({"day": [context.partition_key]})
"""
KEYS = DailyPartitions(start="2026-11-01", end="2026-11-06").keys()


def _automation_process(url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "arco",
                "--store",
                url,
                "automation",
                "run",
                "--executor",
                "pool",
                "--lease-timeout",
                "6",
                "--heartbeat-timeout",
                "6",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # kill -9 of its group takes its pool workers too
        )


def _acting(log: Path) -> bool:
    return "acting (holds the automation lease)" in log.read_text(errors="replace")


@pytest.mark.slow
def test_kill_9_of_the_leader_mid_backfill_another_finishes_it_nothing_twice(
    tmp_path: Path,
) -> None:
    url = f"file://{tmp_path / 'store'}"
    deploy_code(url, write_code(tmp_path / "code", CODE, name="leader_pipeline.py"))
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [_automation_process(url, logs[0])]
    try:
        wait_until("a leader", lambda: _acting(logs[0]), 60)
        procs.append(_automation_process(url, logs[1]))
        with Automation(open_store(url), DEFAULT_SCOPE, fold="inline") as automation:
            automation.append(
                [backfill_requested("lead", ["lead/slow"], KEYS, chunk_size=1, max_in_flight=5)]
            )

            def running() -> int:
                chunks = automation.get_backfill("lead").chunks or []
                return sum(1 for c in chunks if c.state == "RUNNING")

            wait_until("five chunks in flight", lambda: running() == 5, 60)
            time.sleep(1.5)  # the tasks are running now (each takes 4 s)
            assert not _acting(logs[1]), "the second process acted while the first led"
            os.killpg(procs[0].pid, signal.SIGKILL)
            procs[0].wait(timeout=30)
            took = wait_until("the other to take over", lambda: _acting(logs[1]), 30)
            assert took <= 30
            wait_until(
                "the backfill to end",
                lambda: automation.get_backfill("lead").state in ("SUCCEEDED", "FAILED"),
                120,
            )
            backfill = automation.get_backfill("lead")
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
    assert backfill.state == "SUCCEEDED", backfill
    with Executions(open_store(url), DEFAULT_SCOPE) as executions:
        mats = [
            m.partition_key
            for m in executions.state().materializations.values()
            if m.asset_key == "lead/slow" and m.status == "succeeded"
        ]
    assert sorted(m or "" for m in mats) == sorted(KEYS)  # each partition exactly once
