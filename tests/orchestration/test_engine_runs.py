"""Runs end to end in one process (issue 12's acceptance scenarios that need no other
process): selection, order, run_key, retries with backoff, failure skipping descendants,
lost attempts timed out, late callbacks rejected, records in executions and lineage."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from arco.catalog import Catalog
from arco.errors import IdempotencyConflictError
from arco.executions import Executions
from arco.orchestration.controller import lease_name
from arco.orchestration.dispatch import TaskEnvelope
from arco.orchestration.engine import AssetRunner, Orchestrator
from arco.orchestration.executors import Executor
from arco.orchestration.executors.inprocess import InProcessExecutor
from arco.orchestration.ledger_reporter import LedgerReporter
from arco.orchestration.runs import attempt_completed
from arco.orchestration.trigger import RunRequest
from arco.tier1.lock import LeaseLock
from orchestration_support import FAST, deploy_code, orchestrator, write_code

CHAIN = """
import pyarrow as pa
from arco import asset

@asset(namespace="demo")
def a(context):
    return pa.table({"x": [1, 2, 3]})

@asset(namespace="demo")
def b(context, a: pa.Table):
    return a.append_column("y", pa.array([v * 2 for v in a["x"].to_pylist()]))

@asset(namespace="demo")
def c(context, b: pa.Table):
    return b.filter(pa.compute.greater(b["y"], 2))
"""


def _url(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'store'}"


def test_selection_runs_only_what_is_selected_in_dependency_order(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", CHAIN)
    with orchestrator(_url(tmp_path), code) as orch:
        only_a = orch.trigger(RunRequest(selection=("demo/a",)))
        assert orch.wait(only_a, timeout=60).state == "SUCCEEDED"
        assert [t.task_key for t in orch.runs.tasks(only_a)] == ["demo/a:materialize"]

        everything = orch.trigger(RunRequest(selection=("+demo/c",)))
        assert orch.wait(everything, timeout=60).state == "SUCCEEDED"
        attempts = {a.task_key: a for a in orch.runs.attempts(everything)}
        assert sorted(attempts) == [f"demo/{n}:materialize" for n in "abc"]
        order = sorted(attempts.values(), key=lambda a: a.dispatched_at)
        assert [a.task_key for a in order] == [f"demo/{n}:materialize" for n in "abc"]
        for up, down in itertools.pairwise(order):
            assert up.ended_at is not None and down.started_at is not None
            assert up.ended_at <= down.started_at

        # C read B's real output (y = 2x > 2 keeps two of three rows)
        outputs = {t.task_key: t.output for t in orch.runs.tasks(everything)}
        c_output = outputs["demo/c:materialize"]
        assert c_output is not None and c_output["table"]["rows"] == 2


def test_success_is_recorded_in_executions_and_lineage(tmp_path: Path) -> None:
    url = _url(tmp_path)
    code = write_code(tmp_path / "code", CHAIN)
    with orchestrator(url, code) as orch:
        run_id = orch.trigger(RunRequest(selection=("+demo/c",)))
        assert orch.wait(run_id, timeout=60).state == "SUCCEEDED"
    with Executions.open(url) as executions:
        executions.compact()
        rows = executions.list_materializations(run_id=run_id).items
        assert sorted((m.asset_key, m.rows) for m in rows) == [
            ("demo/a", 3),
            ("demo/b", 3),
            ("demo/c", 2),
        ]
    catalog = Catalog.open(url)
    graph = catalog.lineage("demo/b", direction="both", depth=1)
    edges = {(e.source, e.target) for e in graph.edges}
    assert {("demo/a", "demo/b"), ("demo/b", "demo/c")} <= edges
    assert {t.name for t in catalog.list_tables("demo").items} == {"a", "b", "c"}


def test_the_same_run_key_gives_the_same_run_and_another_request_is_refused(
    tmp_path: Path,
) -> None:
    code = write_code(tmp_path / "code", CHAIN)
    with orchestrator(_url(tmp_path), code) as orch:
        first = orch.trigger(RunRequest(selection=("demo/a",), run_key="nightly-1"))
        again = orch.trigger(RunRequest(selection=("demo/a",), run_key="nightly-1"))
        assert first == again
        with pytest.raises(IdempotencyConflictError, match="nightly-1"):
            orch.trigger(RunRequest(selection=("+demo/c",), run_key="nightly-1"))
        assert orch.wait(first, timeout=60).state == "SUCCEEDED"
        assert [r.run_id for r in orch.runs.list_runs().items] == [first]


FLAKY = """
import pyarrow as pa
from arco import asset, RetryPolicy

