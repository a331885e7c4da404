"""``arco bench iceberg``: the same pyiceberg client code against Arco's Iceberg REST endpoint
and against pyiceberg's own ``SqlCatalog`` on SQLite (the peer), in one run.

What is measured (issue 11's benchmark):

* **Latency, sequential.** One client, the same function on a pyiceberg ``Catalog`` of each
  side: create a table (5 columns), append a small Arrow table to it (10 rows: pyiceberg
  writes a Parquet data file, a manifest and a manifest list, then commits), load it. N of
  each per side, the sides interleaved in rounds to spread the machine's noise; p50, p95 and
  mean, and the ratio Arco / peer. The client's CPU per operation (this process) and, for
  Arco, the server process's CPU per operation are reported next to the wall time.
* **Commits/s, one table per writer.** W writer OS processes (spawned; each opens its own
  catalog client and appends to its own table, created beforehand) append in a loop for a
  fixed window: commits/s for W = 1 and W = 8 (``writers``), and the scaling
  (W = 8 rate) / (W = 1 rate) for both sides. Arco's commits to different tables touch
  different pointers; SQLite serialises every writer on its database lock.
* **Appends/s, one table.** 4 processes append to one table, retrying on
  ``CommitFailedException`` (refresh, append again): successful appends/s and the retries.
  Afterwards the table is read back: every acknowledged append (each carries its writer and
  sequence number) is in it exactly once and nothing else is; any failure makes ``ok`` false.

Arco runs as ``arco serve --dev`` (rate limits raised, no compactor loop) in its own OS process
on a fresh ``file://`` store; the peer's SQLite file and ``file://`` warehouse are in the same
temporary directory. The clients, the server and the peer share the machine's CPUs.
Every figure carries its unit in its name (``_ms``, ``_per_s``, ``_s``); ratios are plain.
"""

from __future__ import annotations

import platform
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from arco.bench import common
from arco.bench.common import Ui, load_average, percentile, ratio, round4

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog as IcebergCatalog

TENANT = "bench"
WORKSPACE = "main"
NAMESPACE = "bench"
ROWS_PER_APPEND = 10
SIDES = ("arco", "peer")
LATENCY_OPS = ("create_table", "append", "load_table")


@dataclass(frozen=True)
class IcebergBenchConfig:
    """Sizes and windows of one run (written to the JSON as ``config``)."""

    latency_samples: int
    latency_rounds: int
    window_s: float
    writers: tuple[int, int]
    contention_writers: int

    @classmethod
    def make(
        cls,
        quick: bool,
        *,
        latency_samples: int | None = None,
        window_s: float | None = None,
        writers: tuple[int, int] | None = None,
        contention_writers: int | None = None,
    ) -> IcebergBenchConfig:
        rounds = 2 if quick else 5
        samples = latency_samples or (6 if quick else 60)
        return cls(
            latency_samples=max(rounds, samples - samples % rounds),
            latency_rounds=rounds,
            window_s=window_s or (1.5 if quick else 10.0),
            writers=writers or ((1, 2) if quick else (1, 8)),
            contention_writers=contention_writers or (2 if quick else 4),
        )


# --- the client code both sides run ------------------------------------------------------------


def _schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("writer", pa.int64()),
            pa.field("seq", pa.int64()),
            pa.field("name", pa.string()),
            pa.field("amount", pa.float64()),
        ]
    )


def _rows(writer: int, seq: int) -> pa.Table:
    """One append: ``ROWS_PER_APPEND`` rows, all tagged with the writer and its sequence."""
    import pyarrow as pa

    base = seq * ROWS_PER_APPEND
    return pa.table(
        {
            "id": list(range(base, base + ROWS_PER_APPEND)),
            "writer": [writer] * ROWS_PER_APPEND,
            "seq": [seq] * ROWS_PER_APPEND,
            "name": [f"w{writer}-s{seq}-{i}" for i in range(ROWS_PER_APPEND)],
            "amount": [float(i) / 4 for i in range(ROWS_PER_APPEND)],
        },
        schema=_schema(),
    )


def open_catalog(side: dict[str, str]) -> IcebergCatalog:
    """A pyiceberg catalog client of one side (``kind`` = ``rest`` or ``sql``)."""
    if side["kind"] == "rest":
        from pyiceberg.catalog import load_catalog

        return load_catalog("arco", type="rest", uri=side["uri"], warehouse=side["warehouse"])
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog("bench", uri=side["uri"], warehouse=side["warehouse"])


