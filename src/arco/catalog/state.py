"""In-memory catalog state at one snapshot version, with the indexes lookups need.

A state is immutable once it is shared (cached or published). A commit works on
:meth:`CatalogState.copy`, which derives every map with a private change layer
(:class:`~arco.metadata.layered.LayeredMap`), so its cost does not depend on catalog size;
:class:`Changes` records the delta rows of the commit as it applies them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from arco.catalog.schema import ColumnRow, IdempotencyRow, NamespaceRow, TableRow
from arco.core.names import name_key
from arco.core.paging import Sorted
from arco.metadata.domain import apply_delta
from arco.metadata.layered import LayeredMap

T = TypeVar("T")
R = TypeVar("R", NamespaceRow, TableRow)


def _sorted_by_name(rows: list[R]) -> Sorted[R]:
    keyed = sorted(((name_key(r.name), r) for r in rows), key=lambda kr: kr[0])
    return Sorted([k for k, _ in keyed], [r for _, r in keyed])


_EMPTY: Sorted[Any] = Sorted([], [])


class CatalogState:
    """All live catalog rows at ``version`` plus lookup indexes."""

    def __init__(self) -> None:
        self.version = 0
        self.checkpoint_version = 0
        self.namespaces: LayeredMap[str, NamespaceRow] = LayeredMap()
        self.tables: LayeredMap[str, TableRow] = LayeredMap()
        self.columns: LayeredMap[str, ColumnRow] = LayeredMap()
        self.idempotency: LayeredMap[str, IdempotencyRow] = LayeredMap()
        self.search_index: Any = None  # built on first search of this version (see search.py)
        # name_key -> namespace_id
        self._ns_index: LayeredMap[str, str] = LayeredMap()
        # (namespace_id, name_key) -> table_id
        self._table_index: LayeredMap[tuple[str, str], str] = LayeredMap()
        # namespace_id -> number of tables
        self._table_count: LayeredMap[str, int] = LayeredMap()
        # table_id -> column ids
        self._column_index: LayeredMap[str, tuple[str, ...]] = LayeredMap()
        self._by_namespace: dict[str, Sorted[TableRow]] | None = None
        self._ns_sorted: Sorted[NamespaceRow] | None = None

    def copy(self) -> CatalogState:
        """A copy whose mutations never affect this state (O(1) in catalog size)."""
        new = CatalogState.__new__(CatalogState)
        new.version = self.version
        new.checkpoint_version = self.checkpoint_version
        new.namespaces = self.namespaces.derive()
        new.tables = self.tables.derive()
        new.columns = self.columns.derive()
        new.idempotency = self.idempotency.derive()
        new.search_index = None
        new._ns_index = self._ns_index.derive()
        new._table_index = self._table_index.derive()
        new._table_count = self._table_count.derive()
        new._column_index = self._column_index.derive()
        new._by_namespace = None
        new._ns_sorted = None
        return new

    # --- lookups ------------------------------------------------------------------------

    def namespace_by_name(self, name: str) -> NamespaceRow | None:
        ns_id = self._ns_index.get(name_key(name))
        return self.namespaces.get(ns_id) if ns_id else None

    def table_by_name(self, namespace_id: str, name: str) -> TableRow | None:
        table_id = self._table_index.get((namespace_id, name_key(name)))
        return self.tables.get(table_id) if table_id else None

    def table_count(self, namespace_id: str) -> int:
        count: int = self._table_count.get(namespace_id, 0)
        return count

    def tables_in(self, namespace_id: str) -> Sorted[TableRow]:
        """Tables of one namespace in name order (sorted once per state, then cached)."""
        if self._by_namespace is None:
            grouped: dict[str, list[TableRow]] = {}
            for row in self.tables.values():
                grouped.setdefault(row.namespace_id, []).append(row)
            self._by_namespace = {ns: _sorted_by_name(rows) for ns, rows in grouped.items()}
        return self._by_namespace.get(namespace_id, _EMPTY)

    def namespaces_sorted(self) -> Sorted[NamespaceRow]:
        """All namespaces in name order (sorted once per state, then cached)."""
        if self._ns_sorted is None:
            self._ns_sorted = _sorted_by_name(list(self.namespaces.values()))
        return self._ns_sorted

    def columns_of(self, table_id: str) -> list[ColumnRow]:
        rows = [self.columns[c] for c in self._column_index.get(table_id, ())]
        return sorted(rows, key=lambda c: c.position)

    def rows(self, table: str) -> Iterable[Any]:
        source: LayeredMap[str, Any] = getattr(self, table)
        return list(source.values())

    # --- mutation (only on a private copy) -------------------------------------------------

    def upsert(self, table: str, row: Any) -> None:
        if table == "namespaces":
            old_ns = self.namespaces.get(row.namespace_id)
            if old_ns is not None:
                self._ns_index.delete(name_key(old_ns.name))
            self.namespaces.set(row.namespace_id, row)
            self._ns_index.set(name_key(row.name), row.namespace_id)
            self._ns_sorted = None
        elif table == "tables":
            old_t = self.tables.get(row.table_id)
            if old_t is not None:
                self._unindex_table(old_t)
            self.tables.set(row.table_id, row)
            self._table_index.set((row.namespace_id, name_key(row.name)), row.table_id)
            self._table_count.set(row.namespace_id, self.table_count(row.namespace_id) + 1)
            self._by_namespace = None
        elif table == "columns":
            old_c = self.columns.get(row.column_id)
            if old_c is not None and old_c.table_id != row.table_id:
                self._unindex_column(old_c)
            self.columns.set(row.column_id, row)
            ids = self._column_index.get(row.table_id, ())
            if row.column_id not in ids:
                self._column_index.set(row.table_id, (*ids, row.column_id))
        elif table == "idempotency":
            self.idempotency.set(row.idempotency_key, row)
        elif table == "search_postings":
            pass  # derived from the entities and never loaded (see CATALOG.lazy_tables)
        else:  # pragma: no cover - programming error
            raise KeyError(table)

    def remove(self, table: str, key: str) -> None:
        if table == "namespaces":
            ns = self.namespaces.get(key)
            if ns is not None:
                self.namespaces.delete(key)
                self._ns_index.delete(name_key(ns.name))
                self._ns_sorted = None
        elif table == "tables":
            t = self.tables.get(key)
            if t is not None:
                self.tables.delete(key)
                self._unindex_table(t)
                self._by_namespace = None
        elif table == "columns":
            c = self.columns.get(key)
            if c is not None:
                self.columns.delete(key)
                self._unindex_column(c)
        elif table == "idempotency":
            self.idempotency.delete(key)
        elif table == "search_postings":
            pass
        else:  # pragma: no cover - programming error
            raise KeyError(table)

    def _unindex_table(self, row: TableRow) -> None:
        self._table_index.delete((row.namespace_id, name_key(row.name)))
        remaining = self.table_count(row.namespace_id) - 1
        if remaining > 0:
            self._table_count.set(row.namespace_id, remaining)
        else:
            self._table_count.delete(row.namespace_id)

    def _unindex_column(self, row: ColumnRow) -> None:
        ids = tuple(c for c in self._column_index.get(row.table_id, ()) if c != row.column_id)
        if ids:
            self._column_index.set(row.table_id, ids)
        else:
            self._column_index.delete(row.table_id)

    def apply(
        self, delta: Mapping[str, Sequence[tuple[Any, bool]]], primary_keys: Mapping[str, str]
    ) -> None:
        """Apply delta rows in place (call on a copy). Tables are applied parent-first."""
        apply_delta(self, delta, primary_keys)
