"""Read-only SQL over the current snapshots of every domain with DuckDB.

The snapshot's Parquet files (checkpoint + deltas) are read through the storage port and
exposed as merged views: for each primary key the row with the highest ``version`` wins and
tombstones are dropped. The same merge SQL is what any external DuckDB user runs over the
files a manifest lists (see :func:`merged_view_sql`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from arco.catalog.domain import CATALOG
from arco.domain import DomainSpec
from arco.errors import ValidationError
from arco.executions import EXECUTIONS_SPEC
from arco.lineage import LINEAGE
from arco.manifest import StoredManifest, read_manifest
from arco.parquet import DELETED, read_table
from arco.storage.port import ObjectStore

if TYPE_CHECKING:
    from arco.catalog.catalog import Catalog

#: tables exposed under the ``catalog`` schema (idempotency records are internal)
PUBLIC_TABLES = ("namespaces", "tables", "columns")

#: every SQL view: (schema, view) -> (domain, Parquet table)
VIEWS: dict[tuple[str, str], tuple[DomainSpec[Any], str]] = {
    **{("catalog", t): (CATALOG, t) for t in PUBLIC_TABLES},
    ("lineage", "edges"): (LINEAGE, "lineage_edges"),
    ("search", "postings"): (CATALOG, "search_postings"),
    ("executions", "materializations"): (EXECUTIONS_SPEC, "materializations"),
    ("executions", "ingested"): (EXECUTIONS_SPEC, "ingested"),
}

INFO_TABLES_VIEW = """
CREATE VIEW info.tables AS
SELECT n.name AS namespace, t.name AS table_name, t.table_id, t.format, t.location,
       t.description, count(c.column_id) AS column_count, t.version, t.updated_at
FROM catalog.tables t
JOIN catalog.namespaces n USING (namespace_id)
LEFT JOIN catalog.columns c USING (table_id)
GROUP BY ALL
"""


def merged_view_sql(table: str, source: str, domain: DomainSpec[Any] = CATALOG) -> str:
    """SELECT that merges checkpoint + delta rows of ``table`` read from ``source``."""
    key = domain.specs[table].primary_key
    return (
        f"SELECT * EXCLUDE ({DELETED}) FROM {source} "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY version DESC) = 1 "
        f"AND NOT {DELETED}"
    )


def load_tables(
    store: ObjectStore, heads: Mapping[str, StoredManifest | None]
) -> dict[tuple[str, str], pa.Table]:
    """Raw (unmerged) Arrow tables of every view, from each domain's current snapshot."""
    out: dict[tuple[str, str], pa.Table] = {}
    for view, (domain, table) in VIEWS.items():
        spec = domain.specs[table]
        head = heads.get(domain.name)
        parts = []
        if head is not None:
            for entry in head.manifest.files_of(table):
                data = store.get(entry.path).data
                parts.append(read_table(data).select(spec.schema.names))
        out[view] = pa.concat_tables(parts) if parts else spec.schema.empty_table()
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


def connect(tables: Mapping[tuple[str, str], pa.Table]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with ``catalog.*``, ``lineage.*``, ``search.*``, ``executions.*``
    and ``info.*`` views and external access off.

    DuckDB reserves ``system`` as the name of its built-in catalog, so the convenience views
    that the spec calls ``system.*`` live under ``info.*``.
    """
    con = duckdb.connect(":memory:")
    con.execute(
        "CREATE SCHEMA catalog; CREATE SCHEMA lineage; CREATE SCHEMA search; "
        "CREATE SCHEMA executions; CREATE SCHEMA info;"
    )
    for (schema, view), data in tables.items():
        domain, table = VIEWS[(schema, view)]
        raw = f"_raw_{schema}_{view}"
        con.register(raw, data)
        con.execute(f"CREATE VIEW {schema}.{view} AS {merged_view_sql(table, raw, domain)}")
    con.execute(INFO_TABLES_VIEW)
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def run_query(catalog: Catalog, sql: str) -> pa.Table:
    """Run one read-only SELECT over the scope's current snapshots."""
    return query_snapshot(catalog.store, sql)


def query_snapshot(store: ObjectStore, sql: str) -> pa.Table:
    """Run one read-only SELECT over the current snapshot of every domain of a scope."""
    check_read_only(sql)
    heads = {domain.name: read_manifest(store, domain.name) for domain, _ in VIEWS.values()}
    con = connect(load_tables(store, heads))
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise ValidationError(f"sql: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()
