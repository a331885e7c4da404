"""``arco bench api``: the REST API against the library it wraps, and the query endpoint
against DuckDB reading the same Parquet files directly.

What is measured, on one ``file://`` store holding one namespace of N tables (1,000; quick:
50), populated through the library and checkpointed before the server starts:

* **HTTP, concurrent.** ``arco serve``'s application (``create_app`` in development mode,
  no compactor loop) runs under uvicorn in its own OS process on 127.0.0.1. C client threads
  (16), each with its own keep-alive ``httpx.Client``, call one operation in a loop for a
  fixed window after a warm-up: ``GET /health`` (the floor of the HTTP stack), get-table,
  list-tables (first page of 100) and a small query (``POST /query``, JSON). Per operation:
  requests/s, p50/p99/mean latency (as the client sees it), and the CPU time the client
  process and the server process each spent per request.
* **Library, concurrent.** The same operations as direct calls on a
  :class:`~arco.catalog.Catalog` (and the query engine the route uses) from C threads in
  the bench process, same window; the HTTP / library ratios are the cost of the API.
* **Query vs DuckDB, sequential.** One client, warm: ``POST /query`` and the library
  engine, next to a DuckDB connection that reads the Parquet files listed in the current
  manifest with the merged-view SQL (:func:`arco.query.views.merged_view_sql`); the modes are
  interleaved in rounds. Target: the endpoint's p50 within 1.5x of DuckDB's.

The client and the server share the machine's CPUs (2 on the reference machine): the
client's own CPU per request is reported next to the server's so that the split is visible.
The server runs with raised rate limits (the token buckets are still charged) so that the
figures measure the server, not the per-tenant limiter.

Every figure carries its unit in its name (``_ms``, ``_per_s``, ``_s``); ratios are plain.
"""

from __future__ import annotations

import importlib.util
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from arco.bench import common
from arco.bench.common import Server, Ui, load_average, percentile, ratio, round4, start_server
from arco.catalog import Catalog, WriterOptions
from arco.catalog.domain import CATALOG
from arco.core.scope import Scope
from arco.metadata.manifest import read_manifest
from arco.query.engine import QueryEngine
from arco.storage import open_store

NAMESPACE = "bench"
TENANT = "bench"
WORKSPACE = "api"
COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "type": "int64", "nullable": False},
    {"name": "name", "type": "string"},
    {"name": "ts", "type": "timestamp[us]"},
    {"name": "amount", "type": "double"},
]
QUERY_SQL = "SELECT count(*) AS n FROM catalog.tables"
#: the operations measured over HTTP; the library runs all but ``health``
HTTP_OPS = ("health", "get_table", "list_tables", "query")
LIBRARY_OPS = ("get_table", "list_tables", "query")
#: the ratio of the query endpoint's p50 to DuckDB's the issue asks for
QUERY_TARGET_RATIO = 1.5
API = "/api/v1"


@dataclass(frozen=True)
class ApiBenchConfig:
    """Sizes and windows of one run (written to the JSON as ``config``)."""

    tables: int
    clients: int
    window_s: float
    warmup_s: float
    sequential_samples: int
    sequential_rounds: int
    page_limit: int
    populate_threads: int

    @classmethod
    def make(
        cls,
        quick: bool,
        *,
        tables: int | None = None,
        clients: int = 16,
        window_s: float | None = None,
        warmup_s: float | None = None,
        sequential_samples: int | None = None,
    ) -> ApiBenchConfig:
        n = tables or (50 if quick else 1_000)
        if n < 1 or clients < 1:
            raise ValueError(f"tables and clients must be positive (got {n}, {clients})")
        samples = sequential_samples or (30 if quick else 200)
        rounds = 3 if quick else 5
        return cls(
            tables=n,
            clients=clients,
            window_s=window_s or (0.8 if quick else 10.0),
            warmup_s=warmup_s if warmup_s is not None else (0.2 if quick else 1.0),
            sequential_samples=max(rounds, samples - samples % rounds),
            sequential_rounds=rounds,
            page_limit=100,
            populate_threads=16,
        )


def _table_name(i: int) -> str:
    return f"t{i:06d}"


# --- the catalog ------------------------------------------------------------------------------


