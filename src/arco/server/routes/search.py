"""Routes: ranked prefix search over the catalog (see docs/api.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from arco.core.paging import MAX_PAGE
from arco.server.deps import CallerWorkspace
from arco.server.wire import API_DEPENDENCIES, SearchResults, error_responses

router = APIRouter(tags=["search"], dependencies=API_DEPENDENCIES)


@router.get(
    "/search",
    response_model=SearchResults,
    summary="Search names, descriptions and columns (prefix match, ranked)",
    responses=error_responses(400),
)
def search(
    ws: CallerWorkspace,
    q: Annotated[str, Query(max_length=1000, description="words to match by prefix")],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="most hits returned")] = 20,
) -> SearchResults:
    return SearchResults(items=ws.catalog.search(q, limit=limit))
