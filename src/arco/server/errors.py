"""One JSON error shape for every failure, with stable codes.

Every error response is ``{"error": {"code": "...", "message": "...", "request_id": "..."}}``,
including the framework's own rejections (unknown route, malformed JSON, validation).
Server-side failures never carry storage keys, SQL engine internals or tracebacks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from arco import errors
from arco.query.engine import QueryBusyError, QueryMemoryError

log = logging.getLogger("arco.server")

__all__ = ["ERROR_CODES", "ApiError", "error_body", "install_error_handlers", "status_of"]


class ApiError(Exception):
    """An HTTP error raised by the web layer (auth, limits, routing decisions)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class _Mapping:
    status: int
    #: the message is safe to show (client errors); otherwise a fixed text replaces it
    safe: bool = True
    retry_after: int | None = None


#: Arco error codes and their HTTP status (the documented, stable codes)
_BY_CODE: dict[str, _Mapping] = {
    errors.ValidationError.code: _Mapping(400),
    errors.InvalidKeyError.code: _Mapping(400),
    errors.NotFoundError.code: _Mapping(404),
    errors.AlreadyExistsError.code: _Mapping(409),
    errors.ConflictError.code: _Mapping(409),
    errors.IdempotencyConflictError.code: _Mapping(409),
    errors.PreconditionFailedError.code: _Mapping(412),
    errors.CommitConflictError.code: _Mapping(409),
    errors.FencedError.code: _Mapping(409),
    errors.LockTimeoutError.code: _Mapping(503, retry_after=1),
    errors.TransientStorageError.code: _Mapping(503, safe=False, retry_after=1),
    errors.OutcomeUnknownError.code: _Mapping(503, safe=False, retry_after=1),
    errors.CommitStateUnknownError.code: _Mapping(503, retry_after=1),
    errors.CorruptStateError.code: _Mapping(500, safe=False),
    QueryMemoryError.code: _Mapping(400),
    QueryBusyError.code: _Mapping(503, retry_after=1),
}

#: codes of the web layer itself
ERROR_CODES: dict[str, int] = {
    **{code: m.status for code, m in _BY_CODE.items()},
    "BAD_REQUEST": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "NOT_ACCEPTABLE": 406,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "RANGE_NOT_SATISFIABLE": 416,
    "RATE_LIMITED": 429,
    "QUERY_TIMEOUT": 504,
    "INTERNAL": 500,
    "STORAGE_ERROR": 500,
}

_SAFE_5XX = {
    "STORAGE_UNAVAILABLE": "storage is unavailable; retry later",
    "STORAGE_OUTCOME_UNKNOWN": "storage did not confirm the write; retry later",
    "CORRUPT_STATE": "stored metadata failed an integrity check; see the server log",
    "STORAGE_ERROR": "storage request failed; see the server log",
    "INTERNAL": "internal error; see the server log",
}

_FRAMEWORK_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    416: "RANGE_NOT_SATISFIABLE",
    429: "RATE_LIMITED",
}


def status_of(exc: errors.ArcoError) -> int:
    mapping = _BY_CODE.get(exc.code)
    if mapping is not None:
        return mapping.status
    return 500


def error_body(code: str, message: str, request_id: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message, "request_id": request_id}}


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def _respond(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, _request_id(request)), status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through the one error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _respond(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(errors.ArcoError)
    async def _arco_error(request: Request, exc: errors.ArcoError) -> JSONResponse:
        mapping = _BY_CODE.get(exc.code)
        if mapping is None or not mapping.safe:
            code = exc.code if mapping is not None else "STORAGE_ERROR"
            if not isinstance(exc, errors.StorageError) and mapping is None:
                code = "INTERNAL"
            log.error("request %s failed: %s: %s", _request_id(request), exc.code, exc.message)
            status = mapping.status if mapping is not None else 500
            headers = (
                {"Retry-After": str(mapping.retry_after)}
                if mapping and mapping.retry_after
                else None
            )
            return _respond(
                request, status, code, _SAFE_5XX.get(code, _SAFE_5XX["INTERNAL"]), headers
            )
        headers = {"Retry-After": str(mapping.retry_after)} if mapping.retry_after else None
        return _respond(request, mapping.status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _respond(request, 400, "VALIDATION_FAILED", _first_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _FRAMEWORK_CODES.get(
            exc.status_code, "INTERNAL" if exc.status_code >= 500 else "BAD_REQUEST"
        )
        message = str(exc.detail) if exc.status_code < 500 else _SAFE_5XX["INTERNAL"]
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route"
        return _respond(request, exc.status_code, code, message, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s failed unexpectedly", _request_id(request))
        return _respond(request, 500, "INTERNAL", _SAFE_5XX["INTERNAL"])


def _first_problem(exc: RequestValidationError) -> str:
    problems = exc.errors()
    if not problems:
        return "invalid request"
    first = problems[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    where = ".".join(loc) or "request"
    if first.get("type") == "json_invalid":
        return "body: not valid JSON"
    return f"{where}: {str(first.get('msg', 'invalid')).lower()}"
