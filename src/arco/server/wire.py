"""What the REST routes share: request bodies, the error schema, header dependencies, ETags.

Request bodies are the fields of the matching request model in
:mod:`arco.catalog.operations` minus ``op``, ``if_match`` and the fields that are path
parameters (a test keeps them in step). Responses are the library models themselves.
Nothing here touches storage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from arco.catalog.operations import ColumnSpec
from arco.catalog.search_index import SearchHit
from arco.core.names import NAME_JSON_SCHEMA
from arco.core.paging import DEFAULT_PAGE, MAX_PAGE
from arco.core.scope import SCOPE_PART_PATTERN
from arco.metadata.commit_log import CommitKind
from arco.server.errors import ERROR_CODES, ApiError
from arco.tier1.writer import MAX_IDEMPOTENCY_KEY

__all__ = [
    "API_DEPENDENCIES",
    "ASSET_KEY_SCHEMA",
    "NAME_SCHEMA",
    "AddEdgeBody",
    "CommitSummary",
    "CreateNamespaceBody",
    "EdgeRef",
    "ErrorDetail",
    "ErrorResponse",
    "EventIds",
    "EventsBody",
    "IdempotencyKey",
    "IfMatch",
    "Limit",
    "PageToken",
    "RegisterTableBody",
    "SearchResults",
    "TablePatchBody",
    "UpdateNamespaceBody",
    "error_responses",
    "link",
    "path_segment",
    "set_etag",
]

#: the prefix of every API route (the app mounts the routers there)
API_PATH = "/api/v1"

# --- the error schema ---------------------------------------------------------------------


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        description="stable error code (see docs/api.md)",
        json_schema_extra={"enum": list[JsonValue](sorted(ERROR_CODES))},
    )
    message: str = Field(description="one line, safe to show; names the field and the rule")
    request_id: str = Field(description="the request's X-Request-Id")


class ErrorResponse(BaseModel):
    """The one shape of every error response."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


_ERROR_TEXT = {
    400: "Invalid request (VALIDATION_FAILED, INVALID_KEY, BAD_REQUEST)",
    401: "Missing or invalid credentials (UNAUTHENTICATED)",
    403: "Forbidden (FORBIDDEN)",
    404: "Not found, or outside the caller's workspace: the two are indistinguishable (NOT_FOUND)",
    406: "No acceptable representation (NOT_ACCEPTABLE)",
    409: "Conflict with the current state (ALREADY_EXISTS, CONFLICT, IDEMPOTENCY_KEY_REUSED, "
    "COMMIT_CONFLICT, FENCED)",
    412: "If-Match did not hold (PRECONDITION_FAILED)",
    413: "Request body too large (PAYLOAD_TOO_LARGE)",
    415: "Unsupported media type (UNSUPPORTED_MEDIA_TYPE)",
    429: "Rate limit exceeded; see Retry-After (RATE_LIMITED)",
    500: "Internal or storage failure; no internals are included (INTERNAL, STORAGE_ERROR, "
    "CORRUPT_STATE)",
    503: "Storage unavailable, lock timeout or unknown outcome: retry with the same "
    "Idempotency-Key; see Retry-After",
}

_REQUEST_ID_HEADER = {
    "X-Request-Id": {
        "description": "the request id (echoed from the request or generated)",
        "schema": {"type": "string"},
    }
}
_ETAG_HEADER = {
    "ETag": {
        "description": 'the entity\'s version, quoted: "<version>"',
        "schema": {"type": "string"},
    }
}
_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
}


def error_responses(
    *statuses: int,
    etag: int | None = None,
    location: int | None = None,
    links: Mapping[int, Mapping[str, dict[str, Any]]] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: its error statuses with the error schema (plus
    401, 429, 500 and 503, which any route can answer, and ``default`` for the rest; it
    also keeps FastAPI from documenting a 422 that never happens: validation is 400), the
    headers of its success status (``etag`` / ``location``: the status carrying them), and
    the ``links`` of a success status (status -> name -> :func:`link`)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 401, 429, 500, 503}):
        headers = dict(_REQUEST_ID_HEADER)
        if status in (429, 503):
            headers.update(_RETRY_AFTER)
        out[status] = {
            "model": ErrorResponse,
            "description": _ERROR_TEXT[status],
            "headers": headers,
        }
    for status in {s for s in (etag, location) if s is not None}:
        headers = dict(_REQUEST_ID_HEADER)
        if status == etag:
            headers.update(_ETAG_HEADER)
        if status == location:
            headers["Location"] = {
                "description": "the URL of the created entity",
                "schema": {"type": "string"},
            }
        out[status] = {"headers": headers}
    for status, named in (links or {}).items():
        out.setdefault(status, {})["links"] = dict(named)
    out["default"] = {
        "model": ErrorResponse,
        "description": "Any other error (e.g. 405, 406, 415), in the same shape",
        "headers": dict(_REQUEST_ID_HEADER),
    }
    return out