def populate(catalog: Catalog, tables: int, threads: int, ui: Ui) -> dict[str, Any]:
    """One namespace of ``tables`` tables (4 columns each), then compacted to a checkpoint."""
    t0 = time.perf_counter()
    catalog.create_namespace(NAMESPACE, description="arco bench api")
    with (
        ui.task(f"populate {tables:,} tables", tables) as advance,
        ThreadPoolExecutor(threads) as pool,
    ):

        def register(i: int) -> None:
            catalog.register_table(
                NAMESPACE, _table_name(i), COLUMNS, description=f"bench table {i}"
            )
            advance(1)

        for f in [pool.submit(register, i) for i in range(tables)]:
            f.result()
    catalog.close()  # a background checkpoint may be running
    rounds = 0
    while rounds < 20 and catalog.writer.checkpoint():
        rounds += 1
    head = read_manifest(catalog.store, CATALOG.name)
    assert head is not None
    return {
        "populate_s": round4(time.perf_counter() - t0),
        "catalog_snapshot_version": head.manifest.snapshot_version,
        "catalog_manifest_files": len(head.manifest.files),
        "catalog_manifest_files_tables": len(head.manifest.files_of("tables")),
    }


# --- the concurrent runs -----------------------------------------------------------------------

#: one client's operation: called with the client's random generator, raises on failure
Call = Callable[[random.Random], None]


def run_window(
    ui: Ui,
    description: str,
    clients: int,
    make_call: Callable[[int], tuple[Call, Callable[[], None]]],
    window_s: float,
    warmup_s: float,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """``clients`` threads calling in a loop; the calls that end inside the window count.

    ``make_call(w)`` gives client ``w``'s call and its cleanup. After the warm-up every
    thread keeps calling until the window closes; a call is counted (and its latency kept)
    if it ends inside the window. CPU time of this process (clients included) and of the
    server process (if given) is sampled at the window's edges.
    """
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    edges: dict[str, float] = {}

    def work(w: int) -> None:
        cleanup: Callable[[], None] | None = None
        rng = random.Random(w)
        try:
            call, cleanup = make_call(w)
            barrier.wait()
            start, end = edges["start"], edges["end"]
            mine = latencies[w]
            while True:
                t0 = time.perf_counter()
                call(rng)
                t1 = time.perf_counter()
                if t1 > end:
                    return
                if t1 >= start:
                    mine.append((t1 - t0) * 1000)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            if cleanup is not None:
                cleanup()

    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(clients)]
    for t in threads:
        t.start()
    with ui.task(description, 1) as advance:
        now = time.perf_counter()
        edges["start"] = now + warmup_s
        edges["end"] = edges["start"] + window_s
        with suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=120)
        if not errors:
            time.sleep(max(0.0, edges["start"] - time.perf_counter()))
            cpu0, server0 = time.process_time(), _server_cpu(server_pid)
            time.sleep(max(0.0, edges["end"] - time.perf_counter()))
            cpu1, server1 = time.process_time(), _server_cpu(server_pid)
        for t in threads:
            t.join(timeout=120)
        advance(1)
    if errors:
        raise RuntimeError(f"{description}: {type(errors[0]).__name__}: {errors[0]}") from errors[0]
    values = [v for mine in latencies for v in mine]
    if not values:
        raise RuntimeError(f"{description}: no call ended inside the {window_s} s window")
    n = len(values)
    out: dict[str, Any] = {
        "requests": n,
        "requests_per_s": round4(n / window_s),
        "latency_ms_p50": round4(percentile(values, 50)),
        "latency_ms_p99": round4(percentile(values, 99)),
        "latency_ms_mean": round4(sum(values) / n),
        "latency_ms_max": round4(max(values)),
        "client_cpu_ms_per_request": round4((cpu1 - cpu0) * 1000 / n),
    }
    if server0 is not None and server1 is not None:
        out["server_cpu_ms_per_request"] = round4((server1 - server0) * 1000 / n)
        out["server_cpu_utilisation"] = round4((server1 - server0) / window_s)
    out["client_cpu_utilisation"] = round4((cpu1 - cpu0) / window_s)
    return out


def _server_cpu(pid: int | None) -> float | None:
    return None if pid is None else common.process_cpu_s(pid)


class _Failed(RuntimeError):
    pass


