"""Read-only SQL over the catalog snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from arco.catalog import Catalog
from arco.errors import ValidationError
from arco.query.views import run_query
from arco.storage import LocalFileStore


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    c = Catalog(LocalFileStore(tmp_path / "s"))
    c.create_namespace("sales")
    c.register_table(
        "sales", "orders", [{"name": "id", "type": "int64"}, {"name": "v", "type": "string"}]
    )
    c.register_table("sales", "gone", [{"name": "id", "type": "int64"}])
    c.drop_table("sales", "gone")
    return c


def test_info_tables_joins_names_and_counts_columns(cat: Catalog) -> None:
    result = run_query(
        cat, "SELECT namespace, table_name, column_count FROM info.tables ORDER BY 2"
    ).to_pylist()
    assert result == [{"namespace": "sales", "table_name": "orders", "column_count": 2}]


def test_catalog_views_are_merged(cat: Catalog) -> None:
    names = (
        run_query(cat, "SELECT name FROM catalog.columns ORDER BY position")
        .column("name")
        .to_pylist()
    )
    assert names == ["id", "v"]
    assert run_query(cat, "SELECT count(*) AS n FROM catalog.tables").to_pylist() == [{"n": 1}]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO catalog.tables VALUES (1)",
        "CREATE TABLE x AS SELECT 1",
        "DROP VIEW catalog.tables",
        "COPY (SELECT 1) TO '/tmp/x.csv'",
        "ATTACH '/tmp/x.db'",
        "SET threads = 1",
        "SELECT 1; SELECT 2",
        "PRAGMA version",
        "INSTALL httpfs",
    ],
)
def test_non_read_statements_are_refused(cat: Catalog, sql: str) -> None:
    with pytest.raises(ValidationError, match=r"^sql: "):
        run_query(cat, sql)


def test_file_reading_functions_are_refused(cat: Catalog, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    with pytest.raises(ValidationError):
        run_query(cat, f"SELECT * FROM read_csv('{secret}')")
