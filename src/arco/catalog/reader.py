"""Read side of the catalog: lookups and paged lists over the current snapshot.

Every call reads the manifest (one small GET) and then serves from the state cached for that
version, so a read issued after a write returns sees the write. Readers never take locks.
"""

from __future__ import annotations

from typing import TypeVar

from arco.catalog.domain import CATALOG
from arco.catalog.model import Column, Namespace, Page, Table
from arco.catalog.operations import table_view
from arco.catalog.state import CatalogState
from arco.core.names import validate_name
from arco.core.paging import DEFAULT_PAGE, paginate
from arco.errors import NotFoundError
from arco.metadata.manifest import StoredManifest, read_manifest
from arco.metadata.snapshot import SnapshotLoader
from arco.storage.port import ObjectStore

T = TypeVar("T")
R = TypeVar("R")


class CatalogReader:
    """Lookups over the current catalog snapshot of one scope."""

    def __init__(self, store: ObjectStore, loader: SnapshotLoader[CatalogState]) -> None:
        self._store = store
        self._loader = loader

    def head(self) -> StoredManifest | None:
        return read_manifest(self._store, CATALOG.name)

    def state(self) -> CatalogState:
        """The current state (from cache when the manifest version is unchanged)."""
        return self._loader.load(self.head())

    def snapshot_version(self) -> int:
        head = self.head()
        return head.manifest.snapshot_version if head is not None else 0

    def get_namespace(self, name: str) -> Namespace:
        name = validate_name("name", name)
        row = self.state().namespace_by_name(name)
        if row is None:
            raise NotFoundError(f"namespace {name!r} does not exist")
        return Namespace.from_row(row)

    def list_namespaces(
        self, *, page_token: str | None = None, limit: int = DEFAULT_PAGE
    ) -> Page[Namespace]:
        page, token = paginate(self.state().namespaces_sorted(), page_token, limit)
        return Page[Namespace](items=[Namespace.from_row(r) for r in page], next_page_token=token)

    def get_table(self, namespace: str, name: str) -> Table:
        namespace = validate_name("namespace", namespace)
        name = validate_name("name", name)
        state = self.state()
        ns = state.namespace_by_name(namespace)
        if ns is None:
            raise NotFoundError(f"namespace {namespace!r} does not exist")
        row = state.table_by_name(ns.namespace_id, name)
        if row is None:
            raise NotFoundError(f"table {namespace!r}.{name!r} does not exist")
        return table_view(state, row)

    def list_tables(
        self, namespace: str, *, page_token: str | None = None, limit: int = DEFAULT_PAGE
    ) -> Page[Table]:
        namespace = validate_name("namespace", namespace)
        state = self.state()
        ns = state.namespace_by_name(namespace)
        if ns is None:
            raise NotFoundError(f"namespace {namespace!r} does not exist")
        page, token = paginate(state.tables_in(ns.namespace_id), page_token, limit)
        return Page[Table](items=[table_view(state, r) for r in page], next_page_token=token)

    def list_columns(self, namespace: str, name: str) -> list[Column]:
        return self.get_table(namespace, name).columns
