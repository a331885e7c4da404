"""``arco bench soak``: one server under a steady mixed load for a fixed duration.

What runs, on a fresh ``file://`` store in a temporary directory:

* **The server.** ``arco serve``'s application (``create_app`` in development mode, the
  tier-2 compactor loop on, rate limits raised) under uvicorn in its own OS process on
  127.0.0.1 (:func:`arco.bench.common.start_server`). Before the load the bench registers
  one namespace (``soak``) of 20 tables through the API, which every client reads.
* **The load.** C client OS processes (4), each with one keep-alive ``httpx.Client``, run
  a weighted mix of operations for the duration, paced at R requests/s each (5; 0 = as
  fast as the server answers): namespace and table DDL (create, register, update columns
  or description, drop; each client keeps about 25 tables of its own, so the catalog stays
  the same size), get table, list tables and namespaces, search, small SQL queries over
  ``catalog.*``, ``system.*`` and ``executions.*``, tier-2 event appends (1-5
  ``materialization`` events, each a new materialization, or with ``--materialization-pool
  N`` one of N ids per client, so that the data stops growing and only the server's own
  growth remains to be seen), list materializations, signed
  URL minting (then a ranged GET of one minted URL half of the time), and a fraction
  (7%) of deliberately bad requests (invalid name, malformed JSON, unknown table, bad or
  non-read-only SQL, oversized ``ttl_seconds``, unknown event type, unknown column type)
  that must be answered 4xx. Every request is recorded (operation, status, latency, time),
  and so is every acknowledged write (a 2xx on DDL or an event append: what was written).
  A client also checks that every answer to a write, and every read of its own tables,
  shows what it had acknowledged so far.
* **Prefill.** Before the clock starts, each client creates its namespace, registers its
  tables up to the target and writes each of its pooled materializations once: the first
  window then measures the steady state, not the catalog filling up (which made the first
  minute of a run faster than any later one).
* **Sampling.** Every second: the server's RSS (``VmRSS``), open file descriptors
  (``/proc/<pid>/fd``) and CPU. Every 2 s: the compaction backlog, measured from the store
  the way ``arco verify`` measures lag: the ledger objects that are not in the ``ingested``
  table of the current executions snapshot (their number, and the age of the oldest by its
  last-modified time), next to the lag the server reports on ``/ready`` (the worst
  append-to-publish lag of its compactor loop's last pass).
* **After the load.** Wait until every acknowledged event is folded (``catch_up_s``), check
  through ``POST /query`` that they are visible in ``executions.materializations``, stop
  the server, run :func:`arco.maintenance.verify.verify_scope` (what ``arco verify`` runs),
  and check every acknowledged write on the store: namespaces and tables exist (or are
  gone, if their drop was acknowledged) with their acknowledged columns and description,
  and every acknowledged event is a materialization.

Figures: requests by status class, overall and per operation; p50/p99 per operation in the
first and the last window (60 s; for runs under 120 s a third of the run after the
warm-up) and their ratio last/first; a latency series; RSS and fd series with start, max and
end; compaction backlog and lags. ``failures`` lists any 5xx, unanswered request, bad
request not refused with 4xx, valid request refused, answer that disagrees with an
acknowledged write, verify finding and missing acknowledged write; ``ok`` is true when it
is empty. Flatness (last window within 1.2x of the first, latency and RSS) is reported as
booleans but only counts as a failure for runs of 10 minutes or more.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from rich.console import Console

from arco.bench import common
from arco.bench.common import Server, Ui, percentile, ratio, round4, start_server

TENANT = "soak"
WORKSPACE = "soak"
API = "/api/v1"
HEADERS = {"X-Tenant-Id": TENANT, "X-Workspace-Id": WORKSPACE}
#: the namespace the bench seeds before the load, with SEED_TABLES tables every client reads
SEED_NAMESPACE = "soak"
#: namespace of the pooled materialization ids (uuid5)
_POOL_IDS = uuid.UUID("5d7c5a3e-3f0b-4e8a-9a7e-0c1b2d3e4f50")
SEED_TABLES = 20
BASE_COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "type": "int64", "nullable": False},
    {"name": "name", "type": "string"},
    {"name": "ts", "type": "timestamp[us]"},
    {"name": "amount", "type": "double"},
]
#: column types an update adds (canonical spellings: the server answers them unchanged)
ADD_TYPES = ("string", "int64", "double", "bool")
#: tables a client keeps around: it drops one of its own more often the more it has
TABLE_TARGET = 25
MAX_COLUMNS = 10

#: the valid operations and their weights (a draw picks one; ``bad`` requests come on top)
WEIGHTS: dict[str, int] = {
    "namespace_ddl": 2,  # create a namespace, or drop an emptied old one
    "table_ddl": 8,  # register a table, or drop an old one
    "update_table": 5,
    "get_table": 14,
    "list_tables": 7,
    "list_namespaces": 5,
    "search": 8,
    "query": 10,
    "append_events": 10,
    "list_materializations": 3,
    "mint_urls": 4,  # and, half the time, a ranged GET of one minted URL ("fetch_file")
}
#: the operation names a record can carry (what ``namespace_ddl``/``table_ddl`` become)
OPS = (
    "create_namespace",
    "drop_namespace",
    "register_table",
    "drop_table",
    "update_table",
    "get_table",
    "list_tables",
    "list_namespaces",
    "search",
    "query",
    "append_events",
    "list_materializations",
    "mint_urls",
    "fetch_file",
)
WRITE_OPS = frozenset(
    {"create_namespace", "drop_namespace", "register_table", "drop_table", "update_table"}
)
#: deliberately bad requests (each must be answered 4xx)
BAD_OPS = (
    "bad_name",
    "bad_json",
    "bad_unknown_table",
    "bad_sql",
    "bad_ttl",
    "bad_event_type",
    "bad_column_type",
)
#: names every name check refuses (a slash, a dot-dot segment, empty, too long, padded, a
#: control character); spaces inside a name are allowed
BAD_NAMES = ("a/b", "..", "", "x" * 300, " padded", "tab\there")
QUERIES = (
    "SELECT count(*) AS n FROM catalog.tables",
    "SELECT namespace, table_count FROM system.namespaces ORDER BY namespace LIMIT 20",
    f"SELECT table_name, column_count FROM system.tables WHERE namespace = '{SEED_NAMESPACE}' "
    "ORDER BY table_name",
    "SELECT status, count(*) AS n FROM executions.materializations GROUP BY status ORDER BY status",
    "SELECT asset_key, count(*) AS n, max(completed_at) AS last FROM "
    "executions.materializations GROUP BY asset_key ORDER BY n DESC, asset_key LIMIT 10",
)
BAD_SQL = (
    "SELEC 1",
    "DROP TABLE catalog.tables",
    "SELECT * FROM no_such_schema.no_such_view",
)
SEARCH_WORDS = ("soak", "orders", "customers", "amount", "ts", "t_w", "seed", "updated")
#: the last/first ratio within which latency and RSS count as flat
FLAT_RATIO = 1.2
#: runs at least this long are judged on flatness (shorter ones are too noisy)
FLATNESS_JUDGED_FROM_S = 600.0
#: an operation's p50 is judged on flatness only with this many requests in each window
FLATNESS_MIN_REQUESTS = 100
#: anomalies each client writes out in full (all are counted)
ANOMALIES_KEPT = 50
#: points kept of each time series in the JSON
SERIES_POINTS = 120

#: a request record: operation, HTTP status (-1: no answer), latency ms, monotonic time s, bad
Record = tuple[str, int, float, float, bool]


@dataclass(frozen=True)
class SoakConfig:
    """One run's settings (written to the JSON as ``config``)."""

    duration_s: float
    clients: int
    rate_per_client: float
    bad_fraction: float
    compactor_interval_s: float
    sample_interval_s: float
    lag_interval_s: float
    catch_up_timeout_s: float
    warmup_s: float
    window_s: float
    #: materialization ids per client that events reuse (0: every event a new one)
    materialization_pool: int = 0

    @classmethod
    def make(
        cls,
        duration_s: float,
        clients: int = 4,
        *,
        rate_per_client: float = 5.0,
        bad_fraction: float = 0.07,
        compactor_interval_s: float = 2.0,
        catch_up_timeout_s: float = 120.0,
        materialization_pool: int = 0,
    ) -> SoakConfig:
        if materialization_pool < 0:
            raise ValueError(
                f"materialization_pool must not be negative (got {materialization_pool})"
            )
        if duration_s <= 0 or clients < 1 or rate_per_client < 0:
            raise ValueError(
                f"duration, clients must be positive and the rate not negative "
                f"(got {duration_s}, {clients}, {rate_per_client})"
            )
        if not 0 <= bad_fraction < 1:
            raise ValueError(f"bad_fraction must be in [0, 1) (got {bad_fraction})")
        warmup, window = windows(duration_s)
        return cls(
            duration_s=float(duration_s),
            clients=clients,
            rate_per_client=float(rate_per_client),
            bad_fraction=bad_fraction,
            compactor_interval_s=compactor_interval_s,
            sample_interval_s=1.0,
            lag_interval_s=2.0,
            catch_up_timeout_s=catch_up_timeout_s,
            warmup_s=warmup,
            window_s=window,
            materialization_pool=materialization_pool,
        )


