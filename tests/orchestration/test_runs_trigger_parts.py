"""A run too large for one event is triggered in parts (``run_triggered`` with ``part`` /
``parts``): folded in any order and in any rounds they end in the state one event would
give, nothing of a partial run can be dispatched, a run whose parts never all arrive is
cancelled by the controller's timer, and ``run_key`` records and re-appends every part."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arco.core.canonical_json import loads
from arco.errors import IdempotencyConflictError, ValidationError
from arco.metadata.layout import ledger_prefix
from arco.orchestration.controller import waiting_reason
from arco.orchestration.deploy import current
from arco.orchestration.runs import (
    BLOCKED,
    CANCELLED,
    FAILED,
    READY,
    SKIPPED,
    SUCCEEDED,
    TRIGGERED,
    Runs,
    RunTriggeredV1,
    TaskSpecV1,
    run_cancel_requested,
    run_trigger_events,
    run_triggered,
    split_trigger,
    task_dispatched,
    trigger_key,
    unplanned_expired,
)
from arco.orchestration.runs.state import RunsState
from arco.orchestration.trigger import RunRequest
from arco.orchestration.trigger import run_triggered as plan_run
from arco.storage import open_store
from arco.tier2.envelope import EventEnvelope, ulid_at
from orchestration_support import orchestrator, write_code
from runs_support import T0, ingested, open_runs, spec, trigger_payload


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Runs]:
    with open_runs(tmp_path) as r:
        yield r


# a diamond over three layers and an independent pair: in plan order, cut into 3 parts
# whose tasks depend on tasks of other parts
PLAN = [
    spec("a1"),
    spec("a2"),
    spec("a3"),
    spec("b1", ["a1", "a2"]),
    spec("b2", ["a2", "a3"]),
    spec("b3", ["a3"]),
    spec("c1", ["b1", "b2"]),
    spec("c2", ["b3", "a1"]),
    spec("z", ["c1"]),
]
DONE = ["a1", "a2", "a3", "b1"]
OUTPUTS = {"a1": {"rows": 1}, "b1": {"rows": 2}}
#: small enough to cut PLAN into exactly three parts
SMALL = 750


def whole(run_id: str = "r", **kw: Any) -> RunTriggeredV1:
    return trigger_payload(run_id, PLAN, **kw)


def parts_of(payload: RunTriggeredV1) -> list[EventEnvelope]:
    events = run_trigger_events(payload, occurred_ms=T0, max_bytes=SMALL)
    assert len(events) == 3
    return events


def snapshot(state: RunsState, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a run and its tasks are, leaving out which event wrote them last."""

    def plain(row: Any) -> dict[str, Any]:
        values = dataclasses.asdict(row)
        values.pop("event_order")
        values.pop("version")
        return values

    tasks = {t.task_key: plain(t) for t in state.tasks_of(run_id)}
    assert list(tasks) == sorted(tasks)  # the index keeps task key order whatever the order
    return plain(state.runs[run_id]), tasks


def test_split_cuts_the_plan_in_order_with_the_header_in_every_part() -> None:
    payload = whole(done=DONE, outputs=OUTPUTS)
    parts = split_trigger(payload, SMALL)
    assert [(p.part, p.parts, p.task_count) for p in parts] == [(0, 3, 9), (1, 3, 9), (2, 3, 9)]
    assert [t.task_key for p in parts for t in p.tasks] == [t.task_key for t in PLAN]
    assert [k for p in parts for k in p.done] == DONE
    assert {k: v for p in parts for k, v in p.outputs.items()} == OUTPUTS
    for p in parts:
        assert set(p.done) <= {t.task_key for t in p.tasks}
        assert (p.run_id, p.request_hash, p.executor) == ("r", "h1", "inline")
    events = parts_of(payload)
    assert [e.idempotency_key for e in events] == [
        "trigger:r",
        "trigger:r part 1",
        "trigger:r part 2",
    ]
    assert [trigger_key("r", i) for i in range(3)] == [e.idempotency_key for e in events]
    for e in events:  # every part validates on its own, and says where it belongs
        assert RunTriggeredV1.from_payload(e.payload).parts == 3
        assert len(str(e.payload)) < SMALL + 200
    # a run that fits is one event, in the one-event form
    [single] = run_trigger_events(payload)
    assert single.idempotency_key == "trigger:r" and "parts" not in single.payload
    with pytest.raises(ValidationError, match="already a part"):
        split_trigger(parts[1])


def test_tasks_travel_without_their_defaults() -> None:
    plain = TaskSpecV1(task_key="ns/a:materialize", asset_key="ns/a", stage=2, upstream=["x"])
    assert plain.to_json() == {
        "asset_key": "ns/a",
        "stage": 2,
        "task_key": "ns/a:materialize",
        "upstream": ["x"],
    }
    assert plain.retry_is_default and not spec("k").retry_is_default  # (NO_JITTER)
    full = spec("k", ["u"], max_attempts=3, partition_key="region=s:ZXU")
    full = full.model_copy(update={"timeout_s": 1.5, "pools": ["wh"]})
    assert TaskSpecV1.model_validate(full.to_json()) == full
    assert set(full.to_json()) == {
        "asset_key",
        "max_attempts",
        "partition_key",
        "pools",
        "retry",
        "task_key",
        "timeout_s",
        "upstream",
    }


