"""Running assets, for ``arco bench orchestration``: launch latency, per-task overhead and
tasks per second, on a fresh local store each, with Dagster's ``materialize()`` of the
same chain when Dagster is installed.

* **launch**: trigger of a one-asset run to its attempt's ``started`` (in-process executor,
  the asset's table already exists); median and best of ``launch_runs``.
* **chain**: a chain of ``chain_length`` assets, each reading its upstream's table and
  writing a one-row table (real Parquet files, catalog tables, lineage edges and
  materializations): the run's wall time from trigger to SUCCEEDED, divided by the assets.
  ``first``: the tables are created by the run; ``again``: a second run of the same chain.
* **fan-out**: ``fanout_tasks`` independent assets writing a one-row table each, on the
  process pool and on a Dask ``LocalCluster`` (worker processes): tasks per second from
  trigger to SUCCEEDED.
  ``again`` is the median of ``chain_repeats`` such runs.
* **dagster** (when ``import dagster`` works): ``materialize()`` of the same chain with its
  default IO manager, wall time per asset, twice on one instance (``first``, ``again``), on
  two instances: ``durable``, a ``DagsterInstance.local_temp`` (runs and event log in SQLite
  files, as ``dagster dev`` keeps them: every state change durable, as Arco's are) and
  ``ephemeral``, ``DagsterInstance.ephemeral`` (runs and events in memory only, what
  ``materialize()`` uses when given no instance: nothing survives the process).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from arco.bench.common import round4
from arco.core.scope import DEFAULT_SCOPE
from arco.orchestration.controller import ControllerOptions
from arco.orchestration.deploy import deploy
from arco.orchestration.discovery import build_manifest, load_definitions
from arco.orchestration.engine import Orchestrator
from arco.orchestration.trigger import RunRequest
from arco.storage import ScopedStore, open_store

__all__ = ["chain_source", "fanout_source", "measure_runs"]

_OPTIONS = ControllerOptions(idle_wait_s=0.5)


def chain_source(length: int) -> str:
    """Python source of a chain ``bench/c000 -> ... -> bench/c{length-1}``."""
    lines = ["import pyarrow as pa", "from arco import asset", ""]
    lines += [
        '@asset(namespace="bench")',
        "def c000(context):",
        '    return pa.table({"n": [0]})',
        "",
    ]
    for i in range(1, length):
        lines += [
            '@asset(namespace="bench")',
            f"def c{i:03d}(context, c{i - 1:03d}: pa.Table):",
            f'    return pa.table({{"n": [c{i - 1:03d}["n"][0].as_py() + 1]}})',
            "",
        ]
    return "\n".join(lines)


def fanout_source(count: int) -> str:
    """Python source of ``count`` independent assets ``bench/f000...``."""
    lines = ["import pyarrow as pa", "from arco import asset", ""]
    for i in range(count):
        lines += [
            '@asset(namespace="bench")',
            f"def f{i:03d}(context):",
            f'    return pa.table({{"i": [{i}]}})',
            "",
        ]
    return "\n".join(lines)


def _workspace(root: Path, source: str, module: str) -> tuple[str, str]:
    """A store URL and a code location holding ``source`` as ``module``, deployed."""
    code = root / f"code_{module}"
    code.mkdir(parents=True)
    (code / f"{module}.py").write_text(source)
    url = f"file://{root / f'store_{module}'}"
    manifest = build_manifest(load_definitions(str(code)))
    deploy(ScopedStore(open_store(url), DEFAULT_SCOPE.prefix), manifest, code_location=str(code))
    return url, str(code)


def _run(orch: Orchestrator, selection: str, executor: str) -> float:
    t0 = time.perf_counter()
    run_id = orch.trigger(RunRequest(selection=(selection,), executor=executor))
    run = orch.wait(run_id, timeout=3600)
    elapsed = time.perf_counter() - t0
    if run.state != "SUCCEEDED":
        raise RuntimeError(f"bench run {run_id} ended {run.state}: {run.reason}")
    return elapsed


def measure_launch(root: Path, runs: int) -> dict[str, Any]:
    """Trigger to the first attempt's start of a one-asset run, in-process."""
    url, code = _workspace(root, fanout_source(1), "launch")
    latencies: list[float] = []
    with Orchestrator(url, code_location=code, options=_OPTIONS) as orch:
        orch.start()
        _run(orch, "bench/f000", "inprocess")  # creates the table
        for _ in range(runs):
            t0 = time.time()
            run_id = orch.trigger(RunRequest(selection=("bench/f000",)))
            orch.wait(run_id, timeout=60)
            [attempt] = orch.runs.attempts(run_id)
            assert attempt.started_at is not None
            latencies.append(attempt.started_at.timestamp() - t0)
    return {
        "runs": runs,
        "trigger_to_started_s_median": round4(statistics.median(latencies)),
        "trigger_to_started_s_best": round4(min(latencies)),
    }


