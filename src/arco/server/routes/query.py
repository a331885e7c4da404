"""Routes: the read-only SQL endpoint (``POST /query``), see :mod:`arco.query.engine`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from arco.query.engine import MEDIA_TYPES, QueryTimeoutError
from arco.query.engine import pick_format as _pick_format
from arco.server.deps import Caller, CallerWorkspace, services
from arco.server.errors import ApiError
from arco.server.wire import error_responses

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


def _errors() -> dict[int | str, dict[str, Any]]:
    """The common error responses, with what they mean for a query."""
    out = error_responses(400, 406, 413)
    described = {
        400: "not exactly one read-only statement, or the statement failed "
        "(VALIDATION_FAILED); it needed more memory than a query may use (QUERY_MEMORY_LIMIT)",
        406: "the Accept header allows none of the output formats (NOT_ACCEPTABLE)",
        429: "query rate limit reached (RATE_LIMITED)",
        503: "every query worker stayed busy (QUERY_BUSY), or storage unavailable; "
        "retry, see Retry-After",
        504: "the query ran past the time limit and was interrupted (QUERY_TIMEOUT)",
    }
    for status, text in described.items():
        out[status] = {**out.get(status, out[400]), "description": text}
    return out


_ERRORS = _errors()


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
        result = services(request).query_runner.run(ws.scope, body.sql, fmt)
    except QueryTimeoutError as exc:
        raise ApiError(504, exc.code, exc.message) from exc
    return Response(
        result.body,
        media_type=result.media_type,
        headers={
            TRUNCATED_HEADER: "true" if result.truncated else "false",
            ROW_COUNT_HEADER: str(result.row_count),
        },
    )
