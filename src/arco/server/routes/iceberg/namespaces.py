"""Iceberg namespaces: list (``parent``, paging), create, load, exists, properties, drop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field
from pyiceberg.catalog.rest import (
    ListNamespaceResponse,
    NamespaceResponse,
    UpdateNamespacePropertiesResponse,
)
from pyiceberg.typedef import IcebergBaseModel

from arco.core.paging import DEFAULT_PAGE
from arco.server.routes.iceberg.common import (
    NAMESPACE,
    SEPARATOR,
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

router = APIRouter(route_class=IcebergRoute)

_NS = "/v1/{prefix}/namespaces"

PageToken = Annotated[str | None, Query(alias="pageToken", max_length=4096)]
PageSize = Annotated[int | None, Query(alias="pageSize", ge=1, le=1000)]


class CreateNamespaceRequest(IcebergBaseModel):
    namespace: tuple[str, ...]
    properties: dict[str, str] = Field(default_factory=dict)


class UpdateNamespacePropertiesRequest(IcebergBaseModel):
    removals: list[str] = Field(default_factory=list)
    updates: dict[str, str] = Field(default_factory=dict)


_NAMESPACE_RESPONSE = {
    "type": "object",
    "required": ["namespace"],
    "properties": {"namespace": NAMESPACE, "properties": STRING_MAP},
}


@router.get(
    _NS,
    summary="List namespaces (one level below parent)",
    responses={
        **ok(
            {
                "type": "object",
                "required": ["namespaces"],
                "properties": {
                    "namespaces": {"type": "array", "items": NAMESPACE},
                    "next-page-token": {"type": "string"},
                },
            },
            "the namespaces",
        ),
        **errors_doc(404),
    },
)
def list_namespaces(
    request: Request,
    prefix: Prefix,
    parent: Annotated[str | None, Query(description="levels separated by %1F")] = None,
    page_token: PageToken = None,
    page_size: PageSize = None,
) -> Response:
    above = levels(parent) if parent else ()
    with workspace(request, prefix, above or None) as ws:
        page = ws.iceberg.namespaces.list(
            above, page_token=page_token or None, limit=page_size or DEFAULT_PAGE
        )
    return model_json(
        ListNamespaceResponse.model_validate(
            {"namespaces": [list(n) for n in page.items], "next-page-token": page.next_page_token}
        )
    )


@router.post(
    _NS,
    summary="Create a namespace",
    openapi_extra=json_body(
        {
            "type": "object",
            "required": ["namespace"],
            "properties": {"namespace": NAMESPACE, "properties": STRING_MAP},
        },
        "CreateNamespaceRequest",
    ),
    responses={**ok(_NAMESPACE_RESPONSE, "the namespace"), **errors_doc(404, 409)},
)
def create_namespace(
    request: Request, prefix: Prefix, raw: RawBody, idempotency_key: IdempotencyKey = None
) -> Response:
    req = body(raw, CreateNamespaceRequest)
    with workspace(request, prefix, req.namespace) as ws:
        properties = ws.iceberg.namespaces.create(
            req.namespace, req.properties, idempotency_key=idempotency_key
        )
    return model_json(NamespaceResponse(namespace=req.namespace, properties=properties))


@router.get(
    _NS + "/{namespace}",
    summary="Load a namespace's properties",
    responses={**ok(_NAMESPACE_RESPONSE, "the namespace"), **errors_doc(404)},
)
def load_namespace(request: Request, prefix: Prefix, namespace: NamespacePath) -> Response:
    ns = levels(namespace)
    with workspace(request, prefix, ns) as ws:
        properties = ws.iceberg.namespaces.load(ns)
    return model_json(NamespaceResponse(namespace=ns, properties=properties))


@router.head(
    _NS + "/{namespace}",
    summary="Whether a namespace exists",
    status_code=204,
    responses={**ok(None, "it exists", 204), **errors_doc(404)},
)
def namespace_exists(request: Request, prefix: Prefix, namespace: NamespacePath) -> Response:
    ns = levels(namespace)
    with workspace(request, prefix, ns) as ws:
        if not ws.iceberg.namespaces.exists(ns):
            return Response(status_code=404)
    return no_content()


@router.post(
    _NS + "/{namespace}/properties",
    summary="Set and remove namespace properties",
    openapi_extra=json_body(
        {
            "type": "object",
            "properties": {
                "removals": {"type": "array", "items": {"type": "string"}},
                "updates": STRING_MAP,
            },
        },
        "UpdateNamespacePropertiesRequest",
    ),
    responses={
        **ok(
            {
                "type": "object",
                "required": ["updated", "removed"],
                "properties": {
                    k: {"type": "array", "items": {"type": "string"}}
                    for k in ("updated", "removed", "missing")
                },
            },
            "what changed",
        ),
        **errors_doc(404),
    },
)
def update_properties(
    request: Request,
    prefix: Prefix,
    namespace: NamespacePath,
    raw: RawBody,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    ns = levels(namespace)
    req = body(raw, UpdateNamespacePropertiesRequest)
    with workspace(request, prefix, ns) as ws:
        done = ws.iceberg.namespaces.update_properties(
            ns, removals=req.removals, updates=req.updates, idempotency_key=idempotency_key
        )
    return model_json(
        UpdateNamespacePropertiesResponse(
            updated=done.updated, removed=done.removed, missing=done.missing
        )
    )


@router.delete(
    _NS + "/{namespace}",
    summary="Drop an empty namespace",
    status_code=204,
    responses={**ok(None, "dropped", 204), **errors_doc(404, 409)},
)
def drop_namespace(
    request: Request,
    prefix: Prefix,
    namespace: NamespacePath,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    ns = levels(namespace)
    with workspace(request, prefix, ns) as ws:
        ws.iceberg.namespaces.drop(ns, idempotency_key=idempotency_key)
    return no_content()


__all__ = ["SEPARATOR", "router"]
