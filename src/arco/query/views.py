"""Read-only SQL over the current snapshots of every domain with DuckDB.

The snapshot's Parquet files (checkpoint + deltas) are read through the storage port and
exposed as merged views: for each primary key the row with the highest ``version`` wins and
tombstones are dropped. The same merge SQL is what any external DuckDB user runs over the
files a manifest lists (see :func:`merged_view_sql`).

Read-only by construction:

* :func:`check_read_only` accepts exactly one statement whose type, as judged by DuckDB's
  own parser, is SELECT (``SELECT``, ``WITH ... SELECT``, ``VALUES``, ``FROM t``,
  ``DESCRIBE``); everything else (``ATTACH``, ``COPY``, ``SET``, ``PRAGMA``, ``INSTALL``,
  ``LOAD``, ``CALL``, ``EXPORT``, DDL, DML, transactions, ``EXPLAIN``) is refused;
* the database is in memory, holds only the scope's snapshot rows, and is locked down
  (:func:`harden`): external access off (no file or URL reading table function works),
  extension autoload/autoinstall off, no spilling to a temp directory, configuration locked.

Convenience views: the spec names them ``system.*``, but DuckDB reserves the catalog name
``system`` (its built-in catalog): ``ATTACH ... AS system`` is refused as a reserved name and
a schema ``memory.system`` makes every ``system.x`` reference ambiguous. The views therefore
live in the schema ``info``, and :func:`rewrite_system_refs` rewrites each *table reference*
``system.<view>`` found by DuckDB's own parser (``json_serialize_sql``, with exact source
locations) to ``info.<view>`` -- so ``SELECT * FROM system.tables`` and ``info.tables`` both
work, and no string literal or comment is ever touched.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from arco.catalog.domain import CATALOG
from arco.domains.registry import QUERIED, VIEWS
from arco.errors import ValidationError
from arco.metadata.domain import DomainSpec
from arco.metadata.manifest import StoredManifest, read_manifest
from arco.metadata.parquet import DELETED, merge_tables, read_table
from arco.storage.port import ObjectStore

if TYPE_CHECKING:
    from arco.catalog.catalog import Catalog

#: schema of the convenience views (``system.*`` in queries is rewritten to it)
INFO_SCHEMA = "info"

#: the convenience views: name -> SELECT (created as ``info.<name>``)
INFO_VIEWS: dict[str, str] = {
    "tables": """
SELECT n.name AS namespace, t.name AS table_name, t.table_id, t.format, t.location,
       t.description, count(c.column_id) AS column_count, t.version, t.updated_at
FROM catalog.tables t
JOIN catalog.namespaces n USING (namespace_id)
LEFT JOIN catalog.columns c USING (table_id)
GROUP BY ALL
""",
    "columns": """
SELECT n.name AS namespace, t.name AS table_name, c.position, c.name AS column_name,
       c.type, c.nullable, c.description, c.column_id, t.table_id
FROM catalog.columns c
JOIN catalog.tables t USING (table_id)
JOIN catalog.namespaces n USING (namespace_id)
""",
    "namespaces": """
SELECT n.name AS namespace, n.namespace_id, n.description, count(t.table_id) AS table_count,
       n.version, n.updated_at
