"""Automation, for ``arco bench orchestration`` (issue 13): condition evaluation over a large
graph, a schedule's tick-to-run latency and a backfill end to end.

* **conditions**: the layered graph of the planning benchmark (10,000 assets), every asset
  ``eager``, every asset materialized once in graph order (so nothing is stale): the time of
  :func:`~arco.orchestration.status.partition_statuses` over the whole deployment — what
  each controller pass computes to decide the conditions — best of ``repeats``;
* **tick**: a schedule firing every minute, the controller running on its thread against the
  real clock: from the tick's instant to the run's creation and to its task's attempt
  starting (in-process executor), one tick;
* **backfill**: ``partitions`` daily partitions of one asset, chunks of ``chunk_size``, at
  most ``max_in_flight`` runs, on the process pool: wall time from the request to SUCCEEDED,
  partitions per second.
"""

from __future__ import annotations

import datetime as dt
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from arco.bench.common import round4
from arco.core.scope import DEFAULT_SCOPE
from arco.executions.schema import MaterializationRow
from arco.orchestration.automation import Automation, backfill_requested
from arco.orchestration.automation.controller import AutomationOptions
from arco.orchestration.automation.service import AutomationService
from arco.orchestration.controller import ControllerOptions
from arco.orchestration.deploy import deploy
from arco.orchestration.discovery import build_manifest, load_definitions
from arco.orchestration.engine import Orchestrator
from arco.orchestration.manifest import AutomationConditionSpec, DefinitionsManifest
from arco.orchestration.partitions import DailyPartitions
from arco.orchestration.status import partition_statuses
from arco.storage import ScopedStore, open_store

__all__ = ["measure_automation"]

_OPTIONS = ControllerOptions(idle_wait_s=0.5)


def measure_conditions(manifest: DefinitionsManifest, repeats: int) -> dict[str, Any]:
    """One pass's evaluation of ``eager`` on every asset of ``manifest``."""
    eager = AutomationConditionSpec(kind="eager")
    governed = DefinitionsManifest(
        assets=tuple(a.model_copy(update={"automation": eager}) for a in manifest.assets)
    )
    mats = [
        MaterializationRow(
            materialization_id=f"m{i}",
            asset_key=a.key,
            table_id=None,
            partition_key=None,
            run_id="bench",
            status="succeeded",
            rows=1,
            bytes=1,
            code_version=None,
            started_at=1_000 + i,
            completed_at=1_000 + i,
            event_id=f"e{i}",
            occurred_at=1_000 + i,
            event_order=f"{1_000 + i:016d}",
            version=1,
        )
        for i, a in enumerate(governed.assets)
    ]
    runs: list[float] = []
    stale = 0
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        statuses = partition_statuses(governed, mats, [], now_ms=10**13)
        runs.append(time.perf_counter() - t0)
        stale = sum(1 for s in statuses if s.status != "materialized")
    return {
        "assets": len(governed.assets),
        "evaluate_s_best": round4(min(runs)),
        "evaluate_s_runs": [round4(r) for r in runs],
        "not_materialized": stale,
    }


_TICK_SOURCE = """
import pyarrow as pa
from arco import ScheduleDef, asset

@asset(namespace="bench")
def ticked(context):
    return pa.table({"x": [1]})

every_minute = ScheduleDef(name="every_minute", cron="* * * * *", target=["bench/ticked"])
"""

_BACKFILL_SOURCE = """
import pyarrow as pa
from arco import DailyPartitions, asset

@asset(namespace="bench", partitions=DailyPartitions(start="{start}", end="{end}"))
def days(context):
    return pa.table({{"day": [context.partition_key]}})
"""


def _workspace(root: Path, source: str, module: str) -> tuple[str, str]:
    code = root / f"code_{module}"
    code.mkdir(parents=True)
    (code / f"{module}.py").write_text(source)
    url = f"file://{root / f'store_{module}'}"
    manifest = build_manifest(load_definitions(str(code)))
    deploy(ScopedStore(open_store(url), DEFAULT_SCOPE.prefix), manifest, code_location=str(code))
    return url, str(code)


def measure_tick(root: Path, timeout_s: float = 150) -> dict[str, Any]:
    """Tick instant to run created and to its attempt started, for one minute tick."""
    url, code = _workspace(root, _TICK_SOURCE, "bench_tick")
    with (
        Orchestrator(url, code_location=code, options=_OPTIONS) as orch,
        AutomationService(orch, options=AutomationOptions(idle_wait_s=1.0)) as service,
    ):
        orch.start()
        service.start()
        automation = service.automation
        deadline = time.monotonic() + timeout_s
        while True:
            ticks = [t for t in automation.ticks("every_minute", 10) if t.status == "requested"]
            if ticks:
                tick = ticks[-1]
                run_id = tick.run_ids[0]
                run = orch.wait(run_id, timeout=60)
                attempts = orch.runs.attempts(run_id)
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the schedule never ticked")
            time.sleep(0.05)
    started = attempts[0].started_at
    return {
        "tick_to_run_created_s": round4(run.created_at.timestamp() - tick.instant_ms / 1000),
        "tick_to_task_started_s": None
        if started is None
        else round4(started.timestamp() - tick.instant_ms / 1000),
        "run_state": run.state,
    }


def measure_backfill(
    root: Path, partitions: int, chunk_size: int, max_in_flight: int
) -> dict[str, Any]:
    """A backfill of ``partitions`` daily partitions on the process pool, end to end."""
    start = "2020-01-01"
    end = (dt.date.fromisoformat(start) + dt.timedelta(days=partitions)).isoformat()
    url, code = _workspace(root, _BACKFILL_SOURCE.format(start=start, end=end), "bench_backfill")
    keys = DailyPartitions(start=start, end=end).keys()
    with (
        Orchestrator(url, executor="pool", code_location=code, options=_OPTIONS) as orch,
        AutomationService(orch, options=AutomationOptions(idle_wait_s=0.2)) as service,
    ):
        orch.start()
        automation: Automation = service.automation
        t0 = time.perf_counter()
        automation.append(
            [
                backfill_requested(
                    "bench",
                    ["bench/days"],
                    keys,
                    chunk_size=chunk_size,
                    max_in_flight=max_in_flight,
                )
            ]
        )
        service.start()
        while automation.get_backfill("bench").state not in ("SUCCEEDED", "FAILED", "CANCELLED"):
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
        backfill = automation.get_backfill("bench")
        capacity = orch.executor.capacity
    return {
        "partitions": len(keys),
        "chunk_size": chunk_size,
        "chunks": backfill.chunk_count,
        "max_in_flight": max_in_flight,
        "capacity": capacity,
        "state": backfill.state,
        "run_s": round4(elapsed),
        "partitions_per_s": round(len(keys) / elapsed, 1),
    }


def measure_automation(
    manifest: DefinitionsManifest,
    *,
    repeats: int,
    backfill_partitions: int,
    chunk_size: int,
    max_in_flight: int,
    tick: bool,
) -> dict[str, Any]:
    """Every measurement of the module docstring (``tick``: wait for a real minute tick)."""
    out: dict[str, Any] = {"conditions": measure_conditions(manifest, repeats)}
    with tempfile.TemporaryDirectory(prefix="arco-bench-automation-") as tmp:
        root = Path(tmp)
        out["backfill"] = measure_backfill(root, backfill_partitions, chunk_size, max_in_flight)
        if tick:
            out["tick"] = measure_tick(root)
    out["conditions"]["evaluate_s_median"] = round4(
        statistics.median(out["conditions"]["evaluate_s_runs"])
    )
    return out
