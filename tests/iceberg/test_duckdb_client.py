"""DuckDB's iceberg extension as a second, independent Iceberg REST client (issue 11).

A live ``arco serve --dev`` on a local ``file://`` store: pyiceberg's ``RestCatalog`` writes a
table; DuckDB (1.5.5 with the iceberg extension, in ``.venv-duckdb-iceberg``: see
``tests/iceberg_clients/duckdb_client.py``) attaches the endpoint as an Iceberg REST catalog,
lists and reads that table, inserts rows (writing the data and manifest files to the table's
location itself) and creates a table of its own; pyiceberg reads DuckDB's rows back. In
production mode DuckDB gets its token by OAuth2 client credentials (``--iceberg-client``).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
)

from serve_support import ServerProcess, serve_process

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "tests" / "iceberg_clients" / "duckdb_client.py"
CLIENT_PYTHON = ROOT / ".venv-duckdb-iceberg" / "bin" / "python"
WAREHOUSE = "acme/main"

pytestmark = pytest.mark.skipif(
    not CLIENT_PYTHON.exists(),
    reason=f"DuckDB's iceberg client is not installed in {CLIENT_PYTHON.parent.parent} "
    "(./dev test installs it from requirements/duckdb-iceberg.txt)",
)

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "name", StringType(), required=False),
    NestedField(3, "amount", DecimalType(12, 2), required=False),
    NestedField(4, "ratio", DoubleType(), required=False),
    NestedField(5, "day", DateType(), required=False),
    NestedField(6, "at", TimestampType(), required=False),
    NestedField(7, "ok", BooleanType(), required=False),
)
COLUMNS = [field.name for field in SCHEMA.fields]


def row(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "name": f"n{i}" if i % 5 else None,
        "amount": Decimal(f"{i * 3}.{i % 100:02d}"),
        "ratio": i / 8,
        "day": dt.date(2026, 1, 1) + dt.timedelta(days=i),
        "at": dt.datetime(2026, 1, 1, 12, 0) + dt.timedelta(minutes=i),
        "ok": i % 2 == 0,
    }


def arrow_rows(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA.as_arrow())


def sql_row(r: dict[str, Any]) -> str:
    """One row as a DuckDB VALUES tuple, typed as the Iceberg columns are."""
    name = "NULL" if r["name"] is None else f"'{r['name']}'"
    return (
        f"({r['id']}, {name}, {r['amount']}::DECIMAL(12, 2), {r['ratio']!r}::DOUBLE, "
        f"DATE '{r['day']}', TIMESTAMP '{r['at']}', {str(r['ok']).lower()})"
    )


def as_json(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Rows as the client prints them: JSON values, ``str`` of every other value."""
    return json.loads(json.dumps([[r[c] for c in COLUMNS] for r in rows], default=str))