FROM catalog.namespaces n
LEFT JOIN catalog.tables t USING (namespace_id)
GROUP BY ALL
""",
}

#: kept for callers of the original single view
INFO_TABLES_VIEW = f"CREATE VIEW info.tables AS {INFO_VIEWS['tables']}"

DEFAULT_MAX_SQL_BYTES = 100_000

_READ_ONLY = duckdb.StatementType.SELECT


def merged_view_sql(table: str, source: str, domain: DomainSpec[Any] = CATALOG) -> str:
    """SELECT that merges checkpoint + delta rows of ``table`` read from ``source``."""
    key = domain.specs[table].primary_key
    return (
        f"SELECT * EXCLUDE ({DELETED}) FROM {source} "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY version DESC) = 1 "
        f"AND NOT {DELETED}"
    )


def parquet_source(paths: list[str]) -> str:
    """The ``read_parquet`` of a table's snapshot files, for DuckDB reading them directly
    (the keys hold ``tenant=...`` and ``workspace=...``: they are not hive partitions)."""
    quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return f"read_parquet([{quoted}], hive_partitioning = false)"


def read_heads(store: ObjectStore) -> dict[str, StoredManifest | None]:
    """The current manifest of every queried domain (None: never written)."""
    return {name: read_manifest(store, name) for name in QUERIED}


def load_domain_tables(
    store: ObjectStore,
    domain: DomainSpec[Any],
    head: StoredManifest | None,
    read: Callable[[str], pa.Table] | None = None,
    only: Collection[str] | None = None,
) -> dict[str, pa.Table]:
    """Raw (unmerged) Arrow tables of one domain's queried tables at ``head`` (of those
    named in ``only``, if given); ``read`` decodes one snapshot file by key (default: get
    and decode it; the engine passes a cache: files are immutable)."""
    read = read or (lambda path: read_table(store.get(path).data))
    out: dict[str, pa.Table] = {}
    for view_domain, table in VIEWS.values():
        if view_domain.name != domain.name or (only is not None and table not in only):
            continue
        spec = domain.specs[table]
        parts = []
        if head is not None:
            for entry in head.manifest.files_of(table):
                parts.append(read(entry.path).select(spec.schema.names))
        out[table] = pa.concat_tables(parts) if parts else spec.schema.empty_table()
    return out


def load_tables(
    store: ObjectStore, heads: Mapping[str, StoredManifest | None]
) -> dict[tuple[str, str], pa.Table]:
    """Raw (unmerged) Arrow tables of every view, from each domain's current snapshot."""
    by_domain = {
        name: load_domain_tables(store, domain, heads.get(name)) for name, domain in QUERIED.items()
    }
    return {view: by_domain[d.name][t] for view, (d, t) in VIEWS.items()}


# --- the read-only check and the system.* rewrite ----------------------------------------

_parser_lock = threading.Lock()
_parser_con: dict[str, duckdb.DuckDBPyConnection] = {}


def _parser() -> duckdb.DuckDBPyConnection:
    """One locked-down connection of the process, used only to parse SQL (call with
    ``_parser_lock`` held)."""
    con = _parser_con.get("parser")
    if con is None:
        con = duckdb.connect(":memory:", config={"threads": 1})
        harden(con)
        _parser_con["parser"] = con
    return con


def _parse(sql: str) -> list[duckdb.StatementType]:
    """Statement types of ``sql`` by DuckDB's parser."""
    with _parser_lock:
        return [s.type for s in _parser().extract_statements(sql)]


def _serialize(sql: str, con: duckdb.DuckDBPyConnection | None) -> Any:
    """``json_serialize_sql(sql)`` parsed (the parse tree, with source locations)."""
    query = "SELECT json_serialize_sql(?)"
    if con is not None:
        rows = con.execute(query, [sql]).fetchall()
    else:
        with _parser_lock:
            rows = _parser().execute(query, [sql]).fetchall()
    if not rows:
        return None
    try:
        return json.loads(rows[0][0])
    except RecursionError:
        # DuckDB accepts 1,000 levels of expressions; their tree is deeper than Python's
        # JSON decoder may recurse (that was a 500)
        raise ValidationError("sql: the statement is nested too deeply") from None


