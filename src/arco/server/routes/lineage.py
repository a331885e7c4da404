"""Routes: lineage edges and traversal (tier 1; see docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from arco.lineage import Direction, Edge, LineageGraph
from arco.lineage.graph import MAX_DEPTH
from arco.server.deps import CallerWorkspace
from arco.server.wire import (
    API_DEPENDENCIES,
    ASSET_KEY_SCHEMA,
    AddEdgeBody,
    EdgeRef,
    IdempotencyKey,
    IfMatch,
    error_responses,
    link,
    set_etag,
)

router = APIRouter(tags=["lineage"], dependencies=API_DEPENDENCIES)

_DIRECTIONS: dict[str, Direction] = {"up": "upstream", "down": "downstream", "both": "both"}


def _edge_links(at: str, *, etag: bool) -> dict[str, dict[str, Any]]:
    """Links from a response holding an edge at the JSON pointer ``at`` of its body."""
    field = {name: f"$response.body#{at}/{name}" for name in ("source", "target", "edge_type")}
    return {
        "SourceLineage": link(
            "get",
            "/lineage/{asset}",
            "what the edge's source feeds",
            parameters={"path.asset": field["source"], "query.direction": "down"},
        ),
        "TargetLineage": link(
            "get",
            "/lineage/{asset}",
            "what feeds the edge's target",
            parameters={"path.asset": field["target"], "query.direction": "up"},
        ),
        "RemoveEdge": link(
            "delete",
            "/lineage/edges",
            "remove the edge",
            parameters={"header.If-Match": "$response.header.ETag"} if etag else None,
            request_body=field,
        ),
        "SourceMaterializations": link(
            "get",
            "/materializations",
            "the materializations of the edge's source",
            parameters={"query.asset_key": field["source"]},
        ),
    }


@router.post(
    "/lineage/edges",
    status_code=201,
    response_model=Edge,
    summary="Record that asset `source` feeds asset `target`",
    description="Adding an edge that exists updates its `run_id` (and returns it).",
    responses=error_responses(400, 409, 413, etag=201, links={201: _edge_links("", etag=True)}),
)
def add_edge(
    body: AddEdgeBody, ws: CallerWorkspace, response: Response, idempotency_key: IdempotencyKey
) -> Edge:
    edge = ws.catalog.add_lineage_edge(
        body.source,
        body.target,
        edge_type=body.edge_type,
        run_id=body.run_id,
        idempotency_key=idempotency_key,
    )
    set_etag(response, edge.version)
    return edge


@router.delete(
    "/lineage/edges",
    status_code=204,
    response_class=Response,
    summary="Remove a lineage edge",
    responses=error_responses(400, 404, 409, 412, 413),
)
def remove_edge(
    body: EdgeRef, ws: CallerWorkspace, idempotency_key: IdempotencyKey, if_match: IfMatch
) -> Response:
    ws.catalog.remove_lineage_edge(
        body.source,
        body.target,
        edge_type=body.edge_type,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )
    return Response(status_code=204)


@router.get(
    "/lineage/{asset:path}",
    response_model=LineageGraph,
    summary="The lineage graph around an asset (`namespace/name`)",
    description="An asset without edges is a graph of its root node alone.",
    responses=error_responses(
        400,
        links={
            200: {
                **_edge_links("/edges/0", etag=False),
                "NodeLineage": link(
                    "get",
                    "/lineage/{asset}",
                    "the lineage around the nearest neighbour (nodes[0] is the root)",
                    parameters={"path.asset": "$response.body#/nodes/1/asset"},
                ),
            }
        },
    ),
)
def lineage(
    asset: Annotated[str, Path(json_schema_extra=ASSET_KEY_SCHEMA)],
    ws: CallerWorkspace,
    direction: Annotated[
        Literal["up", "down", "both"], Query(description="which edges to follow")
    ] = "both",
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="hops from the asset")] = 3,
) -> LineageGraph:
    return ws.catalog.lineage(asset, direction=_DIRECTIONS[direction], depth=depth)