def measure_chain(root: Path, length: int, repeats: int = 3) -> dict[str, Any]:
    """Per-asset wall time of in-process runs of a chain (first: tables created; again:
    the median of ``repeats`` more runs)."""
    url, code = _workspace(root, chain_source(length), "chain")
    with Orchestrator(url, code_location=code, options=_OPTIONS) as orch:
        orch.start()
        first = _run(orch, f"+bench/c{length - 1:03d}", "inprocess")
        agains = [_run(orch, f"+bench/c{length - 1:03d}", "inprocess") for _ in range(repeats)]
    again = statistics.median(agains)
    return {
        "assets": length,
        "first_run_s": round4(first),
        "first_per_task_s": round4(first / length),
        "again_runs_s": [round4(a) for a in agains],
        "again_run_s": round4(again),
        "again_per_task_s": round4(again / length),
    }


def measure_fanout(root: Path, count: int, executor: str) -> dict[str, Any]:
    """Tasks per second of ``count`` independent assets on ``executor``."""
    module = "fanout_" + "".join(c for c in executor if c.isalnum())
    url, code = _workspace(root, fanout_source(count), module)
    with Orchestrator(url, executor=executor, code_location=code, options=_OPTIONS) as orch:
        orch.start()
        elapsed = _run(orch, "*", executor)
        capacity = orch.executor.capacity
    return {
        "executor": executor.split("://", maxsplit=1)[0],
        "tasks": count,
        "capacity": capacity,
        "run_s": round4(elapsed),
        "tasks_per_s": round(count / elapsed, 1),
    }


def measure_dask(root: Path, count: int, workers: int) -> dict[str, Any]:
    """Tasks per second on a Dask LocalCluster of ``workers`` worker processes."""
    import dask
    from distributed import LocalCluster

    new_cluster: Any = LocalCluster  # untyped
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster: Any = new_cluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        try:
            address = cluster.scheduler_address.replace("tcp://", "dask://")
            figures = measure_fanout(root, count, address)
        finally:
            cluster.close()
    figures["workers"] = workers
    return figures


def measure_dagster_chain(length: int, *, durable: bool) -> dict[str, Any]:
    """``dagster.materialize()`` of the same chain (default IO manager), per asset, twice
    on one instance: SQLite-backed (``durable``) or in memory."""
    import dagster as dg  # type: ignore[import-not-found,unused-ignore]

    defs: list[Any] = []
    previous: Any = None
    for i in range(length):
        if previous is None:

            @dg.asset(name=f"c{i:03d}", key_prefix=["bench"])  # type: ignore[untyped-decorator,unused-ignore]
            def first() -> Any:
                import pyarrow as pa

                return pa.table({"n": [0]})

            previous = first
        else:
            upstream = previous

            @dg.asset(  # type: ignore[untyped-decorator,unused-ignore]
                name=f"c{i:03d}", key_prefix=["bench"], ins={"up": dg.AssetIn(upstream.key)}
            )
            def step(up: Any) -> Any:
                import pyarrow as pa

                return pa.table({"n": [up["n"][0].as_py() + 1]})

            previous = step
        defs.append(previous)
    elapsed: list[float] = []
    with tempfile.TemporaryDirectory() as home:
        if durable:
            instance = dg.DagsterInstance.local_temp(tempdir=home)
        else:
            instance = dg.DagsterInstance.ephemeral(tempdir=home)
        for _ in range(2):
            t0 = time.perf_counter()
            result = dg.materialize(defs, instance=instance)
            elapsed.append(time.perf_counter() - t0)
            if not result.success:
                raise RuntimeError("dagster materialize() failed")
    return {
        "assets": length,
        "instance": "local_temp (SQLite)" if durable else "ephemeral (in memory)",
        "first_run_s": round4(elapsed[0]),
        "first_per_task_s": round4(elapsed[0] / length),
        "again_run_s": round4(elapsed[1]),
        "again_per_task_s": round4(elapsed[1] / length),
    }


def measure_runs(
    *, chain_length: int, fanout_tasks: int, launch_runs: int, dask_workers: int, dagster: bool
) -> dict[str, Any]:
    """Every run measurement of the module docstring, each on its own fresh store."""
    with tempfile.TemporaryDirectory(prefix="arco-bench-runs-") as tmp:
        root = Path(tmp)
        out: dict[str, Any] = {
            "launch": measure_launch(root, launch_runs),
            "chain": measure_chain(root, chain_length),
            "fanout_pool": measure_fanout(root, fanout_tasks, "pool"),
        }
        try:
            out["fanout_dask"] = measure_dask(root, fanout_tasks, dask_workers)
        except ImportError as exc:
            out["fanout_dask"] = {"error": f"dask is not installed ({exc})"}
        if dagster:
            for name, durable in (("dagster_chain", True), ("dagster_chain_ephemeral", False)):
                try:
                    out[name] = measure_dagster_chain(chain_length, durable=durable)
                except Exception as exc:  # an API this code does not know: say so
                    out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out