def check_read_only(
    sql: str, max_bytes: int = DEFAULT_MAX_SQL_BYTES
) -> frozenset[tuple[str, str]] | None:
    """Exactly one SELECT statement of at most ``max_bytes`` (UTF-8), judged by DuckDB's
    own parser. Raises ValidationError (``sql: ...``) otherwise. Returns what
    :func:`views_read` returns for ``sql`` (from the same parse tree)."""
    if not isinstance(sql, str):
        raise ValidationError("sql: must be a string")
    if len(sql) > max_bytes or len(sql.encode("utf-8", errors="surrogatepass")) > max_bytes:
        raise ValidationError(f"sql: must be at most {max_bytes} bytes")
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can carry "\ud800"; DuckDB cannot take it (that was a 500)
        raise ValidationError("sql: must be valid Unicode (lone surrogate)") from None
    try:
        kinds = _parse(sql)
    except duckdb.Error as exc:
        raise ValidationError(f"sql: {first_line(exc)}") from exc
    except (ValueError, RuntimeError) as exc:
        # the Python binding cannot even name some statement types (e.g. UPDATE EXTENSIONS)
        raise ValidationError("sql: only read-only SELECT statements are allowed") from exc
    if len(kinds) != 1:
        raise ValidationError(f"sql: exactly one statement is allowed (got {len(kinds)})")
    if kinds[0] != _READ_ONLY:
        raise ValidationError(
            f"sql: only read-only SELECT statements are allowed (got {kinds[0].name})"
        )
    return _views_of(_check_functions(sql))


#: functions that describe the host or the engine (paths, settings, version, platform,
#: extensions, secrets, memory, temporary files) rather than the tenant's metadata
HOST_FUNCTIONS = frozenset(
    {
        "current_setting",
        "duckdb_settings",
        "duckdb_extensions",
        "duckdb_secrets",
        "which_secret",
        "duckdb_memory",
        "duckdb_temporary_files",
        "duckdb_external_file_cache",
        "duckdb_databases",
        "duckdb_variables",
        "getvariable",
        "getenv",
        "version",
        "pragma_version",
        "pragma_platform",
        "pragma_database_size",
        "pragma_metadata_info",
        "pragma_storage_info",
        "pragma_user_agent",
        "pragma_extension_versions",
    }
)


def _check_functions(sql: str) -> dict[str, Any]:
    """ValidationError if ``sql`` calls a function of :data:`HOST_FUNCTIONS` (found in
    DuckDB's own parse tree; a statement it cannot serialise is refused); else the tree."""
    try:
        tree = _serialize(sql, None)
    except (duckdb.Error, ValueError) as exc:
        raise ValidationError(f"sql: {first_line(exc)}") from exc
    if not isinstance(tree, dict) or tree.get("error"):
        raise ValidationError(
            "sql: this statement cannot be checked; only plain SELECTs are allowed"
        )
    for node in _objects(tree):
        name = node.get("function_name")
        if isinstance(name, str) and name.lower() in HOST_FUNCTIONS:
            raise ValidationError(f"sql: function {name.lower()}() is not available")
    return tree


