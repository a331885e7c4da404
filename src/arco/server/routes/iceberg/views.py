"""Iceberg views: list, create, load, exists, replace (commit), drop, rename."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field
from pyiceberg.catalog.rest import CreateViewRequest, ListViewsResponse, ViewResponse
from pyiceberg.catalog.rest import ListViewResponseEntry as ViewEntry
from pyiceberg.table import TableIdentifier
from pyiceberg.typedef import IcebergBaseModel

from arco.core.paging import DEFAULT_PAGE
from arco.iceberg import IcebergViews, LoadedView, TableIdent
from arco.iceberg.errors import BadRequest
from arco.iceberg.views import ViewRequirement, ViewUpdate
from arco.server.routes.iceberg.common import (
    IDENTIFIER,
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
from arco.server.routes.iceberg.tables import RenameRequest, from_identifier

router = APIRouter(route_class=IcebergRoute)

_VIEWS = "/v1/{prefix}/namespaces/{namespace}/views"
_VIEW = _VIEWS + "/{view}"


class CommitViewRequest(IcebergBaseModel):
    identifier: TableIdentifier | None = None
    requirements: tuple[ViewRequirement, ...] = Field(default_factory=tuple)
    updates: tuple[ViewUpdate, ...] = Field(default_factory=tuple)


_VIEW_RESULT: dict[str, Any] = {
    "type": "object",
    "required": ["metadata-location", "metadata"],
    "properties": {
        "metadata-location": {"type": "string"},
        "metadata": {"type": "object", "description": "ViewMetadata"},
        "config": STRING_MAP,
    },
}


def _response(loaded: LoadedView) -> Response:
    return model_json(
        ViewResponse.model_validate(
            {"metadata-location": loaded.metadata_location, "metadata": loaded.metadata}
        )
    )


@router.get(
    _VIEWS,
    summary="List the views of a namespace",
    responses={
        **ok(
            {
                "type": "object",
                "required": ["identifiers"],
                "properties": {
                    "identifiers": {"type": "array", "items": IDENTIFIER},
                    "next-page-token": {"type": "string"},
                },
            },
            "the views",
        ),
        **errors_doc(404),
    },
)
def list_views(
    request: Request,
    prefix: Prefix,
    namespace: NamespacePath,
    page_token: PageToken = None,
    page_size: PageSize = None,
) -> Response:
    ns = levels(namespace)
    with workspace(request, prefix, ns) as ws:
        page = IcebergViews(ws.iceberg).list_views(
            ns, page_token=page_token or None, limit=page_size or DEFAULT_PAGE
        )
    entries = [ViewEntry(namespace=v.namespace, name=v.name) for v in page.items]
    return model_json(
        ListViewsResponse.model_validate(
            {"identifiers": entries, "next-page-token": page.next_page_token}
        )
    )


@router.post(
    _VIEWS,
    summary="Create a view",
    openapi_extra=json_body(
        {
            "type": "object",
            "required": ["name", "schema", "view-version"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "location": {"type": "string"},
                "schema": {"type": "object"},
                "view-version": {"type": "object"},
                "properties": STRING_MAP,
            },
        },
        "CreateViewRequest",
    ),
    responses={**ok(_VIEW_RESULT, "the new view"), **errors_doc(404, 409)},
)
def create_view(
    request: Request,
    prefix: Prefix,
    namespace: NamespacePath,
    raw: RawBody,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    ns = levels(namespace)
    req = body(raw, CreateViewRequest, location=None)
    with workspace(request, prefix, ns) as ws:
        loaded = IcebergViews(ws.iceberg).create_view(ns, req, idempotency_key=idempotency_key)
    return _response(loaded)


@router.get(
    _VIEW,
    summary="Load a view",
    responses={**ok(_VIEW_RESULT, "the view"), **errors_doc(404)},
)
def load_view(request: Request, prefix: Prefix, namespace: NamespacePath, view: str) -> Response:
    target = TableIdent.of(levels(namespace), view)
    with workspace(request, prefix, target.namespace) as ws:
        loaded = IcebergViews(ws.iceberg).load_view(target)
    return _response(loaded)


@router.head(
    _VIEW,
    summary="Whether a view exists",
    status_code=204,
    responses={**ok(None, "it exists", 204), **errors_doc(404)},
)
def view_exists(request: Request, prefix: Prefix, namespace: NamespacePath, view: str) -> Response:
    target = TableIdent.of(levels(namespace), view)
    with workspace(request, prefix, target.namespace) as ws:
        if not IcebergViews(ws.iceberg).view_exists(target):
            return Response(status_code=404)
    return no_content()


@router.post(
    _VIEW,
    summary="Replace a view (commit view updates; requirements must hold)",
    openapi_extra=json_body(
        {
            "type": "object",
            "properties": {
                "identifier": IDENTIFIER,
                "requirements": {"type": "array", "items": {"type": "object"}},
                "updates": {"type": "array", "items": {"type": "object"}},
            },
        },
        "CommitViewRequest",
    ),
    responses={**ok(_VIEW_RESULT, "the view"), **errors_doc(404, 409)},
)
def replace_view(
    request: Request,
    prefix: Prefix,
    namespace: NamespacePath,
    view: str,
    raw: RawBody,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    target = TableIdent.of(levels(namespace), view)
    req = body(raw, CommitViewRequest)
    if req.identifier is not None and from_identifier(req.identifier) != target:
        raise BadRequest("identifier: does not name the view of the path")
    with workspace(request, prefix, target.namespace) as ws:
        loaded = IcebergViews(ws.iceberg).replace_view(
            target, req.requirements, req.updates, idempotency_key=idempotency_key
        )
    return _response(loaded)


@router.delete(
    _VIEW,
    summary="Drop a view",
    status_code=204,
    responses={**ok(None, "dropped", 204), **errors_doc(404)},
)
def drop_view(
    request: Request,
    prefix: Prefix,
    namespace: NamespacePath,
    view: str,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    target = TableIdent.of(levels(namespace), view)
    with workspace(request, prefix, target.namespace) as ws:
        IcebergViews(ws.iceberg).drop_view(target, idempotency_key=idempotency_key)
    return no_content()


@router.post(
    "/v1/{prefix}/views/rename",
    summary="Rename a view (also across namespaces)",
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
def rename_view(
    request: Request, prefix: Prefix, raw: RawBody, idempotency_key: IdempotencyKey = None
) -> Response:
    req = body(raw, RenameRequest)
    source = from_identifier(req.source)
    with workspace(request, prefix, source.namespace) as ws:
        IcebergViews(ws.iceberg).rename_view(
            source, from_identifier(req.destination), idempotency_key=idempotency_key
        )
    return no_content()
