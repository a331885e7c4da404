"""What every Iceberg route shares: the scope of a ``{prefix}``, the spec's ``ErrorModel``,
namespace paths, bodies parsed with pyiceberg's models, and the OpenAPI pieces."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import pydantic
from fastapi import Depends, FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from arco import errors
from arco.core.scope import Scope
from arco.iceberg.errors import BadRequest, NoSuchNamespace, as_iceberg_error
from arco.iceberg.namespaces import to_arco
from arco.observability.request_context import current_request
from arco.server.api_doc import ICEBERG_ERROR_MODEL
from arco.server.auth import DevAuthenticator
from arco.server.errors import ApiError
from arco.server.principal import Principal
from arco.server.services import Services
from arco.server.workspaces import Workspace
from arco.tier1.writer import MAX_IDEMPOTENCY_KEY

log = logging.getLogger("arco.server")

#: where the protocol is served
ICEBERG_ROOT = "/iceberg"
#: the unit separator between namespace levels in a path (and in ``parent``)
SEPARATOR = "\x1f"

M = TypeVar("M", bound=pydantic.BaseModel)

_SCOPE_NAME = "[a-z0-9][a-z0-9_-]{0,62}"
Prefix = Annotated[
    str,
    Path(
        description="TENANT.WORKSPACE, as GET /iceberg/v1/config answers it",
        json_schema_extra={"pattern": f"^{_SCOPE_NAME}\\.{_SCOPE_NAME}$"},
    ),
]
NamespacePath = Annotated[
    str,
    Path(
        description="the namespace's levels separated by the unit separator (%1F)",
        json_schema_extra={"minLength": 1},
    ),
]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes the mutation safe to retry: the same key with the same request "
        "returns the original outcome; with another request it is 409.",
        json_schema_extra={"pattern": f"^[!-~](?:[ -~]{{0,{MAX_IDEMPOTENCY_KEY - 2}}}[!-~])?$"},
    ),
]

# --- errors ---------------------------------------------------------------------------------

_SAFE_5XX = "internal error; see the server log"
_API_TYPES = {
    400: "BadRequestException",
    401: "NotAuthorizedException",
    403: "ForbiddenException",
    404: "NotFoundException",
    405: "MethodNotAllowedException",
    406: "UnsupportedOperationException",
    413: "BadRequestException",
    415: "BadRequestException",
    429: "TooManyRequestsException",
}


def error_response(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The spec's ``ErrorModel``: ``{"error": {"message", "type", "code"}}``."""
    body = {"error": {"message": message, "type": kind, "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


def iceberg_error_response(exc: errors.ArcoError) -> JSONResponse:
    mapped = as_iceberg_error(exc)
    status = mapped.status
    headers = {"Retry-After": "1"} if status == 503 else None
    message = mapped.message
    if status >= 500:
        log.error("iceberg request failed: %s: %s", exc.code, exc.message)
        if status == 503 and mapped.iceberg_type == "ServiceUnavailableException":
            message = "storage is unavailable; retry later"
        elif mapped.iceberg_type != "CommitStateUnknownException":
            message = _SAFE_5XX
    return error_response(status, mapped.iceberg_type, message, headers)


class IcebergRoute(APIRoute):
    """A route whose unexpected failures end here, as a logged 500 in the ErrorModel:
    Starlette's last-resort handler would answer too, but re-raise into the ASGI server."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (errors.ArcoError, ApiError, StarletteHTTPException, RequestValidationError):
                raise  # the handlers below answer these
            except Exception:
                log.exception("iceberg request failed unexpectedly")
                return error_response(500, "InternalServerError", _SAFE_5XX)

        return guarded


def install_error_handlers(app: FastAPI) -> None:
    """Answer failures under ``/iceberg`` in the spec's ErrorModel; every other path keeps
    the Arco error shape (the handlers already installed)."""
    previous = dict(app.exception_handlers)

    def ours(request: Request) -> bool:
        return request.url.path.startswith(ICEBERG_ROOT + "/")

    async def arco_error(request: Request, exc: Exception) -> Response:
        if not ours(request):
            return await previous[errors.ArcoError](request, exc)  # type: ignore[no-any-return]
        assert isinstance(exc, errors.ArcoError)
        return iceberg_error_response(exc)

    async def api_error(request: Request, exc: Exception) -> Response:
        if not ours(request):
            return await previous[ApiError](request, exc)  # type: ignore[no-any-return]
        assert isinstance(exc, ApiError)
        kind = _API_TYPES.get(exc.status, "BadRequestException")
        return error_response(exc.status, kind, exc.message, exc.headers)

    async def validation(request: Request, exc: Exception) -> Response:
        if not ours(request):
            return await previous[RequestValidationError](request, exc)  # type: ignore[no-any-return]
        assert isinstance(exc, RequestValidationError)
        return error_response(400, "BadRequestException", _first_problem(exc))

    async def http(request: Request, exc: Exception) -> Response:
        if not ours(request):
            return await previous[StarletteHTTPException](request, exc)  # type: ignore[no-any-return]
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code >= 500:
            return error_response(exc.status_code, "InternalServerError", _SAFE_5XX)
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route"
        kind = _API_TYPES.get(exc.status_code, "BadRequestException")
        return error_response(exc.status_code, kind, message, dict(exc.headers or {}))

    async def unexpected(request: Request, exc: Exception) -> Response:
        if not ours(request):
            return await previous[Exception](request, exc)  # type: ignore[no-any-return]
        log.exception("iceberg request failed unexpectedly")
        return error_response(500, "InternalServerError", _SAFE_5XX)

    app.add_exception_handler(errors.ArcoError, arco_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(Exception, unexpected)


def _first_problem(exc: RequestValidationError) -> str:
    problems = exc.errors()
    if not problems:
        return "invalid request"
    first = problems[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    return f"{'.'.join(loc) or 'request'}: {str(first.get('msg', 'invalid')).lower()}"


# --- scope ----------------------------------------------------------------------------------


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def prefix_of(scope: Scope) -> str:
    return f"{scope.tenant}.{scope.workspace}"


def parse_prefix(prefix: str) -> Scope:
    """``TENANT.WORKSPACE`` (BadRequest if it is not one)."""
    tenant, dot, workspace = prefix.partition(".")
    if not dot:
        raise BadRequest("prefix: must be TENANT.WORKSPACE (see GET /iceberg/v1/config)")
    try:
        return Scope(tenant, workspace)
    except errors.ValidationError as exc:
        raise BadRequest(f"prefix: {exc.message}") from None


def parse_warehouse(warehouse: str) -> Scope:
    """``TENANT/WORKSPACE`` (BadRequest if it is not one)."""
    tenant, slash, workspace = warehouse.partition("/")
    if not slash:
        raise BadRequest("warehouse: must be TENANT/WORKSPACE")
    try:
        return Scope(tenant, workspace)
    except errors.ValidationError as exc:
        raise BadRequest(f"warehouse: {exc.message}") from None


def _charged(request: Request, caller: Principal) -> Principal:
    request.state.principal = caller
    info = current_request()
    if info is not None:
        info.subject = caller.subject
    services(request).rate_limiter.charge(caller.tenant, "request")
    return caller


def caller(request: Request, prefix: str | None) -> Principal:
    """Who calls, in which scope. Development mode: the prefix names the scope (without
    one, the X-Tenant-Id / X-Workspace-Id headers); production: the bearer token does."""
    svc = services(request)
    if svc.settings.dev:
        if prefix is None:
            return _charged(request, DevAuthenticator().authenticate(request))
        scope = parse_prefix(prefix)
        return _charged(request, Principal(scope.tenant, scope.workspace, "dev", "user"))
    return _charged(request, svc.authenticator.authenticate(request))


class ForeignScope(Exception):
    """The prefix names a scope the credential does not reach."""


@contextmanager
def workspace(
    request: Request, prefix: str, namespace: tuple[str, ...] | None = None
) -> Iterator[Workspace]:
    """The workspace of ``prefix`` for the caller, held for the block. A prefix of another
    scope (production) is the 404 a missing namespace gets in the caller's own scope."""
    who = caller(request, prefix)
    if prefix != prefix_of(who.scope):
        name = None
        if namespace:
            try:
                name = to_arco(namespace)
            except BadRequest:
                name = None
        raise NoSuchNamespace(
            f"namespace {name!r} does not exist" if name else "namespace does not exist"
        )
    with services(request).workspaces.use(who.scope) as ws:
        yield ws


# --- paths and bodies -----------------------------------------------------------------------


def levels(namespace: str) -> tuple[str, ...]:
    """The levels of a namespace path segment (separated by 0x1F)."""
    out = tuple(namespace.split(SEPARATOR))
    to_arco(out)  # BadRequest if they cannot name a namespace
    return out


async def _raw_body(request: Request) -> bytes:
    return await request.body()


#: the request body, read before a (synchronous) route runs
RawBody = Annotated[bytes, Depends(_raw_body)]


def body(raw: bytes, model: type[M], **nullable: None) -> M:
    """The request body as ``model`` (one of pyiceberg's; BadRequest if it is not one).
    ``nullable`` names fields the spec makes optional that the model requires (an absent
    one is null)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("body: not valid JSON (or nested too deeply)") from None
    if not isinstance(data, dict):
        raise BadRequest("body: must be a JSON object")
    for name in nullable:
        data.setdefault(name.replace("_", "-"), None)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = exc.errors()
        if not problems:
            raise BadRequest("body: invalid") from None
        where = ".".join(str(p) for p in problems[0]["loc"]) or "body"
        raise BadRequest(f"{where}: {problems[0]['msg'].lower()}") from None
    except Exception as exc:  # pyiceberg's validators raise what they like on odd input
        text = (str(exc).splitlines() or [""])[0][:300] or type(exc).__name__
        raise BadRequest(f"body: not a valid {model.__name__} ({text})") from None


def model_json(model: pydantic.BaseModel, status: int = 200, **headers: str) -> Response:
    """A pyiceberg response model as its JSON (by alias, without nulls, as pyiceberg writes)."""
    return Response(
        model.model_dump_json(by_alias=True, exclude_none=True),
        status_code=status,
        media_type="application/json",
        headers=headers or None,
    )


def no_content() -> Response:
    return Response(status_code=204)


# --- OpenAPI --------------------------------------------------------------------------------

ERROR_MODEL_REF = {"$ref": "#/components/schemas/IcebergErrorModel"}
ERROR_MODEL = ICEBERG_ERROR_MODEL


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body (parsed by :func:`body`)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def ok(schema: dict[str, Any] | None, description: str, code: int = 200) -> dict[int | str, Any]:
    if schema is None:
        return {code: {"description": description}}
    return {code: {"description": description, "content": {"application/json": {"schema": schema}}}}


def errors_doc(*codes: int) -> dict[int | str, Any]:
    """Documented error responses (beyond the common 400/401/429/500/503)."""
    text = {
        404: "no such namespace, table or view (or another scope's)",
        409: "already exists, not empty, or a requirement failed (CommitFailedException)",
        406: "not supported",
    }
    return {
        c: {
            "description": text.get(c, "error"),
            "content": {"application/json": {"schema": ERROR_MODEL_REF}},
        }
        for c in codes
    }


STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
NAMESPACE = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
IDENTIFIER = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {"namespace": NAMESPACE, "name": {"type": "string", "minLength": 1}},
}
