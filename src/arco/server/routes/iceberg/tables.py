"""Iceberg tables: list, create (stage-create), load (ETag, ``snapshots``), exists, register,
commit, drop (purge), rename, metrics, and multi-table transactions."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import Field
from pyiceberg.catalog.rest import CreateTableRequest, ListTablesResponse, TableResponse
from pyiceberg.catalog.rest import ListTableResponseEntry as TableEntry
from pyiceberg.table import TableIdentifier
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update import TableRequirement, TableUpdate
from pyiceberg.typedef import IcebergBaseModel

from arco.core.paging import DEFAULT_PAGE
from arco.iceberg import LoadedTable, TableChange, TableIdent
from arco.iceberg.errors import BadRequest, NoSuchTable, UnsupportedOperation
from arco.server.routes.iceberg.common import (
    IDENTIFIER,
    NAMESPACE,
    STRING_MAP,
    IcebergRoute,
    IdempotencyKey,
    NamespacePath,
    Prefix,
    RawBody,
    body,
    errors_doc,
    json_body,
    levels,
    model_json,
    no_content,
    ok,
    workspace,
)
from arco.server.routes.iceberg.namespaces import PageSize, PageToken
from arco.server.workspaces import Workspace

router = APIRouter(route_class=IcebergRoute)

_TABLES = "/v1/{prefix}/namespaces/{namespace}/tables"
_TABLE = _TABLES + "/{table}"


class CommitRequest(IcebergBaseModel):
    """The spec's CommitTableRequest (``identifier`` optional on the table's own path)."""

    identifier: TableIdentifier | None = None
    requirements: tuple[TableRequirement, ...] = Field(default_factory=tuple)
    updates: tuple[TableUpdate, ...] = Field(default_factory=tuple)


class TransactionChange(IcebergBaseModel):
    identifier: TableIdentifier
    requirements: tuple[TableRequirement, ...] = Field(default_factory=tuple)
    updates: tuple[TableUpdate, ...] = Field(default_factory=tuple)


class CommitTransactionRequest(IcebergBaseModel):
    table_changes: list[TransactionChange] = Field(alias="table-changes", min_length=1)


class RegisterRequest(IcebergBaseModel):
    name: str
    metadata_location: str = Field(alias="metadata-location")
    overwrite: bool = False


class RenameRequest(IcebergBaseModel):
    source: TableIdentifier
    destination: TableIdentifier


class MetricsReport(IcebergBaseModel):
    report_type: str = Field(alias="report-type")


LOAD_RESULT: dict[str, Any] = {
    "type": "object",
    "required": ["metadata"],
    "properties": {
        "metadata-location": {"type": "string"},
        "metadata": {"type": "object", "description": "TableMetadata"},
        "config": STRING_MAP,
        "storage-credentials": {"type": "array", "items": {"type": "object"}},
    },
}
_LIST_RESULT = {
    "type": "object",
    "required": ["identifiers"],
    "properties": {
        "identifiers": {"type": "array", "items": IDENTIFIER},
        "next-page-token": {"type": "string"},
    },
}
_COMMIT_BODY = {
    "type": "object",
    "properties": {
        "identifier": IDENTIFIER,
        "requirements": {"type": "array", "items": {"type": "object"}},
        "updates": {"type": "array", "items": {"type": "object"}},
    },
}


def ident(namespace: NamespacePath, name: str) -> TableIdent:
    return TableIdent.of(levels(namespace), name)


def from_identifier(identifier: TableIdentifier) -> TableIdent:
    return TableIdent.of(tuple(identifier.namespace.root), identifier.name)


def table_json(
    ws: Workspace, loaded: LoadedTable, *, load: bool = True, **headers: str
) -> Response:
    """A ``LoadTableResult`` (``load``) or a ``CommitTableResponse``, as pyiceberg's models
    serialize them, around the metadata's JSON as the service caches it per file (a table's
    metadata grows with its snapshots: serializing it was most of a load)."""
    parts = []
    if loaded.metadata_location is not None:
        parts.append(b'"metadata-location":' + json.dumps(loaded.metadata_location).encode())
    parts.append(
        b'"metadata":' + ws.iceberg.files.json_of(loaded.metadata_location, loaded.metadata)
    )
    if load:
        parts.append(b'"config":{},"storage-credentials":[]')
    return Response(
        b"{" + b",".join(parts) + b"}", media_type="application/json", headers=headers or None
    )


def _refs_only(metadata: TableMetadata) -> TableMetadata:
    """Only the snapshots some branch or tag references (``snapshots=refs``)."""
    referenced = {ref.snapshot_id for ref in metadata.refs.values()}
    kept = [s for s in metadata.snapshots if s.snapshot_id in referenced]
    return metadata.model_copy(update={"snapshots": kept})


def etag(location: str | None, mode: str) -> str:
    digest = hashlib.sha256(f"{location}\n{mode}".encode()).hexdigest()[:40]
    return f'"{digest}"'


def _matches(if_none_match: str | None, tag: str) -> bool:
    if if_none_match is None:
        return False
    candidates = [c.strip().removeprefix("W/") for c in if_none_match.split(",")]
    return "*" in candidates or tag in candidates


@router.get(
    _TABLES,
    summary="List the tables of a namespace",
    responses={**ok(_LIST_RESULT, "the tables"), **errors_doc(404)},
)
def list_tables(
    request: Request,
    prefix: Prefix,
    namespace: NamespacePath,
    page_token: PageToken = None,
    page_size: PageSize = None,
) -> Response:
    ns = levels(namespace)
    with workspace(request, prefix, ns) as ws:
        page = ws.iceberg.list_tables(
            ns, page_token=page_token or None, limit=page_size or DEFAULT_PAGE
        )
    entries = [TableEntry(namespace=t.namespace, name=t.name) for t in page.items]
    return model_json(
        ListTablesResponse.model_validate(
            {"identifiers": entries, "next-page-token": page.next_page_token}
        )
    )


@router.post(
    _TABLES,
    summary="Create a table (stage-create: build its metadata, write nothing)",
    openapi_extra=json_body(
        {
            "type": "object",
            "required": ["name", "schema"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "location": {"type": "string"},
                "schema": {"type": "object"},
                "partition-spec": {"type": "object"},
                "write-order": {"type": "object"},
                "stage-create": {"type": "boolean"},
                "properties": STRING_MAP,
            },
        },
        "CreateTableRequest",
    ),
    responses={**ok(LOAD_RESULT, "the new table"), **errors_doc(404, 409)},
)
def create_table(
    request: Request,
    prefix: Prefix,
    namespace: NamespacePath,
    raw: RawBody,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    ns = levels(namespace)
    req = body(raw, CreateTableRequest, location=None, partition_spec=None, write_order=None)
    with workspace(request, prefix, ns) as ws:
        loaded = ws.iceberg.create_table(ns, req, idempotency_key=idempotency_key)
        return table_json(ws, loaded)


@router.post(
    "/v1/{prefix}/namespaces/{namespace}/register",
    summary="Register a table from an existing metadata file",
    openapi_extra=json_body(
        {
            "type": "object",
            "required": ["name", "metadata-location"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "metadata-location": {"type": "string"},
                "overwrite": {"type": "boolean"},
            },
        },
        "RegisterTableRequest",
    ),
    responses={**ok(LOAD_RESULT, "the registered table"), **errors_doc(404, 406, 409)},
)
def register_table(
    request: Request,
    prefix: Prefix,
    namespace: NamespacePath,
    raw: RawBody,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    ns = levels(namespace)
    req = body(raw, RegisterRequest)
    if req.overwrite:
        raise UnsupportedOperation("register: overwrite is not supported")
    with workspace(request, prefix, ns) as ws:
        loaded = ws.iceberg.register_table(
            TableIdent.of(ns, req.name), req.metadata_location, idempotency_key=idempotency_key
        )
        return table_json(ws, loaded)


@router.get(
    _TABLE,
    summary="Load a table (ETag; If-None-Match answers 304)",
    responses={
        200: {
            "description": "the table",
            "headers": {"ETag": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": LOAD_RESULT}},
        },
        304: {"description": "not modified since the ETag given in If-None-Match"},
        **errors_doc(404),
    },
)
def load_table(
    request: Request,
    prefix: Prefix,
    namespace: NamespacePath,
    table: str,
    snapshots: Annotated[Literal["all", "refs"] | None, Query()] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
    access_delegation: Annotated[
        str | None,
        Header(
            alias="X-Iceberg-Access-Delegation",
            description="accepted and ignored: clients bring their own storage credentials",
        ),
    ] = None,
) -> Response:
    target = ident(namespace, table)
    with workspace(request, prefix, target.namespace) as ws:
        loaded = ws.iceberg.load_table(target)
        mode = snapshots or "all"
        tag = etag(loaded.metadata_location, mode)
        if _matches(if_none_match, tag):
            return Response(status_code=304, headers={"ETag": tag})
        if mode == "refs":
            # not the file's content: serialized here, not cached under its location
            refs = TableResponse.model_validate(
                {
                    "metadata-location": loaded.metadata_location,
                    "metadata": _refs_only(loaded.metadata),
                    "config": {},
                }
            )
            return model_json(refs, ETag=tag)
        return table_json(ws, loaded, ETag=tag)


@router.head(
    _TABLE,
    summary="Whether a table exists",
    status_code=204,
    responses={**ok(None, "it exists", 204), **errors_doc(404)},
)
def table_exists(
    request: Request, prefix: Prefix, namespace: NamespacePath, table: str
) -> Response:
    target = ident(namespace, table)
    with workspace(request, prefix, target.namespace) as ws:
        if not ws.iceberg.table_exists(target):
            return Response(status_code=404)
    return no_content()


@router.post(
    _TABLE,
    summary="Commit updates to a table (requirements must hold)",
    openapi_extra=json_body(_COMMIT_BODY, "CommitTableRequest"),
    responses={
        **ok(
            {
                "type": "object",
                "required": ["metadata-location", "metadata"],
                "properties": {
                    "metadata-location": {"type": "string"},
                    "metadata": {"type": "object"},
                },
            },
            "the committed metadata",
        ),
        **errors_doc(404, 409),
    },
)
def commit_table(
    request: Request,
    prefix: Prefix,
    namespace: NamespacePath,
    table: str,
    raw: RawBody,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    target = ident(namespace, table)
    req = body(raw, CommitRequest)
    if req.identifier is not None and from_identifier(req.identifier) != target:
        raise BadRequest("identifier: does not name the table of the path")
    with workspace(request, prefix, target.namespace) as ws:
        loaded = ws.iceberg.commit_table(
            target, req.requirements, req.updates, idempotency_key=idempotency_key
        )
        return table_json(ws, loaded, load=False)


@router.delete(
    _TABLE,
    summary="Drop a table (purgeRequested: also delete its files)",
    status_code=204,
    responses={**ok(None, "dropped", 204), **errors_doc(404)},
)
def drop_table(
    request: Request,
    prefix: Prefix,
    namespace: NamespacePath,
    table: str,
    purge_requested: Annotated[bool, Query(alias="purgeRequested")] = False,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    target = ident(namespace, table)
    with workspace(request, prefix, target.namespace) as ws:
        ws.iceberg.drop_table(target, purge=purge_requested, idempotency_key=idempotency_key)
    return no_content()


@router.post(
    "/v1/{prefix}/tables/rename",
    summary="Rename a table (also across namespaces)",
    status_code=204,
    openapi_extra=json_body(
        {
            "type": "object",
            "required": ["source", "destination"],
            "properties": {"source": IDENTIFIER, "destination": IDENTIFIER},
        },
        "RenameTableRequest",
    ),
    responses={**ok(None, "renamed", 204), **errors_doc(404, 409)},
)
def rename_table(
    request: Request, prefix: Prefix, raw: RawBody, idempotency_key: IdempotencyKey = None
) -> Response:
    req = body(raw, RenameRequest)
    source = from_identifier(req.source)
    with workspace(request, prefix, source.namespace) as ws:
        ws.iceberg.rename_table(
            source, from_identifier(req.destination), idempotency_key=idempotency_key
        )
    return no_content()


@router.post(
    _TABLE + "/metrics",
    summary="Accept a metrics report (not stored)",
    status_code=204,
    openapi_extra=json_body(
        {
            "type": "object",
            "required": ["report-type"],
            "properties": {"report-type": {"type": "string"}},
        },
        "ReportMetricsRequest",
    ),
    responses={**ok(None, "accepted", 204), **errors_doc(404)},
)
def report_metrics(
    request: Request, prefix: Prefix, namespace: NamespacePath, table: str, raw: RawBody
) -> Response:
    target = ident(namespace, table)
    body(raw, MetricsReport)
    with workspace(request, prefix, target.namespace) as ws:
        if not ws.iceberg.table_exists(target):
            raise NoSuchTable(f"table {str(target)!r} does not exist")
    return no_content()


@router.post(
    "/v1/{prefix}/transactions/commit",
    summary="Commit changes to several tables atomically",
    status_code=204,
    openapi_extra=json_body(
        {
            "type": "object",
            "required": ["table-changes"],
            "properties": {
                "table-changes": {
                    "type": "array",
                    "minItems": 1,
                    "items": {**_COMMIT_BODY, "required": ["identifier"]},
                }
            },
        },
        "CommitTransactionRequest",
    ),
    responses={**ok(None, "all committed", 204), **errors_doc(404, 409)},
)
def commit_transaction(
    request: Request, prefix: Prefix, raw: RawBody, idempotency_key: IdempotencyKey = None
) -> Response:
    req = body(raw, CommitTransactionRequest)
    changes = [
        TableChange(from_identifier(c.identifier), c.requirements, c.updates)
        for c in req.table_changes
    ]
    with workspace(request, prefix, changes[0].ident.namespace) as ws:
        ws.iceberg.commit_transaction(changes, idempotency_key=idempotency_key)
    return no_content()


__all__ = ["LOAD_RESULT", "NAMESPACE", "router"]
