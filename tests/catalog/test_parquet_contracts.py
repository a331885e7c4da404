"""Parquet contracts: golden schemas, the evolution rule, deterministic bytes, DuckDB reads."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from catalog_support import FakeClock, inline_options

from arco.catalog import Catalog
from arco.catalog.domain import CATALOG
from arco.lineage import LINEAGE
from arco.manifest import read_manifest
from arco.parquet import decode, encode
from arco.query import PUBLIC_TABLES, merged_view_sql
from arco.storage import LocalFileStore

GOLDEN = Path(__file__).parent.parent / "fixtures" / "schemas"


def golden(table: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{table}.json").read_text())


def type_name(t: pa.DataType) -> str:
    # Parquet names a map's entry group after the column; the logical type is what we publish
    if pa.types.is_map(t):
        return f"map<{t.key_type}, {t.item_type}>"
    return str(t)


def describe(schema: pa.Schema) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": type_name(f.type), "nullable": f.nullable} for f in schema]


def evolution_violations(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    """Spec §7: existing columns keep their type and never become non-nullable; new ones are nullable."""
    problems = []
    current = {f["name"]: f for f in new}
    for f in old:
        cur = current.get(f["name"])
        if cur is None:
            problems.append(f"{f['name']}: removed")
        elif cur["type"] != f["type"]:
            problems.append(f"{f['name']}: type {f['type']} -> {cur['type']}")
        elif f["nullable"] and not cur["nullable"]:
            problems.append(f"{f['name']}: became non-nullable")
    known = {f["name"] for f in old}
    problems += [
        f"{f['name']}: new column must be nullable"
        for f in new
        if f["name"] not in known and not f["nullable"]
    ]
    return problems


#: every published table of every tier-1 domain
ALL_SPECS = {**CATALOG.specs, **LINEAGE.specs}


@pytest.mark.parametrize("table", sorted(ALL_SPECS))
def test_writer_schema_equals_golden(table: str) -> None:
    spec = ALL_SPECS[table]
    doc = golden(table)
    assert doc["primary_key"] == spec.primary_key
    assert doc["schema_version"] == spec.schema_version
    assert describe(spec.schema) == doc["fields"]


@pytest.mark.parametrize("table", sorted(ALL_SPECS))
def test_writer_schema_obeys_evolution_rule(table: str) -> None:
    assert evolution_violations(golden(table)["fields"], describe(ALL_SPECS[table].schema)) == []


def test_evolution_rule_catches_violations() -> None:
    old = [
        {"name": "a", "type": "string", "nullable": True},
        {"name": "b", "type": "int64", "nullable": False},
    ]
    assert evolution_violations(old, old) == []
    assert evolution_violations(old, [*old, {"name": "c", "type": "int64", "nullable": True}]) == []
    assert evolution_violations(old, [old[0]]) == ["b: removed"]
    retyped = [old[0], {"name": "b", "type": "int32", "nullable": False}]
    assert evolution_violations(old, retyped) == ["b: type int64 -> int32"]
    stricter = [{"name": "a", "type": "string", "nullable": False}, old[1]]
    assert evolution_violations(old, stricter) == ["a: became non-nullable"]
    required_new = [*old, {"name": "c", "type": "int64", "nullable": False}]
    assert evolution_violations(old, required_new) == ["c: new column must be nullable"]


def _workload(cat: Catalog, rng: random.Random) -> None:
    cat.create_namespace("sales", description="Sales", properties={"owner": "ops"})
    cat.create_namespace("売上")
    for i in range(12):
        ns = "sales" if i % 2 else "売上"
        cat.register_table(
            ns,
            f"t{i}",
            [
                {"name": "id", "type": "int64", "nullable": False},
                {"name": "v", "type": "decimal128(12, 2)"},
            ],
            description=f"table {i}",
        )
    cat.update_table("sales", "t1", add_columns=[{"name": "ts", "type": "timestamp[us, tz=UTC]"}])
    cat.update_table("sales", "t3", rename_columns={"v": "value"}, drop_columns=["id"])
    cat.rename_table("sales", "t5", "t5_moved", new_namespace="売上")
    cat.drop_table("売上", "t0")
    cat.create_namespace("empty")
    cat.drop_namespace("empty")
    cat.update_namespace("sales", set_properties={"tier": "gold"}, idempotency_key="k-1")
    for i in rng.sample(range(12), 3):
        if i not in (0, 5):
            ns = "sales" if i % 2 else "売上"
            cat.update_table(ns, f"t{i}", description=f"changed {i}")


@pytest.fixture
def published(tmp_path: Path) -> tuple[Catalog, Path]:
    root = tmp_path / "store"
    cat = Catalog(
        LocalFileStore(root), options=inline_options(checkpoint_every=8), clock=FakeClock()
    )
    _workload(cat, random.Random(7))
    return cat, root / cat.scope.prefix


def test_published_files_match_golden_schema_and_are_deterministic(
    published: tuple[Catalog, Path],
) -> None:
    cat, base = published
    head = read_manifest(cat.store, "catalog")
    assert head is not None
    kinds = {f.kind for f in head.manifest.files}
    assert kinds == {"checkpoint", "delta"}, "the workload must exercise both file kinds"
    for entry in head.manifest.files:
        data = (base / entry.path).read_bytes()
        schema = pq.read_schema(pa.BufferReader(data))
        assert describe(schema) == golden(entry.table)["fields"], entry.path
        assert schema.metadata[b"arco.table"] == entry.table.encode()
        rows = decode(CATALOG.specs[entry.table], data, entry.path)
        # same rows -> same bytes, whatever order they come in
        assert encode(CATALOG.specs[entry.table], rows)[0] == data, entry.path
        assert encode(CATALOG.specs[entry.table], list(reversed(rows)))[0] == data, entry.path


def test_duckdb_reads_every_published_file_and_sees_the_catalog_rows(
    published: tuple[Catalog, Path],
) -> None:
    cat, base = published
    head = read_manifest(cat.store, "catalog")
    assert head is not None
    con = duckdb.connect()
    for entry in head.manifest.files:
        count = con.execute(
            "SELECT count(*) FROM read_parquet(?)", [str(base / entry.path)]
        ).fetchone()
        assert count is not None and count[0] == entry.rows, entry.path
    state = cat.reader.state()
    expected: dict[str, set[tuple[Any, ...]]] = {
        "namespaces": {
            (r.namespace_id, r.name, r.description, r.version) for r in state.namespaces.values()
        },
        "tables": {
            (r.table_id, r.namespace_id, r.name, r.description, r.version)
            for r in state.tables.values()
        },
        "columns": {
            (r.column_id, r.table_id, r.position, r.name, r.type, r.nullable)
            for r in state.columns.values()
        },
    }
    projections = {
        "namespaces": "namespace_id, name, description, version",
        "tables": "table_id, namespace_id, name, description, version",
        "columns": "column_id, table_id, position, name, type, nullable",
    }
    for table in PUBLIC_TABLES:
        paths = [str(base / f.path) for f in head.manifest.files_of(table)]
        source = f"read_parquet({paths!r})"
        rows = con.execute(
            f"SELECT {projections[table]} FROM ({merged_view_sql(table, source)})"
        ).fetchall()
        assert set(rows) == expected[table], table
        assert len(rows) == len(expected[table])
    # spot-check content the workload produced
    names = {r[2] for r in expected["tables"]}
    assert "t0" not in names and "t5_moved" in names and "t5" not in names
