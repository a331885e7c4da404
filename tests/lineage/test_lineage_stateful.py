"""Random lineage edits against a plain model: edges and traversals always agree."""

from __future__ import annotations

from collections import deque

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from arco.catalog import Catalog, WriterOptions
from arco.errors import NotFoundError
from arco.storage import open_store

NODES = ["raw/a", "raw/B", "stg/c", "mart/d", "Mart/E"]
TYPES = ["derives", "copies"]

nodes = st.sampled_from(NODES)
types = st.sampled_from(TYPES)
runs = st.one_of(st.none(), st.sampled_from(["r1", "r2"]))


def key(asset: str) -> str:
    return asset.casefold()


class LineageMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = open_store("memory://")
        options = WriterOptions(background_checkpoints=False, checkpoint_every=3)
        self.cat = Catalog(self.root, options=options)
        # (source, target, type) -> run id
        self.model: dict[tuple[str, str, str], str | None] = {}

    @rule(source=nodes, dest=nodes, edge_type=types, run_id=runs)
    def add(self, source: str, dest: str, edge_type: str, run_id: str | None) -> None:
        target = dest
        if key(source) == key(target):
            return
        edge = self.cat.add_lineage_edge(source, target, edge_type=edge_type, run_id=run_id)
        assert (key(edge.source), key(edge.target), edge.edge_type) == (
            key(source),
            key(target),
            edge_type,
        )
        self.model[(key(source), key(target), edge_type)] = run_id

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def remove_existing(self, data: st.DataObject) -> None:
        source, target, edge_type = data.draw(st.sampled_from(sorted(self.model)))
        self.cat.remove_lineage_edge(source, target, edge_type=edge_type)
        del self.model[(source, target, edge_type)]

    @rule(source=nodes, dest=nodes, edge_type=types)
    def remove_missing(self, source: str, dest: str, edge_type: str) -> None:
        target = dest
        if key(source) == key(target) or (key(source), key(target), edge_type) in self.model:
            return
        try:
            self.cat.remove_lineage_edge(source, target, edge_type=edge_type)
        except NotFoundError:
            return
        raise AssertionError("removing a missing edge must fail")

    @rule(
        start=nodes,
        direction=st.sampled_from(["upstream", "downstream", "both"]),
        depth=st.integers(1, 4),
    )
    def traverse(self, start: str, direction: str, depth: int) -> None:
        graph = self.cat.lineage(start, direction=direction, depth=depth)  # type: ignore[arg-type]
        got = {key(n.asset): n.distance for n in graph.nodes}
        assert got == self._bfs(key(start), direction, depth)

    def _bfs(self, start: str, direction: str, depth: int) -> dict[str, int]:
        distance = {start: 0}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if distance[node] == depth:
                continue
            for source, target, _ in self.model:
                nxt = []
                if direction in ("downstream", "both") and source == node:
                    nxt.append(target)
                if direction in ("upstream", "both") and target == node:
                    nxt.append(source)
                for n in nxt:
                    if n not in distance:
                        distance[n] = distance[node] + 1
                        queue.append(n)
        return distance

    def _edges(self, cat: Catalog) -> dict[tuple[str, str, str], str | None]:
        edges = {}
        for asset in NODES:
            for e in cat.lineage(asset, direction="downstream", depth=1).edges:
                edges[(key(e.source), key(e.target), e.edge_type)] = e.run_id
        return edges

    @invariant()
    def edges_match_the_model(self) -> None:
        assert self._edges(self.cat) == self.model

    @invariant()
    def a_cold_reader_agrees(self) -> None:
        assert self._edges(Catalog(self.root)) == self.model


LineageMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestLineage = LineageMachine.TestCase