def table_ops(catalog: IcebergCatalog, name: str, data: pa.Table) -> dict[str, float]:
    """The client code measured on both sides: create, append (a commit), load; each op's
    wall time and this process's CPU time, in ms."""
    out: dict[str, float] = {}
    ident = (NAMESPACE, name)

    def timed(op: str, fn: Callable[[], Any]) -> Any:
        c0, t0 = time.process_time(), time.perf_counter()
        value = fn()
        t1, c1 = time.perf_counter(), time.process_time()
        out[op] = (t1 - t0) * 1000
        out[f"{op}_client_cpu"] = (c1 - c0) * 1000
        return value

    table = timed("create_table", lambda: catalog.create_table(ident, schema=data.schema))
    timed("append", lambda: table.append(data))
    loaded = timed("load_table", lambda: catalog.load_table(ident))
    snapshot = loaded.current_snapshot()
    if _total_records(snapshot) != len(data):
        raise AssertionError(f"{name}: the loaded table does not hold the appended rows")
    return out


# --- writer processes --------------------------------------------------------------------------


def append_worker(args: dict[str, Any], barrier: Any, queue: Any) -> None:
    """One writer process: opens its own catalog client, appends to ``tables[worker]`` (its
    own table) or ``tables[0]`` (``shared``) in a loop for ``window_s`` after the barrier.

    On the shared table a ``CommitFailedException`` is retried (refresh, append again). Every
    acknowledged append's sequence number is reported; an append that failed otherwise is
    ``uncertain`` (it may have landed).
    """
    out: dict[str, Any] = {"worker": args["worker"], "error": None}
    try:
        from pyiceberg.exceptions import CommitFailedException

        worker = int(args["worker"])
        catalog = open_catalog(args["side"])
        name = args["tables"][0] if args["shared"] else args["tables"][worker]
        table = catalog.load_table((NAMESPACE, name))
        acked: list[int] = []
        uncertain: list[int] = []
        errors: list[str] = []
        retries = 0
        seq = 0

        def append_once() -> None:
            nonlocal retries, table
            data = _rows(worker, seq)
            while True:
                try:
                    table.append(data)
                    acked.append(seq)
                    return
                except CommitFailedException:
                    retries += 1
                    table = catalog.load_table((NAMESPACE, name))

        append_once()  # warm-up (connections, imports): acknowledged, not timed
        seq += 1
        warm_retries = retries
        retries = 0
        barrier.wait(timeout=300)
        t0 = time.perf_counter()
        deadline = t0 + float(args["window_s"])
        while time.perf_counter() < deadline:
            try:
                append_once()
            except Exception as exc:
                uncertain.append(seq)
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
                table = catalog.load_table((NAMESPACE, name))
            seq += 1
        elapsed = time.perf_counter() - t0
        out.update(
            acked=acked,
            timed_commits=len(acked) - 1,
            uncertain=uncertain,
            errors=errors,
            retries=retries,
            warmup_retries=warm_retries,
            elapsed_s=elapsed,
        )
    except BaseException as exc:
        out["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"
        barrier.abort()
    queue.put(out)


def _server_cpu(pid: int | None) -> float | None:
    return None if pid is None else common.process_cpu_s(pid)


def run_writers(
    ui: Ui,
    label: str,
    side: dict[str, str],
    catalog: IcebergCatalog,
    tables: Sequence[str],
    processes: int,
    window_s: float,
    shared: bool,
    server_pid: int | None,
) -> dict[str, Any]:
    """W writer processes on one side; their rate, retries and the check of what landed."""
    for name in tables:
        # no retries inside pyiceberg (4 by default, from 100 ms backoff): the writer's own
        # loop retries at once and counts them
        catalog.create_table(
            (NAMESPACE, name), schema=_schema(), properties={"commit.retry.num-retries": "0"}
        )
    cpu0 = _server_cpu(server_pid)
    results, wall_s = common.run_processes(
        ui,
        label,
        append_worker,
        {"side": side, "tables": list(tables), "shared": shared, "window_s": window_s},
        processes,
    )
    cpu1 = _server_cpu(server_pid)
    commits = sum(r["timed_commits"] for r in results)
    rate = sum(r["timed_commits"] / r["elapsed_s"] for r in results)
    out: dict[str, Any] = {
        "writers": processes,
        "tables": 1 if shared else processes,
        "commits": commits,
        "commits_per_s": round4(rate),
        "per_writer_commits_per_s": [
            round4(r["timed_commits"] / r["elapsed_s"]) for r in sorted(results, key=_worker)
        ],
        "retries": sum(r["retries"] for r in results),
        "uncertain": sum(len(r["uncertain"]) for r in results),
        "errors": [e for r in results for e in r["errors"]][:5],
        "wall_s": round4(wall_s),
    }
    if cpu0 is not None and cpu1 is not None and commits:
        # includes the writers' start-up (their catalog's config call, one load, one warm-up
        # append each): an upper bound
        acked_all = sum(len(r["acked"]) for r in results)
        out["server_cpu_ms_per_commit"] = round4((cpu1 - cpu0) * 1000 / acked_all)
    out["check"] = (
        _check_shared(catalog, tables[0], results)
        if shared
        else _check_own(catalog, tables, sorted(results, key=_worker))
    )
    return out


def _total_records(snapshot: Any) -> int:
    """The ``total-records`` of a snapshot's summary (0 without a snapshot)."""
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary["total-records"])


