"""The catalog and executions of a server, shaped like :class:`arco.catalog.Catalog` and
:class:`arco.executions.Executions` so that code (the CLI) runs unchanged against either."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import BaseModel

from arco.catalog.model import Column, Namespace, Table
from arco.catalog.operations import ColumnSpec
from arco.catalog.search_index import SearchHit
from arco.core.paging import DEFAULT_PAGE, Page
from arco.errors import ArcoError, NotFoundError
from arco.executions.model import Materialization
from arco.lineage import Direction, Edge, LineageGraph
from arco.tier2.envelope import EventEnvelope

if TYPE_CHECKING:
    from arco.client.transport import Transport
    from arco.executions.state import ExecutionsState
    from arco.storage.port import ObjectStore
    from arco.tier2.compactor import CompactionResult, Compactor
    from arco.tier2.ingestor import FoldMode

__all__ = ["RemoteCatalog", "RemoteExecutions", "StoreOnlyError", "segment"]

_DIRECTION_PARAM = {"upstream": "up", "downstream": "down", "both": "both"}


class StoreOnlyError(ArcoError):
    """The operation needs direct access to the store; a server does not offer it."""

    code = "STORE_ONLY"


def segment(value: str) -> str:
    """One path segment, percent-encoded (names may hold any character but ``/``)."""
    return quote(value, safe="")


_seg = segment


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _columns(columns: Sequence[ColumnSpec | Mapping[str, Any]] | None) -> list[Any]:
    return [_jsonable(c) for c in columns or ()]


class RemoteCatalog:
    """:class:`arco.catalog.Catalog`'s methods over the REST API of a server.

    Differences: ``drop_*`` and ``remove_lineage_edge`` answer 204 on the wire, so the
    entity they return is the one read just before the drop (its pre-drop ``version``).
    ``if_match`` on a create is sent as ``If-Match`` and compared with the snapshot version
    by the server.
    """

    def __init__(self, client: Transport) -> None:
        self._client = client

    @property
    def store(self) -> ObjectStore:
        """Not available remotely: the store is the server's."""
        raise StoreOnlyError("this operation works on a store, not through a server URL")

    def close(self) -> None:
        """Nothing to close (the client owns the connection)."""

    # --- namespaces ---------------------------------------------------------------------

    def create_namespace(
        self,
        name: str,
        *,
        description: str | None = None,
        properties: dict[str, str] | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Namespace:
        body = {"name": name, "description": description, "properties": properties or {}}
        response = self._client.request(
            "POST", "/namespaces", json=body, if_match=if_match, idempotency_key=idempotency_key
        )
        return Namespace.model_validate(response.json())

    def get_namespace(self, name: str) -> Namespace:
        return Namespace.model_validate(self._client.get_json(f"/namespaces/{_seg(name)}"))

    def list_namespaces(
        self, *, page_token: str | None = None, limit: int = DEFAULT_PAGE
    ) -> Page[Namespace]:
        data = self._client.get_json("/namespaces", {"page_token": page_token, "limit": limit})
        return Page[Namespace].model_validate(data)

    def update_namespace(
        self,
        name: str,
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
        **changes: Any,
    ) -> Namespace:
        """Changes: ``description``, ``set_properties``, ``remove_properties``."""
        response = self._client.request(
            "PATCH",
            f"/namespaces/{_seg(name)}",
            json=_jsonable(changes),
            if_match=if_match,
            idempotency_key=idempotency_key,
        )
        return Namespace.model_validate(response.json())

    def drop_namespace(
        self, name: str, *, if_match: int | None = None, idempotency_key: str | None = None
    ) -> Namespace:
        before = self.get_namespace(name)
        response = self._client.request(
            "DELETE",
            f"/namespaces/{_seg(name)}",
            if_match=if_match,
            idempotency_key=idempotency_key,
        )
        return Namespace.model_validate(response.json()) if response.content else before

    # --- tables -------------------------------------------------------------------------

    def register_table(
        self,
        namespace: str,
        name: str,
        columns: Sequence[ColumnSpec | Mapping[str, Any]] | None = None,
        *,
        description: str | None = None,
        location: str | None = None,
        format: str = "parquet",
        properties: dict[str, str] | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Table:
        body = {
            "name": name,
            "columns": _columns(columns),
            "description": description,
            "location": location,
            "format": format,
            "properties": properties or {},
        }
        response = self._client.request(
            "POST",
            f"/namespaces/{_seg(namespace)}/tables",
            json=body,
            if_match=if_match,
            idempotency_key=idempotency_key,
        )
        return Table.model_validate(response.json())

    def get_table(self, namespace: str, name: str) -> Table:
        path = f"/namespaces/{_seg(namespace)}/tables/{_seg(name)}"
        return Table.model_validate(self._client.get_json(path))

    def list_tables(
        self, namespace: str, *, page_token: str | None = None, limit: int = DEFAULT_PAGE
    ) -> Page[Table]:
        data = self._client.get_json(
            f"/namespaces/{_seg(namespace)}/tables", {"page_token": page_token, "limit": limit}
        )
        return Page[Table].model_validate(data)

    def list_columns(self, namespace: str, name: str) -> list[Column]:
        return list(self.get_table(namespace, name).columns)

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
        return self._patch_table(namespace, name, _jsonable(changes), if_match, idempotency_key)

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
        body: dict[str, Any] = {"new_name": new_name}
        if new_namespace is not None:
            body["new_namespace"] = new_namespace
        return self._patch_table(namespace, name, body, if_match, idempotency_key)

    def _patch_table(
        self,
        namespace: str,
        name: str,
        body: dict[str, Any],
        if_match: int | None,
        idempotency_key: str | None,
    ) -> Table:
        response = self._client.request(
            "PATCH",
            f"/namespaces/{_seg(namespace)}/tables/{_seg(name)}",
            json=body,
            if_match=if_match,
            idempotency_key=idempotency_key,
        )
        return Table.model_validate(response.json())

    def drop_table(
        self,
        namespace: str,
        name: str,
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Table:
        before = self.get_table(namespace, name)
        response = self._client.request(
            "DELETE",
            f"/namespaces/{_seg(namespace)}/tables/{_seg(name)}",
            if_match=if_match,
            idempotency_key=idempotency_key,
        )
        return Table.model_validate(response.json()) if response.content else before

    # --- reads --------------------------------------------------------------------------

    def snapshot_version(self) -> int:
        """The catalog's current snapshot version (0 before the first commit)."""
        try:
            return self._client.manifest("catalog").snapshot_version
        except NotFoundError:
            return 0

    def search(self, query: str, *, limit: int = 20) -> list[SearchHit]:
        """Ranked prefix search over names, descriptions and columns (any script)."""
        data = self._client.get_json("/search", {"q": query, "limit": limit})
        return [SearchHit.model_validate(item) for item in data["items"]]

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
        body = {"source": source, "target": target, "edge_type": edge_type, "run_id": run_id}
        response = self._client.request(
            "POST", "/lineage/edges", json=body, if_match=if_match, idempotency_key=idempotency_key
        )
        return Edge.model_validate(response.json())

    def remove_lineage_edge(
        self,
        source: str,
        target: str,
        *,
        edge_type: str = "derives",
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Edge:
        before = self._find_edge(source, target, edge_type)
        body = {"source": source, "target": target, "edge_type": edge_type}
        response = self._client.request(
            "DELETE",
            "/lineage/edges",
            json=body,
            if_match=if_match,
            idempotency_key=idempotency_key,
        )
        if response.content:
            return Edge.model_validate(response.json())
        if before is None:  # only a replayed removal gets here
            raise NotFoundError(f"edge {source} -> {target} ({edge_type}) does not exist")
        return before

    def _find_edge(self, source: str, target: str, edge_type: str) -> Edge | None:
        try:
            graph = self.lineage(source, direction="downstream", depth=1)
        except NotFoundError:
            return None
        for edge in graph.edges:
            if (
                edge.source.casefold() == graph.root.casefold()
                and edge.target.casefold() == target.casefold()
                and edge.edge_type == edge_type.lower()
            ):
                return edge
        return None

    def lineage(self, asset: str, *, direction: Direction = "both", depth: int = 3) -> LineageGraph:
        """The lineage graph around ``asset`` up to ``depth`` hops."""
        param = _DIRECTION_PARAM.get(direction, direction)
        path = "/lineage/" + "/".join(_seg(part) for part in asset.split("/"))
        data = self._client.get_json(path, {"direction": param, "depth": depth})
        return LineageGraph.model_validate(data)


class RemoteExecutions:
    """:class:`arco.executions.Executions`' reads and appends over the REST API.

    Folding is the server's business: ``fold`` is accepted and ignored, and ``compact()`` /
    ``compactor`` (which need the store) raise :class:`StoreOnlyError`.
    """

    def __init__(self, client: Transport) -> None:
        self._client = client

    @property
    def store(self) -> ObjectStore:
        raise StoreOnlyError("this operation works on a store, not through a server URL")

    @property
    def compactor(self) -> Compactor[ExecutionsState]:
        raise StoreOnlyError("compaction works on a store, not through a server URL")

    def compact(self) -> CompactionResult:
        raise StoreOnlyError("compaction works on a store, not through a server URL")

    def close(self) -> None:
        """Nothing to close (the client owns the connection)."""

    def append(
        self,
        events: Sequence[EventEnvelope | Mapping[str, Any]],
        *,
        fold: FoldMode | None = None,
        idempotency_key: str | None = None,
    ) -> list[str]:
        """``POST /events``: the ids of the appended events (``fold`` is the server's)."""
        return self._client.append_events(events, idempotency_key=idempotency_key)

    def get_materialization(self, materialization_id: str) -> Materialization:
        data = self._client.get_json(f"/materializations/{_seg(materialization_id)}")
        return Materialization.model_validate(data)

    def list_materializations(
        self,
        *,
        asset_key: str | None = None,
        run_id: str | None = None,
        status: str | None = None,
        page_token: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page[Materialization]:
        """Materializations, newest event first, optionally filtered."""
        params = {
            "asset_key": asset_key,
            "run_id": run_id,
            "status": status,
            "page_token": page_token,
            "limit": limit,
        }
        return Page[Materialization].model_validate(
            self._client.get_json("/materializations", params)
        )


if TYPE_CHECKING:
    from arco.catalog.api import CatalogApi
    from arco.executions.api import ExecutionsApi

    def _implements_catalog_api(catalog: RemoteCatalog) -> CatalogApi:
        """mypy checks that :class:`RemoteCatalog` implements :class:`CatalogApi`."""
        return catalog

    def _implements_executions_api(executions: RemoteExecutions) -> ExecutionsApi:
        """mypy checks that :class:`RemoteExecutions` implements :class:`ExecutionsApi`."""
        return executions