def link(
    method: str,
    path: str,
    description: str,
    *,
    parameters: Mapping[str, str] | None = None,
    request_body: Any = None,
) -> dict[str, Any]:
    """An OpenAPI link object: the operation ``method`` ``path`` (below ``/api/v1``) can
    follow this response, with ``parameters`` (``location.name`` -> runtime expression such
    as ``$response.body#/name``) and a ``request_body`` whose strings may be expressions.
    Clients and Schemathesis' stateful tests follow them (``tests/server``)."""
    pointer = f"{API_PATH}{path}".replace("~", "~0").replace("/", "~1")
    out: dict[str, Any] = {
        "operationRef": f"#/paths/{pointer}/{method}",
        "description": description,
    }
    if parameters:
        out["parameters"] = dict(parameters)
    if request_body is not None:
        out["requestBody"] = request_body
    return out


# --- headers --------------------------------------------------------------------------------


#: The documented constraints below are stated in the schema only (``json_schema_extra``):
#: the one check stays where it is (the authenticator, the dependency), with its message.
_SCOPE_PART = f"^{SCOPE_PART_PATTERN}$"
#: a namespace, table or column name (what the schema states of it)
NAME_SCHEMA: dict[str, JsonValue] = dict(NAME_JSON_SCHEMA)
#: an asset key, ``namespace/name`` (the full rule: :class:`arco.core.assets.AssetKey`)
ASSET_KEY_SCHEMA: dict[str, JsonValue] = {
    "pattern": "^[^/]+/[^/]+$",
    "examples": ["sales/orders"],
}


def _documented_headers(
    x_request_id: Annotated[
        str | None,
        Header(
            alias="X-Request-Id",
            description="Request id, echoed on the response (1-128 of [A-Za-z0-9._:-]; "
            "anything else is replaced by a generated one).",
        ),
    ] = None,
    x_tenant_id: Annotated[
        str | None,
        Header(
            alias="X-Tenant-Id",
            description="Development mode only: the tenant (default `default`).",
            json_schema_extra={"pattern": _SCOPE_PART},
        ),
    ] = None,
    x_workspace_id: Annotated[
        str | None,
        Header(
            alias="X-Workspace-Id",
            description="Development mode only: the workspace (default `default`).",
            json_schema_extra={"pattern": _SCOPE_PART},
        ),
    ] = None,
) -> None:
    """Declares the headers every API route understands (the app and the authenticator
    read them; this only puts them into the OpenAPI document). The bearer-token security
    scheme is added by :mod:`arco.server.api_doc`."""


#: dependencies of every ``/api/v1`` router: the documented common headers
API_DEPENDENCIES = [Depends(_documented_headers)]

_PRINTABLE = re.compile(r"[\x20-\x7e]+")


def _idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description=f"Makes the write safe to retry: 1-{MAX_IDEMPOTENCY_KEY} printable "
            "characters. Replaying the same key with the same body returns the original "
            "response; the same key with a different body is 409 IDEMPOTENCY_KEY_REUSED.",
            # printable ASCII; HTTP drops leading and trailing spaces of a header value
            json_schema_extra={"pattern": f"^[!-~](?:[ -~]{{0,{MAX_IDEMPOTENCY_KEY - 2}}}[!-~])?$"},
        ),
    ] = None,
) -> str | None:
    if key is None:
        return None
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or not _PRINTABLE.fullmatch(key):
        raise ApiError(
            400,
            "VALIDATION_FAILED",
            f"Idempotency-Key: must be 1-{MAX_IDEMPOTENCY_KEY} printable characters",
        )
    return key


_VERSION = re.compile(r'(?:W/)?"?([0-9]{1,18})"?')


