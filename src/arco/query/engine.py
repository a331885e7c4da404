"""The SQL query service: cached snapshots, one fresh DuckDB connection per query, limits.

One :class:`QueryEngine` per server process. A query over a scope:

1. is checked (size, exactly one read-only SELECT by DuckDB's parser) before any I/O;
2. reads the current manifest of each queried domain (three small JSON objects);
3. takes the scope's in-memory, locked-down DuckDB database, which holds the merged rows of
   every view as a table; the tables the statement reads (its table references and the
   tables behind the ``system.*`` views, found in DuckDB's parse tree by
   :func:`~arco.query.views.check_read_only`; every table when that cannot be told) are brought
   up to date first, replacing only those whose snapshot files changed, in one transaction
   (queries already running keep the rows they started with: DuckDB's MVCC), from the
   snapshot files decoded so far plus the new ones (decoded Arrow is cached per file key:
   files are immutable), merged in Arrow -- a query over an unchanged catalog reads no
   Parquet, and an event compaction costs the executions domain's new delta file, not a
   rebuild of the catalog; a table no query names (``executions.ingested`` grows by one
   row per folded event) is not rebuilt after every write, so a query's cost does not grow
   with it;
4. opens a **fresh connection** to the database (``cursor()``) for this query alone;
5. runs the statement with a timer thread that calls ``interrupt()`` on that connection
   when the wall-clock limit passes (:class:`QueryTimeoutError`), and reads the result
   as a stream, stopping at the row and byte limits (``truncated``).

Why a cached database and a fresh connection rather than a fresh database per query:
creating a DuckDB database instance costs ~15 ms of CPU (its built-in catalog), more than a
typical catalog query; a connection costs microseconds. Isolation between queries holds
because nothing but the engine's own refresh changes the database: only SELECT runs, the
configuration is locked (``SET`` fails), external access and extension loading are off,
and temporary objects belong to the connection that is closed after the query.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import io
import json
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from arco.domains.registry import QUERIED, VIEWS
from arco.errors import ArcoError, ValidationError
from arco.metadata.layout import snapshots_prefix
from arco.metadata.manifest import StoredManifest
from arco.metadata.parquet import read_table
from arco.observability.metrics import QUERY_DURATION, QUERY_ROWS
from arco.query.views import (
    build_database,
    check_read_only,
    first_line,
    load_domain_tables,
    read_heads,
    refresh_tables,
    rewrite_system_refs,
)
from arco.storage.port import ObjectStore

#: rows per Arrow batch read from DuckDB while streaming a result
BATCH_ROWS = 2048

#: Arrow schema metadata key carrying the truncation flag of an IPC stream
TRUNCATED_METADATA_KEY = b"arco.truncated"

#: media types of the output formats
MEDIA_TYPES = {
    "json": "application/json",
    "arrow": "application/vnd.apache.arrow.stream",
    "csv": "text/csv",
}


class QueryTimeoutError(ArcoError):
    """The query ran past the wall-clock limit and was interrupted."""

    code = "QUERY_TIMEOUT"
    retryable = False


class QueryMemoryError(ArcoError):
    """The query needed more memory than one query may use and was stopped."""

    code = "QUERY_MEMORY_LIMIT"
    retryable = False


def memory_error(limit_bytes: int) -> QueryMemoryError:
    """The one message of a query stopped for its memory, naming the limit."""
    return QueryMemoryError(
        f"sql: the query needed more than the {limit_bytes / (1 << 20):g} MiB of memory a "
        f"query may use (query_memory_bytes) and was stopped"
    )


class QueryBusyError(ArcoError):
    """Every query worker stayed busy for as long as a query may run."""

    code = "QUERY_BUSY"
    retryable = True


@dataclass(frozen=True)
class QueryLimits:
    """Per-query limits (the server fills them from ``arco.server.settings.Limits``)."""

    max_sql_bytes: int = 100_000
    max_rows: int = 10_000
    timeout_s: float = 10.0
    max_result_bytes: int = 32 << 20
    #: memory one query may use, in bytes. DuckDB's memory limit of each cached database
    #: (no spilling to disk) covers what its buffer manager tracks (joins, aggregates,
    #: sorts); in the server, the query worker enforces it on the whole process, whatever
    #: allocates (DuckDB's vectors, the Arrow conversion, the encoding): see
    #: :mod:`arco.query.workers`
    memory_bytes: int = 1 << 30
    #: DuckDB worker threads of each cached database
    threads: int = 2


@dataclass(frozen=True)
class QueryResult:
    """The (possibly truncated) result of one query."""

    table: pa.Table
    truncated: bool
    #: snapshot version of each domain the query read
    versions: dict[str, int]
    elapsed_s: float

    @property
    def row_count(self) -> int:
        return int(self.table.num_rows)


_DomainKey = tuple[str, str, int, str]  # scope, domain, snapshot version, commit id
_View = tuple[str, str]  # schema, view
V = TypeVar("V")


class _Cache:
    """A small thread-safe LRU whose values are built once per key (concurrent callers of
    the same key wait for the one build), bounded by a total weight."""

    def __init__(self, max_weight: int, on_evict: Callable[[Any], None] | None = None) -> None:
        self._max = max_weight
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        self._building: dict[Any, threading.Lock] = {}
        self._on_evict = on_evict

    def get(self, key: Any, build: Callable[[], tuple[V, int]]) -> tuple[V, bool]:
        """The value of ``key`` (and whether it came from the cache)."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit[0], True
            gate = self._building.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                hit = self._items.get(key)
                if hit is not None:
                    self._items.move_to_end(key)
                    return hit[0], True
            try:
                value, weight = build()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            self._put(key, value, weight)
            return value, False

    def _put(self, key: Any, value: Any, weight: int) -> None:
        evicted: list[Any] = []
        with self._lock:
            self._items[key] = (value, weight)
            self._weight += weight
            while self._weight > self._max and len(self._items) > 1:
                _, (old, w) = self._items.popitem(last=False)
                self._weight -= w
                evicted.append(old)
        for old in evicted:
            if self._on_evict is not None:
                self._on_evict(old)

    def drop(self, predicate: Callable[[Any], bool]) -> None:
        """Remove every entry whose key matches (e.g. older versions of a scope)."""
        evicted: list[Any] = []
        with self._lock:
            for key in [k for k in self._items if predicate(k)]:
                value, w = self._items.pop(key)
                self._weight -= w
                evicted.append(value)
        for old in evicted:
            if self._on_evict is not None:
                self._on_evict(old)

    def keys(self) -> list[Any]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        self.drop(lambda _key: True)


