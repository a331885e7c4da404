"""The FastAPI application: middleware (request ids, body limits, metrics, access log),
the one error shape, and every router."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arco.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS
from arco.observability.request_context import bound_request_id
from arco.server import logs
from arco.server.api_doc import build_openapi
from arco.server.errors import error_body, install_error_handlers
from arco.server.routes import (
    automation,
    browser,
    catalog,
    commits,
    events,
    explorer,
    files,
    iceberg,
    lineage,
    manifests,
    orchestration,
    query,
    search,
    service,
)
from arco.server.services import Services
from arco.server.settings import ServerSettings

API_PREFIX = "/api/v1"
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

access_log = logging.getLogger("arco.server.access")
log = logging.getLogger("arco.server")


def create_app(settings: ServerSettings, services: Services | None = None) -> FastAPI:
    """The application for ``settings`` (``services`` for tests that share one)."""
    svc = services or Services.start(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.start_compactor()
        try:
            yield
        finally:
            svc.close()

    app = FastAPI(
        title="Arco",
        version="1",
        description="File-native lakehouse catalog: REST API over Parquet + JSON manifests.",
        lifespan=lifespan,
    )
    app.state.services = svc
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    for module in (catalog, lineage, search, manifests, commits, events, query, browser):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(orchestration.router, prefix=API_PREFIX)
    app.include_router(automation.router, prefix=API_PREFIX)
    app.include_router(orchestration.callbacks, prefix=API_PREFIX)
    iceberg.install(app)  # /iceberg: the Iceberg REST protocol, with its own error model
    app.include_router(service.router)
    app.include_router(files.router)
    app.include_router(explorer.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE"],
            allow_headers=["*"],
            expose_headers=["ETag", REQUEST_ID_HEADER, "Content-Range", "Accept-Ranges"],
        )
    app.add_middleware(
        BodyLimit,
        limit=settings.limits.max_body_bytes,
        large_paths={
            f"{API_PREFIX}/events": settings.limits.max_events_body_bytes,
            # a manifest of thousands of assets
            f"{API_PREFIX}/deployments": settings.limits.max_events_body_bytes,
        },
    )

    # outermost: every response, the 413s of BodyLimit included, carries the request id
    app.add_middleware(RequestContext)
    return app


class RequestContext:
    """Request id (accepted or generated, echoed), metrics and the access log.

    Plain ASGI rather than an ``@app.middleware`` function: it wraps ``send`` instead of
    buffering the response through a second task, which keeps per-request overhead low.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = given if _REQUEST_ID_RE.fullmatch(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        header = (b"x-request-id", request_id.encode("ascii"))
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = int(message["status"])
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        started = time.perf_counter()
        try:
            # every line logged while serving it, and every commit it makes, names it
            with logs.bind(request_id=request_id), bound_request_id(request_id):
                try:
                    await self.app(scope, receive, send_with_id)
                except Exception as exc:
                    if started_response:
                        log.exception("request %s failed after its response began", request_id)
                        return
                    await _answer_unexpected(exc, scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = str(scope.get("method", ""))
            route = _route_template(scope)
            HTTP_REQUESTS.labels(route, method, str(status)).inc()
            HTTP_LATENCY.labels(route, method).observe(elapsed)
            principal = state.get("principal")
            access_log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": method,
                    "route": route,  # the template: never the raw path or query (signed URLs)
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "tenant": getattr(principal, "tenant", None),
                    "workspace": getattr(principal, "workspace", None),
                },
            )


async def _answer_unexpected(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer an exception no route handled with the application's own handler for it (it
    logs the traceback and picks the path's error shape). Not re-raised: Starlette's outer
    error middleware would answer it the same way and then hand it to the ASGI server,
    whose "Exception in ASGI application" log must stay empty."""
    app = scope["app"]
    handler = app.exception_handlers[Exception]
    response = await handler(Request(scope, receive), exc)
    await response(scope, receive, send)


def _route_template(scope: Scope) -> str:
    """The matched route's path template with its router's prefix (FastAPI includes routers
    lazily: ``scope["route"]`` holds the route as declared, without the prefix)."""
    extra = scope.get("fastapi")
    effective = extra.get("effective_route_context") if isinstance(extra, dict) else None
    path = getattr(effective, "path", None)
    if isinstance(path, str):
        return path
    return str(getattr(scope.get("route"), "path", "unmatched"))


class BodyLimit:
    """Rejects request bodies over the limit with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int, large_paths: dict[str, int]) -> None:
        self.app = app
        self.limit = limit
        self.large_paths = large_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.large_paths.get(scope.get("path", ""), self.limit)
        for name, value in scope.get("headers", []):
            # (a thousand-digit length is over any limit; int() would refuse to parse it)
            if (
                name == b"content-length"
                and value.isdigit()
                and (len(value) > 18 or int(value) > limit)
            ):
                await _too_large(scope, send, limit)
                return
        seen = 0
        answered = False

        async def limited() -> Message:
            # A chunked body over the limit is answered here, at once: the application only
            # sees the client go away (an exception raised in ``receive`` would reach its
            # body parser, which turns any failure into a 400).
            nonlocal seen, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    answered = True
                    await _too_large(scope, send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def unless_answered(message: Message) -> None:
            if not answered:
                await send(message)

        await self.app(scope, limited, unless_answered)


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    import json

    request_id = str(scope.get("state", {}).get("request_id", "")) or uuid.uuid4().hex
    message = f"request body exceeds {limit} bytes"
    if str(scope.get("path", "")).startswith(iceberg.ICEBERG_ROOT + "/"):  # its ErrorModel
        shaped: dict[str, Any] = {
            "error": {"message": message, "type": "BadRequestException", "code": 413}
        }
    else:
        shaped = error_body("PAYLOAD_TOO_LARGE", message, request_id)
    body = json.dumps(shaped).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
