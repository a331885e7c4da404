"""The OpenAPI document: FastAPI's, completed with what the middleware and handlers add.

Every operation documents the one error shape for the errors any request can get (400 for
invalid input — FastAPI's default 422 is never sent —, 401 where a credential is needed,
429, 500, 503), the ``X-Request-Id`` header on every response, and the bearer-token
security scheme on the API routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA = {
    "title": "ErrorResponse",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {"type": "string", "description": "stable error code (docs/api.md)"},
                "message": {"type": "string"},
                "request_id": {"type": "string"},
            },
        }
    },
}

_COMMON = {
    "400": "invalid request (the message names the field and the rule)",
    "429": "rate limited (see Retry-After)",
    "500": "internal error",
    "503": "storage unavailable or commit outcome unknown (retry; see Retry-After)",
}
_REQUEST_ID = {
    "description": "the request's id (echoed from the request or generated)",
    "schema": {"type": "string"},
}
#: the Iceberg REST spec's ErrorModel (routes under /iceberg answer in it)
ICEBERG_ERROR_MODEL: dict[str, Any] = {
    "title": "IcebergErrorModel",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string", "description": "e.g. NoSuchTableException"},
                "code": {"type": "integer", "minimum": 400, "maximum": 600},
            },
        }
    },
}
_ICEBERG_ERROR_REF = {"$ref": "#/components/schemas/IcebergErrorModel"}
_PUBLIC = ("/health", "/ready", "/metrics", "/openapi.json", "/files/", "/explorer", "/")


def _not_null(schema: dict[str, Any]) -> None:
    """A parameter is absent or a string on the wire, never JSON ``null``: drop the ``null``
    branch FastAPI gives an optional parameter (clients would send the text ``null``)."""
    options = schema.get("anyOf")
    if not isinstance(options, list):
        return
    rest = [option for option in options if option != {"type": "null"}]
    if len(rest) == 1 and len(rest) < len(options):
        del schema["anyOf"]
        for key, value in rest[0].items():
            schema.setdefault(key, value)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The complete document (computed once per app)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = doc.setdefault("components", {})
    # routes may declare the error model themselves (with the code enum): keep theirs
    components.setdefault("schemas", {}).setdefault("ErrorResponse", ERROR_SCHEMA)
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for schema_name in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(schema_name, None)
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    components["schemas"]["IcebergErrorModel"] = ICEBERG_ERROR_MODEL
    for path, item in doc.get("paths", {}).items():
        api = path.startswith("/api/")
        iceberg = path.startswith("/iceberg/")
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete", "head"):
                continue
            for parameter in op.get("parameters", []):
                _not_null(parameter.get("schema", {}))
            responses: dict[str, Any] = op.setdefault("responses", {})
            responses.pop("422", None)
            wanted = dict(_COMMON)
            if api or (iceberg and not path.endswith("/oauth/tokens")):
                wanted["401"] = "missing or invalid credential"
                op.setdefault("security", [{"bearerAuth": []}])
            ref = _ICEBERG_ERROR_REF if iceberg else error_ref
            for code, text in wanted.items():
                responses.setdefault(
                    code,
                    {"description": text, "content": {"application/json": {"schema": ref}}},
                )
            for response in responses.values():
                response.setdefault("headers", {}).setdefault("X-Request-Id", _REQUEST_ID)
                if iceberg and method == "head":
                    response.pop("content", None)  # a HEAD answer has no body
    app.openapi_schema = doc
    return doc
