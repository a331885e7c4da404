"""In-memory lineage state: edges with adjacency indexes, copy-on-write like the catalog's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from arco.core.assets import AssetKey
from arco.core.names import name_key
from arco.lineage.schema import EdgeRow
from arco.metadata.domain import IdempotencyRow, apply_delta
from arco.metadata.layered import LayeredMap


def node_key(asset: str) -> str:
    """Case-insensitive identity of a node (asset keys are case-preserving)."""
    key = AssetKey.parse(asset)
    return f"{name_key(key.namespace)}/{name_key(key.name)}"


class LineageState:
    """All edges at ``version``, indexed by natural key and by node in both directions."""

    def __init__(self) -> None:
        self.version = 0
        self.checkpoint_version = 0
        self.lineage_edges: LayeredMap[str, EdgeRow] = LayeredMap()
        self.idempotency: LayeredMap[str, IdempotencyRow] = LayeredMap()
        self._by_key: LayeredMap[tuple[str, str, str], str] = LayeredMap()
        self._out: LayeredMap[str, tuple[str, ...]] = LayeredMap()
        self._in: LayeredMap[str, tuple[str, ...]] = LayeredMap()

    def copy(self) -> LineageState:
        new = LineageState.__new__(LineageState)
        new.version = self.version
        new.checkpoint_version = self.checkpoint_version
        new.lineage_edges = self.lineage_edges.derive()
        new.idempotency = self.idempotency.derive()
        new._by_key = self._by_key.derive()
        new._out = self._out.derive()
        new._in = self._in.derive()
        return new

    # --- lookups ------------------------------------------------------------------------

    def edge(self, source: str, target: str, edge_type: str) -> EdgeRow | None:
        edge_id = self._by_key.get((node_key(source), node_key(target), edge_type))
        return self.lineage_edges.get(edge_id) if edge_id else None

    def edges_from(self, node: str) -> list[EdgeRow]:
        return [self.lineage_edges[e] for e in self._out.get(node, ())]

    def edges_to(self, node: str) -> list[EdgeRow]:
        return [self.lineage_edges[e] for e in self._in.get(node, ())]

    def rows(self, table: str) -> Iterable[Any]:
        source: LayeredMap[str, Any] = getattr(self, table)
        return list(source.values())

    # --- mutation (only on a private copy) -------------------------------------------------

    def upsert(self, table: str, row: Any) -> None:
        if table == "idempotency":
            self.idempotency.set(row.idempotency_key, row)
            return
        old = self.lineage_edges.get(row.edge_id)
        if old is not None:
            self._unindex(old)
        self.lineage_edges.set(row.edge_id, row)
        src, tgt = node_key(row.source), node_key(row.target)
        self._by_key.set((src, tgt, row.edge_type), row.edge_id)
        self._out.set(src, (*self._out.get(src, ()), row.edge_id))
        self._in.set(tgt, (*self._in.get(tgt, ()), row.edge_id))

    def remove(self, table: str, key: str) -> None:
        if table == "idempotency":
            self.idempotency.delete(key)
            return
        old = self.lineage_edges.get(key)
        if old is not None:
            self.lineage_edges.delete(key)
            self._unindex(old)

    def _unindex(self, row: EdgeRow) -> None:
        src, tgt = node_key(row.source), node_key(row.target)
        self._by_key.delete((src, tgt, row.edge_type))
        for index, node in ((self._out, src), (self._in, tgt)):
            remaining = tuple(e for e in index.get(node, ()) if e != row.edge_id)
            if remaining:
                index.set(node, remaining)
            else:
                index.delete(node)

    def apply(
        self, delta: Mapping[str, Sequence[tuple[Any, bool]]], primary_keys: Mapping[str, str]
    ) -> None:
        """Apply delta rows in place (call on a copy); the newest version of a row wins."""
        apply_delta(self, delta, primary_keys)
