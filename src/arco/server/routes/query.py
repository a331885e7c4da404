"""Routes: the read-only SQL endpoint (``POST /query``), see :mod:`arco.query.engine`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from arco.query.engine import ENCODERS, MEDIA_TYPES, QueryEngine, QueryTimeoutError
from arco.query.engine import pick_format as _pick_format
from arco.server.deps import Caller, CallerWorkspace, services
from arco.server.errors import ApiError

router = APIRouter(tags=["query"])

#: response headers of every successful query, whatever the format
TRUNCATED_HEADER = "X-Arco-Truncated"
ROW_COUNT_HEADER = "X-Arco-Row-Count"


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(description="exactly one read-only statement (SELECT / WITH / VALUES)")


class QueryColumn(BaseModel):
    name: str
    type: str = Field(description="Arrow type, e.g. int64, string, timestamp[us, tz=UTC]")


class QueryResponse(BaseModel):
    columns: list[QueryColumn]
    rows: list[list[Any]]
    row_count: int
    truncated: bool = Field(description="true if the row or byte limit left rows out")


def query_engine(request: Request) -> QueryEngine:
    """The process's query engine (owned by :class:`arco.server.services.Services`)."""
    return services(request).query_engine


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "not exactly one read-only statement, or the statement failed"},
    406: {"description": "the Accept header allows none of the output formats"},
    429: {"description": "query rate limit reached"},
    504: {"description": "QUERY_TIMEOUT: the query ran past the time limit and was interrupted"},
}


@router.post(
    "/query",
    summary="Run one read-only SQL statement over the workspace's current snapshots",
    response_model=QueryResponse,
    responses={
        200: {
            "description": "JSON (default), an Arrow IPC stream or CSV, by ?format= or Accept",
            "content": {
                MEDIA_TYPES["arrow"]: {"schema": {"type": "string", "format": "binary"}},
                MEDIA_TYPES["csv"]: {"schema": {"type": "string"}},
            },
            "headers": {
                TRUNCATED_HEADER: {"description": "true if rows were left out"},
                ROW_COUNT_HEADER: {"description": "rows in the response"},
            },
        },
        **_ERRORS,
    },
)
def run_query(
    body: QueryRequest,
    request: Request,
    caller: Caller,
    ws: CallerWorkspace,
    format: Annotated[
        str | None, Query(description="json, arrow or csv (overrides Accept)")
    ] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    fmt = _pick_format(format, accept)
    if fmt is None:
        raise ApiError(
            406,
            "NOT_ACCEPTABLE",
            "Accept: none of " + ", ".join(MEDIA_TYPES.values()) + " is acceptable",
        )
    services(request).rate_limiter.charge(caller.tenant, "query")
    try:
        result = query_engine(request).query(ws.store, ws.scope.prefix, body.sql)
    except QueryTimeoutError as exc:
        raise ApiError(504, exc.code, exc.message) from exc
    return Response(
        ENCODERS[fmt](result),
        media_type=MEDIA_TYPES[fmt],
        headers={
            TRUNCATED_HEADER: "true" if result.truncated else "false",
            ROW_COUNT_HEADER: str(result.row_count),
        },
    )