def _http_calls(
    server: Server, config: ApiBenchConfig
) -> dict[str, Callable[[int], tuple[Call, Callable[[], None]]]]:
    import httpx

    headers = {"X-Tenant-Id": TENANT, "X-Workspace-Id": WORKSPACE}
    tables = config.tables

    def client() -> httpx.Client:
        return httpx.Client(base_url=server.url, headers=headers, timeout=60.0)

    def check(response: httpx.Response) -> None:
        if response.status_code != 200:
            raise _Failed(
                f"{response.request.method} {response.request.url.path} -> "
                f"{response.status_code}: {response.text[:300]}"
            )

    def factory(op: str) -> Callable[[int], tuple[Call, Callable[[], None]]]:
        def make(_: int) -> tuple[Call, Callable[[], None]]:
            c = client()
            if op == "health":

                def call(rng: random.Random) -> None:
                    check(c.get("/health"))
            elif op == "get_table":

                def call(rng: random.Random) -> None:
                    name = _table_name(rng.randrange(tables))
                    check(c.get(f"{API}/namespaces/{NAMESPACE}/tables/{name}"))
            elif op == "list_tables":
                params = {"limit": config.page_limit}

                def call(rng: random.Random) -> None:
                    check(c.get(f"{API}/namespaces/{NAMESPACE}/tables", params=params))
            else:
                body = {"sql": QUERY_SQL}

                def call(rng: random.Random) -> None:
                    check(c.post(f"{API}/query", json=body))

            return call, c.close

        return make

    return {op: factory(op) for op in HTTP_OPS}


def probe_http(server: Server, config: ApiBenchConfig) -> dict[str, str]:
    """Which HTTP operations are served correctly: op -> why not (absent if fine).

    Each route is called once and its answer checked against the catalog's content (a
    missing route answers 404/405 even for the table that exists).
    """
    import httpx

    missing: dict[str, str] = {}
    headers = {"X-Tenant-Id": TENANT, "X-Workspace-Id": WORKSPACE}
    expected_page = min(config.page_limit, config.tables)
    with httpx.Client(base_url=server.url, headers=headers, timeout=60.0) as c:
        checks: dict[str, tuple[httpx.Response, Callable[[Any], bool]]] = {
            "health": (c.get("/health"), lambda b: b.get("status") == "ok"),
            "get_table": (
                c.get(f"{API}/namespaces/{NAMESPACE}/tables/{_table_name(0)}"),
                lambda b: b.get("name") == _table_name(0) and len(b.get("columns", [])) == 4,
            ),
            "list_tables": (
                c.get(f"{API}/namespaces/{NAMESPACE}/tables", params={"limit": config.page_limit}),
                lambda b: len(b.get("items", [])) == expected_page,
            ),
            "query": (
                c.post(f"{API}/query", json={"sql": QUERY_SQL}),
                lambda b: b.get("rows") == [[config.tables]],
            ),
        }
    for op, (response, ok) in checks.items():
        if response.status_code != 200:
            missing[op] = (
                f"{response.request.method} {response.request.url.path} answered "
                f"{response.status_code}: {response.text[:200]}"
            )
            continue
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not ok(body):
            missing[op] = f"unexpected answer: {response.text[:200]}"
    return missing


# --- the library side --------------------------------------------------------------------------


def library_query(catalog: Catalog) -> tuple[str, Callable[[str], int]]:
    """The query engine the ``/query`` route runs, on the bench's own catalog: its name,
    and ``sql -> rows`` (snapshots decoded once per version, as in the server)."""
    engine = QueryEngine()
    scope_key = catalog.scope.prefix

    def run(sql: str) -> int:
        return engine.query(catalog.store, scope_key, sql).row_count

    return "arco.query.engine.QueryEngine", run


def _library_calls(
    catalog: Catalog, config: ApiBenchConfig, query: Callable[[str], Any]
) -> dict[str, Callable[[int], tuple[Call, Callable[[], None]]]]:
    tables = config.tables

    def nothing() -> None:
        return None

    def get_table(rng: random.Random) -> None:
        catalog.get_table(NAMESPACE, _table_name(rng.randrange(tables)))

    def list_tables(rng: random.Random) -> None:
        catalog.list_tables(NAMESPACE, limit=config.page_limit)

    def run_query(rng: random.Random) -> None:
        query(QUERY_SQL)

    calls: dict[str, Call] = {
        "get_table": get_table,
        "list_tables": list_tables,
        "query": run_query,
    }

    def factory(call: Call) -> Callable[[int], tuple[Call, Callable[[], None]]]:
        return lambda _w: (call, nothing)

    return {op: factory(call) for op, call in calls.items()}


