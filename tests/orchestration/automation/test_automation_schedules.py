"""Schedules driven by the automation controller on a manual clock (issue 13): ticks across
both daylight-saving changes are exactly the expected instants, each one run (by its
``run_key``) and one tick record; after three hours of downtime only the catch-up window
runs and the rest is one skipped record; a second controller never acts; the history
survives a new process."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from arco.core.clock import ManualClock
from arco.orchestration.automation import Automation
from arco.orchestration.automation.controller import AutomationOptions
from arco.orchestration.automation.service import AutomationService
from arco.orchestration.runs import Runs
from arco.storage import open_store
from orchestration_support import orchestrator, write_code

CODE = """
import pyarrow as pa
from arco import ScheduleDef, asset

@asset(namespace="sch")
def a(context):
    return pa.table({"x": [1]})

spring = ScheduleDef(
    name="spring", cron="30 2 * * *", timezone="America/New_York", target=["sch/a"],
    catchup_window_s=7 * 86400,
)
fall = ScheduleDef(
    name="fall", cron="30 1 * * *", timezone="America/New_York", target=["sch/a"],
    catchup_window_s=7 * 86400,
)
hourly = ScheduleDef(name="hourly", cron="0 * * * *", target=["sch/a"], catchup_window_s=3600)
"""

#: a lease that outlives the clock's jumps (the test moves time by days)
OPTIONS = AutomationOptions(lease_ms=400 * 86_400_000)


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


def _ticks(automation: Automation, name: str) -> list[tuple[int, str, int, int]]:
    """(instant, status, runs, skipped) of a schedule's ticks, oldest first."""
    return [
        (t.instant_ms, t.status, len(t.run_ids), t.skipped_count)
        for t in reversed(automation.ticks(name, 1000))
    ]


def test_ticks_across_both_clock_changes_and_a_bounded_catch_up(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'store'}"
    code = write_code(tmp_path / "code", CODE, name="schedules_pipeline.py")
    clock = ManualClock(_ms("2026-03-07T12:00:00+00:00"))
    with (
        orchestrator(url, code) as orch,
        AutomationService(orch, clock=clock, options=OPTIONS) as first,
        AutomationService(orch, clock=clock, options=OPTIONS) as second,
    ):
        assert first.step().acting
        assert not second.step().acting  # one leader: the other stands by
        clock.advance(_ms("2026-03-10T12:00:00+00:00") - clock.now_ms())
        first.step()
        assert not second.step().acting
        automation = first.automation
        # spring forward: 02:30 does not exist on 03-08, it fires when the clock jumps
        assert _ticks(automation, "spring") == [
            (_ms("2026-03-08T07:00:00+00:00"), "requested", 1, 0),
            (_ms("2026-03-09T06:30:00+00:00"), "requested", 1, 0),
            (_ms("2026-03-10T06:30:00+00:00"), "requested", 1, 0),
        ]
        spring = _ticks(automation, "spring")
        # fall back: 01:30 happens twice on 11-01, it fires at the first one (EDT)
        clock.advance(_ms("2026-10-31T12:00:00+00:00") - clock.now_ms())
        first.step()
        clock.advance(_ms("2026-11-02T12:00:00+00:00") - clock.now_ms())
        first.step()
        fall = [t for t in _ticks(automation, "fall") if t[0] >= _ms("2026-10-31T12:00:00+00:00")]
        assert fall == [
            (_ms("2026-11-01T05:30:00+00:00"), "requested", 1, 0),
            (_ms("2026-11-02T06:30:00+00:00"), "requested", 1, 0),
        ]
        # three hours of downtime, a one-hour window: the last tick runs, two are skipped
        start = _ms("2026-11-02T12:00:00+00:00")
        before = _ticks(automation, "hourly")
        clock.advance(3 * 3_600_000 + 60_000)
        first.step()
        new = _ticks(automation, "hourly")[len(before) :]
        assert new == [
            (start + 2 * 3_600_000, "skipped", 0, 2),
            (start + 3 * 3_600_000, "requested", 1, 0),
        ]
        # each requested tick is exactly one run, keyed by its instant
        runs = orch.runs.state().runs.values()
        keys = sorted(r.run_key or "" for r in runs)
        assert len(keys) == len(set(keys))
        requested = [
            (name, t[0])
            for name in ("spring", "fall", "hourly")
            for t in _ticks(automation, name)
            if t[1] == "requested"
        ]
        # (the history keeps 90 days behind a schedule's newest tick: March is gone by now)
        assert {f"sched:{n}:{i}" for n, i in requested} <= set(keys)
        assert [k for k in keys if k.startswith("sched:spring:")][:3] == [
            f"sched:spring:{t[0]}" for t in spring
        ]
        # a pass at the same instant owes nothing more
        again = first.step()
        assert (again.ticks, again.runs_triggered) == (0, 0)
        history = {n: _ticks(automation, n) for n in ("spring", "fall", "hourly")}
    # the history survives: a new process reads it back from the store
    with Automation(open_store(url)) as reopened:
        assert {n: _ticks(reopened, n) for n in history} == history


EVERY_MINUTE = """
import pyarrow as pa
from arco import ScheduleDef, asset

@asset(namespace="sch")
def m(context):
    return pa.table({"x": [1]})

minutely = ScheduleDef(
    name="minutely", cron="* * * * *", target=["sch/m"], catchup_window_s=3600
)
"""


def test_two_controllers_for_ten_minutes_of_ticks_one_run_each_across_a_takeover(
    tmp_path: Path,
) -> None:
    """Both controllers take a pass every simulated 20 s; the leader stops (as if paused or
    killed, its lease left to expire) after 4 minutes; the other takes over when the lease
    expires and catches up. Every minute tick is exactly one run and one record."""
    url = f"file://{tmp_path / 'store'}"
    code = write_code(tmp_path / "code", EVERY_MINUTE, name="minutely_pipeline.py")
    start = _ms("2026-06-01T00:00:30+00:00")
    clock = ManualClock(start)
    options = AutomationOptions(lease_ms=90_000)
    with (
        orchestrator(url, code) as first_orch,
        orchestrator(url, code) as second_orch,
        AutomationService(first_orch, clock=clock, options=options) as first,
        AutomationService(second_orch, clock=clock, options=options) as second,
    ):
        acting = {"first": 0, "second": 0}
        for step in range(31):  # 10 minutes in 20-second steps
            if step <= 12 and first.step().acting:  # the first stops after 4 minutes
                acting["first"] += 1
            if second.step().acting:
                acting["second"] += 1
            clock.advance(20_000)
    # closed: everything appended is folded; read it back as a new process would
    root = open_store(url)
    with Automation(root) as automation, Runs(root) as runs_facade:
        ticks = _ticks(automation, "minutely")
        runs = [r for r in runs_facade.state().runs.values() if r.run_key]
    assert acting["first"] > 0 and acting["second"] > 0
    minutes = [start + 30_000 + i * 60_000 for i in range(10)]  # 00:01 .. 00:10
    assert [t[0] for t in ticks] == minutes
    assert all(t[1:] == ("requested", 1, 0) for t in ticks)
    assert sorted(r.run_key or "" for r in runs) == sorted(f"sched:minutely:{m}" for m in minutes)
