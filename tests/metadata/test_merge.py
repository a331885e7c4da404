"""Compaction: small deltas are merged, big ones folded into a checkpoint; reads never change."""

from __future__ import annotations

from typing import Any

import pytest

from arco.catalog import Catalog
from arco.maintenance.verify import verify_scope
from arco.metadata import merge as compaction
from arco.metadata.commit_log import chain as commit_chain
from arco.metadata.manifest import FileEntry, Manifest, read_manifest
from arco.metadata.publish import DEFAULT_MIN_AGE_S
from arco.query.views import run_query
from arco.storage import ObjectStore
from catalog_support import FakeClock, inline_options


def kinds(cat: Catalog) -> list[str]:
    return [record.kind for record in commit_chain(cat.store, "catalog")]


def snapshot(cat: Catalog) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        ns.name: {
            t.name: t.model_dump(mode="json") for t in cat.list_tables(ns.name, limit=1000).items
        }
        for ns in cat.list_namespaces(limit=1000).items
    }


def test_small_changes_are_merged_and_reads_are_unchanged(root_store: ObjectStore) -> None:
    cat = Catalog(root_store, options=inline_options(checkpoint_every=4))
    cat.create_namespace("big")
    cols = [{"name": f"c{i}", "type": "int64"} for i in range(6)]
    for i in range(40):
        cat.register_table("big", f"t{i:02d}", cols)
    assert "checkpoint" in kinds(cat)
    # from now on the deltas are small next to the checkpoint: they get merged
    for i in range(12):
        cat.update_table("big", f"t{i:02d}", description=f"d{i}")
    cat.drop_table("big", "t03")
    cat.rename_table("big", "t04", "renamed")
    for i in range(8):
        cat.update_table("big", "t05", set_properties={"n": str(i)})
    history = kinds(cat)
    assert "merge" in history
    last_checkpoint = max(i for i, k in enumerate(history) if k == "checkpoint")
    assert "merge" in history[last_checkpoint:]
    head = read_manifest(cat.store, "catalog")
    assert head is not None
    ranges = head.manifest.delta_ranges()
    # checkpoint_every new ranges plus a few geometric tiers of merged ones
    assert len(ranges) <= 4 + 4
    assert any(lo < hi for lo, hi in ranges), "a merged delta spans several versions"

    expected = snapshot(cat)
    assert "t03" not in expected["big"] and "renamed" in expected["big"]
    assert expected["big"]["t05"]["properties"] == {"n": "7"}
    cold = Catalog(root_store)
    assert snapshot(cold) == expected
    assert verify_scope(cat.store).ok
    counts = run_query(cat, "SELECT count(*) AS n FROM catalog.tables").to_pylist()
    assert counts == [{"n": 39}]
    described = run_query(
        cat, "SELECT count(*) AS n FROM catalog.tables WHERE description LIKE 'd%'"
    ).to_pylist()
    assert described == [{"n": 11}]  # 12 described, t03 dropped, t04 renamed (keeps it)


def test_big_changes_fold_into_a_new_checkpoint(root_store: ObjectStore) -> None:
    cat = Catalog(root_store, options=inline_options(checkpoint_every=4))
    cat.create_namespace("n")
    for i in range(12):
        cat.register_table("n", f"t{i}", [{"name": "x", "type": "string"}])
    history = kinds(cat)
    # every compaction of a small, fast-growing catalog rewrites the checkpoint
    assert history.count("checkpoint") >= 2
    assert "merge" not in history
    head = read_manifest(cat.store, "catalog")
    assert head is not None and head.manifest.checkpoint_version > 0
    assert snapshot(Catalog(root_store)) == snapshot(cat)


def _entry(table: str, lo: int, hi: int, rows: int, kind: str = "delta") -> FileEntry:
    return FileEntry(
        path=f"snapshots/catalog/x-{lo}-{hi}/{kind}-{table}.parquet",
        table=table,
        kind=kind,  # type: ignore[arg-type]
        version=hi,
        from_version=lo,
        sha256="0" * 64,
        bytes=1,
        rows=rows,
    )


def test_newest_run_takes_small_recent_ranges_and_stops_at_a_much_bigger_one() -> None:
    big = _entry("tables", 1, 40, 500)
    medium = _entry("tables", 41, 60, 30)
    recent = [_entry("tables", v, v, 2) for v in range(61, 71)]
    run = compaction.newest_run([big, medium, *recent])
    # 10 recent ranges hold 20 rows; the 30-row range is at most twice that, the 500 is not
    assert set(run) == {medium, *recent}


def test_plan_merges_small_deltas_and_checkpoints_big_ones() -> None:
    checkpoint = [_entry(t, 0, 10, 800, "checkpoint") for t in ("namespaces", "tables")]
    small = [_entry("tables", v, v, 3) for v in range(11, 15)]
    manifest_small = Manifest(
        domain="catalog",
        snapshot_version=14,
        checkpoint_version=10,
        files=(*checkpoint, *small),
        watermark=None,
        fencing_token=1,
        commit_id="01ARZ3NDEKTSV4RRFFQ69G5FAV",
        parent_hash=None,
        updated_at="2026-01-01T00:00:00.000Z",
    )
    todo = compaction.plan(manifest_small)
    assert todo is not None and todo.kind == "merge"
    assert (todo.first, todo.last) == (11, 14) and set(todo.replaced) == set(small)
    big = [_entry("tables", v, v, 60) for v in range(11, 15)]  # 240 * 8 >= 1600
    manifest_big = manifest_small.model_copy(update={"files": (*checkpoint, *big)})
    todo = compaction.plan(manifest_big)
    assert todo is not None and todo.kind == "checkpoint"
    assert set(todo.replaced) == set(manifest_big.files) and todo.last == 14
    only_checkpoint = manifest_small.model_copy(update={"files": tuple(checkpoint)})
    assert compaction.plan(only_checkpoint) is None


def test_stalled_compaction_output_is_abandoned(
    root_store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    cat = Catalog(root_store, options=inline_options(checkpoint_every=1000), clock=clock)
    cat.create_namespace("n")
    for i in range(5):
        cat.register_table("n", f"t{i}", [{"name": "x", "type": "string"}])
    before = read_manifest(cat.store, "catalog")
    real_write = compaction.write

    def slow_write(*args: object, **kwargs: object) -> list[FileEntry]:
        files = real_write(*args, **kwargs)  # type: ignore[arg-type]
        clock.advance(DEFAULT_MIN_AGE_S * 1000)  # GC may already have collected these
        return files

    monkeypatch.setattr(compaction, "write", slow_write)
    assert cat.writer.checkpoint() is False
    after = read_manifest(cat.store, "catalog")
    assert before is not None and after is not None and after.raw == before.raw
    monkeypatch.setattr(compaction, "write", real_write)
    assert cat.writer.checkpoint() is True
