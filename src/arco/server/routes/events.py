"""Routes: tier-2 events and the materializations folded from them (see docs/api.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from arco.core import canonical_json
from arco.core.clock import SYSTEM_CLOCK
from arco.core.paging import Page
from arco.errors import ValidationError
from arco.executions import Materialization
from arco.server.deps import CallerWorkspace
from arco.server.wire import (
    API_DEPENDENCIES,
    ASSET_KEY_SCHEMA,
    DEFAULT_LIMIT,
    EventIds,
    EventsBody,
    IdempotencyKey,
    Limit,
    PageToken,
    error_responses,
    link,
    set_etag,
)
from arco.tier2.envelope import EventEnvelope, increasing_ids, parse_event

router = APIRouter(dependencies=API_DEPENDENCIES)

#: ``source`` recorded on events that do not name one
API_SOURCE = "arco-api"


def _parse(body: EventsBody) -> list[EventEnvelope]:
    now_ms = SYSTEM_CLOCK.now_ms()
    new_id = increasing_ids()

    events = []
    for i, item in enumerate(body.events):
        try:
            events.append(parse_event(item, source=API_SOURCE, now_ms=now_ms, new_id=new_id))
        except ValidationError as exc:
            raise ValidationError(f"events[{i}].{exc.message}") from None
    return events


@router.post(
    "/events",
    status_code=202,
    response_model=EventIds,
    tags=["events"],
    summary="Append events to the executions ledger",
    description="Events are complete envelopes or bare payloads with an `event_type`. Every "
    "event is validated first (unknown types are rejected); one invalid event appends "
    "nothing. Accepted events are folded into materializations shortly after (202). With "
    "`Idempotency-Key`, a retry returns the original event ids.",
    responses=error_responses(
        400,
        409,
        413,
        links={
            202: {
                "RunMaterializations": link(
                    "get",
                    "/materializations",
                    "the materializations of the first event's run",
                    parameters={"query.run_id": "$request.body#/events/0/run_id"},
                ),
                "AssetMaterializations": link(
                    "get",
                    "/materializations",
                    "the materializations of the first event's asset",
                    parameters={"query.asset_key": "$request.body#/events/0/asset_key"},
                ),
            }
        },
    ),
)
def append_events(
    body: EventsBody, ws: CallerWorkspace, idempotency_key: IdempotencyKey
) -> EventIds:
    events = _parse(body)
    if idempotency_key is None:
        ws.executions.append(events)
        return EventIds(event_ids=[e.event_id for e in events])
    request_hash = canonical_json.canonical_hash(body.model_dump(mode="json"))
    ids = ws.executions.append_once(events, idempotency_key, request_hash)
    return EventIds(event_ids=ids)


@router.get(
    "/materializations",
    response_model=Page[Materialization],
    tags=["materializations"],
    summary="List materializations, newest event first",
    responses=error_responses(
        400,
        links={
            200: {
                "GetMaterialization": link(
                    "get",
                    "/materializations/{materialization_id}",
                    "the first materialization listed",
                    parameters={
                        "path.materialization_id": "$response.body#/items/0/materialization_id"
                    },
                )
            }
        },
    ),
)
def list_materializations(
    ws: CallerWorkspace,
    asset_key: Annotated[
        str | None,
        Query(description="only this asset (`namespace/name`)", json_schema_extra=ASSET_KEY_SCHEMA),
    ] = None,
    run_id: Annotated[str | None, Query(max_length=1000, description="only this run")] = None,
    status: Annotated[str | None, Query(max_length=100, description="only this status")] = None,
    page_token: PageToken = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[Materialization]:
    return ws.executions.list_materializations(
        asset_key=asset_key, run_id=run_id, status=status, page_token=page_token, limit=limit
    )


@router.get(
    "/materializations/{materialization_id}",
    response_model=Materialization,
    tags=["materializations"],
    summary="Get a materialization",
    responses=error_responses(
        404,
        etag=200,
        links={
            200: {
                "RunMaterializations": link(
                    "get",
                    "/materializations",
                    "the materializations of its run",
                    parameters={"query.run_id": "$response.body#/run_id"},
                ),
                "AssetLineage": link(
                    "get",
                    "/lineage/{asset}",
                    "the lineage of its asset",
                    parameters={"path.asset": "$response.body#/asset_key"},
                ),
            }
        },
    ),
)
def get_materialization(
    materialization_id: str, ws: CallerWorkspace, response: Response
) -> Materialization:
    found = ws.executions.get_materialization(materialization_id)
    set_etag(response, found.version)
    return found