def windows(duration_s: float) -> tuple[float, float]:
    """``(warmup_s, window_s)``: the first window starts after the warm-up (10 s at most,
    5% of the run), the last one ends with the run. 60 s windows from 120 s on; a third
    of what follows the warm-up for shorter runs."""
    warmup = round4(min(10.0, duration_s * 0.05))
    window = 60.0 if duration_s >= 120 else round4((duration_s - warmup) / 3)
    return warmup, window


# --- the client processes ---------------------------------------------------------------------


@dataclass
class _Table:
    namespace: str
    name: str
    columns: list[tuple[str, str]]
    description: str | None
    next_column: int = 0


@dataclass
class _Namespace:
    name: str
    tables: int = 0


class _Client:
    """One client process's loop: its own namespaces and tables, its records."""

    def __init__(self, args: Mapping[str, Any], http: Any) -> None:
        self.w = int(args["worker"])
        self.http = http
        self.rng = random.Random(int(args.get("seed", 0)) * 1000 + self.w)
        self.bad_fraction = float(args["bad_fraction"])
        self.pool = int(args.get("materialization_pool", 0))
        self.seed_tables: list[str] = list(args["seed_tables"])
        out = Path(args["out_dir"])
        self.requests = (out / f"requests-{self.w}.jsonl").open("w")
        self.writes = (out / f"writes-{self.w}.jsonl").open("w")
        self.anomalies = (out / f"anomalies-{self.w}.jsonl").open("w")
        self.anomaly_counts: Counter[str] = Counter()
        self.namespaces: list[_Namespace] = []
        self.tables: list[_Table] = []
        self.seq = 0
        self.urls: list[str] = []
        ops = list(WEIGHTS)
        self.ops, self.weights = ops, [WEIGHTS[o] for o in ops]

    def close(self) -> None:
        for f in (self.requests, self.writes, self.anomalies):
            f.close()

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    # --- recording

    def call(
        self,
        op: str,
        method: str,
        url: str,
        *,
        bad: bool = False,
        expect: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> Any:
        """One request, recorded; the response (None if the server did not answer)."""
        import httpx

        error = ""
        t0 = time.perf_counter()
        try:
            response = self.http.request(method, url, **kwargs)
            status = response.status_code
        except httpx.HTTPError as exc:
            response, status = None, -1
            error = f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - t0) * 1000
        now = time.monotonic()
        self.requests.write(json.dumps([op, status, round(ms, 3), round(now, 4), bad]) + "\n")
        if status == -1:
            self.anomaly("no_answer", op, method, url, status, error)
        elif status >= 500:
            self.anomaly("5xx", op, method, url, status, response.text)
        elif bad and not 400 <= status < 500:
            self.anomaly("bad_request_accepted", op, method, url, status, response.text)
        elif not bad and status >= 400:
            self.anomaly("valid_request_refused", op, method, url, status, response.text)
        elif expect and status not in expect:
            self.anomaly("unexpected_status", op, method, url, status, response.text)
        return response

    def anomaly(
        self, kind: str, op: str, method: str, url: str, status: int, detail: str, **extra: Any
    ) -> None:
        self.anomaly_counts[kind] += 1
        if self.anomaly_counts[kind] <= ANOMALIES_KEPT:
            entry = {
                "kind": kind,
                "op": op,
                "request": f"{method} {url.split('?', maxsplit=1)[0]}",
                "status": status,
                "detail": detail[:500],
                "at_monotonic_s": round(time.monotonic(), 3),
                **extra,
            }
            self.anomalies.write(json.dumps(entry) + "\n")

    def wrote(self, **entry: Any) -> None:
        self.writes.write(json.dumps(entry) + "\n")

    @staticmethod
    def ok(response: Any) -> bool:
        return response is not None and 200 <= response.status_code < 300

    @staticmethod
    def unknown(response: Any) -> bool:
        """The write's outcome is unknown: no answer, or a 5xx."""
        return response is None or response.status_code >= 500

    # --- the loop

    def prefill(self) -> None:
        """Before the clock starts: this client's tables at their target number and, with
        a pool, each of its materialization ids written once, so that the measured load
        starts from the steady state instead of growing into it during the first window."""
        self.namespace_ddl()
        for _ in range(3 * TABLE_TARGET):
            if len(self.tables) >= TABLE_TARGET or not self.namespaces:
                break
            self.register_table()
        for first in range(0, self.pool, 5):
            self.append_events(list(range(first, min(first + 5, self.pool))))

    def step(self) -> None:
        if self.rng.random() < self.bad_fraction:
            self.bad(self.rng.choice(BAD_OPS))
            return
        op = self.rng.choices(self.ops, self.weights)[0]
        if not self.namespaces:
            op = "namespace_ddl"
        getattr(self, op)()

    # --- DDL

    def namespace_ddl(self) -> None:
        empty = [n for n in self.namespaces[:-1] if n.tables == 0]
        if empty:
            ns = empty[0]
            r = self.call("drop_namespace", "DELETE", f"{API}/namespaces/{ns.name}", expect=(204,))
            if self.ok(r):
                self.namespaces.remove(ns)
                self.wrote(kind="namespace", name=ns.name, state="dropped")
            elif self.unknown(r):
                self.namespaces.remove(ns)
                self.wrote(kind="uncertain", what="namespace", name=ns.name)
            return
        name = f"soak_w{self.w}_n{self._next():06d}"
        body = {"name": name, "description": f"soak client {self.w}"}
        r = self.call("create_namespace", "POST", f"{API}/namespaces", json=body, expect=(201,))
        if self.ok(r):
            self.namespaces.append(_Namespace(name))
            self.wrote(kind="namespace", name=name, state="live")
        elif self.unknown(r):
            self.wrote(kind="uncertain", what="namespace", name=name)

    def table_ddl(self) -> None:
        drop = self.tables and self.rng.random() < min(1.0, len(self.tables) / (2 * TABLE_TARGET))
        if drop:
            self.drop_table()
        else:
            self.register_table()

    def register_table(self) -> None:
        ns = self.namespaces[-1]
        name = f"t_w{self.w}_{self._next():06d}"
        description = f"soak table {name}: orders and customers"
        body = {"name": name, "columns": BASE_COLUMNS, "description": description}
        r = self.call(
            "register_table", "POST", f"{API}/namespaces/{ns.name}/tables", json=body, expect=(201,)
        )
        if self.ok(r):
            table = _Table(
                ns.name, name, [(c["name"], c["type"]) for c in BASE_COLUMNS], description
            )
            self.tables.append(table)
            ns.tables += 1
            self.check_table("register_table", table, r.json())
            self.wrote_table(table)
        elif self.unknown(r):
            ns.tables += 1  # it may exist: keep its namespace
            self.wrote(kind="uncertain", what="table", namespace=ns.name, name=name)

    def drop_table(self) -> None:
        table = self.tables[0]  # the oldest: old namespaces empty out
        r = self.call(
            "drop_table",
            "DELETE",
            f"{API}/namespaces/{table.namespace}/tables/{table.name}",
            expect=(204,),
        )
        if self.ok(r) or self.unknown(r):
            self.tables.remove(table)
            if self.ok(r):
                self._namespace(table.namespace).tables -= 1
                self.wrote(
                    kind="table", namespace=table.namespace, name=table.name, state="dropped"
                )
            else:
                self.wrote(
                    kind="uncertain", what="table", namespace=table.namespace, name=table.name
                )

    def _namespace(self, name: str) -> _Namespace:
        return next(n for n in self.namespaces if n.name == name)

    def update_table(self) -> None:
        if not self.tables:
            self.get_table()
            return
        table = self.rng.choice(self.tables)
        roll = self.rng.random()
        columns = list(table.columns)
        description = table.description
        next_column = table.next_column
        if roll < 0.4 and len(columns) < MAX_COLUMNS:
            next_column += 1
            added = (f"c{next_column}", self.rng.choice(ADD_TYPES))
            body: dict[str, Any] = {"add_columns": [{"name": added[0], "type": added[1]}]}
            columns.append(added)
        elif roll < 0.7 and len(columns) > 1:
            dropped = self.rng.choice(columns[1:])
            body = {"drop_columns": [dropped[0]]}
            columns.remove(dropped)
        else:
            description = f"soak table {table.name}: updated {self._next()}"
            body = {"description": description}
        r = self.call(
            "update_table",
            "PATCH",
            f"{API}/namespaces/{table.namespace}/tables/{table.name}",
            json=body,
            expect=(200,),
        )
        if self.ok(r):
            table.columns, table.description, table.next_column = columns, description, next_column
            self.check_table("update_table", table, r.json())
            self.wrote_table(table)
        elif self.unknown(r):
            self.tables.remove(table)
            self.wrote(kind="uncertain", what="table", namespace=table.namespace, name=table.name)

    def wrote_table(self, table: _Table) -> None:
        self.wrote(
            kind="table",
            namespace=table.namespace,
            name=table.name,
            state="live",
            columns=[list(c) for c in table.columns],
            description=table.description,
        )

    def check_table(self, op: str, table: _Table, body: Any) -> None:
        """The server's answer shows the table as this client last acknowledged it."""
        got = [(c.get("name"), c.get("type")) for c in body.get("columns", [])]
        if got != table.columns or body.get("description") != table.description:
            self.anomaly(
                "answer_differs_from_acknowledged",
                op,
                "GET" if op == "get_table" else "-",
                f"{API}/namespaces/{table.namespace}/tables/{table.name}",
                200,
                json.dumps({"got": got, "description": body.get("description")})[:400],
                expected={"columns": table.columns, "description": table.description},
            )

    # --- reads

    def get_table(self) -> None:
        if self.tables and self.rng.random() < 0.5:
            table = self.rng.choice(self.tables)
            r = self.call(
                "get_table", "GET", f"{API}/namespaces/{table.namespace}/tables/{table.name}"
            )
            if self.ok(r):
                self.check_table("get_table", table, r.json())
            return
        name = self.rng.choice(self.seed_tables)
        self.call("get_table", "GET", f"{API}/namespaces/{SEED_NAMESPACE}/tables/{name}")

    def list_tables(self) -> None:
        ns = SEED_NAMESPACE if self.rng.random() < 0.5 else self.namespaces[-1].name
        self.call("list_tables", "GET", f"{API}/namespaces/{ns}/tables", params={"limit": 50})

    def list_namespaces(self) -> None:
        self.call("list_namespaces", "GET", f"{API}/namespaces", params={"limit": 100})

    def search(self) -> None:
        q = self.rng.choice(SEARCH_WORDS)
        self.call("search", "GET", f"{API}/search", params={"q": q, "limit": 20})

    def query(self) -> None:
        sql = self.rng.choice(QUERIES)
        self.call("query", "POST", f"{API}/query", json={"sql": sql}, expect=(200,))

    def list_materializations(self) -> None:
        params: dict[str, Any] = {"limit": 50}
        if self.rng.random() < 0.5:
            params["asset_key"] = f"soak/asset_{self.rng.randrange(50):03d}"
        self.call("list_materializations", "GET", f"{API}/materializations", params=params)

    def append_events(self, pool_ks: Sequence[int] | None = None) -> None:
        now = dt.datetime.now(dt.UTC)
        events = []
        count = self.rng.randint(1, 5)
        # pooled: distinct ids within a request, so that its events never race each other
        if pool_ks is None:
            pool_ks = self.rng.sample(range(self.pool), min(count, self.pool))
        mids = [pool_mid(self.w, k) for k in pool_ks]
        for i in range(count if not self.pool else len(mids)):
            day = dt.date(2026, 1, 1) + dt.timedelta(days=self.rng.randrange(300))
            started = now - dt.timedelta(seconds=self.rng.randrange(1, 600))
            events.append(
                {
                    "event_type": "materialization",
                    "asset_key": f"soak/asset_{self.rng.randrange(50):03d}",
                    "run_id": f"soak-w{self.w}-{self._next():08d}",
                    "status": self.rng.choice(("succeeded",) * 4 + ("failed",)),
                    "partition_key": f"day=d:{day.isoformat()}",
                    "rows": self.rng.randrange(1, 1_000_000),
                    "bytes": self.rng.randrange(1_000, 1 << 30),
                    "code_version": "soak-v1",
                    "started_at": started.isoformat().replace("+00:00", "Z"),
                    "completed_at": now.isoformat().replace("+00:00", "Z"),
                }
            )
            if mids:
                events[-1]["materialization_id"] = mids[i]
        r = self.call(
            "append_events", "POST", f"{API}/events", json={"events": events}, expect=(202,)
        )
        if self.ok(r):
            ids = r.json().get("event_ids", [])
            if len(ids) != len(events):
                self.anomaly(
                    "answer_differs_from_acknowledged",
                    "append_events",
                    "POST",
                    f"{API}/events",
                    r.status_code,
                    f"{len(events)} events appended, {len(ids)} ids answered",
                )
            self.wrote(kind="events", ids=ids, mids=mids)

    def mint_urls(self) -> None:
        domain = self.rng.choice(("catalog", "executions"))
        r = self.call(
            "mint_urls", "POST", f"{API}/browser/urls", json={"domain": domain}, expect=(200,)
        )
        if not self.ok(r) or self.rng.random() < 0.5:
            return
        files = r.json().get("files", [])
        if files:
            url = self.rng.choice(files)["url"]
            headers = {"Range": "bytes=0-1023"} if self.rng.random() < 0.5 else {}
            self.call("fetch_file", "GET", url, headers=headers, expect=(200, 206))

    # --- bad requests

    def bad(self, op: str) -> None:
        ns = self.namespaces[-1].name if self.namespaces else SEED_NAMESPACE
        if op == "bad_name":
            name = self.rng.choice(BAD_NAMES)
            self.call(op, "POST", f"{API}/namespaces", json={"name": name}, bad=True)
        elif op == "bad_json":
            self.call(
                op,
                "POST",
                f"{API}/namespaces/{ns}/tables",
                content=b'{"name": "t", "columns": [',
                headers={"Content-Type": "application/json"},
                bad=True,
            )
        elif op == "bad_unknown_table":
            url = f"{API}/namespaces/{ns}/tables/no_such_table_{self.rng.randrange(10**6)}"
            self.call(op, "GET", url, bad=True)
        elif op == "bad_sql":
            sql = self.rng.choice(BAD_SQL)
            self.call(op, "POST", f"{API}/query", json={"sql": sql}, bad=True)
        elif op == "bad_ttl":
            body = {"domain": "catalog", "ttl_seconds": self.rng.choice((7 * 86400, 0, -5))}
            self.call(op, "POST", f"{API}/browser/urls", json=body, bad=True)
        elif op == "bad_event_type":
            event = {"event_type": "no_such_event", "asset_key": "soak/x", "run_id": "r"}
            self.call(op, "POST", f"{API}/events", json={"events": [event]}, bad=True)
        else:
            body = {"name": "t_bad", "columns": [{"name": "a", "type": "varchar(ten)"}]}
            self.call(op, "POST", f"{API}/namespaces/{ns}/tables", json=body, bad=True)


