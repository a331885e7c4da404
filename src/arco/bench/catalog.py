"""``arco bench catalog``: catalog DDL and read figures on the local store and on S3.

What is measured, per backend (``file://`` with fsync, and a loopback moto S3 server):

* the catalog is populated to a small and a large table count by many threads at once (group
  commit folds concurrent requests into one commit), then sequential single-DDL commits are
  timed at each size (register a table, drop it again, so the size stays put) with
  background checkpoints on, as a server runs them;
* object-store requests per commit, counted through the storage port (:class:`CountingStore`),
  checkpoint traffic included, since checkpoints are part of what a commit costs;
* get-table cold (a new :class:`Catalog` on the same store, and a fresh interpreter) and warm;
* committed DDLs per second with 1 and 8 writer threads in one process and 4 writer processes;
* create-namespace / create-table / load-table / list-tables latency, and the same operations
  on pyiceberg's ``SqlCatalog`` with SQLite (the peer), with the Arco/peer ratio of each.

Every figure carries its unit in its name (``_ms``, ``_per_s``, ``_s``); ratios are plain.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from arco.bench import common
from arco.bench.common import Ui, percentile, ratio, round4
from arco.catalog import Catalog, WriterOptions
from arco.core.scope import Scope
from arco.storage import CountingStore, ForwardingStore, open_store
from arco.storage.port import ObjectStore, PutMode

NAMESPACE = "bench"
COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "type": "int64", "nullable": False},
    {"name": "name", "type": "string"},
    {"name": "ts", "type": "timestamp[us]"},
    {"name": "amount", "type": "double"},
]
TENANT = "bench"
S3_BUCKET = "arco-bench"
_CHILD = (
    "import sys, time; t = time.perf_counter_ns(); "
    "from arco.bench.catalog import _cold_child; _cold_child(sys.argv[1], t)"
)


@dataclass(frozen=True)
class BenchConfig:
    """Sizes and sample counts of one run (written to the JSON as ``config``)."""

    sizes: tuple[int, int]
    s3_sizes: tuple[int, int]
    latency_samples: int
    read_samples: int
    cold_samples: int
    namespace_samples: int
    throughput_ops: int
    populate_threads: int
    peer_large_budget_s: float

    @classmethod
    def make(
        cls,
        quick: bool,
        *,
        sizes: tuple[int, int] | None = None,
        s3_sizes: tuple[int, int] | None = None,
        latency_samples: int | None = None,
        read_samples: int | None = None,
        throughput_ops: int | None = None,
        populate_threads: int = 64,
        peer_large_budget_s: float = 60.0,
    ) -> BenchConfig:
        small, large = sizes or ((100, 1_000) if quick else (100, 10_000))
        if not 0 < small < large:
            raise ValueError(f"sizes: need 0 < small < large (got {small}, {large})")
        s3 = s3_sizes or ((20, 100) if quick else (100, 1_000))
        latency = latency_samples or (40 if quick else 200)
        reads = read_samples or (40 if quick else 200)
        return cls(
            sizes=(small, large),
            s3_sizes=s3,
            latency_samples=max(2, latency + latency % 2),
            read_samples=max(1, reads),
            cold_samples=3 if quick else 5,
            namespace_samples=max(2, latency // 4),
            throughput_ops=throughput_ops or (32 if quick else 200),
            populate_threads=populate_threads,
            peer_large_budget_s=peer_large_budget_s,
        )


# --- small helpers -----------------------------------------------------------------------


def _summary(name: str, values_ms: Sequence[float], suffix: str = "") -> dict[str, float]:
    """p50/p95/mean as ``{name}_ms_p50{suffix}`` ... (or ``name`` with a ``{stat}`` field)."""
    pattern = name if "{stat}" in name else name + "_ms_{stat}"
    return {
        pattern.format(stat="p50") + suffix: round4(percentile(values_ms, 50)),
        pattern.format(stat="p95") + suffix: round4(percentile(values_ms, 95)),
        pattern.format(stat="mean") + suffix: round4(sum(values_ms) / len(values_ms)),
    }


def _timed_ms(fn: Callable[..., object], *args: Any) -> float:
    """Wall time of ``fn(*args)`` in milliseconds."""
    t0 = time.perf_counter_ns()
    fn(*args)
    return (time.perf_counter_ns() - t0) / 1e6


def _table_name(i: int) -> str:
    return f"t{i:06d}"


def _list_all(catalog: Catalog, namespace: str) -> int:
    """Every table of a namespace, following page tokens (1000 per page)."""
    count = 0
    token: str | None = None
    while True:
        page = catalog.list_tables(namespace, page_token=token, limit=1000)
        count += len(page.items)
        token = page.next_page_token
        if token is None:
            return count


class _CheckpointTap(ForwardingStore):
    """A pass-through store that notes the checkpoint directories written through it."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self._lock = threading.Lock()
        self._dirs: set[str] = set()

    @property
    def checkpoints(self) -> int:
        with self._lock:
            return len(self._dirs)

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        if "/ckpt-" in key:
            with self._lock:
                self._dirs.add(key.rsplit("/", 1)[0])
        return super().put(key, data, mode)


