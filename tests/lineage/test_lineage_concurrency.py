"""Lineage under concurrency and crashes.

* Eight OS processes (``lineage_worker.py``) race on one local-file store: all add the same
  ten edges (random case variants of the asset keys) plus ten unique edges each, and remove
  some of their unique edges. Afterwards the store must show exactly what was acknowledged.
* A lineage commit is crashed at every storage operation; a new holder recovers exactly the
  old or exactly the new set of edges, and a retry with the same idempotency key returns the
  published edge.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from arco.catalog import Catalog, WriterOptions
from arco.core.clock import ManualClock
from arco.lineage import Edge
from arco.lineage.state import LineageState, node_key
from arco.maintenance.verify import verify_scope
from arco.metadata.commit_log import CommitRecord
from arco.metadata.commit_log import chain as commit_chain
from arco.metadata.manifest import read_manifest
from arco.storage import FaultyStore, ObjectStore, SimulatedCrash, open_store
from process_support import run_workers

WORKER = Path(__file__).with_name("lineage_worker.py")
EDGE_TYPE = "derives"
N_WORKERS = 8
SHARED_EDGES = [[f"raw/t{k}", f"mart/m{(k * 3) % 7}"] for k in range(10)]
UNIQUE_EDGES = 10
REMOVALS = 3


def natural(source: str, target: str, edge_type: str = EDGE_TYPE) -> tuple[str, str, str]:
    return node_key(source), node_key(target), edge_type


def lineage_state(cat: Catalog) -> LineageState:
    return cat.lineage_loader.load(read_manifest(cat.store, "lineage"))


def all_edges(cat: Catalog) -> dict[tuple[str, str, str], Edge]:
    """Every stored edge by natural key; fails if two edges share one."""
    out: dict[tuple[str, str, str], Edge] = {}
    for row in lineage_state(cat).lineage_edges.values():
        key = natural(row.source, row.target, row.edge_type)
        assert key not in out, f"two edges for {key}"
        out[key] = Edge.from_row(row)
    return out


def chain(cat: Catalog) -> list[CommitRecord]:
    return commit_chain(cat.store, "lineage")


def catalog_keys(store: ObjectStore) -> list[str]:
    """Every object of the catalog domain (manifest, lock, ledger, commits, snapshots)."""
    return sorted(
        m.key
        for m in store.list("")
        if m.key in ("manifests/catalog.manifest.json", "locks/catalog.lock.json")
        or any(m.key.startswith(f"{p}/catalog/") for p in ("ledger", "commits", "snapshots"))
    )


# --- eight processes ------------------------------------------------------------------------


def test_processes_race_lineage_edges_on_local_files(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/store"
    store_options = {"fsync": False}
    configs = [
        {
            "worker": w,
            "seed": 7000 + w,
            "edge_type": EDGE_TYPE,
            "shared_edges": SHARED_EDGES,
            "unique_edges": UNIQUE_EDGES,
            "removals": REMOVALS,
            "checkpoint_every": 8,
        }
        for w in range(N_WORKERS)
    ]
    results = run_workers(WORKER, tmp_path, url, store_options, configs)
    cat = Catalog.open(url, options=WriterOptions(background_checkpoints=False), fsync=False)

    records = [r for worker in results for r in worker if r["event"] != "seen"]
    acks = [r for r in records if r["event"] == "ack"]
    errors = [r for r in records if r["event"] == "error"]
    assert errors == []
    per_worker = len(SHARED_EDGES) + UNIQUE_EDGES + REMOVALS
    assert len(acks) == N_WORKERS * per_worker
    edges = all_edges(cat)

    # --- shared edges: one edge each, one id that every acknowledging process saw --------
    shared_keys = {natural(s, t) for s, t in SHARED_EDGES}
    by_key: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in acks:
        if a["op"] == "add_shared":
            by_key[natural(a["source"], a["target"])].append(a)
    assert set(by_key) == shared_keys
    for key, group in by_key.items():
        assert len(group) == N_WORKERS, key
        ids = {a["result"]["edge_id"] for a in group}
        assert ids == {edges[key].edge_id}, (key, ids)
        created = {a["result"]["created_at"] for a in group}
        assert len(created) == 1, (key, created)
        # the run_id updates are serialised: the last committed one is what is stored
        versions = [a["result"]["version"] for a in group]
        assert len(set(versions)) == N_WORKERS, (key, versions)
        last = max(group, key=lambda a: a["result"]["version"])
        assert edges[key].model_dump(mode="json") == last["result"]
        # the stored spelling is the one of the process that created the edge
        first = min(group, key=lambda a: a["result"]["version"])
        assert (edges[key].source, edges[key].target) == (first["source"], first["target"])

    # --- unique edges: present iff acknowledged and not removed ---------------------------
    removed = {natural(a["source"], a["target"]) for a in acks if a["op"] == "remove_unique"}
    assert len(removed) == N_WORKERS * REMOVALS
    unique_acks = {natural(a["source"], a["target"]): a for a in acks if a["op"] == "add_unique"}
    assert len(unique_acks) == N_WORKERS * UNIQUE_EDGES
    for key, a in unique_acks.items():
        if key in removed:
            assert key not in edges, key
        else:
            assert edges[key].model_dump(mode="json") == a["result"], key
    for a in acks:
        if a["op"] == "remove_unique":
            added = unique_acks[natural(a["source"], a["target"])]
            assert a["result"]["edge_id"] == added["result"]["edge_id"]
    assert set(edges) == shared_keys | (set(unique_acks) - removed)

    # --- every process read its own writes back ---------------------------------------------
    for w, worker in enumerate(results):
        seen = [r for r in worker if r["event"] == "seen"]
        assert len(seen) == 1
        seen_ids = {e["edge_id"] for e in seen[0]["edges"]}
        mine = [a for a in worker if a["event"] == "ack"]
        gone = {a["result"]["edge_id"] for a in mine if a["op"] == "remove_unique"}
        expect = {a["result"]["edge_id"] for a in mine if a["op"] != "remove_unique"} - gone
        assert expect <= seen_ids, w
        assert not gone & seen_ids, w

    # --- the lineage commit chain: every version once, every request once -----------------
    records_chain = chain(cat)
    head = read_manifest(cat.store, "lineage")
    assert head is not None and records_chain[-1].manifest.to_bytes() == head.raw
    versions = [r.snapshot_version for r in records_chain]
    assert versions == list(range(1, head.manifest.snapshot_version + 1))
    assert [r.commit_id for r in records_chain] == sorted({r.commit_id for r in records_chain})
    tokens = [r.fencing_token for r in records_chain]
    assert tokens == sorted(tokens), "fencing token went down"
    assert all(r.domain == "lineage" for r in records_chain)
    committed = Counter(o["idempotency_key"] for r in records_chain for o in r.operations)
    assert committed == Counter(a["key"] for a in acks), "a request was lost or applied twice"
    by_version = {r.snapshot_version: r for r in records_chain}
    for a in acks:
        if a["op"] == "remove_unique":
            continue  # a removal returns the edge as it was before
        record = by_version[a["result"]["version"]]
        ops = {(o["idempotency_key"], o["target"]) for o in record.operations}
        assert (a["key"], f"{a['result']['source']} -> {a['result']['target']}") in ops, a

    report = verify_scope(cat.store)
    assert report.ok, report.findings
    # the catalog domain was never touched by lineage commits
    assert read_manifest(cat.store, "catalog") is None
    assert catalog_keys(cat.store) == []
    print(
        {
            "versions": versions[-1],
            "kinds": dict(Counter(r.kind for r in records_chain)),
            "retries": sum(a["attempts"] - 1 for a in acks),
        }
    )


# --- crash at every storage operation of one lineage commit -----------------------------------

START_MS = 1_767_225_600_000
LEASE_MS = 2_000
KEY = "crash-edge-1"
NEW_EDGE = ("sales/orders", "mart/revenue")


def options(checkpoint_every: int = 1000) -> WriterOptions:
    return WriterOptions(
        lease_ms=LEASE_MS,
        checkpoint_every=checkpoint_every,
        background_checkpoints=False,
        lock_wait_s=10.0,
    )


def the_request(cat: Catalog) -> Edge:
    return cat.add_lineage_edge(*NEW_EDGE, run_id="run-42", idempotency_key=KEY)


def build_prior_state() -> ObjectStore:
    """Lineage with a checkpoint, deltas after it, a removal and a key in use; plus a catalog."""
    store = open_store("memory://", retry=False)
    cat = Catalog(store, options=options(checkpoint_every=3), holder="setup", clock=ManualClock(0))
    cat.create_namespace("sales")
    cat.add_lineage_edge("raw/orders", "sales/orders", idempotency_key="setup-1")
    cat.add_lineage_edge("raw/customers", "sales/orders")
    cat.add_lineage_edge("sales/orders", "mart/daily", run_id="r1")
    cat.add_lineage_edge("mart/daily", "mart/revenue")
    cat.remove_lineage_edge("raw/customers", "sales/orders")
    cat.add_lineage_edge("sales/orders", "mart/daily", run_id="r2")
    cat.add_lineage_edge("mart/revenue", "raw/orders", edge_type="feeds_back")  # a cycle
    head = read_manifest(cat.store, "lineage")
    assert head is not None
    assert 0 < head.manifest.checkpoint_version < head.manifest.snapshot_version
    return store


def clone(src: ObjectStore) -> ObjectStore:
    dst = open_store("memory://", retry=False)
    for meta in src.list(""):
        dst.put(meta.key, src.get(meta.key).data, "create")
    return dst


def edge_listing(cat: Catalog) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {k: e.model_dump(mode="json") for k, e in all_edges(cat).items()}


def catalog_listing(cat: Catalog) -> list[Any]:
    return [ns.model_dump(mode="json") for ns in cat.list_namespaces(limit=1000).items]


def applied_keys(cat: Catalog) -> list[str | None]:
    return [o["idempotency_key"] for r in chain(cat) for o in r.operations]


def more_lineage(cat: Catalog, tag: str) -> None:
    cat.add_lineage_edge("raw/orders", f"tmp/{tag}")
    cat.add_lineage_edge("sales/orders", "mart/daily", run_id=f"r-{tag}")
    cat.remove_lineage_edge("raw/orders", f"tmp/{tag}")


@dataclass
class Reference:
    prior: ObjectStore
    old: dict[tuple[str, str, str], dict[str, Any]]
    new: dict[tuple[str, str, str], dict[str, Any]]
    catalog: list[Any]
    ops: list[tuple[int, str, str]]
    checkpoint_every: int


def reference(checkpoint: bool) -> Reference:
    prior = build_prior_state()
    head = read_manifest(Catalog(prior).store, "lineage")
    assert head is not None
    # make the commit under test the one that triggers a compaction
    every = len(head.manifest.delta_ranges()) + 1 if checkpoint else 1000
    old = edge_listing(Catalog(prior))
    catalog = catalog_listing(Catalog(prior))
    faulty = FaultyStore(clone(prior))
    cat = Catalog(faulty, options=options(every), holder="A", clock=ManualClock(START_MS))
    result = the_request(cat)
    ops = list(faulty.ops)
    new = edge_listing(cat)
    assert new[natural(*NEW_EDGE)] == result.model_dump(mode="json")
    assert set(new) - set(old) == {natural(*NEW_EDGE)}
    kinds = [r.kind for r in chain(cat)]
    assert (kinds[-1] in {"checkpoint", "merge"}) == checkpoint
    assert not any("/catalog" in key for _, _, key in ops), "a lineage commit touched the catalog"
    return Reference(prior, old, new, catalog, ops, every)


@pytest.mark.parametrize("checkpoint", [False, True], ids=["plain", "with-checkpoint"])
def test_lineage_crash_at_every_operation_recovers_old_or_new(checkpoint: bool) -> None:
    ref = reference(checkpoint)
    manifest_puts = [i for i, op, key in ref.ops if op == "put" and "manifests/" in key]
    lock_puts = [i for i, op, key in ref.ops if op == "put" and "locks/" in key]
    assert len(manifest_puts) == (2 if checkpoint else 1)
    commit_point = manifest_puts[0]
    new_key = natural(*NEW_EDGE)
    outcomes = []
    for i in range(len(ref.ops)):
        store = clone(ref.prior)
        clock = ManualClock(START_MS)
        crashing = FaultyStore(store, crash_after=i)
        a = Catalog(crashing, options=options(ref.checkpoint_every), holder="A", clock=clock)
        with pytest.raises(SimulatedCrash):
            the_request(a)
        assert crashing.crashed
        published = i > commit_point
        held_lock = sum(1 for j in lock_puts if j < i) % 2 == 1

        # a new process takes over after the dead writer's lease expired
        clock.advance(LEASE_MS + 1)
        b = Catalog(store, options=options(), holder="B", clock=clock)
        state = edge_listing(b)
        if published:
            assert state == {**ref.old, new_key: state.get(new_key)}, i
            assert new_key in state, i
            masked = {k: {**v, "edge_id": None} for k, v in state.items()}
            assert masked == {k: {**v, "edge_id": None} for k, v in ref.new.items()}, i
        else:
            assert state == ref.old, i
        original = state.get(new_key) if published else None
        report = verify_scope(b.store)
        assert report.ok, (i, report.findings)
        assert catalog_listing(b) == ref.catalog, i

        # more lineage commits by the new writer: the crashed request is not dragged in
        more_lineage(b, "x")
        if held_lock:
            fences = [r for r in chain(b) if r.kind == "fence"]
            assert [r.holder for r in fences] == ["B"], i
        assert (new_key in all_edges(b)) == published, i
        assert applied_keys(b).count(KEY) == (1 if published else 0), i

        # the client retries with the same idempotency key
        retried = the_request(b)
        if original is not None:
            assert retried.model_dump(mode="json") == original, i
        assert all_edges(b)[new_key] == retried
        more_lineage(b, "y")
        assert the_request(b) == retried  # and once more: still the same
        assert applied_keys(b).count(KEY) == 1, i
        graph = b.lineage(NEW_EDGE[1], direction="upstream", depth=2)
        assert retried in graph.edges
        report = verify_scope(b.store)
        assert report.ok, (i, report.findings)
        assert catalog_listing(b) == ref.catalog, i
        outcomes.append(published)
    # both outcomes were exercised, in the expected order
    assert outcomes == [False] * (commit_point + 1) + [True] * (len(ref.ops) - commit_point - 1)