@pytest.mark.parametrize("reexecution", [False, True], ids=["fresh", "reexecution"])
def test_parts_folded_in_any_order_and_any_rounds_give_the_one_event_state(
    tmp_path: Path, reexecution: bool
) -> None:
    extra: dict[str, Any] = {"done": DONE, "outputs": OUTPUTS} if reexecution else {}
    with open_runs(tmp_path / "one") as runs:
        runs.append([run_triggered(whole(**extra), occurred_ms=T0)])
        expected = snapshot(runs.state(), "r")
    if reexecution:
        # b2 and b3 (part 1) are READY as their upstream tasks of part 0 are done
        assert {k for k, t in expected[1].items() if t["state"] == READY} == {"b2", "b3"}
    events = parts_of(whole(**extra))
    for i, order in enumerate(itertools.permutations(events)):
        # each part in its own round
        with open_runs(tmp_path / f"rounds-{i}") as runs:
            for n, event in enumerate(order):
                runs.append([event])
                state = runs.state()
                if n < 2:  # nothing of a partial run is dispatchable
                    assert not state.planned("r")
                    assert list(state.live_tasks("r")) == []
                    assert {t.state for t in state.tasks_of("r")} <= {BLOCKED, SUCCEEDED}
            assert snapshot(runs.state(), "r") == expected
        # all in one round (folded in event order whatever the append order)
        with open_runs(tmp_path / f"round-{i}") as runs:
            keys = runs.append(list(order))
            assert {ingested(runs, k).outcome for k in keys} == {"applied"}
            assert snapshot(runs.state(), "r") == expected
    with open_runs(tmp_path / "split") as runs:  # two rounds, the second with two parts
        runs.append([events[1]])
        runs.append([events[2], events[0]])
        assert snapshot(runs.state(), "r") == expected


def probe(attempt_id: str) -> EventEnvelope:
    """A dispatch of a1 under its own key (a stale dispatch uses its key up for good)."""
    event = task_dispatched("r", "a1", 1, attempt_id, "inline", T0 + 9, occurred_ms=T0)
    return EventEnvelope(**{**event.model_dump(), "idempotency_key": f"probe:{attempt_id}"})


def test_a_partial_run_cannot_be_dispatched(runs: Runs) -> None:
    first, second, third = parts_of(whole())
    runs.append([second])  # the run is created by whichever part comes first
    run = runs.get_run("r")
    assert run.state == TRIGGERED and run.task_count == 9
    assert runs.state().tasks_present("r") == 3
    # a1 has no upstream task, but the run is not whole yet
    (key,) = runs.append([probe("x1")])
    row = ingested(runs, key)
    assert row.outcome == "stale"
    assert row.detail is not None and "has 3 of its 9 tasks" in row.detail
    runs.append([third])
    (key,) = runs.append([probe("x2")])
    assert ingested(runs, key).outcome == "stale"
    runs.append([first])
    assert runs.state().planned("r")
    (key,) = runs.append([probe("x3")])
    assert ingested(runs, key).outcome == "applied"


def test_a_part_that_does_not_belong_is_stale(runs: Runs) -> None:
    first, second, _third = parts_of(whole())
    runs.append([first])
    other = parts_of(whole(request_hash="h2"))[1]
    # (under its own key: a stale event uses its key up, and this one is part 1's)
    other = EventEnvelope(**{**other.model_dump(), "idempotency_key": "other"})
    (key,) = runs.append([other])
    row = ingested(runs, key)
    assert row.outcome == "stale" and row.detail is not None
    assert "does not match the run (request_hash differ)" in row.detail
    # the same part under another key (not a copy): its tasks exist already
    again = EventEnvelope(
        **{**first.model_dump(), "idempotency_key": "trigger:r part 9", "event_id": ulid_at(T0)}
    )
    (key,) = runs.append([again])
    row = ingested(runs, key)
    assert row.outcome == "stale" and row.detail is not None and "already has task" in row.detail
    # the late arrival of a part of a run that was cancelled meanwhile
    runs.append([run_cancel_requested("r", "no longer needed", occurred_ms=T0 + 1)])
    run = runs.get_run("r")
    assert run.state == CANCELLED and run.reason == "no longer needed"
    assert {t.state for t in runs.tasks("r")} == {CANCELLED}
    (key,) = runs.append([second])
    row = ingested(runs, key)
    assert row.outcome == "stale" and row.detail is not None and "came too late" in row.detail