# --- DuckDB directly on the manifest's files ----------------------------------------------------


class DirectDuckDB:
    """A DuckDB connection with ``catalog.*`` views over the files of the current manifest,
    merged the way the manifest says readers must (:func:`arco.query.views.merged_view_sql`)."""

    def __init__(self, store_root: Path, scope: Scope, catalog: Catalog) -> None:
        import duckdb

        from arco.domains.registry import VIEWS
        from arco.query.views import merged_view_sql, parquet_source

        head = read_manifest(catalog.store, CATALOG.name)
        if head is None:
            raise RuntimeError("the catalog has no manifest")
        self.files: dict[str, list[str]] = {}
        self.con = duckdb.connect(":memory:")
        self.con.execute("CREATE SCHEMA catalog")
        base = store_root.joinpath(*scope.prefix.rstrip("/").split("/"))
        for table in (t for (schema, _), (_, t) in VIEWS.items() if schema == "catalog"):
            paths = [str(base.joinpath(*f.path.split("/"))) for f in head.manifest.files_of(table)]
            self.files[table] = paths
            if paths:
                source = parquet_source(paths)
            else:  # never written: an empty table of the right schema
                source = f"_empty_{table}"
                self.con.register(source, CATALOG.specs[table].schema.empty_table())
            self.con.execute(
                f"CREATE VIEW catalog.{table} AS {merged_view_sql(table, source, CATALOG)}"
            )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def close(self) -> None:
        self.con.close()


def _summary_ms(values: Sequence[float]) -> dict[str, float]:
    return {
        "ms_p50": round4(percentile(values, 50)),
        "ms_p99": round4(percentile(values, 99)),
        "ms_mean": round4(sum(values) / len(values)),
    }


def sequential_calls(
    ui: Ui, config: ApiBenchConfig, modes: dict[str, Call]
) -> dict[str, dict[str, float]]:
    """Latency of each mode's call, one caller, warm; the modes interleaved in rounds."""
    per_round = config.sequential_samples // config.sequential_rounds
    samples: dict[str, list[float]] = {m: [] for m in modes}
    rng = random.Random(0)
    with ui.task("sequential, one caller", len(modes) * config.sequential_samples) as advance:
        for call in modes.values():  # warm-up: caches, connections, the page cache
            for _ in range(3):
                call(rng)
        for _ in range(config.sequential_rounds):
            for mode, call in modes.items():
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    call(rng)
                    samples[mode].append((time.perf_counter() - t0) * 1000)
                advance(per_round)
    return {mode: _summary_ms(values) for mode, values in samples.items()}


# --- the whole run ----------------------------------------------------------------------------