def _client_process(args: dict[str, Any], barrier: Any) -> None:
    """A client process: wait for the others, then run the mix until the duration ends."""
    import httpx

    out = Path(args["out_dir"])
    try:
        with httpx.Client(base_url=args["url"], headers=HEADERS, timeout=60.0) as http:
            client = _Client(args, http)
            try:
                client.prefill()
                barrier.wait(timeout=600)
                start = time.monotonic()
                end = start + float(args["duration_s"])
                interval = 1.0 / args["rate"] if args["rate"] > 0 else 0.0
                due = start
                while time.monotonic() < end:
                    if interval:
                        wait = due - time.monotonic()
                        if wait > 0:
                            time.sleep(wait)
                        # behind by over a second: start again from now (no bursts)
                        due = max(due + interval, time.monotonic() - 1.0)
                    client.step()
            finally:
                client.close()
                counts = dict(client.anomaly_counts)
        done = {"status": "ok", "anomaly_counts": counts}
    except BaseException as exc:
        with suppress(Exception):
            barrier.abort()
        done = {"status": f"{type(exc).__name__}: {exc}"}
        raise
    finally:
        (out / f"done-{args['worker']}.json").write_text(json.dumps(done))


# --- sampling the server --------------------------------------------------------------------


class Usage(NamedTuple):
    """One sample of the server process, and of it with every process it started (its
    query workers): ``tree_*`` are sums over the tree, ``children`` its size minus one;
    ``processes``: ``(pid, role, rss_bytes)`` of each process of the tree, the server first
    (see :func:`process_role`)."""

    rss_bytes: int
    open_fds: int
    cpu_s: float
    tree_rss_bytes: int
    tree_open_fds: int
    tree_cpu_s: float
    children: int
    processes: tuple[tuple[int, str, int], ...] = ()