def test_hand_made_parts_of_an_invalid_plan_fail_the_run(runs: Runs) -> None:
    tasks = [spec("a", ["b"]), spec("b", ["a"]), spec("c", ["nowhere"])]
    header = trigger_payload("cyc", []).to_payload()
    halves = [
        RunTriggeredV1.from_payload(
            {**header, "tasks": [t.to_json()], "part": i, "parts": 2, "task_count": 2}
        )
        for i, t in enumerate(tasks[:2])
    ]
    runs.append([run_triggered(p, occurred_ms=T0) for p in halves])
    run = runs.get_run("cyc")
    assert run.state == FAILED and run.reason is not None
    assert "the dependencies have a cycle through 'a'" in run.reason
    assert {t.state for t in runs.tasks("cyc")} == {SKIPPED}
    dangling = {**header, "run_id": "dng", "tasks": [tasks[2].to_json()], "parts": 2}
    with pytest.raises(ValidationError, match="task_count: is required"):
        RunTriggeredV1.from_payload(dangling)
    runs.append([run_triggered(RunTriggeredV1.from_payload({**dangling, "task_count": 1}))])
    run = runs.get_run("dng")  # (its only task came: the plan is checked, and refused)
    assert run.state == FAILED and run.reason is not None
    assert "'c' depends on 'nowhere', which is not a task of the run" in run.reason


def test_an_unplanned_run_is_cancelled_by_its_timer(runs: Runs) -> None:
    first, _, third = parts_of(whole())
    runs.append([first, third])  # the triggering process died before appending part 1
    state = runs.state()
    events, due = unplanned_expired(state, state.active_runs(), T0 + 1000, 60.0)
    assert events == [] and due == T0 + 60_000
    events, due = unplanned_expired(state, state.active_runs(), T0 + 60_000, 60.0)
    assert due is None and [e.idempotency_key for e in events] == ["cancel:r"]
    runs.append(events)
    run = runs.get_run("r")
    assert run.state == CANCELLED and run.ended_at is not None
    assert run.reason is not None and "6 of its 9 tasks" in run.reason
    assert unplanned_expired(runs.state(), runs.state().active_runs(), T0 + 99_000, 60.0) == (
        [],
        None,
    )


def test_run_key_records_and_re_appends_every_part(tmp_path: Path) -> None:
    root = open_store(f"file://{tmp_path}")
    with Runs(root, fold="off") as runs:
        runs.trigger(whole("r1"), run_key="big", max_bytes=SMALL)
        # the process died after appending part 0 only: the others are lost
        prefix = ledger_prefix("runs")
        names = [m.key for m in runs.store.list(prefix)]
        assert len(names) == 3
        for name in names:
            event = EventEnvelope.from_object(_load(runs, name))
            if event.idempotency_key != "trigger:r1":
                runs.store.delete(name)
        runs.compact()
        assert runs.state().tasks_present("r1") == 3 and not runs.state().planned("r1")
    with Runs(root, fold="inline") as runs:
        # the retry (a new run id minted by the caller) gets the first run, now whole
        assert runs.trigger(whole("r2"), run_key="big", max_bytes=SMALL) == "r1"
        assert runs.state().planned("r1") and "r2" not in runs.state().runs
        assert [t.state for t in runs.tasks("r1")].count(READY) == 3
        assert runs.trigger(whole("r3"), run_key="big") == "r1"  # any later retry too
        with pytest.raises(IdempotencyConflictError, match="run_key: 'big'"):
            runs.trigger(whole("r4", request_hash="other"), run_key="big")
        assert [r.run_id for r in runs.list_runs().items] == ["r1"]


def _load(runs: Runs, key: str) -> Any:
    return loads(runs.store.get(key).data)


PIPELINE = """
from arco import asset

@asset(namespace="demo")
def first(context):
    return None

@asset(namespace="demo", deps=["demo/first"])
def second(context):
    return None

@asset(namespace="demo", deps=["demo/second"])
def third(context):
    return None
"""


def test_the_controller_never_starts_a_run_missing_a_part_and_ends_it(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", PIPELINE)
    url = f"file://{tmp_path / 'store'}"
    with orchestrator(url, code, plan_timeout_s=15.0, max_concurrent_runs=1) as orch:
        pointer = current(orch.store)
        assert pointer is not None
        payload = plan_run(pointer[1], pointer[0].fingerprint, RunRequest(selection=("*",)))
        events = run_trigger_events(payload, max_bytes=600)
        assert len(events) == 3
        orch.runs.append([events[0], events[2]])  # part 1 is lost
        partial = orch.runs.state().runs[payload.run_id]
        reason = waiting_reason(orch.runs.state(), partial)
        assert reason is not None and reason.startswith("planning: 2 of its 3 tasks")
        # a whole run triggered after it is not queued behind it (one run at a time)
        whole_run = plan_run(pointer[1], pointer[0].fingerprint, RunRequest(selection=("*",)))
        run_id = orch.runs.trigger(whole_run, max_bytes=600)
        assert orch.wait(run_id, timeout=60).state == SUCCEEDED
        assert len(orch.runs.attempts(run_id)) == 3
        assert orch.runs.get_run(payload.run_id).state == TRIGGERED  # (its timer is later)
        # the partial run is never dispatched, and its timer ends it
        run = orch.wait(payload.run_id, timeout=60)
        assert run.state == CANCELLED
        assert run.reason is not None and "2 of its 3 tasks" in run.reason
        assert orch.runs.attempts(payload.run_id) == []
