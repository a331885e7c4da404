"""pyiceberg's own Table and Transaction machinery over the service, on a local store:
appends with real data files, schema evolution, a staged create, time travel, a concurrent
append retried by pyiceberg itself."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.types import IntegerType, LongType

from arco.iceberg import IcebergTables, TableIdent
from arco.storage import LocalFileStore
from iceberg_support import ARROW_SCHEMA, PyIcebergCatalog, rows, service


@pytest.fixture
def tables(tmp_path: Path) -> IcebergTables:
    svc = service(LocalFileStore(tmp_path / "store", fsync=False))
    svc.namespaces.create(["db"])
    return svc


@pytest.fixture
def catalog(tables: IcebergTables) -> PyIcebergCatalog:
    return PyIcebergCatalog(tables)


def test_append_read_evolve(catalog: PyIcebergCatalog, tables: IcebergTables) -> None:
    table = catalog.create_table("db.events", ARROW_SCHEMA)
    table.append(rows(3))
    table.append(rows(2, start=3))
    reloaded = catalog.load_table("db.events")
    assert sorted(reloaded.scan().to_arrow()["id"].to_pylist()) == [0, 1, 2, 3, 4]
    snapshots = reloaded.snapshots()
    assert len(snapshots) == 2
    first = reloaded.scan(snapshot_id=snapshots[0].snapshot_id).to_arrow()
    assert sorted(first["id"].to_pylist()) == [0, 1, 2]  # time travel

    with reloaded.update_schema() as update:
        update.add_column("score", IntegerType())
        update.rename_column("name", "label")
    with reloaded.update_schema() as update:
        update.update_column("score", LongType())  # widen
    evolved = catalog.load_table("db.events")
    assert [f.name for f in evolved.schema().fields] == ["id", "label", "score"]
    evolved.append(
        pa.table(
            {"id": [9], "label": ["x"], "score": [7]},
            schema=pa.schema(
                [
                    pa.field("id", pa.int64(), nullable=False),
                    ("label", pa.string()),
                    ("score", pa.int64()),
                ]
            ),
        )
    )
    data = catalog.load_table("db.events").scan().to_arrow()
    assert sorted(data["id"].to_pylist()) == [0, 1, 2, 3, 4, 9]
    assert sorted(v for v in data["score"].to_pylist() if v is not None) == [7]

    row = tables.catalog.get_table("db", "events")
    assert [(c.name, c.type) for c in row.columns] == [
        ("id", "int64"),
        ("label", "string"),
        ("score", "int64"),
    ]
    assert row.properties["iceberg.current-snapshot-id"] == str(
        catalog.load_table("db.events").metadata.current_snapshot_id
    )


def test_overwrite_and_delete(catalog: PyIcebergCatalog) -> None:
    table = catalog.create_table("db.t", ARROW_SCHEMA)
    table.append(rows(5))
    table.overwrite(rows(2, start=100))
    assert sorted(catalog.load_table("db.t").scan().to_arrow()["id"].to_pylist()) == [100, 101]
    table = catalog.load_table("db.t")
    table.delete("id = 100")
    assert catalog.load_table("db.t").scan().to_arrow()["id"].to_pylist() == [101]


def test_staged_create_transaction(catalog: PyIcebergCatalog, tables: IcebergTables) -> None:
    with catalog.create_table_transaction("db.staged", ARROW_SCHEMA) as txn:
        txn.append(rows(4))
    table = catalog.load_table("db.staged")
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == [0, 1, 2, 3]
    assert tables.table_exists(TableIdent(("db",), "staged"))


def test_a_stale_append_is_retried_by_pyiceberg(catalog: PyIcebergCatalog) -> None:
    """Two clients hold the same table version; both appends land (the second one fails its
    assert-ref-snapshot-id once, pyiceberg refreshes and commits again), none twice."""
    catalog.create_table("db.c", ARROW_SCHEMA)
    first = catalog.load_table("db.c")
    second = catalog.load_table("db.c")
    first.append(rows(2))
    second.append(rows(3, start=10))
    ids = sorted(catalog.load_table("db.c").scan().to_arrow()["id"].to_pylist())
    assert ids == [0, 1, 10, 11, 12]


def test_commit_failed_reaches_the_client(catalog: PyIcebergCatalog) -> None:
    catalog.create_table("db.f", ARROW_SCHEMA)
    stale = catalog.load_table("db.f")
    catalog.load_table("db.f").update_schema().add_column("x", IntegerType()).commit()
    with pytest.raises(CommitFailedException, match="assert-current-schema-id"):
        stale.update_schema().add_column("y", IntegerType()).commit()
