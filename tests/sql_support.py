"""DuckDB run directly on a workspace's Parquet files, the way the manifests tell an outside
reader to (importable as ``sql_support``): the reference the query endpoint is compared
with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from arco.core.scope import DEFAULT_SCOPE, Scope
from arco.domains.registry import QUERIED, VIEWS
from arco.metadata.manifest import read_manifest
from arco.query.views import (
    INFO_SCHEMA,
    INFO_VIEWS,
    build_database,
    merged_view_sql,
    parquet_source,
)
from arco.storage import ScopedStore, open_store


def direct_duckdb(store_root: Path, scope: Scope = DEFAULT_SCOPE) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every view (``catalog.*``, ``lineage.*``, ``search.*``,
    ``executions.*``, ``info.*``) over the files the current manifests of ``scope`` list,
    read with ``read_parquet`` and merged with :func:`arco.query.views.merged_view_sql`
    (store: a local directory, ``store_root``)."""
    base = store_root.joinpath(*scope.prefix.rstrip("/").split("/"))
    store = ScopedStore(open_store(f"file://{store_root}"), scope.prefix)
    heads = {name: read_manifest(store, name) for name in QUERIED}
    con = duckdb.connect(":memory:")
    con.execute("".join(f"CREATE SCHEMA {s};" for s in sorted({s for s, _ in VIEWS})))
    con.execute(f"CREATE SCHEMA {INFO_SCHEMA}")
    for (schema, view), (domain, table) in VIEWS.items():
        head = heads[domain.name]
        files = [] if head is None else head.manifest.files_of(table)
        paths = [str(base.joinpath(*f.path.split("/"))) for f in files]
        if paths:
            source = parquet_source(paths)
        else:  # never written: an empty table of the right schema
            source = f"_empty_{schema}_{view}"
            con.register(source, domain.specs[table].schema.empty_table())
        con.execute(f"CREATE VIEW {schema}.{view} AS {merged_view_sql(table, source, domain)}")
    for name, select in INFO_VIEWS.items():
        con.execute(f"CREATE VIEW {INFO_SCHEMA}.{name} AS {select}")
    return con


def view_columns() -> dict[str, list[tuple[str, str]]]:
    """Every view (``schema.name``) with its columns and their DuckDB types, in order (from
    an empty database built the way the server builds its own)."""
    empty = {
        (schema, view): domain.specs[table].schema.empty_table()
        for (schema, view), (domain, table) in VIEWS.items()
    }
    con = build_database(empty)
    try:
        names = [f"{s}.{v}" for s, v in VIEWS] + [f"{INFO_SCHEMA}.{v}" for v in INFO_VIEWS]
        out: dict[str, list[tuple[str, str]]] = {}
        for name in names:
            rows: list[Any] = con.execute(f"DESCRIBE {name}").fetchall()
            out[name] = [(str(row[0]), str(row[1])) for row in rows]
        return out
    finally:
        con.close()
