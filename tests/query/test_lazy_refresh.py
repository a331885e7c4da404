"""QueryEngine: a table is brought up to date only when a statement reads it, so a query's
cost does not grow with a table it does not name (``executions.ingested``, one row per
folded event); a statement that reads it -- by name, through a common table expression, a
subquery, or in a way that cannot be told from its parse tree -- sees every row."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from arco.catalog import Catalog, ColumnSpec
from arco.core.scope import Scope
from arco.errors import ValidationError
from arco.executions import Executions
from arco.query.engine import QueryEngine
from arco.query.views import INFO_VIEW_READS, INFO_VIEWS, check_read_only, views_read
from arco.storage import ScopedStore, open_store
from executions_support import mat

SCOPE = Scope("acme", "main")
BASE = 1_767_225_600_000
INGESTED = ("executions", "ingested")
MATERIALIZATIONS = ("executions", "materializations")


def _count(engine: QueryEngine, store: ScopedStore, sql: str) -> int:
    return int(engine.query(store, SCOPE.prefix, sql).table.column(0)[0].as_py())


def test_a_query_not_naming_ingested_does_not_rebuild_it(tmp_path: Path) -> None:
    root = open_store(f"file://{tmp_path / 'store'}")
    catalog = Catalog(root, SCOPE)
    executions = Executions(root, SCOPE)
    catalog.create_namespace("sales")
    catalog.register_table("sales", "orders", [ColumnSpec(name="id", type="int64")])
    store = ScopedStore(root, SCOPE.prefix)
    engine = QueryEngine()
    mats = "SELECT count(*) FROM executions.materializations"
    ingested = "SELECT count(*) FROM executions.ingested"
    try:
        executions.append([mat(i, at=BASE + i) for i in range(5)], fold="off")
        executions.compact()
        assert _count(engine, store, mats) == 5
        assert _count(engine, store, "SELECT count(*) FROM system.tables") == 1
        refreshed, reads = engine.table_refreshes, engine.file_reads
        events = 5
        for round_ in range(4):
            executions.append(
                [mat(i % 3, at=BASE + 100 * (round_ + 1) + i) for i in range(4)], fold="off"
            )
            executions.compact()
            events += 4
            # materializations is replaced; ingested, not read, is neither decoded nor rebuilt
            assert _count(engine, store, mats) == 5
            assert engine.table_refreshes == refreshed + round_ + 1
            assert engine.file_reads == reads + round_ + 1
            # the catalog's views read nothing of executions
            assert _count(engine, store, "SELECT count(*) FROM system.tables") == 1
            assert engine.table_refreshes == refreshed + round_ + 1
        # a query naming it sees every folded event, at once and after a further write
        assert _count(engine, store, ingested) == events
        assert engine.table_refreshes == refreshed + 5
        executions.append([mat(7, at=BASE + 1_000)], fold="off")
        executions.compact()
        assert _count(engine, store, ingested) == events + 1
        # named in any case, through a CTE, a subquery, a join, or the memory catalog
        for sql in (
            'SELECT count(*) FROM "Executions"."INGESTED"',
            "WITH e AS (SELECT * FROM executions.ingested) SELECT count(*) FROM e",
            "SELECT (SELECT count(*) FROM memory.executions.ingested)",
            "SELECT count(*) FROM executions.materializations m "
            "RIGHT JOIN executions.ingested i ON false",
        ):
            executions.append([mat(8, at=BASE + 2_000 + events)], fold="off")
            executions.compact()
            events += 1
            assert _count(engine, store, sql) == events + 1, sql
        # read in a way the parse tree does not show: every table is brought up to date
        executions.append([mat(9, at=BASE + 5_000)], fold="off")
        executions.compact()
        events += 1
        assert _count(engine, store, "SELECT count(*) FROM query_table('executions.ingested')") == (
            events + 1
        )
    finally:
        engine.close()
        executions.close()
        catalog.close()


def test_a_table_first_read_after_the_database_was_built_holds_the_snapshot(
    tmp_path: Path,
) -> None:
    """The database built for a query holds only what that query reads; a view read
    later is loaded then, at the current snapshot (and an older query's snapshot never
    takes a table back)."""
    root = open_store(f"file://{tmp_path / 'store'}")
    executions = Executions(root, SCOPE)
    store = ScopedStore(root, SCOPE.prefix)
    engine = QueryEngine()
    try:
        executions.append([mat(i, at=BASE + i) for i in range(3)], fold="off")
        executions.compact()
        assert _count(engine, store, "SELECT 42") == 42
        assert engine.database_builds == 1 and engine.file_reads == 0
        assert _count(engine, store, "SELECT count(*) FROM executions.ingested") == 3
        assert _count(engine, store, "SELECT count(*) FROM catalog.tables") == 0
        assert engine.database_builds == 1
    finally:
        engine.close()
        executions.close()


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", frozenset()),
        ("SELECT 'executions.ingested' AS name -- executions.ingested", frozenset()),
        ("SELECT count(*) FROM executions.materializations", {MATERIALIZATIONS}),
        ('SELECT * FROM "EXECUTIONS"."Ingested"', {INGESTED}),
        ("SELECT * FROM memory.executions.ingested", {INGESTED}),
        ("WITH ingested AS (SELECT 1) SELECT * FROM ingested", frozenset()),
        ("SELECT * FROM system.tables", INFO_VIEW_READS),
        ("SELECT * FROM info.namespaces", INFO_VIEW_READS),
        (
            "SELECT (SELECT count(*) FROM executions.ingested) FROM executions.materializations",
            {INGESTED, MATERIALIZATIONS},
        ),
        ("DESCRIBE executions.ingested", {INGESTED}),
        ("SUMMARIZE executions.ingested", {INGESTED}),
        # what cannot be told: every table
        ("SELECT * FROM query_table('executions.ingested')", None),
        ("SELECT * FROM query('SELECT * FROM executions.ingested')", None),
        ("SELECT * FROM duckdb_tables()", None),
        ("SELECT * FROM duckdb_tables", None),
        ("SELECT * FROM information_schema.tables", None),
        ("SELECT * FROM system.main.duckdb_tables", None),
        ("SELECT * FROM no_such_table", None),
        ("SHOW TABLES", None),
        ("PIVOT catalog.tables ON name USING count(*)", None),
    ],
)
def test_views_read(sql: str, expected: frozenset[tuple[str, str]] | None) -> None:
    got = views_read(sql)
    assert got == (None if expected is None else frozenset(expected))
    # the engine takes it from the read-only check's parse of the statement
    with contextlib.suppress(ValidationError):
        assert check_read_only(sql) == got


def test_the_convenience_views_read_only_what_views_read_names() -> None:
    """``system.*`` brings up to date the tables :data:`INFO_VIEW_READS` names: every
    table the views' own SELECTs read."""
    for select in INFO_VIEWS.values():
        read = views_read(select)
        assert read is not None and read <= INFO_VIEW_READS, select
