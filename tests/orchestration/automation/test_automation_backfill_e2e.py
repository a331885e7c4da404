"""A backfill driven by the automation controller end to end (issue 13's first scenario):
30 daily partitions, at most 3 runs in flight, partition 15 fails once, a pause during which
nothing new starts, resume, retry of the failed partition — every partition materialized
exactly once, partition 15 with two tries, the backfill SUCCEEDED."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from arco.core.scope import DEFAULT_SCOPE
from arco.executions import Executions
from arco.orchestration.automation import (
    Automation,
    backfill_paused,
    backfill_requested,
    backfill_resumed,
    backfill_retry_requested,
)
from arco.orchestration.automation.controller import AutomationOptions
from arco.orchestration.automation.service import AutomationService
from arco.orchestration.partitions import DailyPartitions
from arco.storage import open_store
from orchestration_support import orchestrator, wait_until, write_code

CODE = """
import os
import time
from pathlib import Path
import pyarrow as pa
from arco import DailyPartitions, asset

@asset(namespace="bf", partitions=DailyPartitions(start="2026-11-01", end="2026-12-01"))
def daily(context):
    time.sleep(0.05)
    marker = Path(os.environ["BACKFILL_MARKERS"]) / "failed-once"
    if context.partition_key.endswith("2026-11-15") and not marker.exists():
        marker.write_text("x")
        raise RuntimeError("partition 15 fails once")
    return pa.table({"day": [context.partition_key]})
"""

KEYS = DailyPartitions(start="2026-11-01", end="2026-12-01").keys()
FAST = AutomationOptions(idle_wait_s=0.05)


def test_a_backfill_with_a_failure_a_pause_and_a_retry_materializes_each_partition_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(KEYS) == 30
    monkeypatch.setenv("BACKFILL_MARKERS", str(tmp_path))
    url = f"file://{tmp_path / 'store'}"
    code = write_code(tmp_path / "code", CODE, name="backfill_pipeline.py")
    with (
        orchestrator(url, code, executor="pool") as orch,
        AutomationService(orch, options=FAST) as service,
    ):
        orch.start()
        automation: Automation = service.automation
        automation.append(
            [backfill_requested("bf1", ["bf/daily"], KEYS, chunk_size=1, max_in_flight=3)]
        )
        service.start()

        def done_chunks() -> int:
            b = automation.get_backfill("bf1")
            return sum(1 for c in b.chunks or () if c.state in ("SUCCEEDED", "FAILED"))

        wait_until("five chunks done", lambda: done_chunks() >= 5, 120)
        automation.append([backfill_paused("bf1", request_id="p1")])
        wait_until("the pause", lambda: automation.get_backfill("bf1").state == "PAUSED", 120)
        time.sleep(0.5)  # a pass that began before the pause may still launch what it chose
        launched = {
            c.index for c in automation.get_backfill("bf1").chunks or () if c.state != "PENDING"
        }
        time.sleep(1.5)  # many passes: nothing new may start while paused
        after = {
            c.index for c in automation.get_backfill("bf1").chunks or () if c.state != "PENDING"
        }
        assert after == launched
        assert len(launched) < 30
        automation.append([backfill_resumed("bf1", request_id="r1")])
        wait_until(
            "the end of the first try",
            lambda: automation.get_backfill("bf1").state == "FAILED",
            120,
        )
        failed = [c for c in automation.get_backfill("bf1").chunks or () if c.state == "FAILED"]
        assert [c.partitions for c in failed] == [[KEYS[14]]]
        automation.append([backfill_retry_requested("bf1", 1)])
        wait_until("the retry", lambda: automation.get_backfill("bf1").state == "SUCCEEDED", 120)
        backfill = automation.get_backfill("bf1")
        runs = orch.runs.state().runs
        run_rows = [runs[r] for c in backfill.chunks or () for r in c.run_ids]
    chunks = backfill.chunks or []
    assert [c.state for c in chunks] == ["SUCCEEDED"] * 30
    fifteen = chunks[14]
    assert fifteen.try_number == 2 and len(fifteen.run_ids) == 2
    assert [runs[r].state for r in fifteen.run_ids] == ["FAILED", "SUCCEEDED"]
    assert all(len(c.run_ids) == 1 for c in chunks if c.index != 14)
    # never more than 3 runs of the backfill at once (from the runs' own times)
    edges = sorted(
        [(r.created_at, 1) for r in run_rows] + [(r.ended_at or 0, -1) for r in run_rows],
        key=lambda e: (e[0], e[1]),
    )
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    assert peak <= 3
    # each partition materialized exactly once
    with Executions(open_store(url), DEFAULT_SCOPE) as executions:
        mats = [
            m
            for m in executions.state().materializations.values()
            if m.asset_key == "bf/daily" and m.status == "succeeded"
        ]
    assert sorted(m.partition_key or "" for m in mats) == sorted(KEYS)
