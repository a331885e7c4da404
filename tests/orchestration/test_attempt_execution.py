"""Running one attempt: every outcome reported once, after ``started``; failures classified
(retryable or not, by category); a heartbeat answer that asks to stop reaches the asset."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from arco.orchestration.attempt import Cancellation, execute_attempt
from arco.orchestration.dispatch import TaskEnvelope, TaskFailure, TaskResult
from arco.orchestration.trigger import RunRequest, request_hash


def _envelope(**changes: Any) -> TaskEnvelope:
    fields: dict[str, Any] = {
        "run_id": "run1",
        "task_key": "demo/a:materialize",
        "attempt": 1,
        "attempt_id": "att1",
        "asset_key": "demo/a",
        "entry_point": "x:y",
        "start_deadline_ms": 0,
        "heartbeat_interval_s": 0.02,
    }
    return TaskEnvelope(**{**fields, **changes})


class Recorder:
    """A reporter that records the calls; ``cancel_after`` heartbeats answer stop."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.calls: list[str] = []
        self.results: list[TaskResult] = []
        self.beats = 0
        self.cancel_after = cancel_after
        self.lock = threading.Lock()

    def started(self, envelope: TaskEnvelope, worker: str) -> None:
        self.calls.append("started")

    def heartbeat(self, envelope: TaskEnvelope) -> bool:
        with self.lock:
            self.beats += 1
            return self.cancel_after is not None and self.beats >= self.cancel_after

    def completed(self, envelope: TaskEnvelope, result: TaskResult) -> None:
        self.calls.append("completed")
        self.results.append(result)


def _run(fn: Any, reporter: Recorder | None = None) -> tuple[TaskResult, Recorder]:
    reporter = reporter or Recorder()
    result = execute_attempt(_envelope(), reporter, fn, worker="test")
    assert reporter.calls == ["started", "completed"]
    assert reporter.results == [result]
    return result, reporter


def test_a_success_reports_its_output() -> None:
    result, _ = _run(lambda env, c: {"table": None, "checks": []})
    assert result == TaskResult(status="succeeded", output={"table": None, "checks": []})


@pytest.mark.parametrize(
    ("error", "category", "retryable", "message"),
    [
        (ValueError("bad\nvalue"), "error", True, "ValueError: bad value"),
        (TaskFailure("input malformed", retryable=False), "error", False, "input malformed"),
        (TaskFailure("check x failed", retryable=False, category="check"), "check", False, None),
        (ConnectionError(), "error", True, "ConnectionError"),
    ],
)
def test_failures_are_classified(
    error: Exception, category: str, retryable: bool, message: str | None
) -> None:
    def fail(env: TaskEnvelope, c: Cancellation) -> None:
        raise error

    result, _ = _run(fail)
    assert (result.status, result.error_category, result.retryable) == (
        "failed",
        category,
        retryable,
    )
    if message is not None:
        assert result.error == message


def test_a_heartbeat_asking_to_stop_reaches_the_asset() -> None:
    def long(env: TaskEnvelope, cancellation: Cancellation) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cancellation.check_cancelled()
            time.sleep(0.005)
        raise AssertionError("never cancelled")

    result, reporter = _run(long, Recorder(cancel_after=2))
    assert (result.status, result.error_category, result.retryable) == (
        "failed",
        "cancelled",
        False,
    )
    assert reporter.beats >= 2


def test_request_hashes_tell_requests_apart() -> None:
    base = RunRequest(selection=("a/b",))
    same = RunRequest(selection=("a/b",), run_key="k")  # the key is not the request
    assert request_hash(base, "d1") == request_hash(same, "d1")
    for other, deployment in [
        (RunRequest(selection=("a/b+",)), "d1"),
        (RunRequest(selection=("a/b",), partitions=("date=d:2026-01-01",)), "d1"),
        (RunRequest(selection=("a/b",), priority=1), "d1"),
        (RunRequest(selection=("a/b",), executor="pool"), "d1"),
        (RunRequest(selection=("a/b",), tags={"x": "y"}), "d1"),
        (base, "d2"),
    ]:
        assert request_hash(other, deployment) != request_hash(base, "d1")