def _uvicorn_stack() -> str:
    """The HTTP parser and event loop uvicorn's "auto" settings pick here."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http}, {loop}"


def run_api_bench(
    json_path: Path | None,
    *,
    quick: bool = False,
    console: Console | None = None,
    tables: int | None = None,
    clients: int = 16,
    window_s: float | None = None,
    warmup_s: float | None = None,
    sequential_samples: int | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the API benchmark; write the JSON to ``json_path`` (if given) and return it.

    ``quick`` runs 50 tables and 0.8 s windows (well under 30 s); the keywords override
    either profile. An HTTP operation whose route is not served (or answers wrongly) is
    reported under ``missing`` instead of being measured.
    """
    import duckdb
    import httpx
    import uvicorn

    config = ApiBenchConfig.make(
        quick,
        tables=tables,
        clients=clients,
        window_s=window_s,
        warmup_s=warmup_s,
        sequential_samples=sequential_samples,
    )
    ui = Ui(console)
    t_start = time.perf_counter()
    result: dict[str, Any] = {
        **common.run_header(
            "api",
            config,
            quick,
            query_sql=QUERY_SQL,
            query_target_ratio=QUERY_TARGET_RATIO,
            server=(
                f"uvicorn {uvicorn.__version__} (1 process, {_uvicorn_stack()}), create_app(dev=True, "
                "compactor=False), rate limits raised, JSON access log to a file"
            ),
            client=f"httpx {httpx.__version__}, one keep-alive Client per thread",
            duckdb=duckdb.__version__,
            notes=[
                "requests_per_s: calls that ended inside the window / window_s, summed over "
                "the client threads; latency_ms_*: each call's wall time as its caller saw it.",
                "The client threads, the server process and (for the library rows) the "
                "library threads share the machine's CPUs. client_cpu_ms_per_request is the "
                "bench process's CPU (all its threads) per request; server_cpu_ms_per_request "
                "the server process's. On a 2-CPU machine the HTTP throughput is bounded by "
                "their sum; client_cpu_utilisation / server_cpu_utilisation are CPUs busy.",
                "health = GET /health (no auth, no storage): the floor of the HTTP stack "
                "(uvicorn + FastAPI middleware + httpx) on this machine.",
                "library rows: the same calls on a Catalog (and the query engine of the "
                "route) in the bench process, same thread count and window, no server.",
                "http_vs_library.*.p50_ratio = HTTP p50 / library p50; throughput_ratio = "
                "library requests_per_s / HTTP requests_per_s (both > 1 = the cost of HTTP).",
                "sequential: one caller, warm, every mode interleaved in rounds (the same "
                "calls as the concurrent rows); http_minus_library_ms_p50 is the HTTP cost of "
                "one unloaded request, sequential.health.http_ms_p50 the floor of the stack.",
                "query_vs_duckdb: from the sequential run; duckdb_direct "
                "is one DuckDB connection whose catalog.* views read the Parquet files of "
                "the current manifest with arco.query.views.merged_view_sql.",
                "The catalog is written by the library and compacted to a checkpoint before "
                "the server starts; the server's compactor loop is off (nothing to fold).",
            ],
        ),
        "load_average_at_start": load_average(),
        "missing": {},
    }
    scope = Scope(TENANT, WORKSPACE)
    with common.scratch_dir("arco-bench-api-", work_dir) as tmp, ui.progress:
        root = tmp / "store"
        root.mkdir()
        store_url = f"file://{root}"
        catalog = Catalog(
            open_store(store_url), scope, options=WriterOptions(background_checkpoints=True)
        )
        result["catalog"] = populate(catalog, config.tables, config.populate_threads, ui)
        ui.log(
            f"populated {config.tables:,} tables in {result['catalog']['populate_s']:.1f} s "
            f"({result['catalog']['catalog_manifest_files']} files in the manifest)"
        )
        reader = Catalog(open_store(store_url), scope)
        engine_name, engine = library_query(reader)
        result["config"]["library_query_engine"] = engine_name
        expected = [(config.tables,)]
        direct = DirectDuckDB(root, scope, reader)
        if direct.query(QUERY_SQL) != expected:
            raise AssertionError(f"DuckDB direct counted {direct.query(QUERY_SQL)} tables")

        http: dict[str, Any] = {}
        library: dict[str, Any] = {}
        sequential: dict[str, dict[str, float]] = {}
        with start_server(store_url, tmp / "server.log") as server:
            missing = probe_http(server, config)
            result["missing"] = missing
            for op in missing:
                ui.log(f"[red]HTTP {op} not measured[/]: {missing[op]}")
            calls = _http_calls(server, config)
            for op in HTTP_OPS:
                if op in missing:
                    continue
                http[op] = run_window(
                    ui,
                    f"HTTP {op}, {config.clients} clients",
                    config.clients,
                    calls[op],
                    config.window_s,
                    config.warmup_s,
                    server.pid,
                )
                ui.log(
                    f"HTTP {op}: {http[op]['requests_per_s']:,.0f} req/s, "
                    f"p50 {http[op]['latency_ms_p50']:.2f} ms, "
                    f"p99 {http[op]['latency_ms_p99']:.2f} ms"
                )
            # sequential, one caller: the same call objects as the concurrent runs
            http_one = {op: calls[op](0) for op in HTTP_OPS if op not in missing}
            library_one = {
                op: make(0) for op, make in _library_calls(reader, config, engine).items()
            }
            modes: dict[str, Call] = {}
            if "health" in http_one:
                modes["http_health"] = http_one["health"][0]
            for op in LIBRARY_OPS:
                if op in http_one:
                    modes[f"http_{op}"] = http_one[op][0]
                modes[f"library_{op}"] = library_one[op][0]

            def duckdb_direct(rng: random.Random) -> None:
                direct.query(QUERY_SQL)

            modes["duckdb_direct_query"] = duckdb_direct
            try:
                sequential = sequential_calls(ui, config, modes)
            finally:
                for _, cleanup in http_one.values():
                    cleanup()
        result["load_average_after_http"] = load_average()

        for op, make in _library_calls(reader, config, engine).items():
            library[op] = run_window(
                ui,
                f"library {op}, {config.clients} threads",
                config.clients,
                make,
                config.window_s,
                config.warmup_s,
            )
            ui.log(
                f"library {op}: {library[op]['requests_per_s']:,.0f} calls/s, "
                f"p50 {library[op]['latency_ms_p50']:.3f} ms"
            )
        direct_files = {t: len(p) for t, p in direct.files.items()}
        direct.close()
        reader.close()

    result["http"] = http
    result["library"] = library
    result["http_vs_library"] = {
        op: {
            "p50_ratio": ratio(http[op]["latency_ms_p50"], library[op]["latency_ms_p50"]),
            "p99_ratio": ratio(http[op]["latency_ms_p99"], library[op]["latency_ms_p99"]),
            "throughput_ratio": ratio(library[op]["requests_per_s"], http[op]["requests_per_s"]),
        }
        for op in LIBRARY_OPS
        if op in http
    }
    seq: dict[str, Any] = {}
    for op in LIBRARY_OPS:
        figures: dict[str, Any] = {}
        for side in ("http", "library"):
            figures.update(
                {f"{side}_{k}": v for k, v in sequential.get(f"{side}_{op}", {}).items()}
            )
        if "http_ms_p50" in figures:
            figures["http_vs_library_p50_ratio"] = ratio(
                figures["http_ms_p50"], figures["library_ms_p50"]
            )
            figures["http_minus_library_ms_p50"] = round4(
                figures["http_ms_p50"] - figures["library_ms_p50"]
            )
        seq[op] = figures
    result["sequential"] = {
        "samples_per_mode": config.sequential_samples,
        "health": {f"http_{k}": v for k, v in sequential.get("http_health", {}).items()},
        **seq,
    }
    qd: dict[str, Any] = {
        "samples_per_mode": config.sequential_samples,
        **seq["query"],
        **{f"duckdb_direct_{k}": v for k, v in sequential["duckdb_direct_query"].items()},
        "duckdb_direct_files": direct_files,
    }
    qd["library_vs_duckdb_p50_ratio"] = ratio(qd["library_ms_p50"], qd["duckdb_direct_ms_p50"])
    if "http_ms_p50" in qd:
        qd["http_vs_duckdb_p50_ratio"] = ratio(qd["http_ms_p50"], qd["duckdb_direct_ms_p50"])
        qd["within_target"] = qd["http_vs_duckdb_p50_ratio"] <= QUERY_TARGET_RATIO
    result["query_vs_duckdb"] = qd
    result["load_average_at_end"] = load_average()
    result["runtime_s"] = round4(time.perf_counter() - t_start)
    common.write_json(json_path, result)
    _print_summary(ui.console, result)
    return result


def _print_summary(console: Console, result: dict[str, Any]) -> None:
    keys = [
        "requests_per_s",
        "latency_ms_p50",
        "latency_ms_p99",
        "client_cpu_ms_per_request",
        "server_cpu_ms_per_request",
    ]
    columns = {f"http {op}": figures for op, figures in result["http"].items()}
    columns.update({f"lib {op}": figures for op, figures in result["library"].items()})
    common.print_figures(console, "arco bench api", columns, keys)
    sequential = {op: result["sequential"][op] for op in ("health", *LIBRARY_OPS)}
    common.print_figures(
        console,
        "one caller, sequential",
        sequential,
        ["http_ms_p50", "library_ms_p50", "http_minus_library_ms_p50", "http_vs_library_p50_ratio"],
    )
    qd = result["query_vs_duckdb"]
    common.print_figures(
        console,
        "query vs DuckDB on the manifest's files (one caller)",
        {"": qd},
        [k for k in qd if k.endswith(("_ms_p50", "_ratio"))],
    )