def _if_match(
    value: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The entity version the write expects: `"<version>"` (quotes '
            "optional; `*` means any). A different current version is 412 "
            "PRECONDITION_FAILED.",
            json_schema_extra={"pattern": r'^ *(\*|(W/)?"?[0-9]{1,18}"?) *$'},
        ),
    ] = None,
) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if text == "*":
        return None
    m = _VERSION.fullmatch(text)
    if m is None:
        raise ApiError(400, "VALIDATION_FAILED", 'If-Match: must be an entity version such as "3"')
    return int(m.group(1))


IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]
IfMatch = Annotated[int | None, Depends(_if_match)]

PageToken = Annotated[
    str | None,
    Query(max_length=4096, description="`next_page_token` of the previous page"),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size (1-{MAX_PAGE})")]
DEFAULT_LIMIT = DEFAULT_PAGE


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


def path_segment(name: str) -> str:
    """``name`` as one URL path segment (for Location headers)."""
    return quote(name, safe="")


# --- request bodies -------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateNamespaceBody(_Body):
    """``POST /namespaces``: the fields of ``CreateNamespace``."""

    name: str = Field(json_schema_extra=NAME_SCHEMA)
    description: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)


class UpdateNamespaceBody(_Body):
    """``PATCH /namespaces/{ns}``: the fields of ``UpdateNamespace`` (absent = unchanged;
    ``"description": null`` clears it)."""

    description: str | None = None
    set_properties: dict[str, str] = Field(default_factory=dict)
    remove_properties: list[str] = Field(default_factory=list)


class RegisterTableBody(_Body):
    """``POST /namespaces/{ns}/tables``: the fields of ``RegisterTable``."""

    name: str = Field(json_schema_extra=NAME_SCHEMA)
    columns: list[ColumnSpec] = Field(default_factory=list)
    description: str | None = None
    location: str | None = None
    format: str = "parquet"
    properties: dict[str, str] = Field(default_factory=dict)


#: the fields of a table PATCH that rename it (the rest update it)
RENAME_FIELDS = frozenset({"new_name", "new_namespace"})


class TablePatchBody(_Body):
    """``PATCH /namespaces/{ns}/tables/{table}``: either the fields of ``UpdateTable``
    (absent = unchanged; ``null`` description or location clears it), or a rename:
    ``new_name`` and optionally ``new_namespace``, alone."""

    description: str | None = None
    location: str | None = None
    format: str | None = None
    set_properties: dict[str, str] = Field(default_factory=dict)
    remove_properties: list[str] = Field(default_factory=list)
    add_columns: list[ColumnSpec] = Field(default_factory=list)
    drop_columns: list[str] = Field(default_factory=list)
    rename_columns: dict[str, str] = Field(default_factory=dict)
    new_name: str | None = None
    new_namespace: str | None = None


class AddEdgeBody(_Body):
    """``POST /lineage/edges``: ``source`` feeds ``target`` (asset keys ``namespace/name``)."""

    source: str = Field(json_schema_extra=ASSET_KEY_SCHEMA)
    target: str = Field(json_schema_extra=ASSET_KEY_SCHEMA)
    edge_type: str = "derives"
    run_id: str | None = None


class EdgeRef(_Body):
    """``DELETE /lineage/edges``: the edge to remove."""

    source: str = Field(json_schema_extra=ASSET_KEY_SCHEMA)
    target: str = Field(json_schema_extra=ASSET_KEY_SCHEMA)
    edge_type: str = "derives"


MAX_EVENTS = 10_000


class EventsBody(_Body):
    """``POST /events``: events as complete envelopes or bare payloads with an
    ``event_type`` (parsed like the lines of ``arco events append``)."""

    events: list[dict[str, Any]] = Field(
        max_length=MAX_EVENTS,
        examples=[
            [
                {
                    "event_type": "materialization",
                    "asset_key": "sales/orders",
                    "run_id": "run-42",
                    "status": "succeeded",
                    "rows": 1200,
                }
            ]
        ],
    )


# --- responses --------------------------------------------------------------------------------


class EventIds(BaseModel):
    """The ids of the appended events, in request order."""

    event_ids: list[str]


class SearchResults(BaseModel):
    items: list[SearchHit]


class CommitSummary(BaseModel):
    """One commit of a domain's audit trail."""

    commit_id: str
    kind: CommitKind
    snapshot_version: int
    holder: str
    committed_at: str = Field(description="RFC 3339 UTC")
    operations: list[dict[str, Any]] = Field(
        description="one entry per applied request: op, target, idempotency key, request hash"
    )