def run_client(server: ServerProcess, statements: list[str], **options: str) -> dict[str, Any]:
    """The client's output for ``statements`` in DuckDB attached to the server's Iceberg
    endpoint as ``arco`` (``options``: its authorization, e.g. ``client_id``)."""
    command = {
        "endpoint": f"{server.url}/iceberg",
        "warehouse": WAREHOUSE,
        # Arco vends no storage credentials: DuckDB uses the local file system itself
        "attach_options": {"ACCESS_DELEGATION_MODE": "none"},
        "statements": statements,
        **options,
    }
    done = subprocess.run(
        [str(CLIENT_PYTHON), str(CLIENT)],
        input=json.dumps(command),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout, f"the DuckDB client printed nothing: {done.stderr}"
    out: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == (1 if "error" in out else 0), done.stderr
    assert out["duckdb"].startswith("1.5.")
    return out


def duckdb(server: ServerProcess, *statements: str, **options: str) -> list[dict[str, Any]]:
    """The results of ``statements`` (each must succeed)."""
    out = run_client(server, list(statements), **options)
    assert "error" not in out, f"DuckDB failed: {out['error']}"
    results: list[dict[str, Any]] = out["results"]
    return results


def arco_row(server: ServerProcess, ns: str, name: str, snapshot_id: int) -> dict[str, Any]:
    """Arco's own catalog row of an Iceberg table, once it names ``snapshot_id`` (the
    projection follows the pointer in the background)."""
    deadline = time.monotonic() + 15
    while True:
        r = httpx.get(
            f"{server.url}/api/v1/namespaces/{ns}/tables/{name}",
            headers={"X-Tenant-Id": "acme", "X-Workspace-Id": "main"},
        )
        body: dict[str, Any] = r.json()
        props = body.get("properties", {})
        if r.status_code == 200 and props.get("iceberg.current-snapshot-id") == str(snapshot_id):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def rest_catalog(server: ServerProcess) -> Catalog:
    return load_catalog("arco", type="rest", uri=f"{server.url}/iceberg", warehouse=WAREHOUSE)


def test_duckdb_reads_pyiceberg_tables_and_writes_rows_pyiceberg_reads(tmp_path: Path) -> None:
    with serve_process(f"file://{tmp_path / 'store'}", tmp_path / "serve.log") as server:
        catalog = rest_catalog(server)
        catalog.create_namespace("sales")
        table = catalog.create_table("sales.orders", SCHEMA)
        first = [row(i) for i in range(1, 6)]
        second = [row(i) for i in range(6, 9)]
        table.append(arrow_rows(first))
        table.append(arrow_rows(second))
        catalog.create_table("sales.empty", SCHEMA)

        # DuckDB lists what pyiceberg created and reads every row it wrote
        listed, read, described = duckdb(
            server,
            "SELECT schema, name FROM (SHOW ALL TABLES) WHERE database = 'arco' ORDER BY name",
            "SELECT * FROM arco.sales.orders ORDER BY id",
            "SELECT column_name FROM (DESCRIBE arco.sales.orders)",
        )
        assert listed["rows"] == [["sales", "empty"], ["sales", "orders"]]
        assert read["columns"] == COLUMNS
        assert read["rows"] == as_json(first + second)
        assert [r[0] for r in described["rows"]] == COLUMNS

        # DuckDB appends rows (its own data files under the table's location) ...
        third = [row(i) for i in range(9, 13)]
        inserted, after, empty = duckdb(
            server,
            f"INSERT INTO arco.sales.orders VALUES {', '.join(sql_row(r) for r in third)}",
            "SELECT count(*), sum(id) FROM arco.sales.orders",
            "SELECT count(*) FROM arco.sales.empty",
        )
        assert inserted["rows"] == [[len(third)]]
        assert after["rows"] == [[12, sum(range(1, 13))]]
        assert empty["rows"] == [[0]]

        # ... and pyiceberg reads them back: DuckDB's commit is a snapshot on top of its two
        table = catalog.load_table("sales.orders")
        got = sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"])
        assert got == first + second + third
        snapshots = table.snapshots()
        assert len(snapshots) == 3
        current = table.current_snapshot()
        assert current is not None
        assert current.parent_snapshot_id == snapshots[1].snapshot_id
        location = table.metadata.location
        assert location.startswith(f"file://{tmp_path / 'store'}")
        files = table.inspect.files().column("file_path").to_pylist()
        assert len(files) == 3
        assert all(f.startswith(f"{location}/") for f in files)
        assert all(Path(f.removeprefix("file://")).is_file() for f in files)


def test_duckdb_creates_a_table_pyiceberg_reads(tmp_path: Path) -> None:
    with serve_process(f"file://{tmp_path / 'store'}", tmp_path / "serve.log") as server:
        # DuckDB creates the namespace and the table (stage-create, then a commit asserting
        # create) and fills it
        duckdb(
            server,
            "CREATE SCHEMA arco.ducks",
            "CREATE TABLE arco.ducks.birds (id BIGINT, name VARCHAR)",
            "INSERT INTO arco.ducks.birds VALUES (1, 'mallard'), (2, 'teal'), (3, NULL)",
        )
        catalog = rest_catalog(server)
        assert catalog.list_tables("ducks") == [("ducks", "birds")]
        table = catalog.load_table("ducks.birds")
        # one catalog: Arco's API shows DuckDB's table and its snapshot
        snapshot = table.current_snapshot()
        assert snapshot is not None
        row = arco_row(server, "ducks", "birds", snapshot.snapshot_id)
        assert row["format"] == "iceberg"
        assert [c["name"] for c in row["columns"]] == ["id", "name"]
        got = sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"])
        assert got == [
            {"id": 1, "name": "mallard"},
            {"id": 2, "name": "teal"},
            {"id": 3, "name": None},
        ]
        # pyiceberg appends; DuckDB sees both commits
        table.append(
            pa.Table.from_pylist([{"id": 4, "name": "eider"}], schema=table.schema().as_arrow())
        )
        (read,) = duckdb(server, "SELECT id, name FROM arco.ducks.birds ORDER BY id")
        assert read["rows"] == [[1, "mallard"], [2, "teal"], [3, None], [4, "eider"]]


def test_duckdb_with_oauth2_client_credentials_in_production_mode(tmp_path: Path) -> None:
    secret = "client-secret-0123456789"
    with serve_process(
        f"file://{tmp_path / 'store'}",
        tmp_path / "serve.log",
        "--jwt-secret",
        "j" * 40,
        "--signing-key",
        "k" * 40,
        "--iceberg-client",
        f"etl:{secret}:{WAREHOUSE}",
        dev=False,
    ) as server:
        # DuckDB asks ENDPOINT/v1/oauth/tokens for a token (client credentials)
        wrong = run_client(server, [], client_id="etl", client_secret="wrong-secret")
        assert wrong["error"]["statement"] is None  # the ATTACH failed
        assert "invalid_client" in wrong["error"]["message"], wrong["error"]
        credentials = {"client_id": "etl", "client_secret": secret}
        duckdb(
            server,
            "CREATE SCHEMA arco.s",
            "CREATE TABLE arco.s.t (id BIGINT)",
            "INSERT INTO arco.s.t VALUES (1), (2)",
            **credentials,
        )
        catalog = load_catalog(
            "arco",
            type="rest",
            uri=f"{server.url}/iceberg",
            warehouse=WAREHOUSE,
            credential=f"etl:{secret}",
            **{"oauth2-server-uri": f"{server.url}/iceberg/v1/oauth/tokens"},
        )
        table = catalog.load_table("s.t")
        table.append(pa.Table.from_pylist([{"id": 3}], schema=table.schema().as_arrow()))
        (read,) = duckdb(server, "SELECT id FROM arco.s.t ORDER BY id", **credentials)
        assert read["rows"] == [[1], [2], [3]]