def rewrite_system_refs(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> str:
    """``sql`` with every table reference ``system.<info view>`` replaced by
    ``info.<info view>`` (see the module docstring); unchanged if there is none or if
    DuckDB cannot serialise the statement."""
    if "system" not in sql.lower():
        return sql
    try:
        tree = _serialize(sql, con)
    except (duckdb.Error, ValueError):
        return sql
    if not isinstance(tree, dict) or tree.get("error"):
        return sql
    raw = sql.encode("utf-8", errors="surrogatepass")
    edits: list[tuple[int, int]] = []
    for node in _base_tables(tree):
        if (
            str(node.get("schema_name", "")).lower() != "system"
            or node.get("catalog_name")
            or str(node.get("table_name", "")).lower() not in INFO_VIEWS
        ):
            continue
        start = node.get("query_location")
        if not isinstance(start, int) or not 0 <= start < len(raw):
            continue
        end = _schema_token_end(raw, start)
        if end is not None:
            edits.append((start, end))
    for start, end in sorted(set(edits), reverse=True):
        raw = raw[:start] + INFO_SCHEMA.encode() + raw[end:]
    return raw.decode("utf-8", errors="surrogatepass")


#: the relations each convenience view reads
INFO_VIEW_READS: frozenset[tuple[str, str]] = frozenset(
    {("catalog", "namespaces"), ("catalog", "tables"), ("catalog", "columns")}
)

#: schemas a query may name the convenience views by (``system`` is rewritten to ``info``)
_INFO_NAMES = (INFO_SCHEMA, "system")


def views_read(sql: str) -> frozenset[tuple[str, str]] | None:
    """The ``(schema, view)`` of :data:`VIEWS` a statement can read, found in DuckDB's
    parse tree (``json_serialize_sql``): its table references, and the catalog tables
    behind a ``system.*`` / ``info.*`` view. None -- it may read any of them -- when that
    cannot be told for sure: the statement cannot be serialised, or it names a table
    function (``query_table('...')``, ``duckdb_tables()`` ...), a relation that is neither
    one of these views nor a common table expression of the statement (DuckDB's own
    catalog views, ``information_schema``, ``main``, another catalog), or a ``SHOW``.

    Names are matched as DuckDB resolves them, case-insensitively (quoted or not), with the
    optional catalog ``memory``; a name that is not one of the views fails in DuckDB."""
    try:
        tree = _serialize(sql, None)
    except (duckdb.Error, ValueError, ValidationError):
        return None
    return _views_of(tree)


def _views_of(tree: Any) -> frozenset[tuple[str, str]] | None:
    """:func:`views_read` of a statement's serialised parse tree."""
    if not isinstance(tree, dict) or tree.get("error"):
        return None
    nodes = list(_objects(tree))
    ctes = {
        str(entry.get("key", "")).lower()
        for node in nodes
        if isinstance(node.get("cte_map"), dict)
        for entry in node["cte_map"].get("map", [])
        if isinstance(entry, dict)
    }
    out: set[tuple[str, str]] = set()
    for node in nodes:
        kind = node.get("type")
        if kind == "TABLE_FUNCTION" or (kind == "SHOW_REF" and node.get("table_name")):
            return None
        if kind != "BASE_TABLE":
            continue
        catalog = str(node.get("catalog_name") or "").lower()
        schema = str(node.get("schema_name") or "").lower()
        name = str(node.get("table_name") or "").lower()
        if not catalog and not schema and name in ctes:
            continue
        if catalog not in ("", "memory"):
            return None
        if (schema, name) in VIEWS:
            out.add((schema, name))
        elif schema in _INFO_NAMES and name in INFO_VIEWS:
            out |= INFO_VIEW_READS
        else:
            return None
    return frozenset(out)


def _objects(tree: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object of a serialised parse tree, at any depth."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _base_tables(tree: Any) -> Iterator[dict[str, Any]]:
    return (node for node in _objects(tree) if node.get("type") == "BASE_TABLE")


def _schema_token_end(raw: bytes, start: int) -> int | None:
    """End of the ``system`` / ``"system"`` token at ``start`` (None if it is not there)."""
    if raw[start : start + 8].lower() == b'"system"':
        return start + 8
    if raw[start : start + 6].lower() == b"system":
        return start + 6
    return None


def first_line(exc: BaseException) -> str:
    """The first line of an engine error (no plan dumps, no stack)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- the database ------------------------------------------------------------------------


def harden(con: duckdb.DuckDBPyConnection, memory_limit: str | None = None) -> None:
    """Lock a connection's database down: no spilling, no external access, no extension
    autoload or autoinstall, configuration locked (``SET`` fails from here on)."""
    con.execute("SET temp_directory = ''")
    # nothing of the server account's home may show (the default lies under ~/.duckdb)
    con.execute("SET secret_directory = ''")
    if memory_limit:
        con.execute(f"SET memory_limit = '{_memory_limit(memory_limit)}'")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def _memory_limit(value: str) -> str:
    text = value.strip()
    if not text or not all(ch.isalnum() or ch in ". " for ch in text):
        raise ValidationError(f"memory_limit: not a size ({value[:20]!r})")
    return text


def build_database(
    tables: Mapping[tuple[str, str], pa.Table],
    *,
    materialize: bool = False,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the ``catalog.*``, ``lineage.*``, ``search.*``,
    ``executions.*`` and ``info.*`` relations over ``tables`` (raw, unmerged rows), locked
    down by :func:`harden`.

    ``materialize=True`` stores the merged rows as DuckDB tables, so that every connection
    (``cursor()``) to the database sees them (and :func:`refresh_tables` can replace them);
    otherwise they are views over Arrow tables registered on this connection only.
    """
    config: dict[str, Any] = {} if threads is None else {"threads": threads}
    con = duckdb.connect(":memory:", config=config)
    try:
        schemas = sorted({schema for schema, _ in VIEWS} | {INFO_SCHEMA})
        con.execute("".join(f"CREATE SCHEMA {s};" for s in schemas))
        if materialize:
            refresh_tables(con, tables)
        else:
            for (schema, view), data in tables.items():
                domain, table = VIEWS[(schema, view)]
                raw = f"_raw_{schema}_{view}"
                con.register(raw, data)
                con.execute(f"CREATE VIEW {schema}.{view} AS {merged_view_sql(table, raw, domain)}")
        for name, select in INFO_VIEWS.items():
            con.execute(f"CREATE VIEW {INFO_SCHEMA}.{name} AS {select}")
        harden(con, memory_limit)
    except BaseException:
        con.close()
        raise
    return con


def merged_rows(domain: DomainSpec[Any], table: str, data: pa.Table) -> pa.Table:
    """The rows :func:`merged_view_sql` selects from ``data`` (raw rows of ``table``):
    the newest row per primary key, tombstones dropped, without the ``deleted`` column;
    merged with Arrow kernels, in key order."""
    spec = domain.specs[table]
    return merge_tables(spec, [data], live_only=True).drop_columns([DELETED])


def refresh_tables(
    con: duckdb.DuckDBPyConnection, tables: Mapping[tuple[str, str], pa.Table]
) -> None:
    """Replace the materialized relations of ``tables`` (raw rows) in one transaction:
    queries already running keep reading the rows they started with (DuckDB's MVCC).

    The rows are merged in Arrow (:func:`merged_rows`) and copied as they are: running
    the merge as a window query inside the long-lived database (``QUALIFY row_number()
    ...``, :func:`merged_view_sql`) left 5-8 KB of native memory behind per execution in
    DuckDB 2.0, whatever the table's size -- a query worker replaces tables after every
    write, so it grew with the writes (see docs/security.md, "query workers")."""
    cur = con.cursor()
    try:
        cur.execute("BEGIN")
        for (schema, view), data in tables.items():
            domain, table = VIEWS[(schema, view)]
            raw = f"_raw_{schema}_{view}"
            cur.register(raw, merged_rows(domain, table, data))
            cur.execute(f"CREATE OR REPLACE TABLE {schema}.{view} AS SELECT * FROM {raw}")
            cur.unregister(raw)
        cur.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            cur.execute("ROLLBACK")
        raise
    finally:
        cur.close()


def connect(tables: Mapping[tuple[str, str], pa.Table]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with merged views over ``tables`` and external access off."""
    return build_database(tables)


def run_query(catalog: Catalog, sql: str) -> pa.Table:
    """Run one read-only SELECT over the scope's current snapshots."""
    return query_snapshot(catalog.store, sql)


def query_snapshot(store: ObjectStore, sql: str) -> pa.Table:
    """Run one read-only SELECT over the current snapshot of every domain of a scope."""
    check_read_only(sql)
    con = connect(load_tables(store, read_heads(store)))
    try:
        return con.sql(rewrite_system_refs(sql, con)).to_arrow_table()
    except duckdb.Error as exc:
        raise ValidationError(f"sql: {first_line(exc)}") from exc
    finally:
        con.close()
