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

from arco.catalog import Catalog
from arco.catalog.domain import CATALOG
from arco.core.clock import ManualClock, rfc3339_ms
from arco.domains.registry import VIEWS
from arco.executions import EXECUTIONS
from arco.lineage import LINEAGE
from arco.metadata.manifest import read_manifest
from arco.metadata.parquet import decode, encode
from arco.orchestration.automation import AUTOMATION
from arco.orchestration.runs import RUNS
from arco.query.views import merged_view_sql
from arco.storage import LocalFileStore
from arco.tier2.compactor import Compactor, CompactorOptions
from arco.tier2.envelope import EventEnvelope, ulid_at
from arco.tier2.ledger import EventLedger
from catalog_support import FakeClock, inline_options

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


#: every published table of every domain (tier 1, and the tier-2 executions, runs and
#: automation domains)
ALL_SPECS = {
    **CATALOG.specs,
    **LINEAGE.specs,
    **EXECUTIONS.spec.specs,
    **RUNS.spec.specs,
    **AUTOMATION.spec.specs,
}


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
    for table in (t for (schema, _), (_, t) in VIEWS.items() if schema == "catalog"):
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


# --- the tier-2 executions domain, written by the compactor ---------------------------


def _event(i: int, at: int, **payload: Any) -> EventEnvelope:
    body = {"asset_key": f"sales/t{i % 3}", "run_id": f"run-{i}", "status": "succeeded"}
    body.update(payload)
    return EventEnvelope(
        event_id=ulid_at(at),
        event_type="materialization",
        event_version=1,
        idempotency_key=f"k{i}" if i % 2 else None,
        occurred_at=rfc3339_ms(at),
        source="contracts",
        payload=body,
    )


@pytest.fixture
def compacted(tmp_path: Path) -> tuple[Compactor[Any], Path]:
    """A compactor's state with a checkpoint, deltas, quarantined rows and pruning tombstones."""
    root = tmp_path / "store"
    store = LocalFileStore(root, fsync=False)
    clock = ManualClock()
    start = clock.now_ms()
    options = CompactorOptions(
        checkpoint_every=3, background_checkpoints=False, dedupe_window_ms=1_000
    )
    c: Compactor[Any] = Compactor(store, EXECUTIONS, clock=clock, options=options)
    ledger = EventLedger(store, "executions")
    keys: list[str] = []
    for r in range(7):
        batch = [
            _event(
                r * 4 + j,
                start - 10_000 + r * 100 + j,
                materialization_id=f"00000000-0000-4000-8000-{(r + j) % 5:012d}",
                rows=r * j,
                partition_key="date=d:2026-01-01",
                started_at=rfc3339_ms(start - 20_000),
                completed_at=None if j == 0 else rfc3339_ms(start - 5_000),
            )
            for j in range(3)
        ]
        batch.append(_event(100 + r, start, run_id=""))  # quarantined (empty run_id)
        new = ledger.append(batch)
        keys += new
        c.compact(new)
        clock.advance(10)
    for key in keys[:4]:
        store.delete(key)  # collected by GC
    clock.advance(5_000)
    assert c.anti_entropy().pruned == 4
    return c, root


def test_compactor_files_match_golden_schema_are_deterministic_and_duckdb_reads_them(
    compacted: tuple[Compactor[Any], Path],
) -> None:
    c, root = compacted
    head, state = c.head()
    assert head is not None
    kinds = {(f.table, f.kind) for f in head.manifest.files}
    assert {"checkpoint", "delta"} <= {k for _, k in kinds}
    assert {t for t, _ in kinds} == {"materializations", "ingested"}
    con = duckdb.connect()
    specs = EXECUTIONS.spec.specs
    for entry in head.manifest.files:
        data = (root / entry.path).read_bytes()
        schema = pq.read_schema(pa.BufferReader(data))
        assert describe(schema) == golden(entry.table)["fields"], entry.path
        assert schema.metadata[b"arco.table"] == entry.table.encode()
        rows = decode(specs[entry.table], data, entry.path)
        assert encode(specs[entry.table], rows)[0] == data, entry.path
        assert encode(specs[entry.table], list(reversed(rows)))[0] == data, entry.path
        count = con.execute(
            "SELECT count(*) FROM read_parquet(?)", [str(root / entry.path)]
        ).fetchone()
        assert count is not None and count[0] == entry.rows, entry.path
    assert any(
        deleted
        for entry in head.manifest.files_of("ingested")
        for _, deleted in decode(specs["ingested"], (root / entry.path).read_bytes(), entry.path)
    ), "the workload must leave pruning tombstones in a delta"
    expected: dict[str, set[tuple[Any, ...]]] = {
        "materializations": {
            (r.materialization_id, r.run_id, r.rows, r.event_order, r.version)
            for r in state.materializations.values()
        },
        "ingested": {
            (r.name, r.outcome, r.detail, r.dedupe_key, r.version) for r in state.ingested.values()
        },
    }
    projections = {
        "materializations": "materialization_id, run_id, rows, event_order, version",
        "ingested": "name, outcome, detail, dedupe_key, version",
    }
    for table, projection in projections.items():
        paths = [str(root / f.path) for f in head.manifest.files_of(table)]
        sql = merged_view_sql(table, f"read_parquet({paths!r})", EXECUTIONS.spec)
        rows = con.execute(f"SELECT {projection} FROM ({sql})").fetchall()
        assert set(rows) == expected[table], table
        assert len(rows) == len(expected[table])
    assert len(expected["materializations"]) == 5, {r.detail for r in state.ingested.values()}
    assert sum(1 for r in state.ingested.values() if r.outcome == "quarantined") == 6
    # timestamps are UTC instants that DuckDB sees as such
    paths = [str(root / f.path) for f in head.manifest.files_of("materializations")]
    sql = merged_view_sql("materializations", f"read_parquet({paths!r})", EXECUTIONS.spec)
    got = con.execute(
        f"SELECT min(epoch_ms(started_at)), count(completed_at) FROM ({sql})"
    ).fetchone()
    assert got == (
        ManualClock().now_ms() - 20_000,
        5 - sum(1 for r in state.materializations.values() if r.completed_at is None),
    )
