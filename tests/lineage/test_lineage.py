"""The lineage domain: edges, traversal, persistence, and its independence from the catalog."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest

from arco.catalog import Catalog, WriterOptions
from arco.errors import NotFoundError, PreconditionFailedError, ValidationError
from arco.lineage import LineageGraph
from arco.maintenance.verify import verify_scope
from arco.metadata.layout import ledger_prefix, lock_key, manifest_key
from arco.metadata.manifest import read_manifest
from arco.query.views import run_query
from arco.storage import ObjectStore, open_store


@pytest.fixture
def root() -> ObjectStore:
    return open_store("memory://")


@pytest.fixture
def cat(root: ObjectStore) -> Iterator[Catalog]:
    c = Catalog(root, options=WriterOptions(background_checkpoints=False, checkpoint_every=3))
    yield c
    c.close()


def distances(graph: LineageGraph) -> dict[str, int]:
    return {n.asset: n.distance for n in graph.nodes}


def chain(cat: Catalog, *assets: str) -> None:
    for source, target in itertools.pairwise(assets):
        cat.add_lineage_edge(source, target)


def test_add_is_idempotent_by_natural_key_and_case_insensitive(cat: Catalog) -> None:
    first = cat.add_lineage_edge("raw/orders", "sales/orders", run_id="r1")
    version = read_manifest(cat.store, "lineage")
    again = cat.add_lineage_edge("Raw/Orders", "SALES/orders", run_id="r1")
    assert again == first
    assert read_manifest(cat.store, "lineage") == version  # nothing to commit
    rerun = cat.add_lineage_edge("raw/orders", "sales/orders", run_id="r2")
    assert rerun.edge_id == first.edge_id and rerun.run_id == "r2"
    assert rerun.version > first.version
    other_type = cat.add_lineage_edge("raw/orders", "sales/orders", edge_type="copies")
    assert other_type.edge_id != first.edge_id


@pytest.mark.parametrize(
    ("source", "target", "field"),
    [
        ("raw/orders", "raw/orders", "target"),
        ("raw/orders", "RAW/ORDERS", "target"),
        ("no-slash", "raw/orders", "source"),
        ("raw/orders", "a/b/c", "target"),
        ("raw/", "raw/orders", "source"),
    ],
)
def test_bad_edges_are_rejected_and_nothing_is_written(
    cat: Catalog, root: ObjectStore, source: str, target: str, field: str
) -> None:
    before = [(m.key, m.version) for m in root.list("")]
    with pytest.raises(ValidationError, match=f"^{field}") as info:
        cat.add_lineage_edge(source, target)
    assert "\n" not in str(info.value)
    assert [(m.key, m.version) for m in root.list("")] == before


def test_bad_edge_type_and_run_id(cat: Catalog) -> None:
    with pytest.raises(ValidationError, match=r"^edge_type"):
        cat.add_lineage_edge("a/x", "a/y", edge_type="Bad Type")
    with pytest.raises(ValidationError, match=r"^run_id"):
        cat.add_lineage_edge("a/x", "a/y", run_id="")


def test_traversal_respects_direction_and_depth(cat: Catalog) -> None:
    chain(cat, "raw/a", "stg/b", "mart/c", "mart/d")
    cat.add_lineage_edge("raw/z", "stg/b")
    down = cat.lineage("raw/a", direction="downstream", depth=2)
    assert distances(down) == {"raw/a": 0, "stg/b": 1, "mart/c": 2}
    assert {(e.source, e.target) for e in down.edges} == {("raw/a", "stg/b"), ("stg/b", "mart/c")}
    up = cat.lineage("mart/d", direction="upstream", depth=10)
    assert distances(up) == {"mart/d": 0, "mart/c": 1, "stg/b": 2, "raw/a": 3, "raw/z": 3}
    both = cat.lineage("stg/b", direction="both", depth=1)
    assert distances(both) == {"stg/b": 0, "raw/a": 1, "raw/z": 1, "mart/c": 1}
    alone = cat.lineage("other/thing")
    assert distances(alone) == {"other/thing": 0} and alone.edges == []


def test_traversal_terminates_on_cycles(cat: Catalog) -> None:
    chain(cat, "a/one", "a/two", "a/three", "a/one")
    graph = cat.lineage("a/one", direction="downstream", depth=50)
    assert distances(graph) == {"a/one": 0, "a/two": 1, "a/three": 2}
    assert len(graph.edges) == 3


@pytest.mark.parametrize(("direction", "depth"), [("sideways", 2), ("both", 0), ("both", 51)])
def test_traversal_arguments_are_validated(cat: Catalog, direction: str, depth: int) -> None:
    with pytest.raises(ValidationError):
        cat.lineage("a/x", direction=direction, depth=depth)  # type: ignore[arg-type]


def test_remove_and_if_match(cat: Catalog) -> None:
    edge = cat.add_lineage_edge("a/x", "a/y")
    with pytest.raises(PreconditionFailedError):
        cat.remove_lineage_edge("a/x", "a/y", if_match=edge.version + 7)
    removed = cat.remove_lineage_edge("a/x", "a/y", if_match=edge.version)
    assert removed.edge_id == edge.edge_id
    assert cat.lineage("a/x").edges == []
    with pytest.raises(NotFoundError):
        cat.remove_lineage_edge("a/x", "a/y")


def test_idempotency_key_replays_the_original_edge(cat: Catalog) -> None:
    first = cat.add_lineage_edge("a/x", "a/y", run_id="r1", idempotency_key="k")
    cat.remove_lineage_edge("a/x", "a/y")
    replay = cat.add_lineage_edge("a/x", "a/y", run_id="r1", idempotency_key="k")
    assert replay == first
    assert cat.lineage("a/x").edges == []  # the replay did not re-apply


def test_lineage_is_its_own_domain_and_survives_compaction(cat: Catalog, root: ObjectStore) -> None:
    cat.create_namespace("sales")
    catalog_version = cat.snapshot_version()
    for i in range(20):
        cat.add_lineage_edge(f"raw/t{i}", f"sales/t{i}", run_id=f"r{i}")
    for i in range(0, 20, 3):
        cat.remove_lineage_edge(f"raw/t{i}", f"sales/t{i}")
    assert cat.snapshot_version() == catalog_version  # lineage never touches the catalog
    for key in (manifest_key("lineage"), lock_key("lineage")):
        cat.store.head(key)
    head = read_manifest(cat.store, "lineage")
    assert head is not None and head.manifest.checkpoint_version > 0
    expected = {
        (e.source, e.target, e.run_id) for i in range(20) for e in cat.lineage(f"raw/t{i}").edges
    }
    assert len(expected) == 20 - len(range(0, 20, 3))
    cold = Catalog(root)
    got = {
        (e.source, e.target, e.run_id) for i in range(20) for e in cold.lineage(f"raw/t{i}").edges
    }
    assert got == expected
    rows = run_query(cat, "SELECT source, target, run_id FROM lineage.edges").to_pylist()
    assert {(r["source"], r["target"], r["run_id"]) for r in rows} == expected
    report = verify_scope(cat.store)
    assert report.ok, report.findings
    assert report.checked["manifests"] == 2


def test_ledger_events_are_labelled_with_their_own_domain(cat: Catalog) -> None:
    cat.create_namespace("sales")
    cat.add_lineage_edge("raw/orders", "sales/orders")
    types = {}
    for domain in ("catalog", "lineage"):
        keys = [m.key for m in cat.store.list(ledger_prefix(domain))]
        assert keys, domain
        types[domain] = {json.loads(cat.store.get(k).data)["event_type"] for k in keys}
    assert types == {"catalog": {"catalog.ddl"}, "lineage": {"lineage.ddl"}}