def _worker(result: dict[str, Any]) -> int:
    return int(result["worker"])


def _check_own(
    catalog: IcebergCatalog, tables: Sequence[str], results: list[dict[str, Any]]
) -> dict[str, Any]:
    """Each writer's own table holds exactly its acknowledged appends (snapshot summaries)."""
    problems: list[str] = []
    for name, r in zip(tables, results, strict=True):
        snap = catalog.load_table((NAMESPACE, name)).current_snapshot()
        records = _total_records(snap)
        low = len(r["acked"]) * ROWS_PER_APPEND
        high = low + len(r["uncertain"]) * ROWS_PER_APPEND
        if not low <= records <= high:
            problems.append(f"{name}: {records} rows, acknowledged {low}")
    return {"ok": not problems, "problems": problems}


def _check_shared(
    catalog: IcebergCatalog, name: str, results: list[dict[str, Any]]
) -> dict[str, Any]:
    """The shared table holds every acknowledged append exactly once and nothing else (an
    append whose outcome was unknown may be there at most once)."""
    from pyiceberg.table.snapshots import Operation

    table = catalog.load_table((NAMESPACE, name))
    data = table.scan(selected_fields=("writer", "seq")).to_arrow()
    counts: dict[tuple[int, int], int] = {}
    for w, s in zip(data.column("writer").to_pylist(), data.column("seq").to_pylist(), strict=True):
        counts[(w, s)] = counts.get((w, s), 0) + 1
    acked = {(int(r["worker"]), s) for r in results for s in r["acked"]}
    uncertain = {(int(r["worker"]), s) for r in results for s in r["uncertain"]}
    problems: list[str] = []
    missing = sorted(acked - counts.keys())
    if missing:
        problems.append(f"{len(missing)} acknowledged appends missing, e.g. {missing[:5]}")
    twice = sorted(k for k, n in counts.items() if n != ROWS_PER_APPEND)
    if twice:
        problems.append(f"{len(twice)} appends not present exactly once, e.g. {twice[:5]}")
    extra = sorted(counts.keys() - acked - uncertain)
    if extra:
        problems.append(f"{len(extra)} appends present but never acknowledged, e.g. {extra[:5]}")
    appends = sum(
        1
        for s in table.snapshots()
        if s.summary is not None and s.summary.operation == Operation.APPEND
    )
    landed = len(counts)
    if appends != landed:
        problems.append(f"{appends} append snapshots for {landed} appends in the data")
    return {
        "ok": not problems,
        "problems": problems,
        "acknowledged": len(acked),
        "uncertain": len(uncertain),
        "rows": data.num_rows,
        "append_snapshots": appends,
    }


# --- latency -----------------------------------------------------------------------------------


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round4(percentile(values, 50)),
        "p95": round4(percentile(values, 95)),
        "mean": round4(sum(values) / len(values)),
    }