@asset(namespace="demo", retry=RetryPolicy(max_attempts=3, backoff_s=0.4, jitter=0))
def flaky(context):
    if context.attempt == 1:
        raise ConnectionError("the source was unreachable")
    return pa.table({"x": [context.attempt]})
"""


def test_a_retryable_failure_is_retried_after_its_backoff(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", FLAKY)
    with orchestrator(_url(tmp_path), code) as orch:
        run_id = orch.trigger(RunRequest(selection=("demo/flaky",)))
        assert orch.wait(run_id, timeout=60).state == "SUCCEEDED"
        attempts = orch.runs.attempts(run_id)
        assert [(a.attempt, a.state) for a in attempts] == [(1, "FAILED"), (2, "SUCCEEDED")]
        first, second = attempts
        assert first.error is not None and "ConnectionError" in first.error
        assert first.retryable is True
        assert first.ended_at is not None
        assert (second.dispatched_at - first.ended_at).total_seconds() >= 0.4
        [task] = orch.runs.tasks(run_id)
        assert task.attempt == 2


BRANCHES = """
import pyarrow as pa
from arco import asset, RetryPolicy
from arco.orchestration.dispatch import TaskFailure

@asset(namespace="demo", retry=RetryPolicy(max_attempts=3, backoff_s=0))
def broken(context):
    raise TaskFailure("the input is malformed", retryable=False)

@asset(namespace="demo")
def after_broken(context, broken: pa.Table):
    return broken

@asset(namespace="demo")
def independent(context):
    return pa.table({"x": [1]})

@asset(namespace="demo")
def after_independent(context, independent: pa.Table):
    return independent
"""


def test_a_failure_skips_descendants_while_an_independent_branch_finishes(
    tmp_path: Path,
) -> None:
    code = write_code(tmp_path / "code", BRANCHES)
    with orchestrator(_url(tmp_path), code) as orch:
        run_id = orch.trigger(RunRequest(selection=("*",)))
        run = orch.wait(run_id, timeout=60)
        assert run.state == "FAILED"
        states = {t.task_key.split(":")[0]: t.state for t in orch.runs.tasks(run_id)}
        assert states == {
            "demo/broken": "FAILED",
            "demo/after_broken": "SKIPPED",
            "demo/independent": "SUCCEEDED",
            "demo/after_independent": "SUCCEEDED",
        }
        # not retried: the failure said so, whatever the policy allows
        assert len(orch.runs.attempts(run_id, "demo/broken:materialize")) == 1


class _DropsFirstAttempt:
    """An executor that loses the first attempt it is given (as a dead worker would)."""

    def __init__(self, inner: InProcessExecutor) -> None:
        self.inner = inner
        self.name = inner.name
        self.capacity = inner.capacity
        self.dropped: list[TaskEnvelope] = []

    def submit(self, envelope: TaskEnvelope) -> None:
        if not self.dropped:
            self.dropped.append(envelope)
            return
        self.inner.submit(envelope)

    def cancel(self, attempt_id: str) -> None:
        self.inner.cancel(attempt_id)

    def close(self) -> None:
        self.inner.close()


RETRIED = """
import pyarrow as pa
from arco import asset, RetryPolicy

@asset(namespace="demo", retry=RetryPolicy(max_attempts=2, backoff_s=0))
def only(context):
    return pa.table({"attempt": [context.attempt]})
