"""The Apache Iceberg REST catalog protocol under ``/iceberg`` (ADR 014, docs/iceberg.md).

Routes translate the protocol to the caller's workspace's :class:`arco.iceberg.IcebergTables`
and back, with pyiceberg's request and response models; failures are the spec's
``ErrorModel``. ``GET /iceberg/v1/config?warehouse=TENANT/WORKSPACE`` answers the prefix
``TENANT.WORKSPACE`` and the exact list of supported endpoints (derived from the routes
below, so it cannot drift); ``POST /iceberg/v1/oauth/tokens`` is the OAuth2
client-credentials flow engines configured with ``credential=`` use.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Annotated
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from arco.server.routes.iceberg import namespaces, tables, views
from arco.server.routes.iceberg.common import (
    ERROR_MODEL,
    ICEBERG_ROOT,
    IcebergRoute,
    RawBody,
    caller,
    errors_doc,
    install_error_handlers,
    ok,
    parse_warehouse,
    prefix_of,
    services,
)

__all__ = ["ERROR_MODEL", "ICEBERG_ROOT", "install", "router", "supported_endpoints"]

#: config and oauth; the namespace, table and view routers are mounted beside it
router = APIRouter(route_class=IcebergRoute)
_ROUTERS = (router, namespaces.router, tables.router, views.router)

_PREFIXED = "/v1/{prefix}/"


def supported_endpoints() -> list[str]:
    """Every ``METHOD /v1/{prefix}/...`` route served here (the config's ``endpoints``)."""
    out: set[str] = set()
    for each in _ROUTERS:
        for route in each.routes:
            if isinstance(route, APIRoute) and route.path.startswith(_PREFIXED):
                out.update(f"{method} {route.path}" for method in route.methods or ())
    return sorted(out)


@router.get(
    "/v1/config",
    summary="Catalog configuration: the prefix of a warehouse and the supported endpoints",
    responses={
        **ok(
            {
                "type": "object",
                "required": ["defaults", "overrides"],
                "properties": {
                    "defaults": {"type": "object", "additionalProperties": {"type": "string"}},
                    "overrides": {"type": "object", "additionalProperties": {"type": "string"}},
                    "endpoints": {"type": "array", "items": {"type": "string"}},
                },
            },
            "the configuration",
        ),
        **errors_doc(404),
    },
)
def get_config(
    request: Request,
    warehouse: Annotated[
        str | None,
        Query(
            description="TENANT/WORKSPACE (development mode: any; production: the token's)",
            max_length=200,
        ),
    ] = None,
) -> Response:
    settings = services(request).settings
    if settings.dev and warehouse:
        scope = parse_warehouse(warehouse)
        caller(request, prefix_of(scope))
    else:
        who = caller(request, None)
        scope = who.scope
        if warehouse and parse_warehouse(warehouse) != scope:
            return JSONResponse(
                {
                    "error": {
                        "message": "no such warehouse",
                        "type": "NoSuchWarehouseException",
                        "code": 404,
                    }
                },
                status_code=404,
            )
    return JSONResponse(
        {
            "defaults": {},
            "overrides": {"prefix": prefix_of(scope)},
            "endpoints": supported_endpoints(),
        }
    )


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Basic"} if status == 401 else None
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**(headers or {}), "Cache-Control": "no-store"},
    )


@router.post(
    "/v1/oauth/tokens",
    summary="OAuth2 client-credentials token (credential=ID:SECRET)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                            "scope": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
    responses={
        **ok(
            {
                "type": "object",
                "required": ["access_token", "token_type"],
                "properties": {
                    "access_token": {"type": "string"},
                    "token_type": {"type": "string"},
                    "expires_in": {"type": "integer"},
                    "issued_token_type": {"type": "string"},
                },
            },
            "a bearer token",
        ),
        400: {"description": "OAuth error (invalid_request, unsupported_grant_type)"},
        401: {"description": "OAuth error invalid_client"},
    },
)
def oauth_token(request: Request, raw: RawBody) -> Response:
    try:
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), strict_parsing=False).items()}
    except (UnicodeDecodeError, ValueError):
        return _oauth_error(400, "invalid_request", "the body must be a form")
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(
            400, "unsupported_grant_type", "only grant_type=client_credentials is supported"
        )
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    basic = request.headers.get("Authorization", "")
    if basic[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(basic[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
        user, _, password = decoded.partition(":")
        client_id, secret = unquote(user), unquote(password)
    svc = services(request)
    if svc.settings.dev:
        # development mode checks nothing: the prefix selects the scope
        token = f"dev-{secrets.token_hex(16)}"
        ttl = svc.settings.iceberg_token_ttl_s
    else:
        issuer = svc.iceberg_tokens
        client = issuer.client(client_id, secret) if issuer is not None else None
        if issuer is None or client is None:
            return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
        svc.rate_limiter.charge(client.tenant, "request")
        token, ttl = issuer.issue(client), issuer.ttl_s
    return JSONResponse(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": ttl,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
        headers={"Cache-Control": "no-store"},
    )


def install(app: FastAPI) -> None:
    """Mount the routes and the ErrorModel handlers for paths under ``/iceberg``."""
    for each in _ROUTERS:
        app.include_router(each, prefix=ICEBERG_ROOT, tags=["iceberg"])
    install_error_handlers(app)
