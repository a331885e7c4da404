"""Runs on a real Dask ``LocalCluster`` with worker processes (issue 12): a chain runs to
success through ``dask://``, and a Dask worker killed with SIGKILL in the middle of a task
fails only that attempt, which is retried on another worker."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arco.orchestration.trigger import RunRequest
from orchestration_support import orchestrator, write_code

pytestmark = pytest.mark.slow  # a Dask cluster per test: ~10 s each

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")


@pytest.fixture
def cluster() -> Iterator[str]:
    """A LocalCluster of two single-threaded worker processes; its dask:// address. The
    scheduler never reruns a task whose worker died (allowed-failures 0): Arco retries."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        new_cluster: Any = distributed.LocalCluster
        local = new_cluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    try:
        yield local.scheduler_address.replace("tcp://", "dask://")
    finally:
        local.close()


CHAIN = """
import os
import pyarrow as pa
from arco import asset

@asset(namespace="demo")
def a(context):
    return pa.table({"pid": [os.getpid()]})

@asset(namespace="demo")
def b(context, a: pa.Table):
    return a.append_column("b_pid", pa.array([os.getpid()]))
"""


def test_a_chain_runs_on_dask_workers(tmp_path: Path, cluster: str) -> None:
    code = write_code(tmp_path / "code", CHAIN)
    with orchestrator(f"file://{tmp_path / 'store'}", code, executor=cluster) as orch:
        run_id = orch.trigger(RunRequest(selection=("+demo/b",), executor=cluster))
        assert orch.wait(run_id, timeout=120).state == "SUCCEEDED"
        attempts = orch.runs.attempts(run_id)
        assert [a.state for a in attempts] == ["SUCCEEDED", "SUCCEEDED"]
        assert {a.executor for a in attempts} == {cluster}
        outputs = {t.task_key: t.output for t in orch.runs.tasks(run_id)}
        b_output = outputs["demo/b:materialize"]
        assert b_output is not None and b_output["table"]["rows"] == 1


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
    while context.attempt == 1 and not (SIGNALS / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("no go file")
        time.sleep(0.02)
    return pa.table({{"attempt": [context.attempt]}})
"""


def test_a_dask_worker_killed_mid_task_fails_that_attempt_and_another_worker_retries(
    tmp_path: Path, cluster: str
) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    code = write_code(tmp_path / "code", WAITS.format(signals=str(signals)))
    with orchestrator(f"file://{tmp_path / 'store'}", code, executor=cluster) as orch:
        run_id = orch.trigger(RunRequest(selection=("demo/slow",), executor=cluster))
        orch.start()
        deadline = time.monotonic() + 60
        while not (signals / "pid-1").exists():
            assert time.monotonic() < deadline, "the first attempt never started"
            time.sleep(0.05)
        killed = int((signals / "pid-1").read_text())
        os.kill(killed, signal.SIGKILL)
        run = orch.wait(run_id, timeout=120)
        assert run.state == "SUCCEEDED"
        attempts = orch.runs.attempts(run_id)
        assert [(a.attempt, a.state, a.error_category) for a in attempts] == [
            (1, "FAILED", "crash"),
            (2, "SUCCEEDED", None),
        ]
        assert int((signals / "pid-2").read_text()) != killed