@dataclass
class _Samples:
    """What the parent samples while the load runs (times relative to the load's start)."""

    #: (t_s, usage)
    resources: list[tuple[float, Usage]] = field(default_factory=list)
    #: (t_s, backlog, oldest_unfolded_age_s, server_reported_lag_s)
    lag: list[tuple[float, int, float, float | None]] = field(default_factory=list)
    lag_errors: list[str] = field(default_factory=list)


def _one(pid: int) -> tuple[int, int, float] | None:
    rss = common.process_rss_bytes(pid)
    fds = common.process_open_fds(pid)
    cpu = common.process_cpu_s(pid)
    if rss is None or fds is None or cpu is None:
        return None
    return rss, fds, cpu


_ROLES: dict[int, str] = {}


def process_role(server: int, pid: int) -> str:
    """What a process of the server's tree is: ``server``, ``forkserver`` (the query
    workers' fork server), ``resource_tracker`` (multiprocessing's), ``query_worker`` (a
    child of the fork server) or ``other`` (read once per pid from ``/proc``)."""
    if pid == server:
        return "server"
    role = _ROLES.get(pid)
    if role is None:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return "other"
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if b"resource_tracker" in cmdline:
            role = "resource_tracker"
        elif b"forkserver" in cmdline and ppid == server:
            role = "forkserver"
        elif process_role(server, ppid) == "forkserver":
            role = "query_worker"
        else:
            role = "other"
        _ROLES[pid] = role
    return role


def sample_usage(pid: int) -> Usage | None:
    """The server's usage now (None once it has exited); a child that exits while it is
    read is left out."""
    main = _one(pid)
    if main is None:
        return None
    rss, fds, cpu = main
    kids = [(k, u) for k in common.process_descendants(pid) if (u := _one(k)) is not None]
    return Usage(
        rss,
        fds,
        cpu,
        rss + sum(u[0] for _, u in kids),
        fds + sum(u[1] for _, u in kids),
        cpu + sum(u[2] for _, u in kids),
        len(kids),
        ((pid, "server", rss), *((k, process_role(pid, k), u[0]) for k, u in kids)),
    )


class _LagProbe:
    """The compaction backlog as ``arco verify`` sees it: ledger objects of the executions
    domain that the current snapshot's ``ingested`` table does not list."""

    def __init__(self, store_url: str) -> None:
        from arco.core.scope import Scope
        from arco.executions import EXECUTIONS_SPEC
        from arco.metadata.snapshot import SnapshotLoader
        from arco.storage import ScopedStore, open_store

        self.store = ScopedStore(open_store(store_url), Scope(TENANT, WORKSPACE).prefix)
        self.loader = SnapshotLoader(self.store, EXECUTIONS_SPEC)

    def state(self) -> Any:
        from arco.metadata.manifest import read_manifest

        return self.loader.load(read_manifest(self.store, "executions"))

    def backlog(self) -> tuple[int, float]:
        """``(unfolded ledger objects, age of the oldest in s)``: the manifest is read before
        the ledger is listed, so an object folded in between counts as unfolded."""
        from arco.metadata.layout import ledger_prefix, parse_ledger_key

        folded = self.state().ingested
        prefix = ledger_prefix("executions")
        now = time.time()
        n, oldest = 0, 0.0
        for meta in self.store.list(prefix):
            parsed = parse_ledger_key("executions", meta.key)
            if parsed is None or parsed[1] is None:
                continue
            if folded.get(meta.key[len(prefix) : -len(".json")]) is None:
                n += 1
                oldest = max(oldest, now - meta.last_modified.timestamp())
        return n, oldest


def _server_lag_s(http: Any) -> float | None:
    try:
        body = http.get("/ready", timeout=10.0).json()
        return float(body["checks"]["compaction_lag_s"])
    except Exception:  # a figure, not a check: /ready's own status is checked at the end
        return None


def _lag_loop(
    probe: _LagProbe,
    server: Server,
    t0: float,
    interval: float,
    stop: threading.Event,
    out: _Samples,
) -> None:
    import httpx

    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        while not stop.is_set():
            t = time.monotonic()
            try:
                backlog, oldest = probe.backlog()
                out.lag.append((t - t0, backlog, oldest, _server_lag_s(http)))
            except Exception as exc:  # the store is being written: report, keep sampling
                out.lag_errors.append(f"{type(exc).__name__}: {exc}"[:300])
            stop.wait(max(0.0, interval - (time.monotonic() - t)))


# --- reading the records back ------------------------------------------------------------------


def _read_jsonl(path: Path) -> Iterator[Any]:
    if not path.exists():
        return
    with path.open() as f:
        for line in f:
            if line.strip():
                with suppress(ValueError):  # a client killed mid-line
                    yield json.loads(line)


def status_class(status: int) -> str:
    """``2xx``, ``4xx``, ``5xx``, ... or ``no_answer`` (the request got no response)."""
    return "no_answer" if status < 0 else f"{status // 100}xx"


def _lat(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"requests": 0, "p50_ms": None, "p99_ms": None}
    return {
        "requests": len(values),
        "p50_ms": round4(percentile(values, 50)),
        "p99_ms": round4(percentile(values, 99)),
    }


def _window_ratio(first: Mapping[str, Any], last: Mapping[str, Any], key: str) -> float | None:
    a, b = first.get(key), last.get(key)
    return ratio(b, a) if a and b is not None else None


