"""Compaction: small deltas are merged, big ones folded into a checkpoint; reads never change."""

from __future__ import annotations

from catalog_support import inline_options

from arco.catalog import Catalog
from arco.commit_log import read_commit
from arco.manifest import read_manifest
from arco.query import run_query
from arco.storage import ObjectStore
from arco.verify import verify_scope


def kinds(cat: Catalog) -> list[str]:
    head = read_manifest(cat.store, "catalog")
    assert head is not None
    out, cid = [], head.manifest.commit_id
    while cid is not None:
        rec = read_commit(cat.store, "catalog", cid)
        out.append(rec.kind)
        cid = rec.parent_commit_id
    return out[::-1]


def snapshot(cat: Catalog) -> dict[str, object]:
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
    assert len(ranges) <= 4
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
