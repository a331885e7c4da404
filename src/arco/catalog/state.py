"""In-memory catalog state at one snapshot version, with the indexes lookups need.

A state is treated as immutable once published to a cache; a commit works on
:meth:`CatalogState.copy` (shallow, O(entities) dict copies, no row copies) through a
:class:`Changes` recorder that yields the delta rows of the commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from arco.catalog.schema import ColumnRow, IdempotencyRow, NamespaceRow, TableRow
from arco.names import name_key

#: delta rows per table name: (row, deleted)
Delta = dict[str, list[tuple[Any, bool]]]


@dataclass
class CatalogState:
    """All live catalog rows at ``version`` plus lookup indexes."""

    version: int = 0
    checkpoint_version: int = 0
    namespaces: dict[str, NamespaceRow] = field(default_factory=dict)
    tables: dict[str, TableRow] = field(default_factory=dict)
    columns: dict[str, ColumnRow] = field(default_factory=dict)
    idempotency: dict[str, IdempotencyRow] = field(default_factory=dict)
    # name_key -> namespace_id
    ns_index: dict[str, str] = field(default_factory=dict)
    # namespace_id -> {name_key -> table_id}; inner dicts are copied on write
    table_index: dict[str, dict[str, str]] = field(default_factory=dict)
    # table_id -> {column_id -> row}; inner dicts are copied on write
    column_index: dict[str, dict[str, ColumnRow]] = field(default_factory=dict)
    _owned: set[int] = field(default_factory=set, repr=False)

    def copy(self) -> CatalogState:
        """A copy whose mutations never affect this state."""
        return CatalogState(
            self.version,
            self.checkpoint_version,
            dict(self.namespaces),
            dict(self.tables),
            dict(self.columns),
            dict(self.idempotency),
            dict(self.ns_index),
            dict(self.table_index),
            dict(self.column_index),
        )

    # --- lookups ------------------------------------------------------------------------

    def namespace_by_name(self, name: str) -> NamespaceRow | None:
        ns_id = self.ns_index.get(name_key(name))
        return self.namespaces.get(ns_id) if ns_id else None

    def table_by_name(self, namespace_id: str, name: str) -> TableRow | None:
        table_id = self.table_index.get(namespace_id, {}).get(name_key(name))
        return self.tables.get(table_id) if table_id else None

    def tables_in(self, namespace_id: str) -> list[TableRow]:
        return [self.tables[t] for t in self.table_index.get(namespace_id, {}).values()]

    def columns_of(self, table_id: str) -> list[ColumnRow]:
        return sorted(self.column_index.get(table_id, {}).values(), key=lambda c: c.position)

    # --- mutation (only on a private copy) -------------------------------------------------

    def _inner(self, index: dict[str, Any], key: str) -> dict[str, Any]:
        inner = index.get(key)
        if inner is None:
            inner = {}
            index[key] = inner
            self._owned.add(id(inner))
        elif id(inner) not in self._owned:
            inner = dict(inner)
            index[key] = inner
            self._owned.add(id(inner))
        return inner

    def upsert(self, table: str, row: Any) -> None:
        if table == "namespaces":
            old_ns = self.namespaces.get(row.namespace_id)
            if old_ns is not None:
                self.ns_index.pop(name_key(old_ns.name), None)
            self.namespaces[row.namespace_id] = row
            self.ns_index[name_key(row.name)] = row.namespace_id
        elif table == "tables":
            old_t = self.tables.get(row.table_id)
            if old_t is not None:
                self._inner(self.table_index, old_t.namespace_id).pop(name_key(old_t.name), None)
            self.tables[row.table_id] = row
            self._inner(self.table_index, row.namespace_id)[name_key(row.name)] = row.table_id
        elif table == "columns":
            old_c = self.columns.get(row.column_id)
            if old_c is not None and old_c.table_id != row.table_id:
                self._inner(self.column_index, old_c.table_id).pop(row.column_id, None)
            self.columns[row.column_id] = row
            self._inner(self.column_index, row.table_id)[row.column_id] = row
        elif table == "idempotency":
            self.idempotency[row.idempotency_key] = row
        else:  # pragma: no cover - programming error
            raise KeyError(table)

    def remove(self, table: str, key: str) -> None:
        if table == "namespaces":
            ns = self.namespaces.pop(key, None)
            if ns is not None:
                self.ns_index.pop(name_key(ns.name), None)
                if not self.table_index.get(key):
                    self.table_index.pop(key, None)
        elif table == "tables":
            t = self.tables.pop(key, None)
            if t is not None:
                self._inner(self.table_index, t.namespace_id).pop(name_key(t.name), None)
                if not self.column_index.get(key):
                    self.column_index.pop(key, None)
        elif table == "columns":
            c = self.columns.pop(key, None)
            if c is not None:
                inner = self._inner(self.column_index, c.table_id)
                inner.pop(key, None)
                if not inner:
                    self.column_index.pop(c.table_id, None)
        elif table == "idempotency":
            self.idempotency.pop(key, None)
        else:  # pragma: no cover - programming error
            raise KeyError(table)

    def apply(
        self, delta: Mapping[str, Sequence[tuple[Any, bool]]], primary_keys: Mapping[str, str]
    ) -> None:
        """Apply delta rows in place (call on a copy). Tables are applied parent-first."""
        for table in ("namespaces", "tables", "columns", "idempotency"):
            pk = primary_keys[table]
            for row, deleted in delta.get(table, ()):
                if deleted:
                    self.remove(table, getattr(row, pk))
                else:
                    self.upsert(table, row)

    def rows(self, table: str) -> Iterable[Any]:
        source: dict[str, Any] = getattr(self, table)
        return source.values()


class Changes:
    """Records the rows a commit writes while applying them to a private state copy."""

    def __init__(self, base: CatalogState) -> None:
        self.state = base.copy()
        self._rows: dict[str, dict[str, tuple[Any, bool]]] = {}

    def upsert(self, table: str, key: str, row: Any) -> None:
        self.state.upsert(table, row)
        self._rows.setdefault(table, {})[key] = (row, False)

    def remove(self, table: str, key: str, row: Any) -> None:
        self.state.remove(table, key)
        self._rows.setdefault(table, {})[key] = (row, True)

    @property
    def empty(self) -> bool:
        return not self._rows

    def delta(self) -> Delta:
        return {table: list(rows.values()) for table, rows in self._rows.items() if rows}