def aggregate_requests(
    records: Sequence[Record], *, t0: float, duration_s: float, warmup_s: float, window_s: float
) -> dict[str, Any]:
    """Counts by status class (overall and per operation), bad requests, and latency in
    the first and the last window (``t`` of a record: when it ended, monotonic s)."""
    first = (warmup_s, warmup_s + window_s)
    last = (duration_s - window_s, duration_s)
    by_class: Counter[str] = Counter()
    per_op: dict[str, Counter[str]] = defaultdict(Counter)
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    in_first: dict[str, list[float]] = defaultdict(list)
    in_last: dict[str, list[float]] = defaultdict(list)
    bucket_s = max(1.0, min(60.0, duration_s / 30))
    buckets: dict[int, list[float]] = defaultdict(list)
    op_buckets: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    bad = Counter[str]()
    for op, status, ms, t, is_bad in records:
        cls = status_class(status)
        by_class[cls] += 1
        per_op[op][cls] += 1
        statuses[op][status] += 1
        if is_bad:
            bad["made"] += 1
            bad["answered_4xx" if cls == "4xx" else f"answered_{cls}"] += 1
            continue  # latency figures are of the valid mix
        if status < 0:
            continue
        rel = t - t0
        if first[0] <= rel < first[1]:
            in_first[op].append(ms)
        if last[0] <= rel <= last[1]:
            in_last[op].append(ms)
        if 0 <= rel <= duration_s:
            buckets[int(rel // bucket_s)].append(ms)
            op_buckets[int(rel // bucket_s)][op].append(ms)
    ops = sorted(per_op)
    latency: dict[str, Any] = {}
    for op in [o for o in ops if not o.startswith("bad_")] + ["all"]:
        if op == "all":
            f = [v for vs in in_first.values() for v in vs]
            la = [v for vs in in_last.values() for v in vs]
        else:
            f, la = in_first.get(op, []), in_last.get(op, [])
        a, b = _lat(f), _lat(la)
        latency[op] = {
            "first": a,
            "last": b,
            "p50_ratio": _window_ratio(a, b, "p50_ms"),
            "p99_ratio": _window_ratio(a, b, "p99_ms"),
        }
    n = len(records)
    return {
        "requests": {
            "total": n,
            "per_s": round4(n / duration_s),
            "by_status_class": dict(sorted(by_class.items())),
            "per_op": {
                op: {
                    "requests": sum(per_op[op].values()),
                    "by_status_class": dict(sorted(per_op[op].items())),
                    "statuses": {str(k): v for k, v in sorted(statuses[op].items())},
                }
                for op in ops
            },
        },
        "bad_requests": {
            "made": bad["made"],
            "fraction": round4(bad["made"] / n) if n else 0.0,
            **{k: v for k, v in sorted(bad.items()) if k != "made"},
        },
        "latency": {
            "warmup_s": warmup_s,
            "window_s": window_s,
            "first_window_s": [round4(first[0]), round4(first[1])],
            "last_window_s": [round4(last[0]), round4(last[1])],
            "per_op": latency,
        },
        "latency_series": {
            "bucket_s": round4(bucket_s),
            "points": [
                {
                    "t_s": round4(i * bucket_s),
                    **_lat(buckets[i]),
                    "p50_ms_by_op": {
                        op: round4(percentile(v, 50)) for op, v in sorted(op_buckets[i].items())
                    },
                }
                for i in sorted(buckets)
            ],
        },
    }


def _downsample(points: Sequence[Any], n: int = SERIES_POINTS) -> list[Any]:
    if len(points) <= n:
        return list(points)
    step = len(points) / n
    picked = [points[int(i * step)] for i in range(n)]
    if picked[-1] is not points[-1]:
        picked[-1] = points[-1]
    return picked


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate_resources(
    samples: Sequence[tuple[float, Usage]],
    *,
    duration_s: float,
    warmup_s: float,
    window_s: float,
) -> dict[str, Any]:
    """RSS and open fds of the server process (``rss_mb``, ``open_fds``) and of it with its
    child processes (``tree_*``): start (first sample of the load), max, end (last sample of
    the load), the means of the first and last windows and their ratio; the server
    process's CPU utilisation; a downsampled series."""
    if not samples:
        return {"samples": 0}
    during = [s for s in samples if s[0] <= duration_s] or list(samples)
    mb = 1 << 20
    first = [s for s in during if warmup_s <= s[0] < warmup_s + window_s] or during[:1]
    last = [s for s in during if s[0] >= duration_s - window_s] or during[-1:]

    def figures(name: str, scale: float) -> dict[str, Any]:
        def values(part: Sequence[tuple[float, Usage]]) -> list[float]:
            return [getattr(u, name) / scale for _, u in part]

        every = values(during)
        f = _mean(values(first)) or 0.0
        la = _mean(values(last)) or 0.0
        return {
            "start": round4(every[0]),
            "max": round4(max(every)),
            "end": round4(every[-1]),
            "first_window_mean": round4(f),
            "last_window_mean": round4(la),
            "ratio": ratio(la, f),
        }

    cpu = during[-1][1].cpu_s - during[0][1].cpu_s
    span = during[-1][0] - during[0][0]
    series = [
        [
            round4(t),
            round4(u.rss_bytes / mb),
            u.open_fds,
            round4(u.tree_rss_bytes / mb),
            u.tree_open_fds,
            u.children,
            round4(u.cpu_s),
            round4(u.tree_cpu_s),
        ]
        for t, u in samples
    ]
    children = [u.children for _, u in during]
    return {
        "samples": len(samples),
        "processes": per_process(during, first, last),
        "rss_mb": figures("rss_bytes", mb),
        "open_fds": figures("open_fds", 1),
        "tree_rss_mb": figures("tree_rss_bytes", mb),
        "tree_open_fds": figures("tree_open_fds", 1),
        "children": {"start": children[0], "max": max(children), "end": children[-1]},
        "cpu_utilisation": round4(cpu / span) if span > 0 else None,
        "series_columns": [
            "t_s",
            "rss_mb",
            "open_fds",
            "tree_rss_mb",
            "tree_open_fds",
            "children",
            "cpu_s",
            "tree_cpu_s",
        ],
        "series": _downsample(series),
    }


def per_process(
    during: Sequence[tuple[float, Usage]],
    first: Sequence[tuple[float, Usage]],
    last: Sequence[tuple[float, Usage]],
) -> list[dict[str, Any]]:
    """Each process of the tree that was sampled during the load: its role, RSS at its
    first and last sample, the means over the first and last windows (where it was
    sampled in them) and its growth in MB per minute (least squares over its samples)."""
    mb = 1 << 20
    series: dict[int, list[tuple[float, float]]] = {}
    roles: dict[int, str] = {}
    for t, u in during:
        for pid, role, rss in u.processes:
            series.setdefault(pid, []).append((t, rss / mb))
            roles[pid] = role

    def mean_in(part: Sequence[tuple[float, Usage]], pid: int) -> float | None:
        return _mean([rss / mb for _, u in part for p, _, rss in u.processes if p == pid])

    out = []
    for pid, points in series.items():
        f, la = mean_in(first, pid), mean_in(last, pid)
        out.append(
            {
                "pid": pid,
                "role": roles[pid],
                "seen_s": [round4(points[0][0]), round4(points[-1][0])],
                "rss_mb_first": round4(points[0][1]),
                "rss_mb_last": round4(points[-1][1]),
                "first_window_mean": None if f is None else round4(f),
                "last_window_mean": None if la is None else round4(la),
                "ratio": ratio(la, f) if f is not None and la is not None else None,
                "growth_mb_per_min": _slope_per_min(points),
            }
        )
    return out


def _slope_per_min(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``(t_s, value)`` points, per minute (None for fewer than 2)."""
    if len(points) < 2:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var == 0:
        return None
    return round4(60 * sum((t - mt) * (v - mv) for t, v in points) / var)


def aggregate_lag(
    samples: Sequence[tuple[float, int, float, float | None]], duration_s: float
) -> dict[str, Any]:
    """Backlog (unfolded ledger objects) and lags: max over the load, and at its end."""
    during = [s for s in samples if s[0] <= duration_s]
    if not during:
        return {"samples": 0}
    reported = [s[3] for s in during if s[3] is not None]
    end = during[-1]
    return {
        "samples": len(during),
        "backlog_events_max": max(s[1] for s in during),
        "backlog_events_end": end[1],
        "oldest_unfolded_age_s_max": round4(max(s[2] for s in during)),
        "oldest_unfolded_age_s_end": round4(end[2]),
        "server_reported_lag_s_max": round4(max(reported)) if reported else None,
        "server_reported_lag_s_end": end[3],
        "series_columns": [
            "t_s",
            "backlog_events",
            "oldest_unfolded_age_s",
            "server_reported_lag_s",
        ],
        "series": _downsample([[round4(s[0]), s[1], round4(s[2]), s[3]] for s in samples]),
    }


def flatness(result: Mapping[str, Any], duration_s: float) -> dict[str, Any]:
    """Last window against the first: latency (every op's p50 with enough requests, and
    all requests' p50 and p99) and RSS (of the server process, and with its child processes);
    judged only for runs of 10 minutes or more. Open fds are reported, not judged."""
    per_op = result["latency"]["per_op"]
    everything = per_op.get("all", {})
    judged_ops = {
        op: v["p50_ratio"]
        for op, v in per_op.items()
        if op != "all"
        and v["p50_ratio"] is not None
        and min(v["first"]["requests"], v["last"]["requests"]) >= FLATNESS_MIN_REQUESTS
    }
    p50, p99 = everything.get("p50_ratio"), everything.get("p99_ratio")
    server = result.get("server", {})
    rss = server.get("rss_mb", {}).get("ratio")
    tree_rss = server.get("tree_rss_mb", {}).get("ratio", rss)

    def within(value: float | None) -> bool:
        return value is not None and value <= FLAT_RATIO

    return {
        "judged": duration_s >= FLATNESS_JUDGED_FROM_S,
        "judged_from_s": FLATNESS_JUDGED_FROM_S,
        "max_ratio": FLAT_RATIO,
        "latency_p50_ratio_all": p50,
        "latency_p99_ratio_all": p99,
        "latency_p50_ratio_by_op": judged_ops,
        "latency_flat": within(p50) and within(p99) and all(map(within, judged_ops.values())),
        "rss_ratio": rss,
        "tree_rss_ratio": tree_rss,
        "rss_flat": within(rss) and within(tree_rss),
        # reported, not judged
        "open_fds_ratio": server.get("open_fds", {}).get("ratio"),
        "tree_open_fds_ratio": server.get("tree_open_fds", {}).get("ratio"),
    }


def evaluate(result: Mapping[str, Any]) -> list[str]:
    """What makes the run fail (see the module docstring); empty when it passed."""
    failures: list[str] = []
    classes = result["requests"]["by_status_class"]
    if classes.get("5xx"):
        failures.append(f"{classes['5xx']} responses with a 5xx status")
    if classes.get("no_answer"):
        failures.append(f"{classes['no_answer']} requests got no answer")
    bad = result["bad_requests"]
    refused = bad.get("answered_4xx", 0)
    if bad["made"] != refused:
        failures.append(f"{bad['made'] - refused} of {bad['made']} bad requests not answered 4xx")
    counts = result.get("anomaly_counts", {})
    for kind in ("valid_request_refused", "unexpected_status", "answer_differs_from_acknowledged"):
        if counts.get(kind):
            failures.append(f"{counts[kind]} anomalies of kind {kind}")
    for error in result.get("client_errors", []):
        failures.append(f"client process failed: {error}")
    verify = result.get("verify")
    if verify is not None and not verify.get("ok"):
        failures.append(f"verify: {len(verify.get('findings', []))} finding(s)")
    acked = result.get("acknowledged_writes")
    if acked is not None:
        for what in ("namespaces", "tables", "events"):
            missing = acked[what].get("missing", 0)
            if missing:
                failures.append(f"{missing} acknowledged {what} writes not found on the store")
        wrong = acked["tables"].get("wrong_columns_or_description", 0)
        if wrong:
            failures.append(f"{wrong} tables differ from their acknowledged columns/description")
        back = acked["namespaces"].get("present_after_drop", 0) + acked["tables"].get(
            "present_after_drop", 0
        )
        if back:
            failures.append(f"{back} objects still exist after their drop was acknowledged")
        if acked["events"].get("wrong_rows"):
            failures.append(
                f"{acked['events']['wrong_rows']} materializations do not hold an acknowledged "
                "event of theirs"
            )
        if not acked["events"].get("visible_through_query", True):
            failures.append("acknowledged events are not all visible through POST /query")
    catch_up = result.get("compaction", {}).get("catch_up_s")
    if result.get("compaction") is not None and catch_up is None:
        failures.append("compaction did not catch up with the acknowledged events")
    flat = result.get("flatness")
    if flat and flat["judged"]:
        if not flat["latency_flat"]:
            failures.append(f"latency not flat (last window over {FLAT_RATIO}x the first)")
        if not flat["rss_flat"]:
            failures.append(f"RSS not flat (last window over {FLAT_RATIO}x the first)")
    return failures


# --- after the load ------------------------------------------------------------------------------


@dataclass
class _Acked:
    """The final acknowledged state of every object the clients (and the seeding) wrote."""

    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    #: pooled runs: materialization id -> the acknowledged event ids that wrote it
    pooled: dict[str, set[str]] = field(default_factory=dict)
    uncertain_namespaces: set[str] = field(default_factory=set)
    uncertain_tables: set[tuple[str, str]] = field(default_factory=set)

    def add(self, entry: Mapping[str, Any]) -> None:
        kind = entry["kind"]
        if kind == "namespace":
            self.namespaces[entry["name"]] = dict(entry)
        elif kind == "table":
            self.tables[(entry["namespace"], entry["name"])] = dict(entry)
        elif kind == "events":
            self.events.extend(entry["ids"])
            for mid, event_id in zip(entry.get("mids") or (), entry["ids"], strict=False):
                self.pooled.setdefault(mid, set()).add(event_id)
        elif entry["what"] == "namespace":
            self.uncertain_namespaces.add(entry["name"])
        else:
            self.uncertain_tables.add((entry["namespace"], entry["name"]))


def pool_mid(worker: int, k: int) -> str:
    """Materialization id ``k`` of client ``worker``'s pool."""
    return str(uuid.uuid5(_POOL_IDS, f"soak-w{worker}-m{k}"))


def _folded_event_ids(state: Any) -> set[str]:
    """Event ids the compactor has folded (applied, or superseded by a newer event of the
    same materialization): the first 26 characters of the ``ingested`` names."""
    return {row.name[:26] for row in state.ingested.values()}


def _wait_for_events(probe: _LagProbe, ids: Sequence[str], timeout_s: float) -> float | None:
    """Seconds until every event id is folded (None: timed out)."""
    wanted = set(ids)
    t0 = time.monotonic()
    while True:
        state = probe.state()
        seen = _folded_event_ids(state)
        if wanted <= seen:
            return round4(time.monotonic() - t0)
        if time.monotonic() - t0 > timeout_s:
            return None
        time.sleep(0.25)


def _events_visible_by_query(
    server: Server, ids: Sequence[str], column: str = "event_id"
) -> dict[str, Any]:
    """``POST /query``: the materializations count, and a sample of acknowledged ids found
    (event ids; materialization ids when events reuse a pool of them)."""
    import httpx

    sample = random.Random(0).sample(list(ids), min(200, len(ids)))
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=60.0) as http:
        total = http.post(
            f"{API}/query", json={"sql": "SELECT count(*) FROM executions.materializations"}
        )
        found = 0
        if sample:
            listed = ", ".join(f"'{i}'" for i in sample)
            r = http.post(
                f"{API}/query",
                json={
                    "sql": f"SELECT count(DISTINCT {column}) FROM executions.materializations "
                    f"WHERE {column} IN ({listed})"
                },
            )
            found = r.json()["rows"][0][0] if r.status_code == 200 else -1
        ready = http.get("/ready")
    count = total.json()["rows"][0][0] if total.status_code == 200 else -1
    return {
        "materializations_by_query": count,
        "sampled_ids": len(sample),
        "sampled_ids_found_by_query": found,
        "visible_through_query": count >= len(ids) and found == len(sample),
        "ready_status": ready.status_code,
        "ready": ready.json(),
    }


def check_acknowledged(store_url: str, acked: _Acked, probe: _LagProbe) -> dict[str, Any]:
    """Every acknowledged write on the store, read with the library (server stopped)."""
    from arco.catalog import Catalog
    from arco.core.scope import Scope
    from arco.errors import NotFoundError
    from arco.storage import open_store

    catalog = Catalog(open_store(store_url), Scope(TENANT, WORKSPACE))
    examples: list[str] = []

    def example(text: str) -> None:
        if len(examples) < 20:
            examples.append(text)

    ns_out: Counter[str] = Counter()
    try:
        for name, entry in sorted(acked.namespaces.items()):
            if name in acked.uncertain_namespaces:
                ns_out["uncertain"] += 1
                continue
            try:
                catalog.get_namespace(name)
                exists = True
            except NotFoundError:
                exists = False
            if entry["state"] == "live":
                ns_out["acknowledged_live"] += 1
                if not exists:
                    ns_out["missing"] += 1
                    example(f"namespace {name}: acknowledged, not found")
            else:
                ns_out["acknowledged_dropped"] += 1
                if exists:
                    ns_out["present_after_drop"] += 1
                    example(f"namespace {name}: drop acknowledged, still there")
        t_out: Counter[str] = Counter()
        for (ns, name), entry in sorted(acked.tables.items()):
            if (ns, name) in acked.uncertain_tables:
                t_out["uncertain"] += 1
                continue
            try:
                table = catalog.get_table(ns, name)
            except NotFoundError:
                table = None
            if entry["state"] == "dropped":
                t_out["acknowledged_dropped"] += 1
                if table is not None:
                    t_out["present_after_drop"] += 1
                    example(f"table {ns}.{name}: drop acknowledged, still there")
                continue
            t_out["acknowledged_live"] += 1
            if table is None:
                t_out["missing"] += 1
                example(f"table {ns}.{name}: acknowledged, not found")
                continue
            columns = [[c.name, c.type] for c in table.columns]
            if columns != entry["columns"] or table.description != entry["description"]:
                t_out["wrong_columns_or_description"] += 1
                example(
                    f"table {ns}.{name}: columns {columns} / {table.description!r}, acknowledged "
                    f"{entry['columns']} / {entry['description']!r}"
                )
            t_out["columns_checked"] += len(columns)
    finally:
        catalog.close()
    state = probe.state()
    wrong_rows: list[str] = []
    if acked.pooled:
        # events reuse materialization ids: each was folded (applied or superseded), and
        # each materialization's row holds one of its acknowledged events
        folded = _folded_event_ids(state)
        missing_events = [i for i in acked.events if i not in folded]
        for mid, event_ids in sorted(acked.pooled.items()):
            row = state.materializations.get(mid)
            if row is None or row.event_id not in event_ids:
                wrong_rows.append(mid)
        for mid in wrong_rows[:5]:
            example(f"materialization {mid}: its row is not one of its acknowledged events")
    else:
        materialized = {row.event_id for row in state.materializations.values()}
        missing_events = [i for i in acked.events if i not in materialized]
    for i in missing_events[:5]:
        example(f"event {i}: acknowledged, not folded")
    return {
        "namespaces": {"missing": 0, **dict(sorted(ns_out.items()))},
        "tables": {"missing": 0, **dict(sorted(t_out.items()))},
        "events": {
            "acknowledged": len(acked.events),
            "materializations": len(state.materializations),
            "missing": len(missing_events),
            "pooled_materializations": len(acked.pooled),
            "wrong_rows": len(wrong_rows),
        },
        "examples": examples,
    }


def _server_log_errors(path: Path, limit: int = 20) -> dict[str, Any]:
    """5xx access lines and error-level lines of the server's JSON log (for a bug report)."""
    lines_5xx = errors = 0
    kept: list[str] = []
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {"lines_5xx": None, "error_lines": None, "kept": []}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):  # a traceback or other raw output
            errors += 1
            if len(kept) < limit:
                kept.append(line[:500])
            continue
        status = entry.get("status")
        is_5xx = isinstance(status, int) and status >= 500
        is_error = str(entry.get("level", "")).lower() in ("error", "critical")
        lines_5xx += is_5xx
        errors += is_error and not is_5xx
        if (is_5xx or is_error) and len(kept) < limit:
            kept.append(line[:1000])
    return {"lines_5xx": lines_5xx, "error_lines": errors, "kept": kept}


# --- the whole run ------------------------------------------------------------------------------


def _seed(server: Server, acked: _Acked) -> list[str]:
    """The namespace every client reads, with SEED_TABLES tables (acknowledged writes too)."""
    import httpx

    names = [f"seed_{i:03d}" for i in range(SEED_TABLES)]
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=60.0) as http:
        r = http.post(f"{API}/namespaces", json={"name": SEED_NAMESPACE, "description": "seed"})
        r.raise_for_status()
        acked.add({"kind": "namespace", "name": SEED_NAMESPACE, "state": "live"})
        for name in names:
            description = f"seed table {name}: orders and customers"
            body = {"name": name, "columns": BASE_COLUMNS, "description": description}
            http.post(f"{API}/namespaces/{SEED_NAMESPACE}/tables", json=body).raise_for_status()
            acked.add(
                {
                    "kind": "table",
                    "namespace": SEED_NAMESPACE,
                    "name": name,
                    "state": "live",
                    "columns": [[c["name"], c["type"]] for c in BASE_COLUMNS],
                    "description": description,
                }
            )
    return names


def run_soak_bench(
    json_path: Path | None,
    *,
    duration_s: float = 60.0,
    clients: int = 4,
    rate_per_client: float = 5.0,
    bad_fraction: float = 0.07,
    compactor_interval_s: float = 2.0,
    catch_up_timeout_s: float = 120.0,
    materialization_pool: int = 0,
    console: Console | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the soak; write the JSON to ``json_path`` (if given) and return it."""
    import httpx
    import uvicorn

    config = SoakConfig.make(
        duration_s,
        clients,
        rate_per_client=rate_per_client,
        bad_fraction=bad_fraction,
        compactor_interval_s=compactor_interval_s,
        catch_up_timeout_s=catch_up_timeout_s,
        materialization_pool=materialization_pool,
    )
    ui = Ui(console)
    t_start = time.perf_counter()
    result: dict[str, Any] = {
        **common.run_header(
            "soak",
            config,
            False,
            weights=WEIGHTS,
            bad_ops=list(BAD_OPS),
            queries=list(QUERIES),
            seed_tables=SEED_TABLES,
            table_target_per_client=TABLE_TARGET,
            server=(
                f"uvicorn {uvicorn.__version__} (1 process), create_app(dev=True, compactor=True, "
                f"compactor_interval_s={config.compactor_interval_s}), rate limits raised, "
                "JSON logs to a file"
            ),
            client=f"httpx {httpx.__version__}, one keep-alive Client per client process",
            notes=[
                "Client processes run the weighted mix (config.weights) paced at "
                "rate_per_client requests/s each (0: unpaced); bad_fraction of the draws are "
                "a deliberately bad request (config.bad_ops) that must be answered 4xx.",
                "requests.*: every request of the load, by status class; no_answer = the "
                "request got no HTTP response (connection error or 60 s timeout).",
                "latency.per_op: the client's wall time per valid request, in the first "
                "window (after warmup_s) and the last one (ending with the run); window_s is "
                "60 s, or a third of the run after the warm-up for runs under 120 s; "
                "*_ratio = last / first. latency_series: all valid requests per bucket (and "
                "each operation's p50 in p50_ms_by_op).",
                "server.rss_mb / open_fds: sampled every second from /proc/<pid>/status "
                "(VmRSS) and /proc/<pid>/fd of the server process; tree_rss_mb / "
                "tree_open_fds: the same summed over the server and every process it started "
                "(query workers; children = how many); start/end = first/last sample of the "
                "load; ratio = last window mean / first window mean.",
                "compaction: every 2 s, the ledger objects of the executions domain not "
                "listed in the current snapshot's ingested table (backlog_events) and the "
                "age of the oldest of them by its last-modified time (what arco verify "
                "calls compaction_lag), next to the lag the server reports on /ready (the "
                "worst append-to-publish lag of its compactor loop's last pass). catch_up_s: "
                "from the end of the load until every acknowledged event is a "
                "materialization.",
                "acknowledged_writes: after the server stopped, every namespace and table "
                "whose create/update/drop got a 2xx is read with the library (columns and "
                "description as last acknowledged; gone if the drop was acknowledged) and "
                "every event id of a 202 is a materialization's event_id; writes whose "
                "outcome is unknown (5xx, no answer) are counted as uncertain, not checked.",
                "flatness: last window against the first; judged (a failure if not flat) "
                f"only for runs of {FLATNESS_JUDGED_FROM_S:.0f} s or more.",
            ],
        ),
        "load_average_at_start": common.load_average(),
    }
    acked = _Acked()
    samples = _Samples()
    client_errors: list[str] = []
    with common.scratch_dir("arco-bench-soak-", work_dir) as tmp, ui.progress:
        root = tmp / "store"
        root.mkdir()
        records_dir = tmp / "records"
        records_dir.mkdir()
        store_url = f"file://{root}"
        probe = _LagProbe(store_url)
        log_path = tmp / "server.log"
        with start_server(
            store_url,
            log_path,
            compactor=True,
            compactor_interval_s=config.compactor_interval_s,
        ) as server:
            seed_tables = _seed(server, acked)
            idle = sample_usage(server.pid)
            ctx = multiprocessing.get_context("spawn")
            barrier = ctx.Barrier(config.clients + 1)
            args = {
                "url": server.url,
                "out_dir": str(records_dir),
                "duration_s": config.duration_s,
                "rate": config.rate_per_client,
                "bad_fraction": config.bad_fraction,
                "materialization_pool": config.materialization_pool,
                "seed_tables": seed_tables,
            }
            procs = [
                ctx.Process(target=_client_process, args=({**args, "worker": w}, barrier))
                for w in range(config.clients)
            ]
            for p in procs:
                p.start()
            stop = threading.Event()
            lag_thread: threading.Thread | None = None
            try:
                with suppress(threading.BrokenBarrierError):  # a client failed: see below
                    barrier.wait(timeout=600)
                t0 = time.monotonic()
                lag_thread = threading.Thread(
                    target=_lag_loop,
                    args=(probe, server, t0, config.lag_interval_s, stop, samples),
                    daemon=True,
                )
                lag_thread.start()
                deadline = t0 + config.duration_s + 120.0
                with ui.task(
                    f"soak: {config.clients} clients, {config.duration_s:.0f} s",
                    int(config.duration_s),
                ) as advance:
                    done = 0
                    next_sample = t0
                    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
                        now = time.monotonic()
                        if now >= next_sample:
                            sample = sample_usage(server.pid)
                            if sample is not None:
                                samples.resources.append((now - t0, sample))
                            next_sample += config.sample_interval_s
                            elapsed = min(int(now - t0), int(config.duration_s))
                            advance(elapsed - done)
                            done = elapsed
                        time.sleep(max(0.0, min(0.2, next_sample - time.monotonic())))
                t_load_end = time.monotonic() - t0
            finally:
                for p in procs:
                    p.join(timeout=30)
                    if p.is_alive():
                        p.terminate()
                        p.join(timeout=10)
                        client_errors.append(f"client process {p.pid} did not end")
            anomaly_counts: Counter[str] = Counter()
            for w, p in enumerate(procs):
                done_path = records_dir / f"done-{w}.json"
                done = json.loads(done_path.read_text()) if done_path.exists() else {}
                status = done.get("status", f"exit code {p.exitcode}")
                if status != "ok":
                    client_errors.append(f"client {w}: {status}")
                anomaly_counts.update(done.get("anomaly_counts", {}))
            for w in range(config.clients):
                for entry in _read_jsonl(records_dir / f"writes-{w}.jsonl"):
                    acked.add(entry)
            stop.set()
            if lag_thread is not None:
                lag_thread.join(timeout=60)
            ui.log(f"load ended after {t_load_end:.1f} s; waiting for compaction to catch up")
            catch_up = _wait_for_events(probe, acked.events, config.catch_up_timeout_s)
            after = sample_usage(server.pid)
            if acked.pooled:
                visible = _events_visible_by_query(
                    server, sorted(acked.pooled), "materialization_id"
                )
            else:
                visible = _events_visible_by_query(server, acked.events)
        # the server has stopped: verify and read back what was acknowledged
        from arco.maintenance.verify import verify_scope

        with ui.task("verify", 1) as advance:
            report = verify_scope(probe.store)
            advance(1)
        acknowledged = check_acknowledged(store_url, acked, probe)
        acknowledged["events"].update(visible)
        server_log = _server_log_errors(log_path)
        records: list[Record] = []
        anomalies: list[dict[str, Any]] = []
        for w in range(config.clients):
            for rec in _read_jsonl(records_dir / f"requests-{w}.jsonl"):
                records.append((rec[0], int(rec[1]), float(rec[2]), float(rec[3]), bool(rec[4])))
            for entry in _read_jsonl(records_dir / f"anomalies-{w}.jsonl"):
                anomalies.append({"client": w, **entry})
    result.update(
        aggregate_requests(
            records,
            t0=t0,
            duration_s=config.duration_s,
            warmup_s=config.warmup_s,
            window_s=config.window_s,
        )
    )
    target = config.clients * config.rate_per_client
    result["requests"]["target_per_s"] = round4(target) if target else None
    result["load_s"] = round4(t_load_end)
    result["server"] = {
        "pid": server.pid,
        "idle_before_load": _usage_dict(idle),
        "after_load": _usage_dict(after),
        **aggregate_resources(
            samples.resources,
            duration_s=config.duration_s,
            warmup_s=config.warmup_s,
            window_s=config.window_s,
        ),
        "log": server_log,
    }
    result["compaction"] = {
        **aggregate_lag(samples.lag, config.duration_s),
        "catch_up_s": catch_up,
        "probe_errors": samples.lag_errors[:10],
    }
    result["verify"] = report.to_json()
    result["acknowledged_writes"] = acknowledged
    result["anomaly_counts"] = dict(sorted(anomaly_counts.items()))
    result["anomalies"] = anomalies[:40]
    result["client_errors"] = client_errors
    result["flatness"] = flatness(result, config.duration_s)
    failures = evaluate(result)
    result["ok"] = not failures
    result["failures"] = failures
    result["load_average_at_end"] = common.load_average()
    result["runtime_s"] = round4(time.perf_counter() - t_start)
    # ``ok`` and ``failures`` first: what a reader of the file looks for
    ordered = {"ok": result.pop("ok"), "failures": result.pop("failures"), **result}
    common.write_json(json_path, ordered)
    _print_summary(ui.console, ordered)
    return ordered


def _usage_dict(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    mb = 1 << 20
    return {
        "rss_mb": round4(usage.rss_bytes / mb),
        "open_fds": usage.open_fds,
        "cpu_s": round4(usage.cpu_s),
        "tree_rss_mb": round4(usage.tree_rss_bytes / mb),
        "tree_open_fds": usage.tree_open_fds,
        "children": usage.children,
    }


def summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The figures a person reads first (what ``arco bench soak`` prints as its table)."""
    lat = result["latency"]
    per_op = lat["per_op"]
    server = result["server"]
    comp = result["compaction"]
    acked = result["acknowledged_writes"]
    return {
        "ok": result["ok"],
        "failures": result["failures"],
        "duration_s": result["config"]["duration_s"],
        "clients": result["config"]["clients"],
        "requests": result["requests"]["total"],
        "requests_per_s": result["requests"]["per_s"],
        "target_requests_per_s": result["requests"].get("target_per_s"),
        "by_status_class": result["requests"]["by_status_class"],
        "bad_requests": result["bad_requests"],
        "window_s": lat["window_s"],
        "latency_ms": {
            op: {
                "p50_first": v["first"]["p50_ms"],
                "p50_last": v["last"]["p50_ms"],
                "p99_first": v["first"]["p99_ms"],
                "p99_last": v["last"]["p99_ms"],
            }
            for op, v in per_op.items()
        },
        **{
            name: {k: server.get(name, {}).get(k) for k in ("start", "max", "end", "ratio")}
            for name in ("rss_mb", "open_fds", "tree_rss_mb", "tree_open_fds")
        },
        "children": server.get("children"),
        "compaction": {
            k: comp.get(k)
            for k in (
                "backlog_events_max",
                "oldest_unfolded_age_s_max",
                "server_reported_lag_s_max",
                "catch_up_s",
            )
        },
        "verify_ok": result["verify"]["ok"],
        "acknowledged": {
            "namespaces": acked["namespaces"].get("acknowledged_live", 0),
            "tables": acked["tables"].get("acknowledged_live", 0),
            "events": acked["events"]["acknowledged"],
            "missing": sum(acked[k].get("missing", 0) for k in ("namespaces", "tables", "events")),
        },
        "flatness": {
            k: result["flatness"][k]
            for k in (
                "judged",
                "latency_p50_ratio_all",
                "latency_p99_ratio_all",
                "rss_ratio",
                "tree_rss_ratio",
            )
        },
    }


def _print_summary(console: Console, result: Mapping[str, Any]) -> None:
    from rich.table import Table as RichTable

    lat = result["latency"]
    table = RichTable(
        title=f"arco bench soak: latency (ms), first vs last {lat['window_s']:g} s window"
    )
    table.add_column("op", no_wrap=True)
    for name in ("n", "p50 first", "p50 last", "p99 first", "p99 last", "x p50", "x p99"):
        table.add_column(name, justify="right")

    def cell(value: Any, digits: int = 1) -> str:
        return "" if value is None else f"{value:.{digits}f}"

    for op, v in lat["per_op"].items():
        n = result["requests"]["per_op"].get(op, {}).get("requests", result["requests"]["total"])
        table.add_row(
            op,
            str(n),
            cell(v["first"]["p50_ms"]),
            cell(v["last"]["p50_ms"]),
            cell(v["first"]["p99_ms"]),
            cell(v["last"]["p99_ms"]),
            cell(v["p50_ratio"], 2),
            cell(v["p99_ratio"], 2),
        )
    console.print(table)
    verdict = "[green]ok[/]" if result["ok"] else "[red]FAILED[/]: " + "; ".join(result["failures"])
    console.print(f"soak: {verdict}")
