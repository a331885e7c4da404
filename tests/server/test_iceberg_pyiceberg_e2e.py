"""pyiceberg's RestCatalog against a live ``arco serve`` (issue 11): the engine's own client,
its own data files (PyArrowFileIO on the table location under the store), and every table
operation a data engineer does — appends, overwrite, row deletes, schema and partition
evolution, time travel over every snapshot, branches and tags, rename and drop with purge —
read back equal to what was written; the table is one of Arco's catalog tables, and a
rename through Arco's API is seen by pyiceberg."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import NoSuchTableError, OAuthError
from pyiceberg.table import Table
from pyiceberg.types import LongType
from pyiceberg.view.metadata import ViewVersion

from serve_support import ServerProcess, serve_process

DEV_HEADERS = {"X-Tenant-Id": "acme", "X-Workspace-Id": "main"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with serve_process(f"file://{tmp_path / 'store'}", tmp_path / "server.log") as srv:
        yield srv


def rest_catalog(url: str, **extra: str) -> Catalog:
    return load_catalog("arco", type="rest", uri=f"{url}/iceberg", warehouse="acme/main", **extra)


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: r["id"])


def ids_at(t: Table, snapshot_id: int) -> list[int]:
    return sorted(t.scan(snapshot_id=snapshot_id).to_arrow().column("id").to_pylist())


def arco_table(url: str, ns: str, name: str, metadata_location: str) -> dict[str, Any]:
    """The Arco catalog's row of the table, once it shows ``metadata_location`` (the
    projection follows the pointer in the background)."""
    deadline = time.monotonic() + 15
    while True:
        r = httpx.get(f"{url}/api/v1/namespaces/{ns}/tables/{name}", headers=DEV_HEADERS)
        body: dict[str, Any] = r.json()
        if (
            r.status_code == 200
            and body["properties"].get("iceberg.metadata-location") == metadata_location
        ):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def test_pyiceberg_end_to_end(server: ServerProcess) -> None:
    cat = rest_catalog(server.url)
    cat.create_namespace("sales", {"owner": "analytics"})
    assert cat.list_namespaces() == [("sales",)]
    assert cat.load_namespace_properties("sales") == {"owner": "analytics"}
    schema = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("name", pa.string()),
            pa.field("amount", pa.int32()),
        ]
    )
    t = cat.create_table("sales.orders", schema=schema)
    first = pa.table({"id": [1, 2], "name": ["a", "b"], "amount": [10, 20]}, schema=schema)
    second = pa.table({"id": [3, 4], "name": ["c", "d"], "amount": [30, 40]}, schema=schema)
    replaced = pa.table(
        {"id": [5, 6, 7], "name": ["e", "f", "g"], "amount": [5, 6, 7]}, schema=schema
    )
    #: the rows (ids) each operation's snapshot must read back
    expected: dict[int, list[int]] = {}

    def written(ids: list[int]) -> None:
        snap = t.current_snapshot()
        assert snap is not None
        expected[snap.snapshot_id] = ids

    t.append(first)
    written([1, 2])
    t.append(second)
    written([1, 2, 3, 4])
    assert rows(cat.load_table("sales.orders").scan().to_arrow()) == rows(
        pa.concat_tables([first, second])
    )
    t.overwrite(replaced)
    written([5, 6, 7])
    t.delete("id = 6")
    written([5, 7])
    t = cat.load_table("sales.orders")
    assert rows(t.scan().to_arrow()) == rows(replaced.filter(pa.compute.field("id") != 6))

    # schema evolution: add, rename, widen, drop
    with t.update_schema() as update:
        update.add_column("note", LongType())
        update.rename_column("name", "customer")
        update.update_column("amount", field_type=LongType())
    with t.update_schema() as update:
        update.delete_column("note")
    evolved = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("customer", pa.string()),
            pa.field("amount", pa.int64()),
        ]
    )
    third = pa.table({"id": [8], "customer": ["h"], "amount": [2**40]}, schema=evolved)
    t.append(third)
    written([5, 7, 8])

    # partition evolution
    with t.update_spec() as spec:
        spec.add_identity("customer")
    fourth = pa.table({"id": [9, 10], "customer": ["i", "i"], "amount": [1, 2]}, schema=evolved)
    t.append(fourth)
    written([5, 7, 8, 9, 10])

    t = cat.load_table("sales.orders")
    assert len(t.spec().fields) == 1
    now = rows(t.scan().to_arrow())
    assert now == rows(
        pa.concat_tables(
            [
                pa.table({"id": [5, 7], "customer": ["e", "g"], "amount": [5, 7]}, schema=evolved),
                third,
                fourth,
            ]
        )
    )
    # time travel: every snapshot reads back as it was written
    # (an overwrite is two snapshots: the delete, then the append)
    history = [entry.snapshot_id for entry in t.history()]
    assert len(history) == 7 and set(expected) <= set(history)
    assert {s: ids_at(t, s) for s in expected} == expected
    assert [ids_at(t, s) for s in history if s not in expected] == [[]]

    # branch and tag
    t.manage_snapshots().create_tag(history[1], "v2").create_branch(history[3], "replaced").commit()
    t = cat.load_table("sales.orders")
    tag, branch = t.snapshot_by_name("v2"), t.snapshot_by_name("replaced")
    assert tag is not None and branch is not None
    assert ids_at(t, tag.snapshot_id) == [1, 2, 3, 4]
    assert ids_at(t, branch.snapshot_id) == [5, 6, 7]
    assert set(t.metadata.refs) == {"main", "v2", "replaced"}

    # one catalog: Arco's API sees the table with its current columns
    row = arco_table(server.url, "sales", "orders", t.metadata_location)
    assert [c["name"] for c in row["columns"]] == ["id", "customer", "amount"]
    assert row["format"] == "iceberg"
    assert row["location"] == t.metadata.location
    assert row["properties"]["iceberg.current-snapshot-id"] == str(history[-1])

    # a rename through Arco's API is seen by pyiceberg, and back through pyiceberg
    r = httpx.patch(
        f"{server.url}/api/v1/namespaces/sales/tables/orders",
        json={"new_name": "orders_v2"},
        headers=DEV_HEADERS,
    )
    assert r.status_code == 200, r.text
    assert cat.list_tables("sales") == [("sales", "orders_v2")]
    assert rows(cat.load_table("sales.orders_v2").scan().to_arrow()) == now
    cat.create_namespace("archive")
    cat.rename_table("sales.orders_v2", "archive.orders")
    with pytest.raises(NoSuchTableError):
        cat.load_table("sales.orders_v2")
    t = cat.load_table("archive.orders")
    assert rows(t.scan().to_arrow()) == now

    # views: pyiceberg's create, list, load, exists, drop
    version = ViewVersion.model_validate(
        {
            "version-id": 1,
            "schema-id": 0,
            "timestamp-ms": 1_700_000_000_000,
            "summary": {"engine-name": "pyiceberg"},
            "representations": [
                {"type": "sql", "sql": "SELECT id FROM archive.orders", "dialect": "spark"}
            ],
            "default-namespace": ["archive"],
        }
    )
    view_schema = pa.schema([pa.field("id", pa.int64(), nullable=False)])
    cat.create_view("archive.ids", view_schema, version)
    assert cat.list_views("archive") == [("archive", "ids")]
    assert cat.view_exists("archive.ids")
    loaded = cat.load_view("archive.ids")
    assert (
        loaded.metadata.versions[0].representations[0].root.sql == "SELECT id FROM archive.orders"
    )
    cat.drop_view("archive.ids")
    assert not cat.view_exists("archive.ids")

    # drop with purge: data and metadata files are gone
    location = Path(t.metadata.location.removeprefix("file://"))
    assert any(location.rglob("*.parquet"))
    cat.purge_table("archive.orders")
    assert not cat.table_exists("archive.orders")
    assert not any(p.is_file() for p in location.rglob("*")) if location.exists() else True
    cat.drop_namespace("sales")
    assert cat.list_namespaces() == [("archive",)]


def test_pyiceberg_with_a_credential_in_production_mode(tmp_path: Path) -> None:
    secret = "client-secret-0123456789"
    with serve_process(
        f"file://{tmp_path / 'store'}",
        tmp_path / "server.log",
        "--jwt-secret",
        "j" * 40,
        "--signing-key",
        "k" * 40,
        "--iceberg-client",
        f"etl:{secret}:acme/main",
        dev=False,
    ) as srv:
        with pytest.raises(OAuthError):
            rest_catalog(
                srv.url,
                credential="etl:wrong-secret",
                **{"oauth2-server-uri": f"{srv.url}/iceberg/v1/oauth/tokens"},
            )
        cat = rest_catalog(
            srv.url,
            credential=f"etl:{secret}",
            **{"oauth2-server-uri": f"{srv.url}/iceberg/v1/oauth/tokens"},
        )
        assert cat.properties["prefix"] == "acme.main"
        cat.create_namespace("s")
        schema = pa.schema([pa.field("id", pa.int64(), nullable=False)])
        t = cat.create_table("s.t", schema=schema)
        data = pa.table({"id": [1, 2, 3]}, schema=schema)
        t.append(data)
        assert cat.load_table("s.t").scan().to_arrow().sort_by("id") == data
        # without a token nothing is served
        assert httpx.get(f"{srv.url}/iceberg/v1/acme.main/namespaces").status_code == 401
