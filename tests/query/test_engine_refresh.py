"""QueryEngine: a change to one domain rebuilds only that domain's tables, from only the
snapshot files not decoded before; queries running meanwhile keep their rows."""

from __future__ import annotations

import threading
from pathlib import Path

from arco.catalog import Catalog, ColumnSpec
from arco.core.scope import Scope
from arco.domains.registry import VIEWS
from arco.executions import Executions
from arco.query.engine import QueryEngine
from arco.query.views import INFO_SCHEMA, INFO_VIEWS
from arco.storage import CountingStore, ScopedStore, open_store
from executions_support import mat
from sql_support import direct_duckdb

SCOPE = Scope("acme", "main")


def test_only_the_changed_domain_is_rebuilt_from_its_new_files(tmp_path: Path) -> None:
    root = open_store(f"file://{tmp_path / 'store'}")
    catalog = Catalog(root, SCOPE)
    executions = Executions(root, SCOPE)
    catalog.create_namespace("sales")
    catalog.register_table("sales", "orders", [ColumnSpec(name="id", type="int64")])
    store = CountingStore(ScopedStore(root, SCOPE.prefix))
    engine = QueryEngine()
    try:
        count = (
            "SELECT (SELECT count(*) FROM catalog.tables) AS t, "
            "(SELECT count(*) FROM executions.materializations) AS m"
        )
        assert engine.query(store, SCOPE.prefix, count).table.to_pylist() == [{"t": 1, "m": 0}]
        assert engine.database_builds == 1
        reads = engine.file_reads

        # an event folded: only the executions domain is refreshed, from its new file(s)
        executions.append([mat(1, at=1_767_225_600_000)], fold="off")
        executions.compact()
        assert engine.query(store, SCOPE.prefix, count).table.to_pylist() == [{"t": 1, "m": 1}]
        assert engine.database_builds == 1
        assert engine.domain_refreshes == 1
        new_reads = engine.file_reads - reads
        assert 1 <= new_reads <= 2, new_reads  # the new delta (and its ingested table)

        # a DDL commit: only the catalog domain, again from its new files only
        reads = engine.file_reads
        catalog.register_table("sales", "refunds", [ColumnSpec(name="id", type="int64")])
        assert engine.query(store, SCOPE.prefix, count).table.to_pylist() == [{"t": 2, "m": 1}]
        assert engine.domain_refreshes == 2
        assert 1 <= engine.file_reads - reads <= 6  # the catalog's new delta files

        # unchanged: nothing is decoded, nothing rebuilt
        reads, refreshes = engine.file_reads, engine.domain_refreshes
        engine.query(store, SCOPE.prefix, count)
        assert (engine.file_reads, engine.domain_refreshes) == (reads, refreshes)
    finally:
        engine.close()
        executions.close()
        catalog.close()


def test_a_query_running_during_a_refresh_keeps_its_rows(tmp_path: Path) -> None:
    root = open_store(f"file://{tmp_path / 'store'}")
    catalog = Catalog(root, SCOPE)
    catalog.create_namespace("sales")
    store = ScopedStore(root, SCOPE.prefix)
    engine = QueryEngine()
    try:
        engine.query(store, SCOPE.prefix, "SELECT 1")
        errors: list[BaseException] = []
        stop = threading.Event()

        def reader() -> None:
            while not stop.is_set():
                try:
                    names = (
                        engine.query(
                            store, SCOPE.prefix, "SELECT name FROM catalog.tables ORDER BY name"
                        )
                        .table.column(0)
                        .to_pylist()
                    )
                    # tables are only ever added: a prefix of the final list
                    assert names == sorted(names)
                except BaseException as exc:  # reported below
                    errors.append(exc)
                    return

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        for i in range(15):
            catalog.register_table("sales", f"t{i:02d}", [ColumnSpec(name="id", type="int64")])
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        final = engine.query(store, SCOPE.prefix, "SELECT count(*) FROM catalog.tables")
        assert final.table.column(0).to_pylist() == [15]
    finally:
        engine.close()
        catalog.close()


#: a statement reading every view (a table is brought up to date only when read)
EVERY_VIEW = "SELECT " + ", ".join(f"(SELECT count(*) FROM {s}.{v})" for s, v in VIEWS)


def test_a_refresh_replaces_only_the_tables_whose_files_changed(tmp_path: Path) -> None:
    root = open_store(f"file://{tmp_path / 'store'}")
    catalog = Catalog(root, SCOPE)
    executions = Executions(root, SCOPE)
    catalog.create_namespace("sales")
    catalog.register_table("sales", "orders", [ColumnSpec(name="id", type="int64")])
    store = ScopedStore(root, SCOPE.prefix)
    engine = QueryEngine()
    try:
        engine.query(store, SCOPE.prefix, EVERY_VIEW)
        executions.append([mat(1, at=1_767_225_600_000)], fold="off")
        executions.compact()
        engine.query(store, SCOPE.prefix, EVERY_VIEW)
        # both executions tables got a delta; nothing else is replaced
        assert (engine.domain_refreshes, engine.table_refreshes) == (1, 2)
        catalog.create_namespace("hr")
        engine.query(store, SCOPE.prefix, EVERY_VIEW)
        assert engine.domain_refreshes == 2
        # the namespace's commit wrote no tables, columns (nor, here, any other) delta
        assert 1 <= engine.table_refreshes - 2 < 4
    finally:
        engine.close()
        executions.close()
        catalog.close()


def test_the_tables_hold_the_merged_rows_of_the_snapshot(tmp_path: Path) -> None:
    """Updates, drops (tombstones) and superseded events: every view answers what the
    merge SQL over the manifest's files answers, at the first load and after refreshes."""
    root = open_store(f"file://{tmp_path / 'store'}")
    catalog = Catalog(root, SCOPE)
    executions = Executions(root, SCOPE)
    store = ScopedStore(root, SCOPE.prefix)
    engine = QueryEngine()

    def same_as_merge_sql() -> None:
        direct = direct_duckdb(tmp_path / "store", SCOPE)
        try:
            for schema, view in [*VIEWS, *((INFO_SCHEMA, v) for v in INFO_VIEWS)]:
                sql = f"SELECT * FROM {schema}.{view} ORDER BY ALL"
                got = engine.query(store, SCOPE.prefix, sql).table
                want = direct.sql(sql).to_arrow_table()
                assert got.schema.names == want.schema.names, (schema, view)
                assert got.to_pylist() == want.to_pylist(), (schema, view)
                describe = f"DESCRIBE {schema}.{view}"
                got_types = engine.query(store, SCOPE.prefix, describe).table.to_pylist()
                assert got_types == direct.sql(describe).to_arrow_table().to_pylist()
        finally:
            direct.close()

    try:
        catalog.create_namespace("sales")
        for name in ("orders", "refunds", "customers"):
            catalog.register_table("sales", name, [ColumnSpec(name="id", type="int64")])
        executions.append([mat(i, at=1_767_225_600_000 + i) for i in range(3)], fold="off")
        executions.compact()
        same_as_merge_sql()
        catalog.drop_table("sales", "refunds")
        catalog.create_namespace("hr")
        catalog.register_table("hr", "people", [ColumnSpec(name="name", type="string")])
        executions.append([mat(i, at=1_767_225_700_000 + i) for i in range(2, 5)], fold="off")
        executions.compact()
        same_as_merge_sql()
    finally:
        engine.close()
        executions.close()
        catalog.close()
