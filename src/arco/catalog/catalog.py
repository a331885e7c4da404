"""The :class:`Catalog` facade: one scope of a store, with the writer and reader wired up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pydantic

from arco.catalog.api import ColumnsArg
from arco.catalog.domain import CATALOG
from arco.catalog.model import Column, Namespace, Page, Table
from arco.catalog.operations import (
    ColumnSpec,
    CreateNamespace,
    DropNamespace,
    DropTable,
    Operation,
    RegisterTable,
    RenameTable,
    Result,
    UpdateNamespace,
    UpdateTable,
    build_request,
    shape_error,
)
from arco.catalog.reader import CatalogReader
from arco.catalog.search_index import SearchHit
from arco.catalog.search_index import search as search_catalog
from arco.core.clock import SYSTEM_CLOCK, Clock
from arco.core.paging import DEFAULT_PAGE
from arco.core.scope import DEFAULT_SCOPE, Scope
from arco.errors import ArcoError, ValidationError
from arco.lineage import LINEAGE, AddEdge, Direction, Edge, LineageGraph, RemoveEdge, traverse
from arco.metadata.domain import Request
from arco.metadata.manifest import read_manifest
from arco.metadata.snapshot import SnapshotLoader
from arco.storage import ScopedStore, open_store
from arco.storage.port import ObjectStore
from arco.tier1.writer import DomainWriter, WriterOptions


def _columns(columns: ColumnsArg | None, field: str = "columns") -> list[ColumnSpec]:
    specs = []
    for i, c in enumerate(columns or ()):
        if isinstance(c, ColumnSpec):
            specs.append(c)
            continue
        try:
            specs.append(ColumnSpec.model_validate(c))
        except pydantic.ValidationError as exc:
            error = shape_error(exc)
            raise ValidationError(f"{field}[{i}].{error.message}") from None
    return specs


class Catalog:
    """Catalog operations for one ``(tenant, workspace)`` scope of an object store.

    ``store`` is the *root* store; the catalog scopes it itself, so no key outside
    ``tenant={t}/workspace={w}/`` can ever be formed.
    """

    def __init__(
        self,
        store: ObjectStore,
        scope: Scope = DEFAULT_SCOPE,
        *,
        options: WriterOptions | None = None,
        holder: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.scope = scope
        self.root_store = store
        self.store: ObjectStore = ScopedStore(store, scope.prefix)
        self.loader = SnapshotLoader(self.store, CATALOG)
        self.writer = DomainWriter(
            self.store, self.loader, options=options, holder=holder, clock=clock
        )
        self.reader = CatalogReader(self.store, self.loader)
        # lineage is its own tier-1 domain: own lock, manifest and commit chain
        self.lineage_loader = SnapshotLoader(self.store, LINEAGE)
        self.lineage_writer = DomainWriter(
            self.store, self.lineage_loader, options=options, holder=holder, clock=clock
        )

    @classmethod
    def open(
        cls,
        url: str,
        scope: Scope = DEFAULT_SCOPE,
        *,
        options: WriterOptions | None = None,
        **store_options: Any,
    ) -> Catalog:
        """Open a catalog on a store URL (``file://``, ``memory://``, ``s3://`` ...)."""
        return cls(open_store(url, **store_options), scope, options=options)

    def close(self) -> None:
        """Wait for background work (checkpoints) to finish."""
        self.writer.close()
        self.lineage_writer.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writes -------------------------------------------------------------------------

    def submit(self, request: Operation, *, idempotency_key: str | None = None) -> Result:
        """Apply any catalog request (the typed methods below are shortcuts)."""
        typed: Request[Result] = request
        return self.writer.submit(typed, idempotency_key)

    def submit_all(self, requests: Sequence[Operation]) -> list[Result | ArcoError]:
        """Apply several requests in one commit; each gets its own result or error."""
        typed: list[Request[Result]] = list(requests)
        return self.writer.submit_all(typed)

    def create_namespace(
        self,
        name: str,
        *,
        description: str | None = None,
        properties: dict[str, str] | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Namespace:
        req = build_request(
            CreateNamespace,
            name=name,
            description=description,
            properties=properties or {},
            if_match=if_match,
        )
        return self.writer.submit(req, idempotency_key)

    def update_namespace(
        self,
        name: str,
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
        **changes: Any,
    ) -> Namespace:
        """Changes: ``description``, ``set_properties``, ``remove_properties``."""
        req = build_request(UpdateNamespace, name=name, if_match=if_match, **changes)
        return self.writer.submit(req, idempotency_key)

    def drop_namespace(
        self, name: str, *, if_match: int | None = None, idempotency_key: str | None = None
    ) -> Namespace:
        req = build_request(DropNamespace, name=name, if_match=if_match)
        return self.writer.submit(req, idempotency_key)

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
    ) -> Table:
        req = build_request(
            RegisterTable,
            namespace=namespace,
            name=name,
            columns=_columns(columns),
            description=description,
            location=location,
            format=format,
            properties=properties or {},
            if_match=if_match,
        )
        return self.writer.submit(req, idempotency_key)

    def update_table(
        self,
        namespace: str,
        name: str,
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
        **changes: Any,
    ) -> Table:
        """Changes: description, location, format, set_properties, remove_properties,
        add_columns, drop_columns, rename_columns."""
        if "add_columns" in changes:
            changes["add_columns"] = _columns(changes["add_columns"], "add_columns")
        req = build_request(
            UpdateTable, namespace=namespace, name=name, if_match=if_match, **changes
        )
        return self.writer.submit(req, idempotency_key)

    def rename_table(
        self,
        namespace: str,
        name: str,
        new_name: str,
        *,
        new_namespace: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Table:
        req = build_request(
            RenameTable,
            namespace=namespace,
            name=name,
            new_name=new_name,
            new_namespace=new_namespace,
            if_match=if_match,
        )
        return self.writer.submit(req, idempotency_key)

    def drop_table(
        self,
        namespace: str,
        name: str,
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Table:
        req = build_request(DropTable, namespace=namespace, name=name, if_match=if_match)
        return self.writer.submit(req, idempotency_key)

    # --- reads --------------------------------------------------------------------------

    def snapshot_version(self) -> int:
        return self.reader.snapshot_version()

    def get_namespace(self, name: str) -> Namespace:
        return self.reader.get_namespace(name)

    def list_namespaces(
        self, *, page_token: str | None = None, limit: int = DEFAULT_PAGE
    ) -> Page[Namespace]:
        return self.reader.list_namespaces(page_token=page_token, limit=limit)

    def get_table(self, namespace: str, name: str) -> Table:
        return self.reader.get_table(namespace, name)

    def list_tables(
        self, namespace: str, *, page_token: str | None = None, limit: int = DEFAULT_PAGE
    ) -> Page[Table]:
        return self.reader.list_tables(namespace, page_token=page_token, limit=limit)

    def list_columns(self, namespace: str, name: str) -> list[Column]:
        return self.reader.list_columns(namespace, name)

    def search(self, query: str, *, limit: int = 20) -> list[SearchHit]:
        """Ranked prefix search over names, descriptions and columns (any script)."""
        return search_catalog(self.reader.state(), query, limit)

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
    ) -> Edge:
        """Record that asset ``source`` feeds asset ``target`` (``namespace/name`` keys)."""
        req = build_request(
            AddEdge,
            source=source,
            target=target,
            edge_type=edge_type,
            run_id=run_id,
            if_match=if_match,
        )
        return self.lineage_writer.submit(req, idempotency_key)

    def remove_lineage_edge(
        self,
        source: str,
        target: str,
        *,
        edge_type: str = "derives",
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Edge:
        req = build_request(
            RemoveEdge, source=source, target=target, edge_type=edge_type, if_match=if_match
        )
        return self.lineage_writer.submit(req, idempotency_key)

    def lineage(self, asset: str, *, direction: Direction = "both", depth: int = 3) -> LineageGraph:
        """The lineage graph around ``asset`` up to ``depth`` hops."""
        state = self.lineage_loader.load(read_manifest(self.store, LINEAGE.name))
        return traverse(state, asset, direction, depth)


if TYPE_CHECKING:
    from arco.catalog.api import CatalogApi

    def _implements_catalog_api(catalog: Catalog) -> CatalogApi:
        """mypy checks that :class:`Catalog` implements :class:`CatalogApi`."""
        return catalog