def latency_rounds(
    ui: Ui,
    config: IcebergBenchConfig,
    catalogs: dict[str, IcebergCatalog],
    server_pid: int | None,
) -> dict[str, dict[str, Any]]:
    """``table_ops`` N times per side, the sides interleaved in rounds, after one warm-up."""
    per_round = config.latency_samples // config.latency_rounds
    samples: dict[str, dict[str, list[float]]] = {
        side: {
            k: []
            for op in LATENCY_OPS
            for k in (op, f"{op}_client_cpu", *((f"{op}_server_cpu",) if side == "arco" else ()))
        }
        for side in catalogs
    }
    data = _rows(0, 0)
    with ui.task("latency: create, append, load", len(catalogs) * config.latency_samples) as adv:
        for cat in catalogs.values():
            table_ops(cat, "warmup", data)
        n = 0
        for _ in range(config.latency_rounds):
            for side, cat in catalogs.items():
                for _ in range(per_round):
                    n += 1
                    cpu0 = _server_cpu(server_pid) if side == "arco" else None
                    got = table_ops(cat, f"lat{n:05d}", data)
                    cpu1 = _server_cpu(server_pid) if side == "arco" else None
                    for k, v in got.items():
                        samples[side][k].append(v)
                    if cpu0 is not None and cpu1 is not None:
                        # the whole create + append + load, spread evenly: only the sum is exact
                        for op in LATENCY_OPS:
                            samples[side][f"{op}_server_cpu"].append((cpu1 - cpu0) * 1000 / 3)
                adv(per_round)
    out: dict[str, dict[str, Any]] = {}
    for side, by in samples.items():
        figures: dict[str, Any] = {}
        for op in LATENCY_OPS:
            s = _summary(by[op])
            figures[op] = {
                "ms_p50": s["p50"],
                "ms_p95": s["p95"],
                "ms_mean": s["mean"],
                "client_cpu_ms_mean": round4(sum(by[f"{op}_client_cpu"]) / len(by[op])),
            }
        if side == "arco" and by["append_server_cpu"]:
            figures["server_cpu_ms_mean_create_append_load"] = round4(
                3 * sum(by["append_server_cpu"]) / len(by["append_server_cpu"])
            )
        out[side] = figures
    return out


def http_round_trip(catalog: IcebergCatalog, uri: str, warehouse: str, samples: int) -> float:
    """p50 ms of ``GET /v1/config`` through the REST client's own HTTP session: what any
    REST call costs before the catalog does anything (the peer has no such step)."""
    session: Any = getattr(catalog, "_session")  # noqa: B009 - pyiceberg's requests session
    url = f"{uri.rstrip('/')}/v1/config"
    times: list[float] = []
    for _ in range(samples):
        t0 = time.perf_counter()
        response = session.get(url, params={"warehouse": warehouse})
        times.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
    return round4(percentile(times, 50))


# --- the whole run ----------------------------------------------------------------------------


