"""What the benchmarks share: statistics, the progress UI, writer processes and the JSON run.

Used by ``arco bench catalog`` (:mod:`arco.bench.catalog`) and ``arco bench ingest``
(:mod:`arco.bench.ingest`); nothing here measures anything by itself.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table as RichTable

#: a worker process: ``target(args, barrier, queue)`` waits on ``barrier`` once ready (or
#: aborts it on failure) and puts one result dict, with an ``error`` entry, on ``queue``
Worker = Callable[[dict[str, Any], Any, Any], None]

# --- figures -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def round4(value: float) -> float:
    """A figure rounded to 4 decimals."""
    return round(value, 4)


def ratio(a: float, b: float) -> float:
    """``a / b`` rounded like the figures (how every ratio in the JSON is computed)."""
    return round4(a / b) if b > 0 else math.inf


@dataclass
class Backend:
    """A store the figures are measured on: ``local`` (``file://``) or ``s3`` (moto)."""

    name: str
    url: str
    options: dict[str, Any]


# --- progress ------------------------------------------------------------------------------


class Ui:
    """Progress bars and log lines on one rich console (by default a new one on stderr)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        task: TaskID = self.progress.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            self.progress.advance(task, n)

        try:
            yield advance
        finally:
            self.progress.remove_task(task)

    def log(self, message: str) -> None:
        self.progress.console.log(message)


# --- worker processes ------------------------------------------------------------------------


def run_processes(
    ui: Ui, description: str, target: Worker, args: Mapping[str, Any], processes: int
) -> tuple[list[dict[str, Any]], float]:
    """Run ``processes`` spawned workers at once; their results and the elapsed seconds.

    Worker ``w`` is called as ``target({**args, "worker": w}, barrier, queue)``. The clock
    starts when every worker has reached the barrier and stops at the last result. A worker
    that does not end is terminated. If any worker failed, :class:`RuntimeError` names the
    root cause (a failure other than the broken barrier it leaves the others with).
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    queue: multiprocessing.Queue[dict[str, Any]] = ctx.Queue()
    procs = [
        ctx.Process(target=target, args=({**args, "worker": w}, barrier, queue))
        for w in range(processes)
    ]
    results: list[dict[str, Any]] = []
    with ui.task(description, processes) as advance:
        for p in procs:
            p.start()
        try:
            # a worker that fails before the start breaks the barrier; its error is queued
            with suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=300)
            t0 = time.perf_counter_ns()
            for _ in procs:
                results.append(queue.get(timeout=600))
                advance(1)
            elapsed_s = (time.perf_counter_ns() - t0) / 1e9
        finally:
            for p in procs:
                p.join(timeout=60)
                if p.is_alive():
                    p.terminate()
                    p.join(timeout=10)
    failed = sorted(
        (r["error"] for r in results if r.get("error")),
        key=lambda e: e.startswith("BrokenBarrierError"),  # the root cause first
    )
    if failed:
        raise RuntimeError(f"writer process failed: {failed[0]}")
    return results, elapsed_s


# --- the run and its JSON --------------------------------------------------------------------


def run_header(benchmark: str, config: Any, quick: bool, **extra: Any) -> dict[str, Any]:
    """The first entries of a result: ``benchmark``, ``started_at`` (now, UTC), ``machine``
    and ``config``: the fields of the ``config`` dataclass, ``quick``, then ``extra``.
    """
    return {
        "benchmark": benchmark,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "machine": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
        },
        "config": {
            **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
            "quick": quick,
            **extra,
        },
    }


@contextmanager
def scratch_dir(prefix: str, work_dir: Path | None) -> Iterator[Path]:
    """A temporary directory (under ``work_dir`` if given), removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=work_dir))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(json_path: Path | None, result: Mapping[str, Any]) -> None:
    """Write ``result`` as indented JSON to ``json_path`` (nothing if None)."""
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2) + "\n")


def run_on_s3(
    bucket: str,
    header: Mapping[str, Any],
    bench: Callable[[str, dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """``bench(url, store_options)`` against a fresh loopback moto S3 bucket.

    Returns ``header``, the server and the figures, or a ``skipped`` entry without moto.
    """
    from arco.bench.s3server import moto_available, start_s3_server

    if not moto_available():
        return {"skipped": "moto[server] is not installed"}
    with start_s3_server() as server:
        server.create_bucket(bucket)
        figures = bench(f"s3://{bucket}", server.store_options())
    return {**header, "server": "moto (loopback)", **figures}


def print_figures(
    console: Console,
    title: str,
    columns: Mapping[str, Mapping[str, Any]],
    keys: Sequence[str],
) -> None:
    """A table of the figures ``keys`` (rows) of each source in ``columns``."""
    table = RichTable(title=title)
    table.add_column("figure")
    for name in columns:
        table.add_column(name, justify="right")

    def cell(source: Mapping[str, Any], key: str) -> str:
        value = source.get(key)
        return "" if value is None else f"{value:,.3f}" if isinstance(value, float) else str(value)

    for key in keys:
        table.add_row(key, *(cell(source, key) for source in columns.values()))
    console.print(table)
