"""Read-only SQL over the current catalog snapshot with DuckDB.

The snapshot's Parquet files (checkpoint + deltas) are read through the storage port and
exposed as merged views: for each primary key the row with the highest ``version`` wins and
tombstones are dropped. The same merge SQL is what any external DuckDB user runs over the
files a manifest lists (see :func:`merged_view_sql`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from arco.catalog.domain import CATALOG
from arco.errors import ValidationError
from arco.manifest import StoredManifest
from arco.parquet import DELETED, read_table
from arco.storage.port import ObjectStore

if TYPE_CHECKING:
    from arco.catalog.catalog import Catalog

#: tables exposed under the ``catalog`` schema (idempotency records are internal)
PUBLIC_TABLES = ("namespaces", "tables", "columns")

INFO_TABLES_VIEW = """
CREATE VIEW info.tables AS
SELECT n.name AS namespace, t.name AS table_name, t.table_id, t.format, t.location,
       t.description, count(c.column_id) AS column_count, t.version, t.updated_at
FROM catalog.tables t
JOIN catalog.namespaces n USING (namespace_id)
LEFT JOIN catalog.columns c USING (table_id)
GROUP BY ALL
"""


def merged_view_sql(table: str, source: str) -> str:
    """SELECT that merges checkpoint + delta rows of ``table`` read from ``source``."""
    key = CATALOG.specs[table].primary_key
    return (
        f"SELECT * EXCLUDE ({DELETED}) FROM {source} "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY version DESC) = 1 "
        f"AND NOT {DELETED}"
    )


def _empty(table: str) -> pa.Table:
    return CATALOG.specs[table].schema.empty_table()


def load_tables(store: ObjectStore, head: StoredManifest | None) -> dict[str, pa.Table]:
    """Raw (unmerged) Arrow tables of the snapshot, one per catalog table."""
    out: dict[str, pa.Table] = {}
    for table in PUBLIC_TABLES:
        parts = []
        if head is not None:
            for entry in head.manifest.files_of(table):
                data = store.get(entry.path).data
                parts.append(read_table(data).select(CATALOG.specs[table].schema.names))
        out[table] = pa.concat_tables(parts) if parts else _empty(table)
    return out


def check_read_only(sql: str) -> None:
    """Exactly one SELECT statement, judged by DuckDB's own parser."""
    if len(sql) > 100_000:
        raise ValidationError("sql: must be at most 100000 characters")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ValidationError(f"sql: {str(exc).splitlines()[0]}") from exc
    if len(statements) != 1:
        raise ValidationError(f"sql: exactly one statement is allowed (got {len(statements)})")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise ValidationError(
            f"sql: only read-only SELECT statements are allowed (got {statements[0].type.name})"
        )


def connect(tables: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with ``catalog.*`` and ``info.*`` views, external access off.

    DuckDB reserves ``system`` as the name of its built-in catalog, so the convenience views
    that the spec calls ``system.*`` live under ``info.*``.
    """
    con = duckdb.connect(":memory:")
    con.execute("CREATE SCHEMA catalog; CREATE SCHEMA info;")
    for name, data in tables.items():
        con.register(f"_raw_{name}", data)
        con.execute(f"CREATE VIEW catalog.{name} AS {merged_view_sql(name, f'_raw_{name}')}")
    con.execute(INFO_TABLES_VIEW)
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def run_query(catalog: Catalog, sql: str) -> pa.Table:
    """Run one read-only SELECT over the catalog's current snapshot."""
    return query_snapshot(catalog.store, catalog.reader.head(), sql)


def query_snapshot(store: ObjectStore, head: StoredManifest | None, sql: str) -> pa.Table:
    """Run one read-only SELECT over the snapshot ``head`` describes."""
    check_read_only(sql)
    con = connect(load_tables(store, head))
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise ValidationError(f"sql: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()