def run_iceberg_bench(
    json_path: Path | None,
    *,
    quick: bool = False,
    console: Console | None = None,
    latency_samples: int | None = None,
    window_s: float | None = None,
    writers: tuple[int, int] | None = None,
    contention_writers: int | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the Iceberg benchmark; write the JSON to ``json_path`` (if given) and return it.

    ``quick``: 6 latency samples per side, 1.5 s windows, 1 and 2 writers, 2 on one table
    (well under a minute); the keywords override either profile. ``ok`` is false when a check
    of what the writers acknowledged failed or an Arco writer met an error.
    """
    import pyarrow
    import pyiceberg
    import sqlalchemy

    config = IcebergBenchConfig.make(
        quick,
        latency_samples=latency_samples,
        window_s=window_s,
        writers=writers,
        contention_writers=contention_writers,
    )
    ui = Ui(console)
    t_start = time.perf_counter()
    result: dict[str, Any] = {
        **common.run_header(
            "iceberg",
            config,
            quick,
            rows_per_append=ROWS_PER_APPEND,
            client=f"pyiceberg {pyiceberg.__version__}, pyarrow {pyarrow.__version__}",
            arco=(
                "arco serve --dev in its own process (uvicorn, create_app(dev=True, "
                "compactor=False), rate limits raised) on a fresh file:// store; "
                "pyiceberg RestCatalog, warehouse bench/main"
            ),
            peer=(
                f"pyiceberg SqlCatalog, SQLite (sqlalchemy {sqlalchemy.__version__}) file and "
                "file:// warehouse in the same temporary directory"
            ),
            notes=[
                "latency: one client, sequential; per side create_table (5 columns), append "
                f"({ROWS_PER_APPEND} rows: pyiceberg writes a Parquet data file, a manifest "
                "and a manifest list on both sides, then commits), load_table; the sides "
                "interleaved in rounds. arco_vs_peer ratios: Arco / peer (< 1: Arco faster).",
                "client_cpu_ms_mean: this process's CPU per operation (pyiceberg's own work: "
                "data files, metadata, HTTP or SQLAlchemy); on the peer side this includes "
                "the catalog itself, on the Arco side the server's CPU is separate "
                "(server_cpu_ms_mean_create_append_load: the server process per "
                "create + append + load).",
                "arco_http_round_trip_ms_p50: GET /v1/config through the REST client's own "
                "HTTP session (requests, keep-alive), after the latency rounds: the cost of "
                "any REST call before the catalog does any work; the in-process peer has no "
                "such step, so it bounds how close a REST load can come to the peer's.",
                "throughput: W spawned writer processes, each with its own catalog client, "
                "appending for window_s after one untimed warm-up append; commits_per_s sums "
                "each writer's commits / its elapsed time. scaling = rate at the larger W / "
                "rate at W = 1.",
                "contention: writers on one table retry on CommitFailedException (reload the "
                "table, append again); check reads the table back: every acknowledged "
                "append exactly once, nothing unacknowledged, one append snapshot each.",
                "The clients, the Arco server and SQLite share the machine's CPUs "
                "(machine.cpu_count); see the load averages at the start and the end.",
            ],
        ),
        "load_average_at_start": load_average(),
    }
    result["machine"]["processor"] = platform.processor() or platform.machine()
    failures: list[str] = []
    with common.scratch_dir("arco-bench-iceberg-", work_dir) as tmp, ui.progress:
        store = tmp / "arco-store"
        store.mkdir()
        peer_root = tmp / "peer"
        (peer_root / "warehouse").mkdir(parents=True)
        peer_side = {
            "kind": "sql",
            "uri": f"sqlite:///{peer_root / 'catalog.db'}",
            "warehouse": f"file://{peer_root / 'warehouse'}",
        }
        with common.start_server(f"file://{store}", tmp / "server.log") as server:
            arco_side = {
                "kind": "rest",
                "uri": f"{server.url}/iceberg",
                "warehouse": f"{TENANT}/{WORKSPACE}",
            }
            sides = {"arco": arco_side, "peer": peer_side}
            catalogs = {name: open_catalog(side) for name, side in sides.items()}
            for cat in catalogs.values():
                cat.create_namespace(NAMESPACE)
            pids = {"arco": server.pid, "peer": None}

            latency = latency_rounds(ui, config, catalogs, server.pid)
            for side in SIDES:
                ui.log(
                    f"[{side}] "
                    + ", ".join(
                        f"{op} p50 {latency[side][op]['ms_p50']:.1f} ms" for op in LATENCY_OPS
                    )
                )
            result["latency"] = latency
            result["latency"]["arco_http_round_trip_ms_p50"] = http_round_trip(
                catalogs["arco"],
                arco_side["uri"],
                arco_side["warehouse"],
                max(20, config.latency_samples * 3),
            )
            result["latency"]["samples_per_side"] = config.latency_samples
            result["latency"]["arco_vs_peer"] = {
                f"{op}_{stat}_ratio": ratio(
                    latency["arco"][op][f"ms_{stat}"], latency["peer"][op][f"ms_{stat}"]
                )
                for op in LATENCY_OPS
                for stat in ("p50", "p95")
            }

            throughput: dict[str, dict[str, Any]] = {side: {} for side in SIDES}
            for w in config.writers:
                for side in SIDES:
                    r = run_writers(
                        ui,
                        f"[{side}] {w} writer(s), own tables",
                        sides[side],
                        catalogs[side],
                        [f"own{w}_{i}" for i in range(w)],
                        w,
                        config.window_s,
                        shared=False,
                        server_pid=pids[side],
                    )
                    throughput[side][f"writers_{w}"] = r
                    ui.log(
                        f"[{side}] {w} writer(s), own tables: {r['commits_per_s']:.1f} commits/s"
                    )
            one, many = config.writers
            for side in SIDES:
                throughput[side]["scaling"] = ratio(
                    throughput[side][f"writers_{many}"]["commits_per_s"],
                    throughput[side][f"writers_{one}"]["commits_per_s"],
                )
            contention: dict[str, dict[str, Any]] = {}
            for side in SIDES:
                r = run_writers(
                    ui,
                    f"[{side}] {config.contention_writers} writers, one table",
                    sides[side],
                    catalogs[side],
                    ["shared"],
                    config.contention_writers,
                    config.window_s,
                    shared=True,
                    server_pid=pids[side],
                )
                r["appends_per_s"] = r.pop("commits_per_s")
                r["appends"] = r.pop("commits")
                r["per_writer_appends_per_s"] = r.pop("per_writer_commits_per_s")
                contention[side] = r
                ui.log(
                    f"[{side}] {config.contention_writers} writers, one table: "
                    f"{r['appends_per_s']:.1f} appends/s, {r['retries']} retries"
                )
            result["throughput"] = throughput
            result["contention"] = contention
            result["throughput_arco_vs_peer"] = {
                f"writers_{w}_commits_per_s_ratio": ratio(
                    throughput["arco"][f"writers_{w}"]["commits_per_s"],
                    throughput["peer"][f"writers_{w}"]["commits_per_s"],
                )
                for w in config.writers
            } | {
                "contention_appends_per_s_ratio": ratio(
                    contention["arco"]["appends_per_s"], contention["peer"]["appends_per_s"]
                )
            }
            for side in SIDES:
                runs = {**throughput[side], "contention": contention[side]}
                for key, r in runs.items():
                    if not isinstance(r, dict):
                        continue
                    for problem in r["check"]["problems"]:
                        failures.append(f"{side} {key}: {problem}")
                    if side == "arco" and r["errors"]:
                        failures.append(f"arco {key}: writer errors: {r['errors'][0]}")
            result["server_log_tail"] = server.log_tail(5) if failures else ""
    result["failures"] = failures
    result["ok"] = not failures
    result["load_average_at_end"] = load_average()
    result["runtime_s"] = round4(time.perf_counter() - t_start)
    common.write_json(json_path, result)
    _print_summary(ui.console, result)
    return result


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a run (what the CLI prints)."""
    lat, thr, con = result["latency"], result["throughput"], result["contention"]
    one, many = result["config"]["writers"]
    out: dict[str, Any] = {"ok": result["ok"]}
    for op in LATENCY_OPS:
        for side in SIDES:
            out[f"{op}_ms_p50.{side}"] = lat[side][op]["ms_p50"]
            out[f"{op}_ms_p95.{side}"] = lat[side][op]["ms_p95"]
        out[f"{op}_p50_ratio_arco_vs_peer"] = lat["arco_vs_peer"][f"{op}_p50_ratio"]
    for side in SIDES:
        out[f"commits_per_s_{one}_writer.{side}"] = thr[side][f"writers_{one}"]["commits_per_s"]
        out[f"commits_per_s_{many}_writers.{side}"] = thr[side][f"writers_{many}"]["commits_per_s"]
        out[f"scaling_{many}_vs_{one}.{side}"] = thr[side]["scaling"]
        out[f"one_table_appends_per_s.{side}"] = con[side]["appends_per_s"]
        out[f"one_table_retries.{side}"] = con[side]["retries"]
    out["arco_http_round_trip_ms_p50"] = lat.get("arco_http_round_trip_ms_p50")
    out["load_average_at_start"] = result["load_average_at_start"]
    out["load_average_at_end"] = result["load_average_at_end"]
    if result["failures"]:
        out["failures"] = result["failures"]
    return out


def _print_summary(console: Console, result: dict[str, Any]) -> None:
    lat = result["latency"]
    columns: dict[str, dict[str, Any]] = {side: {} for side in (*SIDES, "arco / peer")}
    for op in LATENCY_OPS:
        for stat in ("p50", "p95"):
            key = f"{op}_ms_{stat}"
            for side in SIDES:
                columns[side][key] = lat[side][op][f"ms_{stat}"]
            columns["arco / peer"][key] = lat["arco_vs_peer"][f"{op}_{stat}_ratio"]
    one, many = result["config"]["writers"]
    for side in SIDES:
        thr = result["throughput"][side]
        columns[side][f"commits_per_s_{one}_writer"] = thr[f"writers_{one}"]["commits_per_s"]
        columns[side][f"commits_per_s_{many}_writers"] = thr[f"writers_{many}"]["commits_per_s"]
        columns[side]["scaling"] = thr["scaling"]
        columns[side]["one_table_appends_per_s"] = result["contention"][side]["appends_per_s"]
        columns[side]["one_table_retries"] = result["contention"][side]["retries"]
    keys = list(columns["arco"])
    common.print_figures(console, "arco bench iceberg", columns, keys)
