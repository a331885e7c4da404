"""The state machines of the ``runs`` domain, event by event, on a real local store.

Every transition is applied by the compactor (folded inline); an event that is not a legal
transition folds to ``stale``, says why, and writes nothing but its ``ingested`` row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arco.errors import ValidationError
from arco.metadata.manifest import read_manifest
from arco.orchestration.runs import (
    BLOCKED,
    CANCELLED,
    CANCELLING,
    DISPATCHED,
    FAILED,
    READY,
    RETRY_WAIT,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    TIMED_OUT,
    TRIGGERED,
    RetryV1,
    Runs,
    attempt_completed,
    attempt_heartbeat,
    attempt_started,
    attempt_timed_out,
    retry_delay_ms,
    run_cancel_requested,
    task_dispatched,
)
from arco.orchestration.runs.payloads import RunTriggeredV1
from arco.storage import open_store
from arco.tier2.compactor import CompactorOptions
from arco.tier2.envelope import EventEnvelope
from runs_support import T0, copy_of, ingested, outcome, spec, states, task_row, trigger


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Runs]:
    options = CompactorOptions(background_checkpoints=False, checkpoint_every=1_000_000)
    with Runs(open_store(f"file://{tmp_path}"), fold="inline", options=options) as r:
        yield r


def rekey(event: EventEnvelope, key: str) -> EventEnvelope:
    """The event under another idempotency key (another decision, not a copy)."""
    return copy_of(EventEnvelope(**{**event.model_dump(), "idempotency_key": key}))


def dispatch(run: str, key: str, attempt: int = 1, at: int = T0 + 1) -> EventEnvelope:
    return task_dispatched(
        run, key, attempt, f"{run}-{key}-{attempt}", "inline", at + 60_000, occurred_ms=at
    )


def aid(run: str, key: str, attempt: int = 1) -> str:
    return f"{run}-{key}-{attempt}"


def succeed(
    run: str, key: str, attempt: int = 1, at: int = T0 + 2, output: dict[str, Any] | None = None
) -> EventEnvelope:
    return attempt_completed(
        run, key, aid(run, key, attempt), "succeeded", output=output, occurred_ms=at
    )


def fail(
    run: str, key: str, attempt: int = 1, at: int = T0 + 2, retryable: bool = False
) -> EventEnvelope:
    return attempt_completed(
        run,
        key,
        aid(run, key, attempt),
        "failed",
        error="boom",
        error_category="user",
        retryable=retryable,
        occurred_ms=at,
    )


def assert_stale(runs: Runs, event: EventEnvelope, why: str) -> None:
    """The event folds to stale, with a detail matching ``why``, and changes no row."""
    before = runs.state()
    (key,) = runs.append([event])
    row = ingested(runs, key)
    assert row.outcome == "stale", row
    assert row.detail is not None and why in row.detail, row.detail
    head = read_manifest(runs.store, "runs")
    assert head is not None
    v = row.version  # (the fixture compacts no files: each commit's delta files stay listed)
    written = {f.table for f in head.manifest.files if f.from_version == f.version == v}
    assert written == {"ingested"}  # the commit of the stale event wrote nothing else
    after = runs.state()
    for table in ("runs", "tasks", "attempts"):
        assert dict(getattr(after, table).items()) == dict(getattr(before, table).items())


# --- run_triggered ------------------------------------------------------------------------


def test_trigger_creates_the_run_and_its_tasks_ready_or_blocked(runs: Runs) -> None:
    assert outcome(runs, trigger("r1", [spec("a"), spec("b", ["a"]), spec("c")])) == "applied"
    run = runs.get_run("r1")
    assert run.state == TRIGGERED and run.task_count == 3 and run.started_at is None
    assert run.selection == ["test/*"] and run.tags == {} and run.executor == "inline"
    assert states(runs, "r1") == {"a": READY, "b": BLOCKED, "c": READY}
    tasks = runs.tasks("r1")
    assert [t.task_key for t in tasks] == ["a", "b", "c"]
    assert tasks[1].upstream == ["a"] and tasks[1].attempt == 0 and tasks[1].attempt_id is None
    assert tasks[0].retry == {"backoff_s": 1.0, "factor": 2.0, "max_backoff_s": 60.0, "jitter": 0.0}
    assert runs.state().downstream("r1", "a") == ["b"]
    assert [r.run_id for r in runs.state().active_runs()] == ["r1"]


def test_a_second_trigger_of_a_run_id_is_stale(runs: Runs) -> None:
    runs.append([trigger("r1", [spec("a")])])
    other = trigger("r1", [spec("x")], request_hash="h2")
    # another idempotency key would be needed for a real second trigger: same key is a copy
    assert outcome(runs, other) == "duplicate"
    assert_stale(runs, rekey(other, "trigger:other"), "already exists")


def test_re_execution_starts_done_tasks_succeeded_with_their_outputs(runs: Runs) -> None:
    event = trigger(
        "r2",
        [spec("a"), spec("b", ["a"]), spec("c", ["b"])],
        done=["a"],
        outputs={"a": {"rows": 3}},
    )
    runs.append([event])
    assert states(runs, "r2") == {"a": SUCCEEDED, "b": READY, "c": BLOCKED}
    assert runs.tasks("r2")[0].output == {"rows": 3}


def test_a_run_whose_tasks_are_all_done_succeeds_at_once(runs: Runs) -> None:
    runs.append([trigger("r3", [spec("a")], done=["a"])])
    run = runs.get_run("r3")
    assert run.state == SUCCEEDED and run.ended_at is not None
    assert runs.state().active_runs() == []


def test_invalid_trigger_payloads_name_the_field() -> None:
    base = {
        "run_id": "r",
        "request_hash": "h",
        "plan_fingerprint": "fp",
        "executor": "inline",
        "tasks": [{"task_key": "a", "asset_key": "test/a"}],
    }
    cases: dict[str, dict[str, Any]] = {
        "payload.tasks.0.upstream: 'zz' is not a task of the run": {
            "tasks": [{"task_key": "a", "asset_key": "test/a", "upstream": ["zz"]}]
        },
        "payload.tasks: the dependencies have a cycle": {
            "tasks": [
                {"task_key": "a", "asset_key": "test/a", "upstream": ["b"]},
                {"task_key": "b", "asset_key": "test/b", "upstream": ["a"]},
            ]
        },
        "payload.done: 'q' is not a task of the run": {"done": ["q"]},
        "payload.run_id: must not contain a space": {"run_id": "a b"},
        "payload.tasks.0.retry.jitter: must be from 0 to 1": {
            "tasks": [{"task_key": "a", "asset_key": "test/a", "retry": {"jitter": "1.5"}}]
        },
        "payload.tasks.0.max_attempts: must be an integer from 1 to 100": {
            "tasks": [{"task_key": "a", "asset_key": "test/a", "max_attempts": 0}]
        },
        "payload.priority: must be an integer": {"priority": "high"},
        "payload.extra: is not a field of a run_triggered payload": {"extra": 1},
    }
    for message, change in cases.items():
        with pytest.raises(ValidationError) as info:
            RunTriggeredV1.from_payload({**base, **change})
        assert info.value.message.startswith(message), (message, info.value.message)


def test_fractional_numbers_travel_as_decimal_strings(runs: Runs) -> None:
    retry = RetryV1(backoff_s=0.5, factor=1.5, max_backoff_s=10, jitter=0.25)
    event = trigger("r4", [spec("a", retry=retry)])
    assert event.payload["tasks"][0]["retry"] == {
        "backoff_s": "0.5",
        "factor": "1.5",
        "jitter": "0.25",
        "max_backoff_s": "10.0",
    }
    runs.append([event])
    assert runs.tasks("r4")[0].retry == {
        "backoff_s": 0.5,
        "factor": 1.5,
        "max_backoff_s": 10.0,
        "jitter": 0.25,
    }


# --- dispatch, start, heartbeat, completion -------------------------------------------------


def test_the_happy_path_of_one_task(runs: Runs) -> None:
    runs.append([trigger("r", [spec("a"), spec("b", ["a"])])])
    assert outcome(runs, dispatch("r", "a", at=T0 + 10)) == "applied"
    run = runs.get_run("r")
    assert run.state == RUNNING and run.started_at is not None
    assert task_row(runs, "r", "a").state == DISPATCHED
    attempt = runs.get_attempt(aid("r", "a"))
    assert attempt.state == DISPATCHED and attempt.attempt == 1 and attempt.started_at is None
    assert outcome(runs, attempt_started("r", "a", aid("r", "a"), "w1", occurred_ms=T0 + 20)) == (
        "applied"
    )
    attempt = runs.get_attempt(aid("r", "a"))
    assert attempt.state == RUNNING and attempt.worker == "w1"
    assert task_row(runs, "r", "a").state == RUNNING
    hb = attempt_heartbeat("r", "a", aid("r", "a"), 1, occurred_ms=T0 + 30)
    assert outcome(runs, hb) == "applied"
    assert runs.state().attempts[aid("r", "a")].heartbeat_at == T0 + 30
    assert outcome(runs, succeed("r", "a", at=T0 + 40, output={"rows": 7})) == "applied"
    a = task_row(runs, "r", "a")
    assert a.state == SUCCEEDED and runs.tasks("r")[0].output == {"rows": 7}
    assert runs.get_attempt(aid("r", "a")).output == {"rows": 7}
    assert task_row(runs, "r", "b").state == READY
    runs.append([dispatch("r", "b", at=T0 + 50), succeed("r", "b", at=T0 + 60)])
    run = runs.get_run("r")
    assert run.state == SUCCEEDED and run.reason is None
    assert run.ended_at is not None and int(run.ended_at.timestamp() * 1000) == T0 + 60
    assert [a.attempt_id for a in runs.attempts("r")] == [aid("r", "a"), aid("r", "b")]
    assert [a.attempt_id for a in runs.attempts("r", "b")] == [aid("r", "b")]


def test_dispatch_is_stale_unless_ready_and_next(runs: Runs) -> None:
    runs.append([trigger("r", [spec("a"), spec("b", ["a"])])])
    assert_stale(runs, dispatch("r", "b"), "not READY")  # BLOCKED
    assert_stale(runs, dispatch("r", "a", attempt=2), "not the next one")
    assert_stale(runs, dispatch("nope", "a"), "does not exist")
    assert_stale(runs, dispatch("r", "zz"), "has no task")
    runs.append([dispatch("r", "a")])
    again = task_dispatched("r", "a", 1, "other-id", "inline", T0, occurred_ms=T0 + 5)
    assert again.idempotency_key == "dispatch:r:a:1"
    assert outcome(runs, again) == "duplicate"  # the same decision by another controller
    assert_stale(runs, rekey(again, "x"), "not the next one")


def test_started_twice_and_heartbeats_of_other_attempts_are_stale(runs: Runs) -> None:
    runs.append([trigger("r", [spec("a")]), dispatch("r", "a")])
    runs.append([attempt_started("r", "a", aid("r", "a"), occurred_ms=T0 + 2)])
    second = attempt_started("r", "a", aid("r", "a"), occurred_ms=T0 + 3)
    assert_stale(runs, rekey(second, "started:again"), "already started")
    assert_stale(
        runs, attempt_heartbeat("r", "a", "zombie", 1, occurred_ms=T0 + 4), "not the current"
    )


def test_a_heartbeat_starts_a_dispatched_attempt(runs: Runs) -> None:
    runs.append([trigger("r", [spec("a")]), dispatch("r", "a")])
    runs.append([attempt_heartbeat("r", "a", aid("r", "a"), 1, occurred_ms=T0 + 9)])
    attempt = runs.state().attempts[aid("r", "a")]
    assert attempt.state == RUNNING and attempt.started_at == T0 + 9
    assert task_row(runs, "r", "a").state == RUNNING


def test_a_second_success_is_stale_and_a_copy_is_a_duplicate(runs: Runs) -> None:
    runs.append([trigger("r", [spec("a"), spec("b", ["a"])]), dispatch("r", "a")])
    first = succeed("r", "a", output={"n": 1})
    assert outcome(runs, first) == "applied"
    assert outcome(runs, copy_of(first)) == "duplicate"
    assert_stale(runs, rekey(succeed("r", "a", output={"n": 2}), "complete:2"), "is SUCCEEDED")
    assert runs.tasks("r")[0].output == {"n": 1}


def test_a_late_completion_of_an_old_attempt_after_a_retry_was_dispatched_is_stale(
    runs: Runs,
) -> None:
    runs.append([trigger("r", [spec("a", max_attempts=3)]), dispatch("r", "a")])
    runs.append([fail("r", "a", retryable=True, at=T0 + 10)])
    task = task_row(runs, "r", "a")
    assert task.state == RETRY_WAIT and task.retry_at == T0 + 10 + 1000  # 1 s, no jitter
    assert task.error == "boom"
    # (a stale event's key is used up: the early dispatch is another controller's decision)
    assert_stale(runs, rekey(dispatch("r", "a", 2, at=T0 + 500), "early"), "waits to retry")
    runs.append([dispatch("r", "a", attempt=2, at=T0 + 1010)])
    task = task_row(runs, "r", "a")
    assert task.state == DISPATCHED and task.attempt == 2 and task.attempt_id == aid("r", "a", 2)
    zombie = rekey(succeed("r", "a", 1, at=T0 + 1020), "late")
    assert_stale(runs, zombie, "not the current attempt")
    assert_stale(
        runs, attempt_started("r", "a", aid("r", "a"), occurred_ms=T0 + 1021), "not the current"
    )
    runs.append([succeed("r", "a", 2, at=T0 + 1030)])
    assert runs.get_run("r").state == SUCCEEDED
    assert [a.state for a in runs.attempts("r", "a")] == [FAILED, SUCCEEDED]


def test_retries_wait_longer_and_end_in_failure(runs: Runs) -> None:
    runs.append([trigger("r", [spec("a", max_attempts=3)])])
    at = T0
    waits = []
    for n in (1, 2, 3):
        runs.append([dispatch("r", "a", attempt=n, at=at)])
        runs.append([fail("r", "a", attempt=n, retryable=True, at=at + 1)])
        task = task_row(runs, "r", "a")
        if n < 3:
            assert task.state == RETRY_WAIT and task.retry_at is not None
            waits.append(task.retry_at - (at + 1))
            at = task.retry_at
    assert waits == [1000, 2000]
    assert task.state == FAILED and task.attempt == 3
    run = runs.get_run("r")
    assert run.state == FAILED and run.reason == "task 'a' failed"


def test_a_timeout_is_a_retryable_failure(runs: Runs) -> None:
    runs.append([trigger("r", [spec("a", max_attempts=2)]), dispatch("r", "a")])
    event = attempt_timed_out("r", "a", aid("r", "a"), "start_deadline", occurred_ms=T0 + 5)
    assert event.idempotency_key == f"timeout:{aid('r', 'a')}"
    assert outcome(runs, event) == "applied"
    attempt = runs.get_attempt(aid("r", "a"))
    assert attempt.state == TIMED_OUT and attempt.error == "start_deadline"
    assert attempt.retryable is True
    assert task_row(runs, "r", "a").state == RETRY_WAIT
    late = attempt_completed("r", "a", aid("r", "a"), "succeeded", occurred_ms=T0 + 6)
    assert_stale(runs, late, "TIMED_OUT")


def test_failure_skips_descendants_while_an_independent_branch_succeeds(runs: Runs) -> None:
    # a -> b -> c, and an independent d
    runs.append([trigger("r", [spec("a"), spec("b", ["a"]), spec("c", ["b"]), spec("d")])])
    runs.append([dispatch("r", "a"), dispatch("r", "d")])
    runs.append([fail("r", "a")])
    assert states(runs, "r") == {"a": FAILED, "b": SKIPPED, "c": SKIPPED, "d": DISPATCHED}
    assert task_row(runs, "r", "c").error == "upstream task 'a' failed"
    assert runs.get_run("r").state == RUNNING  # d is still running
    runs.append([succeed("r", "d")])
    run = runs.get_run("r")
    assert run.state == FAILED and run.reason == "task 'a' failed"
    assert runs.state().active_runs() == []


# --- cancellation -----------------------------------------------------------------------


def test_cancel_cancels_waiting_tasks_and_asks_running_attempts_to_stop(runs: Runs) -> None:
    runs.append([trigger("r", [spec("a"), spec("b", ["a"]), spec("c")])])
    runs.append([dispatch("r", "a")])
    event = run_cancel_requested("r", "user asked", occurred_ms=T0 + 5)
    assert event.idempotency_key == "cancel:r"
    assert outcome(runs, event) == "applied"
    run = runs.get_run("r")
    assert run.state == CANCELLING and run.reason == "user asked"
    assert states(runs, "r") == {"a": DISPATCHED, "b": CANCELLED, "c": CANCELLED}
    assert runs.get_attempt(aid("r", "a")).cancel_requested is True
    assert_stale(runs, rekey(event, "cancel:again"), "is CANCELLING")
    assert_stale(runs, dispatch("r", "c"), "is CANCELLING")
    runs.append([fail("r", "a", retryable=True)])
    assert task_row(runs, "r", "a").state == CANCELLED
    assert runs.get_attempt(aid("r", "a")).state == CANCELLED
    run = runs.get_run("r")
    assert run.state == CANCELLED and run.ended_at is not None
    assert_stale(runs, rekey(event, "cancel:late"), "is CANCELLED")


def test_cancel_then_a_late_completion(runs: Runs) -> None:
    runs.append([trigger("r", [spec("a")]), dispatch("r", "a")])
    runs.append([run_cancel_requested("r", occurred_ms=T0 + 3)])
    runs.append([attempt_timed_out("r", "a", aid("r", "a"), "heartbeat", occurred_ms=T0 + 4)])
    assert runs.get_run("r").state == CANCELLED
    assert_stale(runs, succeed("r", "a", at=T0 + 5), "TIMED_OUT")


def test_a_cancel_of_an_idle_run_ends_it_and_a_finished_run_cannot_be_cancelled(
    runs: Runs,
) -> None:
    runs.append([trigger("r", [spec("a")])])
    runs.append([run_cancel_requested("r", occurred_ms=T0 + 3)])
    run = runs.get_run("r")
    assert run.state == CANCELLED and run.reason == "cancel requested"
    runs.append([trigger("s", [spec("a")], done=["a"])])
    assert_stale(runs, run_cancel_requested("s", occurred_ms=T0 + 3), "is SUCCEEDED")


# --- retry backoff ----------------------------------------------------------------------


def test_retry_delay_is_deterministic_and_within_its_bounds() -> None:
    retry = RetryV1(backoff_s=2.0, factor=3.0, max_backoff_s=100.0, jitter=0.5)
    for attempt in range(1, 8):
        base = min(100.0, 2.0 * 3.0 ** (attempt - 1)) * 1000
        delays = {retry_delay_ms(retry, attempt, f"id-{i}") for i in range(200)}
        assert all(base * 0.5 - 1 <= d <= base * 1.5 + 1 for d in delays), (attempt, delays)
        assert max(delays) - min(delays) > base * 0.5  # the jitter spreads them
        assert retry_delay_ms(retry, attempt, "same") == retry_delay_ms(retry, attempt, "same")
    exact = RetryV1(backoff_s=1.5, factor=2.0, max_backoff_s=5.0, jitter=0.0)
    assert [retry_delay_ms(exact, n, "x") for n in (1, 2, 3, 4)] == [1500, 3000, 5000, 5000]
    huge = RetryV1(backoff_s=1.0, factor=1e300, max_backoff_s=7.0, jitter=0.0)
    assert retry_delay_ms(huge, 100, "x") == 7000  # no overflow


def test_the_retry_at_of_a_failure_uses_the_jittered_delay(runs: Runs) -> None:
    retry = RetryV1(backoff_s=10.0, factor=2.0, max_backoff_s=60.0, jitter=0.3)
    runs.append([trigger("r", [spec("a", max_attempts=2, retry=retry)]), dispatch("r", "a")])
    runs.append([fail("r", "a", retryable=True, at=T0 + 100)])
    expected = T0 + 100 + retry_delay_ms(retry, 1, aid("r", "a"))
    assert task_row(runs, "r", "a").retry_at == expected


def test_a_non_retryable_failure_does_not_retry(runs: Runs) -> None:
    runs.append([trigger("r", [spec("a", max_attempts=5)]), dispatch("r", "a")])
    runs.append([fail("r", "a", retryable=False)])
    assert task_row(runs, "r", "a").state == FAILED
    assert runs.get_run("r").state == FAILED
