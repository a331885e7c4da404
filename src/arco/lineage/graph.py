"""Upstream / downstream traversal of the lineage graph, to N hops, safe on cycles."""

from __future__ import annotations

from collections import deque
from typing import Literal

from pydantic import BaseModel, ConfigDict

from arco.core.assets import AssetKey
from arco.errors import ValidationError
from arco.lineage.operations import Edge
from arco.lineage.state import LineageState, node_key

Direction = Literal["upstream", "downstream", "both"]
MAX_DEPTH = 50


class LineageNode(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    asset: str
    #: hops from the starting asset (upstream nodes count the same way as downstream ones)
    distance: int


class LineageGraph(BaseModel):
    """The part of the graph within ``depth`` hops of ``root``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: str
    direction: Direction
    depth: int
    nodes: list[LineageNode]
    edges: list[Edge]


def traverse(state: LineageState, asset: str, direction: Direction, depth: int) -> LineageGraph:
    """Breadth-first walk; each node is visited once, so cycles terminate."""
    root = str(AssetKey.parse(asset))
    if direction not in ("upstream", "downstream", "both"):
        raise ValidationError("direction: must be upstream, downstream or both")
    if not 1 <= depth <= MAX_DEPTH:
        raise ValidationError(f"depth: must be between 1 and {MAX_DEPTH} (got {depth})")
    start = node_key(root)
    distance = {start: 0}
    names = {start: root}
    edges: dict[str, Edge] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if distance[node] == depth:
            continue
        steps = []
        if direction in ("upstream", "both"):
            steps += [(row, row.source) for row in state.edges_to(node)]
        if direction in ("downstream", "both"):
            steps += [(row, row.target) for row in state.edges_from(node)]
        for row, neighbour in steps:
            edges.setdefault(row.edge_id, Edge.from_row(row))
            key = node_key(neighbour)
            if key not in distance:
                distance[key] = distance[node] + 1
                names[key] = neighbour
                queue.append(key)
    nodes = [LineageNode(asset=names[k], distance=d) for k, d in distance.items()]
    nodes.sort(key=lambda n: (n.distance, n.asset.casefold()))
    ordered = sorted(
        edges.values(), key=lambda e: (e.source.casefold(), e.target.casefold(), e.edge_type)
    )
    return LineageGraph(root=root, direction=direction, depth=depth, nodes=nodes, edges=ordered)
