"""The state machines of the ``automation`` domain, event by event, on a real local store.

Every transition is applied by the compactor (folded inline); an event that is not a legal
transition folds to ``stale``, says why, and writes nothing but its ``ingested`` row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arco.errors import ValidationError
from arco.orchestration.automation import (
    CANCELLED,
    CANCELLING,
    FAILED,
    PAUSED,
    PENDING,
    REQUESTED,
    RUNNING,
    SUCCEEDED,
    Automation,
    backfill_cancel_requested,
    backfill_paused,
    backfill_requested,
    backfill_resumed,
    backfill_retry_requested,
    chunk_finished,
    chunk_launched,
    evaluation_recorded,
    push_received,
    schedule_status_changed,
    sensor_evaluated,
    sensor_runs_triggered,
    sensor_status_changed,
    tick_recorded,
)
from arco.orchestration.automation.domain.folds import FIRST_SEEN
from arco.orchestration.automation.domain.payloads import (
    BackfillRequestedV1,
    SensorEvaluatedV1,
    TickRecordedV1,
)
from automation_support import DAY, T0, assert_stale, copy_of, open_automation, outcome, rekey


@pytest.fixture
def auto(tmp_path: Path) -> Iterator[Automation]:
    with open_automation(tmp_path, checkpoint_every=1_000_000) as a:
        yield a


def parts(n: int) -> list[str]:
    """``n`` daily partition keys from 2026-01-01."""
    return [f"date=d:2026-01-{i + 1:02d}" for i in range(n)]


def chunk_states(auto: Automation, backfill_id: str) -> list[str]:
    return [c.state for c in auto.state().chunks_of(backfill_id)]


# --- schedules and sensors: status ------------------------------------------------------------


def test_status_changes_are_last_writer_wins(auto: Automation) -> None:
    pause = schedule_status_changed("nightly", "paused", request_id="r1", occurred_ms=T0 + 10)
    resume = schedule_status_changed("nightly", "running", request_id="r2", occurred_ms=T0 + 5)
    assert outcome(auto, pause) == "applied"
    assert auto.get_schedule("nightly").status == "paused"
    # an older change (by event order) arriving late does not undo a newer one
    assert outcome(auto, resume) == "superseded"
    assert auto.get_schedule("nightly").status == "paused"
    assert outcome(auto, copy_of(pause)) == "duplicate"
    later = schedule_status_changed("nightly", "running", occurred_ms=T0 + 20)
    assert later.idempotency_key == f"sched-status:nightly:t{T0 + 20}"
    assert outcome(auto, later) == "applied"
    assert auto.get_schedule("nightly").status == "running"
    s = sensor_status_changed("files", "paused", request_id="x", occurred_ms=T0)
    assert outcome(auto, s) == "applied"
    assert auto.get_sensor("files").status == "paused"


def test_a_controllers_first_sight_never_overrides_a_recorded_change(auto: Automation) -> None:
    pause = schedule_status_changed("nightly", "paused", request_id="r1", occurred_ms=T0)
    assert outcome(auto, pause) == "applied"
    # the controller saw the schedule first a moment later: it records running, which
    # must not undo the pause it had not seen
    seen = schedule_status_changed("nightly", "running", request_id=FIRST_SEEN, occurred_ms=T0 + 1)
    assert outcome(auto, seen) == "superseded"
    assert auto.get_schedule("nightly").status == "paused"
    # on a schedule nobody changed, the first sight creates the row
    first = schedule_status_changed("other", "running", request_id=FIRST_SEEN, occurred_ms=T0)
    assert outcome(auto, first) == "applied"
    assert auto.get_schedule("other").status == "running"


# --- ticks --------------------------------------------------------------------------------


def test_a_tick_is_recorded_once_and_moves_the_schedule_on(auto: Automation) -> None:
    first = tick_recorded("nightly", T0, "requested", run_ids=["run-1"], occurred_ms=T0 + 1)
    assert first.idempotency_key == f"sched:nightly:{T0}"
    assert outcome(auto, first) == "applied"
    assert outcome(auto, copy_of(first)) == "duplicate"
    assert_stale(auto, rekey(first, "other"), "already recorded")
    skipped = tick_recorded(
        "nightly",
        T0 + 3 * DAY,
        "skipped",
        reason="missed during downtime",
        skipped_count=2,
        range_start_ms=T0 + DAY,
        occurred_ms=T0 + 3 * DAY,
    )
    assert outcome(auto, skipped) == "applied"
    # an older tick arriving late is recorded but does not move the last tick back
    late = tick_recorded("nightly", T0 - DAY, "failed", reason="boom", occurred_ms=T0 + 4 * DAY)
    assert outcome(auto, late) == "applied"
    schedule = auto.get_schedule("nightly")
    assert schedule.tick_count == 3 and schedule.last_tick_status == "skipped"
    assert schedule.last_tick_id == f"sched:nightly:{T0 + 3 * DAY}"
    ticks = auto.ticks("nightly")
    assert [t.instant_ms for t in ticks] == [T0 + 3 * DAY, T0, T0 - DAY]
    assert ticks[0].skipped_count == 2 and ticks[0].range_start is not None
    assert ticks[1].run_ids == ["run-1"] and ticks[1].triggered
    assert [t.instant_ms for t in auto.ticks("nightly", limit=1)] == [T0 + 3 * DAY]
    assert auto.pending_sensor_requests() == []  # a schedule's runs are triggered already


def test_tick_retention_drops_old_ticks_relative_to_the_newest(auto: Automation) -> None:
    for day in (0, 1, 5, 9):
        event = tick_recorded("s", T0 + day * DAY, "skipped", retention_days=7, occurred_ms=T0)
        assert outcome(auto, event) == "applied"
    # day 9 is the newest: days 0 and 1 are more than 7 days older and were dropped
    assert [t.instant_ms for t in auto.ticks("s")] == [T0 + 9 * DAY, T0 + 5 * DAY]
    assert auto.get_schedule("s").tick_count == 4
    old = tick_recorded("s", T0 + DAY // 2, "skipped", retention_days=7, occurred_ms=T0)
    assert_stale(auto, old, "more than 7 days older")
    # the other schedule's history is its own
    assert outcome(auto, tick_recorded("t", T0, "skipped", occurred_ms=T0)) == "applied"
    assert len(auto.ticks("t")) == 1


def test_invalid_tick_payloads_name_the_field() -> None:
    base: dict[str, Any] = {"schedule_id": "s", "instant_ms": T0, "status": "requested"}
    cases: dict[str, dict[str, Any]] = {
        "payload.status": {"status": "done"},
        "payload.schedule_id: must not contain a space": {"schedule_id": "a b"},
        "payload.run_ids: must not name a run twice": {"run_ids": ["a", "a"]},
        "payload.range_start_ms: must not be after instant_ms": {"range_start_ms": T0 + 1},
        "payload.retention_days: must be an integer from 1": {"retention_days": 0},
    }
    for message, change in cases.items():
        with pytest.raises(ValidationError) as info:
            TickRecordedV1.from_payload({**base, **change})
        assert info.value.message.startswith(message), (message, info.value.message)


# --- sensors ------------------------------------------------------------------------------


def test_an_evaluation_applies_only_at_the_current_cursor_seq(auto: Automation) -> None:
    first = sensor_evaluated(
        "files", 0, cursor="c1", requests=[{"key": "f1"}], evaluated_at_ms=T0, evaluation_id="e1"
    )
    racing = sensor_evaluated(
        "files", 0, cursor="other", requests=[{"key": "zz"}], evaluated_at_ms=T0, evaluation_id="e2"
    )
    assert first.idempotency_key == "eval:files:0:e1"
    assert outcome(auto, first) == "applied"
    sensor = auto.get_sensor("files")
    assert (sensor.cursor, sensor.cursor_seq, sensor.evaluation_count) == ("c1", 1, 1)
    # the racing evaluation read seq 0 too: stale, and its request never becomes pending
    assert_stale(auto, racing, "is at cursor_seq 1: the evaluation read cursor_seq 0")
    pending = auto.pending_sensor_requests()
    assert [(t.tick_id, [r.key for r in t.requests]) for t in pending] == [
        ("sensor:files:0", ["f1"])
    ]
    assert outcome(auto, copy_of(first)) == "duplicate"
    # an evaluation with nothing to do is a skipped tick; an error keeps the cursor
    nothing = sensor_evaluated("files", 1, cursor="c2", evaluated_at_ms=T0 + 1)
    assert outcome(auto, nothing) == "applied"
    failed = sensor_evaluated("files", 2, cursor="c9", error="boom", evaluated_at_ms=T0 + 2)
    assert outcome(auto, failed) == "applied"
    sensor = auto.get_sensor("files")
    assert (sensor.cursor, sensor.cursor_seq) == ("c2", 3)
    assert (sensor.last_error, sensor.error_count) == ("boom", 1)
    assert [t.status for t in auto.sensor_ticks("files")] == ["failed", "skipped", "requested"]
    ok = sensor_evaluated("files", 3, cursor="c3", evaluated_at_ms=T0 + 3)
    assert outcome(auto, ok) == "applied"
    assert auto.get_sensor("files").last_error is None  # the sensor recovered


def test_a_paused_sensor_evaluation_is_stale(auto: Automation) -> None:
    auto.append([sensor_status_changed("files", "paused", occurred_ms=T0)])
    assert_stale(auto, sensor_evaluated("files", 0, evaluated_at_ms=T0 + 1), "is paused")
    auto.append([sensor_status_changed("files", "running", occurred_ms=T0 + 2)])
    assert outcome(auto, sensor_evaluated("files", 0, evaluated_at_ms=T0 + 3)) == "applied"


def test_runs_triggered_marks_a_requested_tick_once(auto: Automation) -> None:
    auto.append(
        [
            sensor_evaluated("s", 0, requests=[{"key": "a"}, {"key": "b"}], evaluated_at_ms=T0),
            sensor_evaluated("s", 1, evaluated_at_ms=T0 + 1),
            tick_recorded("sched", T0, "requested", run_ids=["x"]),
        ]
    )
    assert_stale(auto, sensor_runs_triggered("nope", []), "does not exist")
    assert_stale(auto, sensor_runs_triggered("sensor:s:1", []), "requested no run")
    assert_stale(auto, sensor_runs_triggered(f"sched:sched:{T0}", ["x"]), "a schedule's")
    # (a stale event uses up its key: the wrong count is sent under another one)
    wrong = rekey(sensor_runs_triggered("sensor:s:0", ["r1"]), "wrong")
    assert_stale(auto, wrong, "has 2 requests")
    done = sensor_runs_triggered("sensor:s:0", ["r1", "r2"], occurred_ms=T0 + 5)
    assert outcome(auto, done) == "applied"
    tick = auto.get_tick("sensor:s:0")
    assert tick.triggered and tick.run_ids == ["r1", "r2"]
    assert auto.pending_sensor_requests() == []
    assert outcome(auto, copy_of(done)) == "duplicate"
    assert_stale(auto, rekey(done, "again"), "already triggered")


def test_push_messages_are_keyed_by_message_id(auto: Automation) -> None:
    msg = push_received("hook", "m-1", {"file": "a.csv"}, occurred_ms=T0)
    assert msg.idempotency_key == "push:hook:m-1"
    assert outcome(auto, msg) == "applied"
    assert outcome(auto, copy_of(msg)) == "duplicate"
    assert_stale(auto, rekey(msg, "push:other"), "already recorded")
    (pending,) = auto.pending_sensor_requests()
    assert pending.tick_id == "push:hook:m-1" and pending.payload == {"file": "a.csv"}
    assert [r.key for r in pending.requests] == ["m-1"]
    assert auto.get_sensor("hook").push_count == 1
    auto.append([sensor_status_changed("hook", "paused", occurred_ms=T0 + 1)])
    assert outcome(auto, push_received("hook", "m-2", occurred_ms=T0 + 2)) == "applied"
    skipped = auto.get_tick("push:hook:m-2")
    assert skipped.status == "skipped" and skipped.reason == "sensor 'hook' is paused"
    assert len(auto.pending_sensor_requests()) == 1


def test_invalid_evaluation_payloads_name_the_field() -> None:
    base: dict[str, Any] = {
        "sensor_id": "s",
        "evaluation_id": "e",
        "cursor_seq": 0,
        "evaluated_at_ms": T0,
    }
    cases: dict[str, dict[str, Any]] = {
        "payload.cursor_seq: must be an integer from 0": {"cursor_seq": -1},
        "payload.requests: must not name a request key twice": {
            "requests": [{"key": "a"}, {"key": "a"}]
        },
        "payload.requests: an evaluation that failed requests no run": {
            "requests": [{"key": "a"}],
            "error": "x",
        },
        "payload.requests.0.partitions": {"requests": [{"key": "a", "partitions": ["bad"]}]},
    }
    for message, change in cases.items():
        with pytest.raises(ValidationError) as info:
            SensorEvaluatedV1.from_payload({**base, **change})
        assert info.value.message.startswith(message), (message, info.value.message)


# --- backfills ------------------------------------------------------------------------------


def request(auto: Automation, n: int = 5, size: int = 2, in_flight: int = 2) -> None:
    event = backfill_requested(
        "bf", ["sales/orders", "sales/daily"], parts(n), chunk_size=size,
        max_in_flight=in_flight, tags={"who": "me"}, occurred_ms=T0,
    )  # fmt: skip
    assert outcome(auto, event) == "applied"


def launch(auto: Automation, chunk: int, try_number: int = 1, at: int = T0 + 1) -> str:
    return outcome(
        auto, chunk_launched("bf", chunk, try_number, f"r{chunk}-{try_number}", occurred_ms=at)
    )


def finish(
    auto: Automation, chunk: int, state: Any = "SUCCEEDED", try_number: int = 1, at: int = T0 + 2
) -> str:
    event = chunk_finished("bf", chunk, try_number, f"r{chunk}-{try_number}", state, occurred_ms=at)
    return outcome(auto, event)


def test_a_backfill_splits_its_partitions_into_chunks_in_order(auto: Automation) -> None:
    request(auto, n=5, size=2)
    bf = auto.get_backfill("bf")
    assert bf.state == REQUESTED and bf.chunk_count == 3 and bf.partition_count == 5
    assert bf.assets == ["sales/orders", "sales/daily"] and bf.tags == {"who": "me"}
    assert bf.chunks is not None
    assert [c.partitions for c in bf.chunks] == [parts(5)[0:2], parts(5)[2:4], parts(5)[4:5]]
    assert (bf.pending, bf.in_flight, bf.progress) == (3, 0, 0.0)
    assert_stale(auto, rekey(backfill_requested("bf", ["a/b"], parts(1)), "x"), "already exists")
    assert [c.index for c in auto.due_chunks("bf")] == [0, 1]  # max_in_flight 2


def test_a_backfill_succeeds_when_its_last_chunk_does(auto: Automation) -> None:
    request(auto, n=3, size=1, in_flight=2)
    assert launch(auto, 0) == "applied"
    bf = auto.get_backfill("bf")
    assert bf.state == RUNNING and bf.started_at is not None and bf.in_flight == 1
    assert launch(auto, 1) == "applied"
    assert auto.due_chunks("bf") == []  # two in flight: no room
    again = rekey(chunk_launched("bf", 1, 1, "again", occurred_ms=T0 + 3), "again")
    assert_stale(auto, again, "is RUNNING")
    assert finish(auto, 0) == "applied"
    assert [c.index for c in auto.due_chunks("bf")] == [2]
    assert launch(auto, 2) == "applied"
    assert finish(auto, 2) == "applied"
    assert auto.get_backfill("bf").state == RUNNING
    assert finish(auto, 1) == "applied"
    bf = auto.get_backfill("bf")
    assert bf.state == SUCCEEDED and bf.ended_at is not None and bf.succeeded == 3
    assert bf.progress == 1.0 and auto.active_backfills() == []
    assert_stale(auto, backfill_paused("bf", occurred_ms=T0 + 9), "is SUCCEEDED")


def test_chunk_events_for_the_wrong_chunk_try_or_run_are_stale(auto: Automation) -> None:
    request(auto, n=2, size=1)
    assert_stale(auto, chunk_launched("nope", 0, 1, "r"), "does not exist")
    assert_stale(auto, chunk_launched("bf", 7, 1, "r"), "has no chunk 7")
    assert_stale(auto, chunk_launched("bf", 0, 2, "r"), "is at try 1")
    early = chunk_finished("bf", 0, 1, "r0-1", "SUCCEEDED")
    assert_stale(auto, rekey(early, "early"), "is PENDING")
    launch(auto, 0)
    assert_stale(auto, chunk_finished("bf", 0, 1, "other", "SUCCEEDED"), "runs as 'r0-1'")
    assert_stale(auto, chunk_finished("bf", 0, 2, "r0-1", "SUCCEEDED"), "is at try 1")


def test_pause_stops_launches_and_in_flight_chunks_finish(auto: Automation) -> None:
    request(auto, n=3, size=1, in_flight=3)
    launch(auto, 0)
    assert outcome(auto, backfill_paused("bf", request_id="p1", occurred_ms=T0 + 2)) == "applied"
    assert auto.get_backfill("bf").state == PAUSED and auto.due_chunks("bf") == []
    # a launch decided before the pause was seen is a fact: it applies, the pause stays
    launched = chunk_launched("bf", 1, 1, "r1-1", occurred_ms=T0 + 3)
    assert outcome(auto, launched) == "applied"
    assert auto.get_backfill("bf").state == PAUSED and auto.get_backfill("bf").in_flight == 2
    assert_stale(auto, backfill_paused("bf", request_id="p2"), "is PAUSED")
    assert finish(auto, 0, at=T0 + 4) == "applied"  # the run in flight finishes
    assert auto.get_backfill("bf").state == PAUSED
    assert outcome(auto, backfill_resumed("bf", request_id="r1", occurred_ms=T0 + 5)) == "applied"
    assert auto.get_backfill("bf").state == RUNNING
    assert_stale(auto, backfill_resumed("bf", request_id="r2"), "not PAUSED")
    assert [c.index for c in auto.due_chunks("bf")] == [2]


def test_a_backfill_paused_before_any_launch_resumes_as_requested(auto: Automation) -> None:
    request(auto)
    auto.append([backfill_paused("bf", occurred_ms=T0 + 1)])
    auto.append([backfill_resumed("bf", occurred_ms=T0 + 2)])
    assert auto.get_backfill("bf").state == REQUESTED


def test_a_failed_chunk_fails_the_backfill_and_a_retry_reruns_only_it(auto: Automation) -> None:
    request(auto, n=3, size=1, in_flight=3)
    for chunk in range(3):
        launch(auto, chunk)
    finish(auto, 0)
    finish(auto, 1, "FAILED")
    assert auto.get_backfill("bf").state == RUNNING
    finish(auto, 2)
    bf = auto.get_backfill("bf")
    assert bf.state == FAILED and bf.reason == "1 of 3 chunks failed"
    assert (bf.succeeded, bf.failed) == (2, 1)
    assert_stale(auto, backfill_retry_requested("bf", 2), "retry 2 is not the next one")
    retry = backfill_retry_requested("bf", 1, occurred_ms=T0 + 5)
    assert retry.idempotency_key == "backfill-retry:bf:1"
    assert outcome(auto, retry) == "applied"
    bf = auto.get_backfill("bf")
    assert (bf.state, bf.retries, bf.pending, bf.failed, bf.ended_at) == (RUNNING, 1, 1, 0, None)
    assert chunk_states(auto, "bf") == [SUCCEEDED, PENDING, SUCCEEDED]
    assert [c.try_number for c in auto.due_chunks("bf")] == [2]
    assert_stale(auto, rekey(retry, "again"), "is RUNNING, not FAILED")
    # the first try's late events are stale: only try 2 counts now
    assert outcome(auto, chunk_launched("bf", 1, 1, "r1-1")) == "duplicate"
    assert_stale(auto, rekey(chunk_launched("bf", 1, 1, "r1-1"), "x"), "is at try 2")
    assert launch(auto, 1, try_number=2, at=T0 + 6) == "applied"
    assert finish(auto, 1, try_number=2, at=T0 + 7) == "applied"
    bf = auto.get_backfill("bf")
    assert bf.state == SUCCEEDED and bf.chunks is not None
    assert bf.chunks[1].run_ids == ["r1-1", "r1-2"] and bf.chunks[1].try_number == 2


def test_cancel_cancels_pending_chunks_and_ends_once_in_flight_ones_finish(
    auto: Automation,
) -> None:
    request(auto, n=3, size=1, in_flight=3)
    launch(auto, 0)
    cancel = backfill_cancel_requested("bf", request_id="c", occurred_ms=T0 + 3)
    assert outcome(auto, cancel) == "applied"
    bf = auto.get_backfill("bf")
    assert (bf.state, bf.cancelled, bf.in_flight, bf.pending) == (CANCELLING, 2, 1, 0)
    assert chunk_states(auto, "bf") == [RUNNING, CANCELLED, CANCELLED]
    assert auto.due_chunks("bf") == []
    assert_stale(auto, backfill_cancel_requested("bf", request_id="c2"), "is CANCELLING")
    assert_stale(auto, backfill_resumed("bf"), "not PAUSED")
    assert finish(auto, 0, at=T0 + 4) == "applied"
    bf = auto.get_backfill("bf")
    assert bf.state == CANCELLED and bf.ended_at is not None and bf.succeeded == 1


def test_cancel_with_nothing_in_flight_ends_at_once(auto: Automation) -> None:
    request(auto)
    auto.append([backfill_paused("bf", occurred_ms=T0 + 1)])
    assert outcome(auto, backfill_cancel_requested("bf", occurred_ms=T0 + 2)) == "applied"
    bf = auto.get_backfill("bf")
    assert bf.state == CANCELLED and bf.cancelled == bf.chunk_count
    assert_stale(auto, backfill_retry_requested("bf", 1), "is CANCELLED, not FAILED")


def test_a_cancelled_chunk_run_fails_the_backfill_without_a_retry(auto: Automation) -> None:
    request(auto, n=1, size=1)
    launch(auto, 0)
    finish(auto, 0, "CANCELLED")
    bf = auto.get_backfill("bf")
    assert bf.state == FAILED and bf.reason == "0 of 1 chunks failed, 1 were cancelled"
    assert_stale(auto, backfill_retry_requested("bf", 1), "has no FAILED chunk")


def test_invalid_backfill_payloads_name_the_field() -> None:
    base: dict[str, Any] = {"backfill_id": "b", "assets": ["a/b"], "partitions": parts(2)}
    cases: dict[str, dict[str, Any]] = {
        "payload.assets: must name at least one asset": {"assets": []},
        "payload.partitions: must name 1 to": {"partitions": []},
        "payload.partitions: must not name a partition twice": {"partitions": parts(1) * 2},
        "payload.chunk_size: must be an integer from 1": {"chunk_size": 0},
        "payload.max_in_flight: must be an integer from 1": {"max_in_flight": 0},
        "payload.backfill_id: must not contain a space": {"backfill_id": "a b"},
    }
    for message, change in cases.items():
        with pytest.raises(ValidationError) as info:
            BackfillRequestedV1.from_payload({**base, **change})
        assert info.value.message.startswith(message), (message, info.value.message)


# --- evaluations ------------------------------------------------------------------------------


def test_evaluations_are_history_with_a_retention(auto: Automation) -> None:
    def ev(at: int, requested: bool = False, **kw: Any) -> Any:
        return evaluation_recorded(
            "sales/daily", "eager", requested, f"at {at}", evaluated_at_ms=at, retention_days=2,
            **kw,
        )  # fmt: skip

    assert outcome(auto, ev(T0)) == "applied"
    assert outcome(auto, ev(T0 + DAY, True, run_id="r1")) == "applied"
    assert outcome(auto, copy_of(ev(T0 + DAY, True, run_id="r1"))) == "duplicate"
    assert_stale(auto, rekey(ev(T0 + DAY), "x"), "already recorded")
    assert outcome(auto, ev(T0 + 3 * DAY)) == "applied"  # T0 falls out of the retention
    got = auto.evaluations("sales/daily")
    assert [(e.reason, e.requested, e.run_id) for e in got] == [
        (f"at {T0 + 3 * DAY}", False, None),
        (f"at {T0 + DAY}", True, "r1"),
    ]
    assert_stale(auto, ev(T0 - DAY), "more than 2 days older")
    other = evaluation_recorded(
        "sales/daily", "missing", True, "never materialized", partition_key=parts(1)[0],
        evaluated_at_ms=T0,
    )  # fmt: skip
    assert outcome(auto, other) == "applied"
    assert len(auto.evaluations(condition="missing")) == 1
    assert auto.evaluations(limit=1)[0].evaluated_at.year == 2026
