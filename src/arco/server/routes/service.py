"""Service routes: liveness, readiness and Prometheus metrics (no authentication)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from arco.errors import ArcoError
from arco.observability.metrics import exposition
from arco.server.deps import services

router = APIRouter(tags=["service"])


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


#: a prefix no object has (keys never start with "_ready-probe/" under Arco's layout)
READY_PROBE_PREFIX = "_ready-probe/"


@router.get(
    "/ready",
    summary="Readiness: storage reachable and compaction lag below the bound",
    responses={503: {"description": "not ready"}},
)
def ready(request: Request) -> Response:
    svc = services(request)
    checks: dict[str, Any] = {}
    ok = True
    try:
        # a listing that matches nothing: proves the store answers, costs one request
        # however much it holds (listing "tenant=" walked every object on a local store)
        next(iter(svc.root.list(READY_PROBE_PREFIX)), None)
        checks["storage"] = "ok"
    except ArcoError as exc:
        ok = False
        checks["storage"] = exc.code
    lag = svc.max_lag_s()
    checks["compaction_lag_s"] = round(lag, 3)
    if lag > svc.settings.lag_bound_s:
        ok = False
    body = {"status": "ready" if ok else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    return Response(exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
