"""Tier-1 lineage: edges between assets and their traversal."""

from arco.lineage.domain import LINEAGE
from arco.lineage.graph import MAX_DEPTH, Direction, LineageGraph, LineageNode, traverse
from arco.lineage.operations import AddEdge, Edge, RemoveEdge

__all__ = [
    "LINEAGE",
    "MAX_DEPTH",
    "AddEdge",
    "Direction",
    "Edge",
    "LineageGraph",
    "LineageNode",
    "RemoveEdge",
    "traverse",
]