# --- one backend ---------------------------------------------------------------------------


@dataclass
class _Backend(common.Backend):
    sizes: tuple[int, int]


class _BackendBench:
    def __init__(self, backend: _Backend, config: BenchConfig, ui: Ui) -> None:
        self.b = backend
        self.config = config
        self.ui = ui
        self.raw = open_store(backend.url, **backend.options)
        self.counting = CountingStore(self.raw)
        self.tap = _CheckpointTap(self.counting)
        self.out: dict[str, Any] = {"store_url": backend.url}

    def catalog(self, workspace: str) -> Catalog:
        return Catalog(
            self.tap, Scope(TENANT, workspace), options=WriterOptions(background_checkpoints=True)
        )

    def run(self) -> dict[str, Any]:
        small, large = self.b.sizes
        catalog = self.catalog("sizes")
        catalog.create_namespace(NAMESPACE)
        built = 0
        requests: Counter[str] = Counter()
        commits = 0
        for size in (small, large):
            self._populate(catalog, built, size)
            built = size
            reqs, n_commits = self._commit_latency(catalog, size)
            requests += reqs
            commits += n_commits
            self._reads(catalog, size)
            if size == small:
                self._create_namespaces(catalog)
            self._cold(catalog.scope, size)
        catalog.close()
        self._cold_subprocess(catalog.scope, large)
        out = self.out
        out["requests_per_commit"] = round4(sum(requests.values()) / commits)
        out["requests_per_commit_by_op"] = {
            op: round4(n / commits) for op, n in sorted(requests.items())
        }
        out[f"commit_latency_ratio_{large}_vs_{small}"] = ratio(
            out[f"commit_latency_ms_p50_at_{large}"], out[f"commit_latency_ms_p50_at_{small}"]
        )
        out[f"commit_latency_p95_ratio_{large}_vs_{small}"] = ratio(
            out[f"commit_latency_ms_p95_at_{large}"], out[f"commit_latency_ms_p95_at_{small}"]
        )
        out[f"commit_cpu_ratio_{large}_vs_{small}"] = ratio(
            out[f"commit_cpu_ms_p50_at_{large}"], out[f"commit_cpu_ms_p50_at_{small}"]
        )
        out[f"process_cpu_per_ddl_ratio_{large}_vs_{small}"] = ratio(
            out[f"process_cpu_ms_per_ddl_at_{large}"], out[f"process_cpu_ms_per_ddl_at_{small}"]
        )
        # headline read figures: the large catalog; peer-comparable figures: the small one
        out["get_table_ms_cold"] = out[f"get_table_ms_cold_at_{large}"]
        out["get_table_ms_warm"] = out[f"get_table_ms_warm_p50_at_{large}"]
        for op in ("create_table", "load_table", "list_tables"):
            for stat in ("p50", "p95"):
                out[f"{op}_ms_{stat}"] = out[f"{op}_ms_{stat}_at_{small}"]
        self._throughput_threads(1)
        self._throughput_threads(8)
        self._throughput_processes(4)
        return out

    # --- phases ---------------------------------------------------------------------------

    def _populate(self, catalog: Catalog, start: int, stop: int) -> None:
        commits0 = catalog.writer.commits
        checkpoints0 = self.tap.checkpoints
        t0 = time.perf_counter_ns()
        desc = f"[{self.b.name}] populate {start:,} → {stop:,} tables"
        with (
            self.ui.task(desc, stop - start) as advance,
            ThreadPoolExecutor(self.config.populate_threads) as pool,
        ):
            futures = [
                pool.submit(catalog.register_table, NAMESPACE, _table_name(i), COLUMNS)
                for i in range(start, stop)
            ]
            for future in as_completed(futures):
                future.result()
                advance(1)
        catalog.close()
        elapsed_s = (time.perf_counter_ns() - t0) / 1e9
        commits = catalog.writer.commits - commits0
        self.out[f"populate_s_to_{stop}"] = round4(elapsed_s)
        self.out[f"populate_tables_per_s_to_{stop}"] = round4((stop - start) / elapsed_s)
        self.out[f"populate_commits_to_{stop}"] = commits
        self.out[f"populate_checkpoints_to_{stop}"] = self.tap.checkpoints - checkpoints0
        self.ui.log(
            f"[{self.b.name}] populated {start:,} → {stop:,} tables in {elapsed_s:.1f} s "
            f"({commits} commits, {(stop - start) / max(commits, 1):.1f} tables/commit)"
        )

    def _commit_latency(self, catalog: Catalog, size: int) -> tuple[Counter[str], int]:
        for i in range(2):  # warm-up: the writer's state cache is hot after this
            catalog.register_table(NAMESPACE, f"warmup_{size}_{i}", COLUMNS)
            catalog.drop_table(NAMESPACE, f"warmup_{size}_{i}")
        catalog.close()
        self.counting.reset()
        commits0 = catalog.writer.commits
        checkpoints0 = self.tap.checkpoints
        creates: list[float] = []
        drops: list[float] = []
        cpu: list[float] = []
        pairs = self.config.latency_samples // 2
        process_cpu0 = time.process_time_ns()
        with self.ui.task(f"[{self.b.name}] DDL latency at {size:,} tables", pairs) as advance:
            for i in range(pairs):
                name = f"probe_{size}_{i}"
                c0 = time.thread_time_ns()
                creates.append(_timed_ms(catalog.register_table, NAMESPACE, name, COLUMNS))
                c1 = time.thread_time_ns()
                drops.append(_timed_ms(catalog.drop_table, NAMESPACE, name))
                c2 = time.thread_time_ns()
                cpu += [(c1 - c0) / 1e6, (c2 - c1) / 1e6]
                advance(1)
        catalog.close()  # a checkpoint started by these commits is part of their cost
        process_cpu_ms = (time.process_time_ns() - process_cpu0) / 1e6
        commits = catalog.writer.commits - commits0
        requests = Counter(self.counting.counts)
        sfx = f"_at_{size}"
        out = self.out
        out.update(_summary("commit_latency", creates + drops, sfx))
        out.update(_summary("create_table", creates, sfx))
        out.update(_summary("drop_table", drops, sfx))
        # CPU time does not count waiting for a core: robust on a shared machine
        out.update(_summary("commit_cpu", cpu, sfx))
        out[f"process_cpu_ms_per_ddl{sfx}"] = round4(process_cpu_ms / len(cpu))
        out[f"ddl_commits{sfx}"] = len(creates) + len(drops)
        out[f"checkpoints_during_latency{sfx}"] = self.tap.checkpoints - checkpoints0
        out[f"manifest_commits_during_latency{sfx}"] = commits
        out[f"requests_per_commit{sfx}"] = round4(sum(requests.values()) / commits)
        out[f"requests_per_commit_by_op{sfx}"] = {
            op: round4(n / commits) for op, n in sorted(requests.items())
        }
        out[f"requests_per_ddl{sfx}"] = round4(sum(requests.values()) / (len(creates) + len(drops)))
        self.ui.log(
            f"[{self.b.name}] commit latency at {size:,}: "
            f"p50 {out[f'commit_latency_ms_p50{sfx}']:.2f} ms, "
            f"p95 {out[f'commit_latency_ms_p95{sfx}']:.2f} ms, "
            f"CPU p50 {out[f'commit_cpu_ms_p50{sfx}']:.2f} ms (caller), "
            f"{out[f'process_cpu_ms_per_ddl{sfx}']:.2f} ms/DDL (process), "
            f"{out[f'requests_per_commit{sfx}']:.2f} requests/commit, "
            f"{out[f'checkpoints_during_latency{sfx}']} checkpoints"
        )
        return requests, commits

    def _reads(self, catalog: Catalog, size: int) -> None:
        rng = random.Random(size)
        names = [_table_name(rng.randrange(size)) for _ in range(self.config.read_samples)]
        list_samples = max(3, min(self.config.read_samples // 4, 50 if size <= 1_000 else 10))
        gets: list[float] = []
        lists: list[float] = []
        catalog.get_table(NAMESPACE, names[0])
        with self.ui.task(
            f"[{self.b.name}] reads at {size:,} tables", len(names) + list_samples
        ) as advance:
            for name in names:
                gets.append(_timed_ms(catalog.get_table, NAMESPACE, name))
                advance(1)
            for _ in range(list_samples):
                t0 = time.perf_counter_ns()
                listed = _list_all(catalog, NAMESPACE)
                lists.append((time.perf_counter_ns() - t0) / 1e6)
                if listed != size:
                    raise AssertionError(f"listed {listed} tables, expected {size}")
                advance(1)
        sfx = f"_at_{size}"
        self.out.update(_summary("get_table_ms_warm_{stat}", gets, sfx))
        self.out.update(_summary("load_table", gets, sfx))
        self.out.update(_summary("list_tables", lists, sfx))

    def _create_namespaces(self, catalog: Catalog) -> None:
        times = [
            _timed_ms(catalog.create_namespace, f"ns_probe_{i}")
            for i in range(self.config.namespace_samples)
        ]
        catalog.close()
        self.out.update(_summary("create_namespace", times))

    def _cold(self, scope: Scope, size: int) -> None:
        times: list[float] = []
        requests: list[int] = []
        table = _table_name(size // 2)
        for _ in range(self.config.cold_samples):
            self.counting.reset()
            t0 = time.perf_counter_ns()
            fresh = Catalog(self.counting, scope)
            fresh.get_table(NAMESPACE, table)
            times.append((time.perf_counter_ns() - t0) / 1e6)
            requests.append(self.counting.total)
        sfx = f"_at_{size}"
        self.out[f"get_table_ms_cold{sfx}"] = round4(percentile(times, 50))
        self.out[f"get_table_ms_cold_max{sfx}"] = round4(max(times))
        self.out[f"requests_per_cold_get_table{sfx}"] = round4(sum(requests) / len(requests))

    def _cold_subprocess(self, scope: Scope, size: int) -> None:
        payload = json.dumps(
            {
                "url": self.b.url,
                "options": self.b.options,
                "tenant": scope.tenant,
                "workspace": scope.workspace,
                "namespace": NAMESPACE,
                "table": _table_name(size // 3),
            }
        )
        t0 = time.perf_counter_ns()
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, payload],
            capture_output=True,
            check=True,
            timeout=600,
            text=True,
        )
        wall_ms = (time.perf_counter_ns() - t0) / 1e6
        child = json.loads(done.stdout.strip().splitlines()[-1])
        self.out["get_table_ms_cold_subprocess"] = round4(child["cold_ms"])
        self.out["get_table_ms_warm_subprocess"] = round4(child["warm_ms"])
        self.out["subprocess_import_ms"] = round4(child["import_ms"])
        self.out["subprocess_wall_ms"] = round4(wall_ms)

    def _throughput_threads(self, threads: int) -> None:
        catalog = self.catalog(f"threads-{threads}")
        catalog.create_namespace(NAMESPACE)
        per = max(1, self.config.throughput_ops // threads)
        barrier = threading.Barrier(threads + 1)
        errors: list[BaseException] = []
        label = f"{threads}_thread" + ("s" if threads > 1 else "")
        with self.ui.task(f"[{self.b.name}] throughput, {threads} thread(s)", per * threads) as adv:

            def work(w: int) -> None:
                barrier.wait()
                try:
                    for i in range(per):
                        catalog.register_table(NAMESPACE, f"w{w}_{i:05d}", COLUMNS)
                        adv(1)
                except BaseException as exc:
                    errors.append(exc)

            workers = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
            for t in workers:
                t.start()
            commits0 = catalog.writer.commits
            barrier.wait()
            t0 = time.perf_counter_ns()
            for t in workers:
                t.join()
            elapsed_s = (time.perf_counter_ns() - t0) / 1e9
            commits = catalog.writer.commits - commits0
        catalog.close()
        if errors:
            raise errors[0]
        ddls = per * threads
        self._throughput_figures(label, ddls, commits, elapsed_s)

    def _throughput_figures(self, label: str, ddls: int, commits: int, elapsed_s: float) -> None:
        self.out[f"commits_per_s_{label}"] = round4(ddls / elapsed_s)
        self.out[f"manifest_commits_per_s_{label}"] = round4(commits / elapsed_s)
        self.out[f"ddls_per_manifest_commit_{label}"] = round4(ddls / max(commits, 1))
        self.out[f"ddls_{label}"] = ddls
        self.ui.log(
            f"[{self.b.name}] {label.replace('_', ' ')}: {ddls / elapsed_s:.1f} DDL commits/s "
            f"({commits} manifest commits)"
        )

    def _throughput_processes(self, processes: int) -> None:
        workspace = f"processes-{processes}"
        setup = self.catalog(workspace)
        setup.create_namespace(NAMESPACE)
        setup.close()
        per = max(1, self.config.throughput_ops // processes)
        args = {
            "url": self.b.url,
            "options": self.b.options,
            "tenant": TENANT,
            "workspace": workspace,
            "ops": per,
        }
        desc = f"[{self.b.name}] throughput, {processes} processes"
        results, elapsed_s = common.run_processes(self.ui, desc, _process_worker, args, processes)
        ddls = sum(int(r["ddls"]) for r in results)
        commits = sum(int(r["commits"]) for r in results)
        self._throughput_figures(f"{processes}_processes", ddls, commits, elapsed_s)


def _process_worker(args: dict[str, Any], barrier: Any, queue: Any) -> None:
    """One writer process of the multi-process throughput figure."""
    result: dict[str, Any] = {"worker": args["worker"], "ddls": 0, "commits": 0, "error": None}
    try:
        store = open_store(args["url"], **args["options"])
        catalog = Catalog(
            store,
            Scope(args["tenant"], args["workspace"]),
            options=WriterOptions(background_checkpoints=True),
        )
        catalog.get_namespace(NAMESPACE)  # load the state before the clock starts
        barrier.wait(timeout=300)
        for i in range(int(args["ops"])):
            catalog.register_table(NAMESPACE, f"p{args['worker']}_{i:05d}", COLUMNS)
            result["ddls"] += 1
        result["commits"] = catalog.writer.commits
        catalog.close()
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        barrier.abort()
    queue.put(result)


def _cold_child(payload: str, started_ns: int) -> None:
    """Entry point of the fresh interpreter that measures a cold get-table."""
    imported = time.perf_counter_ns()
    args = json.loads(payload)
    t0 = time.perf_counter_ns()
    catalog = Catalog(
        open_store(args["url"], **args["options"]), Scope(args["tenant"], args["workspace"])
    )
    catalog.get_table(args["namespace"], args["table"])
    t1 = time.perf_counter_ns()
    catalog.get_table(args["namespace"], args["table"])
    t2 = time.perf_counter_ns()
    print(
        json.dumps(
            {
                "import_ms": (imported - started_ns) / 1e6,
                "cold_ms": (t1 - t0) / 1e6,
                "warm_ms": (t2 - t1) / 1e6,
            }
        )
    )


# --- the peer: pyiceberg SqlCatalog on SQLite ------------------------------------------------


def _run_peer(root: Path, config: BenchConfig, ui: Ui) -> dict[str, Any]:
    try:
        from pyiceberg.catalog.sql import SqlCatalog
        from pyiceberg.schema import Schema
        from pyiceberg.types import DoubleType, LongType, NestedField, StringType, TimestampType
    except ImportError as exc:  # pragma: no cover - the bench extra is installed for the tests
        return {"skipped": f"pyiceberg is not importable (pip install 'arco[bench]'): {exc}"}

    root.mkdir(parents=True, exist_ok=True)
    peer = SqlCatalog("bench", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}")
    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "name", StringType(), required=False),
        NestedField(3, "ts", TimestampType(), required=False),
        NestedField(4, "amount", DoubleType(), required=False),
    )
    out: dict[str, Any] = {
        "catalog": "pyiceberg.catalog.sql.SqlCatalog",
        "uri": "sqlite:///<tmp>/catalog.db",
        "warehouse": "file://<tmp>",
    }
    small, large = config.sizes
    peer.create_namespace(NAMESPACE)
    ns_times = [
        _timed_ms(peer.create_namespace, f"ns_probe_{i}") for i in range(config.namespace_samples)
    ]
    out.update(_summary("create_namespace", ns_times))

    def populate(start: int, stop: int) -> float:
        t0 = time.perf_counter_ns()
        with ui.task(f"[peer] populate {start:,} → {stop:,} tables", stop - start) as advance:
            for i in range(start, stop):
                peer.create_table((NAMESPACE, _table_name(i)), schema)
                advance(1)
        return (time.perf_counter_ns() - t0) / 1e9

    def measure(size: int, suffix: str) -> None:
        creates: list[float] = []
        drops: list[float] = []
        for i in range(config.latency_samples // 2):
            ident = (NAMESPACE, f"probe_{size}_{i}")
            creates.append(_timed_ms(peer.create_table, ident, schema))
            drops.append(_timed_ms(peer.drop_table, ident))
        rng = random.Random(size)
        loads = [
            _timed_ms(peer.load_table, (NAMESPACE, _table_name(rng.randrange(size))))
            for _ in range(config.read_samples)
        ]
        list_samples = max(3, min(config.read_samples // 4, 50 if size <= 1_000 else 10))
        lists: list[float] = []
        for _ in range(list_samples):
            t0 = time.perf_counter_ns()
            listed = len(peer.list_tables(NAMESPACE))
            lists.append((time.perf_counter_ns() - t0) / 1e6)
            if listed != size:
                raise AssertionError(f"peer listed {listed} tables, expected {size}")
        out.update(_summary("create_table", creates, suffix))
        out.update(_summary("drop_table", drops, suffix))
        out.update(_summary("load_table", loads, suffix))
        out.update(_summary("list_tables", lists, suffix))

    elapsed = populate(0, small)
    out[f"populate_s_to_{small}"] = round4(elapsed)
    measure(small, f"_at_{small}")
    for op in ("create_table", "drop_table", "load_table", "list_tables"):
        for stat in ("p50", "p95", "mean"):
            out[f"{op}_ms_{stat}"] = out[f"{op}_ms_{stat}_at_{small}"]
    estimate_s = out["create_table_ms_mean"] / 1000 * (large - small)
    out[f"populate_s_estimate_to_{large}"] = round4(estimate_s)
    if estimate_s <= config.peer_large_budget_s:
        out[f"populate_s_to_{large}"] = round4(populate(small, large))
        measure(large, f"_at_{large}")
    else:
        out[f"skipped_at_{large}"] = (
            f"populating {large:,} tables would take ~{estimate_s:.0f} s (create_table mean "
            f"{out['create_table_ms_mean']:.2f} ms, sequential: SQLite serialises writers), "
            f"over the {config.peer_large_budget_s:.0f} s budget"
        )
    ui.log(
        f"[peer] create_table p50 {out['create_table_ms_p50']:.2f} ms, "
        f"load_table p50 {out['load_table_ms_p50']:.2f} ms"
    )
    return out


# --- the whole run --------------------------------------------------------------------------


PEER_OPS = ("create_namespace", "create_table", "load_table", "list_tables")


def _ratios(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, backend in result["backends"].items():
        if "skipped" in backend:
            continue
        small, large = backend["sizes"]
        out[name] = {
            key: backend[key]
            for key in (
                f"commit_latency_ratio_{large}_vs_{small}",
                f"commit_latency_p95_ratio_{large}_vs_{small}",
                f"commit_cpu_ratio_{large}_vs_{small}",
                f"process_cpu_per_ddl_ratio_{large}_vs_{small}",
            )
        }
    local = result["backends"].get("local", {})
    peer = result["peer"].get("pyiceberg_sql_sqlite", {})
    if "skipped" not in peer and "skipped" not in local:
        vs: dict[str, float] = {}
        for op in PEER_OPS:
            for stat in ("p50", "p95"):
                key = f"{op}_ms_{stat}"
                vs[key] = ratio(local[key], peer[key])
        large = local["sizes"][1]
        for op in PEER_OPS[1:]:
            key = f"{op}_ms_p50_at_{large}"
            if key in peer:
                vs[key] = ratio(local[key], peer[key])
        out["arco_local_vs_peer"] = vs
    return out


def run_catalog_bench(
    json_path: Path | None,
    *,
    quick: bool = False,
    s3: bool = True,
    console: Console | None = None,
    sizes: tuple[int, int] | None = None,
    s3_sizes: tuple[int, int] | None = None,
    latency_samples: int | None = None,
    read_samples: int | None = None,
    throughput_ops: int | None = None,
    populate_threads: int = 64,
    peer_large_budget_s: float = 60.0,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the catalog benchmark; write the JSON to ``json_path`` (if given) and return it.

    ``quick`` shrinks sizes and sample counts (large size 1,000 instead of 10,000) to run in
    well under a minute. The keyword sizes override either profile (used by the tests).
    """
    config = BenchConfig.make(
        quick,
        sizes=sizes,
        s3_sizes=s3_sizes,
        latency_samples=latency_samples,
        read_samples=read_samples,
        throughput_ops=throughput_ops,
        populate_threads=populate_threads,
        peer_large_budget_s=peer_large_budget_s,
    )
    ui = Ui(console)
    t_start = time.perf_counter()
    result: dict[str, Any] = {
        **common.run_header(
            "catalog",
            config,
            quick,
            columns_per_table=len(COLUMNS),
            writer_options=asdict(WriterOptions(background_checkpoints=True)),
            notes=[
                "commits_per_s_* = DDL requests committed per second (each returns only once "
                "durable); manifest_commits_per_s_* counts published manifests (group commit "
                "folds concurrent DDLs into one); both include checkpoint commits' cost.",
                "commit latency: sequential register_table + drop_table pairs at each size "
                "(the size stays constant), background checkpoints on; commit_latency_* covers "
                "both, create_table_* / drop_table_* each.",
                "commit_cpu_ms_*: CPU time of the calling thread per DDL; "
                "process_cpu_ms_per_ddl: CPU time of the whole process (background "
                "checkpoints included) over the latency phase / DDLs. Unlike wall time, neither "
                "counts waiting for a core, so they stay meaningful on a busy machine.",
                "requests_per_commit: every object-store request during the latency phase "
                "(checkpoint writes and adoption included) / manifest commits (DDL and "
                "checkpoint commits); requests_per_ddl divides by DDLs instead.",
                "get_table_ms_cold: a new Catalog object on the same store (empty cache) at "
                "the large size; *_subprocess: in a fresh interpreter (after imports).",
                "load_table_* (Arco) = get_table on a warm Catalog; list_tables_* lists every "
                "table of the namespace (Arco: pages of 1000, full Table objects; peer: "
                "identifiers only).",
                "local store: file:// with fsync on every write; the peer's SQLite uses its "
                "default journal (fsync on commit) and pyiceberg writes metadata JSON without "
                "fsync.",
                "throughput figures run on fresh, small catalogs.",
                "s3 backend: moto server on 127.0.0.1 (one Python process), sizes "
                f"{config.s3_sizes[0]:,} and {config.s3_sizes[1]:,} to keep the run short.",
            ],
        ),
        "backends": {},
        "peer": {},
        "ratios": {},
    }
    with common.scratch_dir("arco-bench-", work_dir) as tmp:
        with ui.progress:
            local = _Backend("local", f"file://{tmp / 'local'}", {}, config.sizes)
            (tmp / "local").mkdir()
            result["backends"]["local"] = {
                "sizes": list(config.sizes),
                **_BackendBench(local, config, ui).run(),
            }
            result["backends"]["s3"] = _run_s3(config, ui) if s3 else {"skipped": "s3=False"}
            result["peer"]["pyiceberg_sql_sqlite"] = _run_peer(tmp / "peer", config, ui)
        result["ratios"] = _ratios(result)
        result["runtime_s"] = round4(time.perf_counter() - t_start)
    common.write_json(json_path, result)
    _print_summary(ui.console, result)
    return result


def _run_s3(config: BenchConfig, ui: Ui) -> dict[str, Any]:
    def bench(url: str, options: dict[str, Any]) -> dict[str, Any]:
        return _BackendBench(_Backend("s3", url, options, config.s3_sizes), config, ui).run()

    return common.run_on_s3(S3_BUCKET, {"sizes": list(config.s3_sizes)}, bench)


def _print_summary(console: Console, result: dict[str, Any]) -> None:
    backends = result["backends"]
    peer = result["peer"].get("pyiceberg_sql_sqlite", {})
    keys: list[str] = []
    for backend in backends.values():
        if "sizes" not in backend or "skipped" in backend:
            continue
        small, large = backend["sizes"]
        for key in (
            f"commit_latency_ms_p50_at_{small}",
            f"commit_latency_ms_p50_at_{large}",
            f"commit_latency_ratio_{large}_vs_{small}",
            f"commit_cpu_ratio_{large}_vs_{small}",
            f"process_cpu_per_ddl_ratio_{large}_vs_{small}",
        ):
            if key not in keys:
                keys.append(key)
    keys += [
        "requests_per_commit",
        "commits_per_s_1_thread",
        "commits_per_s_8_threads",
        "commits_per_s_4_processes",
        "get_table_ms_cold",
        "get_table_ms_cold_subprocess",
        "get_table_ms_warm",
        *(f"{op}_ms_p50" for op in PEER_OPS),
    ]
    common.print_figures(console, "arco bench catalog", {**backends, "peer": peer}, keys)
