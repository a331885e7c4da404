"""``CatalogApi``: the catalog surface shared by the library and the HTTP client.

:class:`arco.catalog.Catalog` (on a store) and :class:`arco.client.RemoteCatalog` (through
a server) both implement it, and mypy checks that they do (see the ``TYPE_CHECKING``
blocks at the end of their modules). Code that works with either, such as the CLI, is
written against this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from arco.catalog.model import Column, Namespace, Page, Table
from arco.catalog.operations import ColumnSpec
from arco.catalog.search_index import SearchHit
from arco.core.paging import DEFAULT_PAGE
from arco.lineage import Direction, Edge, LineageGraph
from arco.storage.port import ObjectStore

__all__ = ["CatalogApi", "ColumnsArg"]

#: columns as callers give them: specs, or mappings of their fields
ColumnsArg = Sequence[ColumnSpec | dict[str, Any]]


class CatalogApi(Protocol):
    """Namespaces, tables, search and lineage of one workspace."""

    @property
    def store(self) -> ObjectStore:
        """The workspace's scoped store (StoreOnlyError through a server)."""
        ...

    def close(self) -> None: ...

    # --- namespaces ---------------------------------------------------------------------

    def create_namespace(
        self,
        name: str,
        *,
        description: str | None = None,
        properties: dict[str, str] | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Namespace: ...

    def get_namespace(self, name: str) -> Namespace: ...

    def list_namespaces(
        self, *, page_token: str | None = None, limit: int = DEFAULT_PAGE
    ) -> Page[Namespace]: ...

    def update_namespace(
        self,
        name: str,
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
        **changes: Any,
    ) -> Namespace: ...

    def drop_namespace(
        self, name: str, *, if_match: int | None = None, idempotency_key: str | None = None
    ) -> Namespace: ...

    # --- tables -------------------------------------------------------------------------

    def register_table(
        self,
        namespace: str,
        name: str,
        columns: ColumnsArg | None = None,
        *,
        description: str | None = None,
        location: str | None = None,
        format: str = "parquet",
        properties: dict[str, str] | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Table: ...

    def get_table(self, namespace: str, name: str) -> Table: ...

    def list_tables(
        self, namespace: str, *, page_token: str | None = None, limit: int = DEFAULT_PAGE
    ) -> Page[Table]: ...

    def list_columns(self, namespace: str, name: str) -> list[Column]: ...

    def update_table(
        self,
        namespace: str,
        name: str,
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
        **changes: Any,
    ) -> Table: ...

    def rename_table(
        self,
        namespace: str,
        name: str,
        new_name: str,
        *,
        new_namespace: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Table: ...

    def drop_table(
        self,
        namespace: str,
        name: str,
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Table: ...

    # --- reads --------------------------------------------------------------------------

    def snapshot_version(self) -> int: ...

    def search(self, query: str, *, limit: int = 20) -> list[SearchHit]: ...

    # --- lineage ------------------------------------------------------------------------

    def add_lineage_edge(
        self,
        source: str,
        target: str,
        *,
        edge_type: str = "derives",
        run_id: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Edge: ...

    def remove_lineage_edge(
        self,
        source: str,
        target: str,
        *,
        edge_type: str = "derives",
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Edge: ...

    def lineage(
        self, asset: str, *, direction: Direction = "both", depth: int = 3
    ) -> LineageGraph: ...
