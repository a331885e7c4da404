"""What the benchmarks share: statistics, the progress UI, writer processes, another
process's CPU, memory and file descriptors, the API server in its own process, and the JSON run.

Used by ``arco bench catalog`` (:mod:`arco.bench.catalog`), ``arco bench ingest``
(:mod:`arco.bench.ingest`), ``arco bench api`` (:mod:`arco.bench.api`) and ``arco bench soak``
(:mod:`arco.bench.soak`); nothing here measures anything by itself.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import shutil
import socket
import subprocess
import sys
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


# --- other processes: CPU, memory, file descriptors ---------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of another process (Linux ``/proc``; None elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime


def process_rss_bytes(pid: int) -> int | None:
    """Resident set size of another process (``VmRSS`` of ``/proc/<pid>/status``; None
    elsewhere or once it has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            return int(value) * {"kB": 1024, "mB": 1 << 20, "gB": 1 << 30}.get(unit, 1)
    return None


def process_open_fds(pid: int) -> int | None:
    """How many file descriptors another process has open (``/proc/<pid>/fd``; None
    elsewhere or once it has exited)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def process_descendants(pid: int) -> list[int]:
    """The pids of every live descendant of ``pid`` (children, their children, ...), read
    from the parent field of each ``/proc/<pid>/stat`` (empty elsewhere)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(children.get(child, []))
    return sorted(out)


def load_average() -> list[float] | None:
    """The 1/5/15-minute load averages, rounded (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return None


# --- the API server in its own process ---------------------------------------------------------

_SERVER_CHILD = "import sys; from arco.bench.common import serve_child; serve_child(sys.argv[1])"


def serve_child(payload: str) -> None:
    """Entry point of the server process: ``arco serve --dev`` with raised rate limits (what
    ``arco serve`` does, minus the flag parsing); the compactor loop as the payload says."""
    import uvicorn

    from arco.server import ServerSettings, create_app
    from arco.server.logs import configure
    from arco.server.settings import Limits

    args = json.loads(payload)
    unlimited = 1e9
    settings = ServerSettings(
        store_url=args["store_url"],
        port=int(args["port"]),
        dev=True,
        compactor=bool(args.get("compactor", False)),
        compactor_interval_s=float(args.get("compactor_interval_s", 2.0)),
        limits=Limits(
            requests_per_s=unlimited,
            burst=10**9,
            query_per_s=unlimited,
            query_burst=10**9,
            mint_per_s=unlimited,
            mint_burst=10**9,
        ),
    )
    app = create_app(settings)
    configure()
    uvicorn.run(app, host="127.0.0.1", port=settings.port, log_config=None, access_log=False)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A running API server process: its base URL, pid and log file."""

    url: str
    pid: int
    log_path: Path

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextmanager
def start_server(
    store_url: str,
    log_path: Path,
    timeout_s: float = 60.0,
    *,
    compactor: bool = False,
    compactor_interval_s: float = 2.0,
) -> Iterator[Server]:
    """The API server on a free loopback port in a new process, ready (``/health`` answers).

    Development mode (scope from ``X-Tenant-Id``/``X-Workspace-Id``), rate limits raised so
    that they do not throttle a benchmark (every request still charges its bucket), the
    tier-2 compactor loop only if ``compactor``; its output (JSON logs) goes to ``log_path``.
    """
    import httpx

    port = free_port()
    payload = json.dumps(
        {
            "store_url": store_url,
            "port": port,
            "compactor": compactor,
            "compactor_interval_s": compactor_interval_s,
        }
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER_CHILD, payload],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", proc.pid, log_path)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the API server exited with status {proc.returncode}:\n{server.log_tail()}"
                )
            try:
                if httpx.get(f"{server.url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not answer /health:\n{server.log_tail()}")
            time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a wedged server
            proc.kill()
            proc.wait(timeout=10)


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