@dataclass
class _Database:
    con: duckdb.DuckDBPyConnection
    #: of each view's table: the snapshot of its domain and the files it was made from
    #: (absent: never loaded, the table is empty). A view's table is brought up to date
    #: only when a query reads it; one whose files did not change when its domain moved
    #: keeps its table
    held: dict[_View, tuple[_DomainKey, tuple[str, ...]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: held while tables are replaced (queries keep running meanwhile)
    refreshing: threading.Lock = field(default_factory=threading.Lock)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self.lock:  # cursor() on a shared connection from many threads
            return self.con.cursor()

    def close(self) -> None:
        with self.lock:
            self.con.close()


class QueryEngine:
    """Read-only SQL over scopes' current snapshots (see the module docstring)."""

    def __init__(
        self,
        limits: QueryLimits | None = None,
        *,
        max_cached_bytes: int = 512 << 20,
        max_databases: int = 16,
    ) -> None:
        self.limits = limits or QueryLimits()
        self._files = _Cache(max_cached_bytes)
        self._databases = _Cache(max_databases, on_evict=lambda db: db.close())
        #: counters for tests and the benchmark
        self.file_reads = 0
        self.database_builds = 0
        self.domain_refreshes = 0
        #: views whose table was replaced by those refreshes (the others' files had not
        #: changed)
        self.table_refreshes = 0

    # --- the query --------------------------------------------------------------------

    def query(
        self,
        store: ObjectStore,
        scope_key: str,
        sql: str,
        *,
        on_ready: Callable[[], None] | None = None,
    ) -> QueryResult:
        """Run one read-only statement over the current snapshots of the scope whose
        (scoped) store is ``store``; ``scope_key`` names the scope in the caches.
        ``on_ready`` is called once the snapshots are loaded, just before the statement
        runs (a query worker measures its baseline memory there).

        Raises ValidationError (``sql: ...``) for a refused or failing statement,
        QueryTimeoutError when the time limit interrupts it and QueryMemoryError when
        DuckDB runs out of its memory limit.
        """
        started = time.perf_counter()
        outcome = "error"
        try:
            needed = check_read_only(sql, self.limits.max_sql_bytes)  # the views it reads
            heads = read_heads(store)
            db = self._database(store, scope_key, heads, needed)
            if on_ready is not None:
                on_ready()
            table, truncated = self._run(db, sql)
            outcome = "truncated" if truncated else "ok"
            QUERY_ROWS.observe(table.num_rows)
            versions = {
                name: (head.manifest.snapshot_version if head is not None else 0)
                for name, head in heads.items()
            }
            return QueryResult(table, truncated, versions, time.perf_counter() - started)
        except QueryTimeoutError:
            outcome = "timeout"
            raise
        finally:
            QUERY_DURATION.labels(outcome).observe(time.perf_counter() - started)

    def _run(self, db: _Database, sql: str) -> tuple[pa.Table, bool]:
        limits = self.limits
        con = db.cursor()
        fired = threading.Event()

        def interrupt() -> None:
            fired.set()
            # the query may have ended (and the connection closed) meanwhile
            with contextlib.suppress(duckdb.Error):
                con.interrupt()

        timer = threading.Timer(limits.timeout_s, interrupt)
        timer.daemon = True
        try:
            statement = rewrite_system_refs(sql, con)
            timer.start()
            try:
                reader = con.sql(statement).to_arrow_reader(BATCH_ROWS)
                try:
                    return _collect(reader, limits.max_rows, limits.max_result_bytes)
                except (OSError, pa.ArrowException) as exc:
                    # an engine error after the first batch reaches us through Arrow's stream
                    raise self._streamed_error(exc, fired) from exc
            except duckdb.InterruptException as exc:
                if fired.is_set():
                    raise QueryTimeoutError(
                        f"query exceeded the {limits.timeout_s:g}s time limit and was interrupted"
                    ) from exc
                raise ValidationError("sql: the query was interrupted") from exc
            except duckdb.OutOfMemoryException as exc:
                raise self._memory_error() from exc
            except duckdb.InternalException:
                raise
            except duckdb.Error as exc:
                if fired.is_set():
                    raise QueryTimeoutError(
                        f"query exceeded the {limits.timeout_s:g}s time limit and was interrupted"
                    ) from exc
                raise ValidationError(f"sql: {first_line(exc)}") from exc
        finally:
            timer.cancel()
            con.close()

    def _streamed_error(self, exc: BaseException, fired: threading.Event) -> ArcoError:
        """The error a query failing while its rows streamed maps to: the same as failing
        before its first row (400, or 504 when the time limit interrupted it)."""
        message = first_line(exc)
        if fired.is_set():
            return QueryTimeoutError(
                f"query exceeded the {self.limits.timeout_s:g}s time limit and was interrupted"
            )
        if message.startswith("INTERRUPT"):
            return ValidationError("sql: the query was interrupted")
        if message.startswith("Out of Memory"):
            return self._memory_error()
        return ValidationError(f"sql: {message}")

    def _memory_error(self) -> QueryMemoryError:
        return memory_error(self.limits.memory_bytes)

    # --- caches -----------------------------------------------------------------------

    def _database(
        self,
        store: ObjectStore,
        scope_key: str,
        heads: dict[str, StoredManifest | None],
        needed: frozenset[_View] | None = None,
    ) -> _Database:
        """The scope's database, the tables of the views in ``needed`` (None: every view)
        brought up to ``heads``: only those whose snapshot files changed are replaced,
        from the files not decoded before. The other views' tables are left as they are
        (the statement does not read them): a table no query reads is never rebuilt, so
        the cost of a query does not grow with a table it does not name (e.g.
        ``executions.ingested``, one row per folded event)."""
        keys = {name: _domain_key(scope_key, name, heads[name]) for name in QUERIED}
        views = [v for v in VIEWS if needed is None or v in needed]
        files = _sources(heads)

        def build() -> tuple[_Database, int]:
            tables: dict[_View, pa.Table] = {}
            for name, spec in QUERIED.items():
                wanted = {VIEWS[v][1] for v in views if VIEWS[v][0].name == name}
                loaded = (
                    self._domain_tables(store, scope_key, name, heads[name], wanted)
                    if wanted
                    else {}
                )
                for view, (domain, table) in VIEWS.items():
                    if domain.name == name:
                        tables[view] = (
                            loaded[table]
                            if table in loaded
                            else spec.specs[table].schema.empty_table()
                        )
            con = build_database(
                tables,
                materialize=True,
                threads=self.limits.threads,
                memory_limit=f"{max(1, self.limits.memory_bytes >> 20)}MiB",
            )
            self.database_builds += 1
            held = {v: (keys[VIEWS[v][0].name], files[v]) for v in views}
            return _Database(con, held), 1

        db, _ = self._databases.get(scope_key, build)
        if any(_stale(db.held.get(v), keys[VIEWS[v][0].name]) for v in views):
            with db.refreshing:
                for name in QUERIED:
                    mine = [v for v in views if VIEWS[v][0].name == name]
                    stale = [v for v in mine if _stale(db.held.get(v), keys[name])]
                    replace = [v for v in stale if db.held.get(v, (None, None))[1] != files[v]]
                    if replace:
                        wanted = {VIEWS[v][1] for v in replace}
                        tables = self._domain_tables(store, scope_key, name, heads[name], wanted)
                        own = db.cursor()
                        try:
                            refresh_tables(own, {v: tables[VIEWS[v][1]] for v in replace})
                        finally:
                            own.close()
                        self.table_refreshes += len(replace)
                        self.domain_refreshes += 1
                    # a newer snapshot whose files of a view did not change: only noted
                    db.held.update({v: (keys[name], files[v]) for v in stale})
        return db

    def _domain_tables(
        self,
        store: ObjectStore,
        scope_key: str,
        name: str,
        head: StoredManifest | None,
        only: set[str] | None = None,
    ) -> dict[str, pa.Table]:
        """The domain's raw tables at ``head`` (those named in ``only``, if given); each
        snapshot file is decoded once (files are immutable), so a new version costs only
        its new files."""

        def read(path: str) -> pa.Table:
            def load() -> tuple[pa.Table, int]:
                table = read_table(store.get(path).data)
                self.file_reads += 1
                return table, max(1, table.nbytes)

            table, _ = self._files.get((scope_key, path), load)
            return table

        domain = QUERIED[name]
        tables = load_domain_tables(store, domain, head, read, only)
        if head is not None:  # forget this domain's files no longer in its snapshot
            current = {
                e.path
                for d, table in VIEWS.values()
                if d.name == name
                for e in head.manifest.files_of(table)
            }
            prefix = snapshots_prefix(name, tier=domain.tier)
            self._files.drop(
                lambda k: k[0] == scope_key and k[1].startswith(prefix) and k[1] not in current
            )
        return tables

    def cached_files(self) -> list[tuple[str, str]]:
        """The (scope, key) of every decoded snapshot file held."""
        return list(self._files.keys())

    def close(self) -> None:
        self._databases.clear()
        self._files.clear()


def _sources(heads: dict[str, StoredManifest | None]) -> dict[tuple[str, str], tuple[str, ...]]:
    """The snapshot files of each view of the domains in ``heads``."""
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for view, (domain, table) in VIEWS.items():
        if domain.name not in heads:
            continue
        head = heads[domain.name]
        files = head.manifest.files_of(table) if head is not None else []
        out[view] = tuple(e.path for e in files)
    return out


def _stale(held: tuple[_DomainKey, tuple[str, ...]] | None, head: _DomainKey) -> bool:
    """Whether a view's table (``held``: its snapshot and files) must be looked at for the
    snapshot ``head``: never loaded, or ``head`` is later (a query holding an older
    snapshot never takes a table back to it; the table is replaced only if its files
    differ)."""
    return held is None or _newer(head, held[0])


def _newer(head: _DomainKey, held: _DomainKey) -> bool:
    """Whether ``head`` is a later snapshot than the one a database holds."""
    return head[2] > held[2] or (head[2] == held[2] and head[3] != held[3])


def _domain_key(scope_key: str, name: str, head: StoredManifest | None) -> _DomainKey:
    if head is None:
        return (scope_key, name, 0, "")
    return (scope_key, name, head.manifest.snapshot_version, head.manifest.commit_id)


def _collect(reader: pa.RecordBatchReader, max_rows: int, max_bytes: int) -> tuple[pa.Table, bool]:
    """Read batches until the end or a limit; True if rows were left out."""
    batches: list[pa.RecordBatch] = []
    rows = size = 0
    truncated = False
    try:
        for batch in reader:
            if batch.num_rows == 0:
                continue
            take = min(batch.num_rows, max_rows - rows)
            if take < batch.num_rows:
                truncated = True
            part = batch.slice(0, take) if take < batch.num_rows else batch
            if size + part.nbytes > max_bytes:
                truncated = True
                room = max_bytes - size
                per_row = max(1, part.nbytes // max(1, part.num_rows))
                part = part.slice(0, max(0, room // per_row))
            if part.num_rows:
                batches.append(part)
                rows += part.num_rows
                size += part.nbytes
            if truncated or rows >= max_rows:
                if not truncated:
                    truncated = _has_more(reader)
                break
    finally:
        reader.close()
    return pa.Table.from_batches(batches, schema=reader.schema), truncated


def _has_more(reader: pa.RecordBatchReader) -> bool:
    return any(batch.num_rows for batch in reader)


# --- output formats ----------------------------------------------------------------------


def pick_format(format_param: str | None, accept: str | None) -> str | None:
    """``json``, ``arrow`` or ``csv`` from ``?format=`` (wins) or the ``Accept`` header;
    ValidationError for an unknown format, None if ``Accept`` allows none of them."""
    if format_param:
        fmt = format_param.strip().lower()
        if fmt not in MEDIA_TYPES:
            raise ValidationError(f"format: must be one of {', '.join(MEDIA_TYPES)}")
        return fmt
    if not accept or not accept.strip():
        return "json"
    by_type = {media: name for name, media in MEDIA_TYPES.items()}
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        media = media.lower()
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if media in by_type:
            choices.append((q, -index, by_type[media]))
        elif media in ("*/*", "application/*"):
            choices.append((q, -index, "json"))
        elif media == "text/*":
            choices.append((q, -index, "csv"))
    if not choices:
        return None
    return max(choices)[2]


def to_json(result: QueryResult) -> bytes:
    """``{"columns": [{"name", "type"}], "rows": [[...]], "row_count", "truncated"}``."""
    table = result.table
    columns = [{"name": f.name, "type": str(f.type)} for f in table.schema]
    values = [[_jsonable(v) for v in _column_values(col)] for col in table.columns]
    rows = [list(row) for row in zip(*values, strict=True)] if values else []
    body = {
        "columns": columns,
        "rows": rows,
        "row_count": table.num_rows,
        "truncated": result.truncated,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def to_arrow(result: QueryResult) -> bytes:
    """An Arrow IPC stream; the schema metadata says whether rows were left out."""
    metadata = dict(result.table.schema.metadata or {})
    metadata[TRUNCATED_METADATA_KEY] = b"true" if result.truncated else b"false"
    table = result.table.replace_schema_metadata(metadata)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def to_csv(result: QueryResult) -> bytes:
    """CSV with a header row; nested values as JSON, NULL as an empty field."""
    table = result.table
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.column_names)
    values = [[_csv_cell(v) for v in _column_values(col)] for col in table.columns]
    for row in zip(*values, strict=True):
        writer.writerow(row)
    return buffer.getvalue().encode()


ENCODERS: dict[str, Callable[[QueryResult], bytes]] = {
    "json": to_json,
    "arrow": to_arrow,
    "csv": to_csv,
}


def _column_values(column: pa.ChunkedArray) -> list[Any]:
    """A column's values as Python objects; where Python cannot hold one (``infinity``
    timestamps, dates past year 9999, nanoseconds, also inside lists and structs), the
    column's values as DuckDB writes them in JSON (``"infinity"``, ``"10000-01-01"``).
    Nanosecond types always take the second path: pyarrow turns them into pandas objects when
    pandas is installed, so the answer would depend on what else the server has installed."""
    if not _has_nanoseconds(column.type):
        try:
            return column.to_pylist()  # type: ignore[no-any-return]
        except (OverflowError, ValueError, pa.ArrowException):
            pass
    con = duckdb.connect(config={"threads": 1, "enable_external_access": False})
    try:
        con.register("result_column", pa.table({"v": column}))
        rows = con.execute("SELECT to_json(v) FROM result_column").fetchall()
    finally:
        con.close()
    return [None if text is None else json.loads(text) for (text,) in rows]


def _has_nanoseconds(type_: pa.DataType) -> bool:
    """Whether a type is, or holds, a nanosecond timestamp, time or duration."""
    if pa.types.is_timestamp(type_) or pa.types.is_time64(type_) or pa.types.is_duration(type_):
        return getattr(type_, "unit", None) == "ns"
    return any(_has_nanoseconds(type_.field(i).type) for i in range(type_.num_fields))


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and value.utcoffset() == dt.timedelta(0):
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _csv_cell(value: Any) -> str:
    converted = _jsonable(value)
    if converted is None:
        return ""
    if isinstance(converted, bool):
        return "true" if converted else "false"
    if isinstance(converted, dict | list):
        return json.dumps(converted, ensure_ascii=False)
    return str(converted)