"""


def test_a_lost_attempt_is_timed_out_retried_and_its_late_callback_rejected(
    tmp_path: Path,
) -> None:
    url = _url(tmp_path)
    code = write_code(tmp_path / "code", RETRIED)
    deploy_code(url, code)
    executors: list[_DropsFirstAttempt] = []

    def factory(reporter: LedgerReporter, runner: AssetRunner) -> Executor:
        executors.append(_DropsFirstAttempt(InProcessExecutor(reporter, runner())))
        return executors[0]

    options = FAST.__class__(**{**FAST.__dict__, "start_timeout_s": 1.0})
    with Orchestrator(
        url, code_location=str(code), options=options, executor_factory=factory
    ) as orch:
        run_id = orch.trigger(RunRequest(selection=("demo/only",)))
        assert orch.wait(run_id, timeout=60).state == "SUCCEEDED"
        attempts = orch.runs.attempts(run_id)
        assert [(a.attempt, a.state) for a in attempts] == [(1, "TIMED_OUT"), (2, "SUCCEEDED")]
        lost = executors[0].dropped[0]
        assert lost.attempt_id == attempts[0].attempt_id

        # the zombie reports success after all: rejected, nothing changes
        orch.runs.flush()
        before = orch.runs.tasks(run_id)
        late = attempt_completed(
            run_id, lost.task_key, lost.attempt_id, "succeeded", output={"table": None}
        )
        orch.runs.append([late], fold="inline")
        assert orch.runs.tasks(run_id) == before
        assert orch.runs.get_attempt(lost.attempt_id).state == "TIMED_OUT"
        outcomes = {
            row.outcome
            for row in orch.runs.state().ingested.values()
            if row.dedupe_key == f"k:complete:{lost.attempt_id}"
        }
        assert outcomes == {"stale"}


def test_the_controller_wakes_on_reports_instead_of_polling(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", CHAIN)
    with orchestrator(_url(tmp_path), code, idle_wait_s=30.0) as orch:
        run_id = orch.trigger(RunRequest(selection=("+demo/c",)))
        done = threading.Event()
        result: list[str] = []

        def wait() -> None:
            result.append(orch.wait(run_id, timeout=20).state)
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        assert done.wait(20), "the run did not finish without a 30 s idle poll"
        assert result == ["SUCCEEDED"]


LONG = """
import time
from pathlib import Path
import pyarrow as pa
from arco import asset

STARTED = Path({started!r})

@asset(namespace="demo")
def long(context):
    STARTED.touch()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        context.check_cancelled()
        time.sleep(0.01)
    return pa.table({{"x": [1]}})

@asset(namespace="demo")
def after_long(context, long: pa.Table):
    return long
"""


def test_cancel_reaches_a_running_asset_and_nothing_stays_running(tmp_path: Path) -> None:
    started = tmp_path / "started"
    code = write_code(tmp_path / "code", LONG.format(started=str(started)))
    with orchestrator(_url(tmp_path), code) as orch:
        run_id = orch.trigger(RunRequest(selection=("*",)))
        orch.start()
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline, "the asset never started"
            time.sleep(0.01)
        orch.cancel(run_id, reason="stop")
        run = orch.wait(run_id, timeout=30)
        assert run.state == "CANCELLED"
        states = {t.task_key: t.state for t in orch.runs.tasks(run_id)}
        assert states == {
            "demo/long:materialize": "CANCELLED",
            "demo/after_long:materialize": "CANCELLED",
        }
        [attempt] = orch.runs.attempts(run_id)
        assert (attempt.state, attempt.error_category) == ("CANCELLED", "cancelled")
        assert not [a for a in orch.runs.attempts(run_id) if a.state in ("RUNNING", "DISPATCHED")]


def test_a_run_whose_executor_nobody_serves_is_cancelled_by_its_timer(tmp_path: Path) -> None:
    url = _url(tmp_path)
    code = write_code(tmp_path / "code", CHAIN)
    with orchestrator(url, code, orphan_timeout_s=0.5) as orch:
        served = orch.trigger(RunRequest(selection=("demo/a",), executor="dask://nowhere:1"))
        # a controller of executor "pool" holds its lease: its runs are waited for
        pool = LeaseLock(orch.store, lease_name("pool"), lease_ms=60_000)
        assert pool.try_acquire() is not None
        waited = orch.trigger(RunRequest(selection=("demo/b",), executor="pool"))
        orch.start()
        deadline = time.monotonic() + 30
        while orch.runs.get_run(served).state != "CANCELLED":
            assert time.monotonic() < deadline, "the orphaned run was never ended"
            time.sleep(0.05)
        run = orch.runs.get_run(served)
        assert run.reason is not None and "dask://nowhere:1" in run.reason
        time.sleep(1.0)
        assert orch.runs.get_run(waited).state == "TRIGGERED"
