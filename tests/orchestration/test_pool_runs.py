"""Runs on the process pool (real worker processes): a killed worker is a retryable
failure, cancelling stops a running attempt, pool limits hold, and re-execution from a
failure runs only what did not succeed."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from arco.orchestration.runs import Attempt
from arco.orchestration.trigger import RunRequest
from orchestration_support import alive, orchestrator, write_code


def _url(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'store'}"


def _wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


WAITS = """
import os, time
from pathlib import Path
import pyarrow as pa
from arco import asset, RetryPolicy

SIGNALS = Path({signals!r})

@asset(namespace="demo", retry=RetryPolicy(max_attempts=2, backoff_s=0))
def slow(context):
    (SIGNALS / f"pid-{{context.attempt}}").write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not (SIGNALS / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("no go file")
        time.sleep(0.02)
    return pa.table({{"attempt": [context.attempt]}})
"""


def test_a_worker_killed_mid_task_fails_only_that_attempt_and_it_is_retried(
    tmp_path: Path,
) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    code = write_code(tmp_path / "code", WAITS.format(signals=str(signals)))
    with orchestrator(_url(tmp_path), code, executor="pool") as orch:
        run_id = orch.trigger(RunRequest(selection=("demo/slow",), executor="pool"))
        orch.start()
        _wait_for((signals / "pid-1").exists)
        os.kill(int((signals / "pid-1").read_text()), signal.SIGKILL)
        _wait_for((signals / "pid-2").exists)
        (signals / "go").touch()
        run = orch.wait(run_id, timeout=60)
        assert run.state == "SUCCEEDED"
        attempts = orch.runs.attempts(run_id)
        assert [(a.attempt, a.state, a.error_category) for a in attempts] == [
            (1, "FAILED", "crash"),
            (2, "SUCCEEDED", None),
        ]
        assert attempts[0].retryable is True
        assert attempts[0].worker != attempts[1].worker  # a new process took over


def test_cancelling_a_run_stops_its_running_attempt(tmp_path: Path) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    code = write_code(tmp_path / "code", WAITS.format(signals=str(signals)))
    with orchestrator(_url(tmp_path), code, executor="pool") as orch:
        run_id = orch.trigger(RunRequest(selection=("demo/slow",), executor="pool"))
        orch.start()
        _wait_for((signals / "pid-1").exists)
        pid = int((signals / "pid-1").read_text())
        orch.cancel(run_id, reason="not needed today")
        run = orch.wait(run_id, timeout=60)
        assert run.state == "CANCELLED"
        [task] = orch.runs.tasks(run_id)
        assert task.state == "CANCELLED"
        assert [(a.state, a.error_category) for a in orch.runs.attempts(run_id)] == [
            ("CANCELLED", "cancelled")
        ]
        _wait_for(lambda: not alive(pid))
        assert not (signals / "pid-2").exists()


def _pooled_assets(n: int) -> str:
    lines = ["import time", "import pyarrow as pa", "from arco import asset", ""]
    for i in range(n):
        lines += [
            '@asset(namespace="demo", tags={"pool": "warehouse"})',
            f"def load_{i:02d}(context):",
            "    time.sleep(0.15)",
            f'    return pa.table({{"i": [{i}]}})',
            "",
        ]
    return "\n".join(lines)


def _max_overlap(attempts: list[Attempt]) -> int:
    edges: list[tuple[float, int]] = []
    for a in attempts:
        assert a.started_at is not None and a.ended_at is not None
        edges.append((a.started_at.timestamp(), 1))
        edges.append((a.ended_at.timestamp(), -1))
    running = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        running += step
        peak = max(peak, running)
    return peak


def test_a_pool_limit_of_two_is_never_exceeded(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", _pooled_assets(20))
    with orchestrator(_url(tmp_path), code, executor="pool", pool_limits={"warehouse": 2}) as orch:
        run_id = orch.trigger(RunRequest(selection=("*",), executor="pool"))
        assert orch.wait(run_id, timeout=120).state == "SUCCEEDED"
        attempts = orch.runs.attempts(run_id)
        assert len(attempts) == 20
        assert _max_overlap(attempts) == 2


REEXECUTE = """
from pathlib import Path
import pyarrow as pa
from arco import asset

FIXED = Path({fixed!r})

@asset(namespace="demo")
def source(context):
    return pa.table({{"x": [1, 2, 3]}})

@asset(namespace="demo")
def transform(context, source: pa.Table):
    if not FIXED.exists():
        raise ValueError("bug in transform")
    return source

@asset(namespace="demo")
def report(context, transform: pa.Table):
    return pa.table({{"rows": [transform.num_rows]}})
"""


def test_reexecution_from_failure_runs_only_the_failed_and_skipped_tasks(
    tmp_path: Path,
) -> None:
    fixed = tmp_path / "fixed"
    code = write_code(tmp_path / "code", REEXECUTE.format(fixed=str(fixed)))
    with orchestrator(_url(tmp_path), code) as orch:
        first = orch.trigger(RunRequest(selection=("*",)))
        assert orch.wait(first, timeout=60).state == "FAILED"
        fixed.touch()
        second = orch.reexecute(first, from_failure=True)
        run = orch.wait(second, timeout=60)
        assert run.state == "SUCCEEDED"
        assert run.parent_run_id == first
        ran = sorted(a.task_key for a in orch.runs.attempts(second))
        assert ran == ["demo/report:materialize", "demo/transform:materialize"]
        states = {t.task_key: t.state for t in orch.runs.tasks(second)}
        assert set(states.values()) == {"SUCCEEDED"}
