"""Routes: automation (ADR 017) — schedules, sensors (and messages pushed to them) and
backfills of the caller's workspace. The automation controller acts on what these record
(``arco automation run``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from arco.core.clock import SYSTEM_CLOCK
from arco.errors import NotFoundError
from arco.orchestration.automation import Automation, Backfill, Tick
from arco.orchestration.automation.operations import (
    BackfillAction,
    ScheduleInfo,
    SensorInfo,
    control_backfill,
    schedule_infos,
    sensor_infos,
    set_status,
)
from arco.orchestration.automation.operations import (
    create_backfill as new_backfill,
)
from arco.orchestration.automation.operations import (
    push_message as record_message,
)
from arco.orchestration.deploy import current
from arco.orchestration.manifest import DefinitionsManifest
from arco.server.deps import Caller, services
from arco.server.errors import ApiError
from arco.server.orchestration import Orchestrators
from arco.server.wire import API_DEPENDENCIES, error_responses

__all__ = ["router"]

router = APIRouter(tags=["automation"], dependencies=API_DEPENDENCIES)

_NAME = r"^[^/\s][^/]{0,127}$"
_ID = r"^[0-9A-Za-z_-]{1,64}$"
Name = Annotated[str, Path(pattern=_NAME, description="a schedule or sensor name")]
BackfillId = Annotated[str, Path(pattern=_ID, description="a backfill id")]


def _svc(request: Request) -> Orchestrators:
    found = services(request).orchestrators
    if found is None:  # pragma: no cover - Services.start always makes one
        raise ApiError(404, "NOT_FOUND", "this server does not run pipelines")
    return found


def _manifest(svc: Orchestrators, caller: Caller) -> DefinitionsManifest:
    found = current(svc.store(caller.scope))
    if found is None:
        raise NotFoundError("deployment: nothing is deployed to this workspace")
    return found[1]


def _automation(svc: Orchestrators, caller: Caller) -> Automation:
    return svc.automation(caller.scope)


def _acting(svc: Orchestrators, caller: Caller) -> Automation:
    """The automation state of the caller's workspace for a change, its controller started
    (it acts on what the change records)."""
    svc.get(caller.scope)
    return svc.automation(caller.scope)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleList(BaseModel):
    items: list[ScheduleInfo]


class SensorList(BaseModel):
    items: list[SensorInfo]


class TickList(BaseModel):
    items: list[Tick]


class BackfillList(BaseModel):
    items: list[Backfill]


Status = Literal["running", "paused"]


class StatusChange(BaseModel):
    name: str
    status: Status


class PushBody(_Body):
    """``POST /sensors/{name}/messages``: one message (a message id pushed again is ignored)."""

    message_id: str = Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
    payload: dict[str, Any] = Field(default_factory=dict)


class PushResult(BaseModel):
    sensor: str
    message_id: str


class BackfillBody(_Body):
    """``POST /backfills``: partitions of assets, or a range of them."""

    assets: list[str] = Field(min_length=1, max_length=100)
    partitions: list[str] | None = Field(default=None, max_length=10_000)
    from_partition: str | None = Field(default=None, alias="from", max_length=200)
    to_partition: str | None = Field(default=None, alias="to", max_length=200)
    chunk_size: int = Field(default=1, ge=1, le=10_000)
    max_in_flight: int = Field(default=1, ge=1, le=1_000)
    backfill_id: str | None = Field(default=None, pattern=_ID)
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- schedules ----------------------------------------------------------------------------


@router.get(
    "/schedules",
    response_model=ScheduleList,
    summary="The schedules of the current deployment, with status, last and next tick",
    responses=error_responses(404),
)
def list_schedules(caller: Caller, request: Request) -> ScheduleList:
    svc = _svc(request)
    state = _automation(svc, caller).state()
    return ScheduleList(items=schedule_infos(_manifest(svc, caller), state, SYSTEM_CLOCK.now_ms()))


@router.get(
    "/schedules/{name}/ticks",
    response_model=TickList,
    summary="A schedule's ticks, newest first",
    responses=error_responses(400),
)
def schedule_ticks(
    name: Name,
    caller: Caller,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> TickList:
    return TickList(items=_automation(_svc(request), caller).ticks(name, limit))


def _set(
    request: Request, caller: Caller, kind: Literal["schedule", "sensor"], name: str, status: Status
) -> StatusChange:
    svc = _svc(request)
    manifest = _manifest(svc, caller)
    set_status(_acting(svc, caller), manifest, kind, name, status)
    return StatusChange(name=name, status=status)


@router.post(
    "/schedules/{name}/pause",
    response_model=StatusChange,
    summary="Pause a schedule (ticks while paused are never run)",
    responses=error_responses(400, 404),
)
def pause_schedule(name: Name, caller: Caller, request: Request) -> StatusChange:
    return _set(request, caller, "schedule", name, "paused")


@router.post(
    "/schedules/{name}/resume",
    response_model=StatusChange,
    summary="Resume a schedule, from now",
    responses=error_responses(400, 404),
)
def resume_schedule(name: Name, caller: Caller, request: Request) -> StatusChange:
    return _set(request, caller, "schedule", name, "running")


# --- sensors ------------------------------------------------------------------------------


@router.get(
    "/sensors",
    response_model=SensorList,
    summary="The sensors of the current deployment, with status, cursor and last error",
    responses=error_responses(404),
)
def list_sensors(caller: Caller, request: Request) -> SensorList:
    svc = _svc(request)
    state = _automation(svc, caller).state()
    return SensorList(items=sensor_infos(_manifest(svc, caller), state))


@router.post(
    "/sensors/{name}/pause",
    response_model=StatusChange,
    summary="Pause a sensor",
    responses=error_responses(400, 404),
)
def pause_sensor(name: Name, caller: Caller, request: Request) -> StatusChange:
    return _set(request, caller, "sensor", name, "paused")


@router.post(
    "/sensors/{name}/resume",
    response_model=StatusChange,
    summary="Resume a sensor",
    responses=error_responses(400, 404),
)
def resume_sensor(name: Name, caller: Caller, request: Request) -> StatusChange:
    return _set(request, caller, "sensor", name, "running")


@router.post(
    "/sensors/{name}/messages",
    response_model=PushResult,
    status_code=202,
    summary="Push a message to a push sensor: one run of its target per message id",
    responses=error_responses(400, 404),
)
def push_message(name: Name, body: PushBody, caller: Caller, request: Request) -> PushResult:
    svc = _svc(request)
    manifest = _manifest(svc, caller)
    record_message(_acting(svc, caller), manifest, name, body.message_id, body.payload)
    return PushResult(sensor=name, message_id=body.message_id)


# --- backfills ----------------------------------------------------------------------------


@router.get(
    "/backfills",
    response_model=BackfillList,
    summary="Backfills, newest first, with their progress counts",
    responses=error_responses(400),
)
def list_backfills(
    caller: Caller,
    request: Request,
    state: Annotated[str | None, Query(max_length=20, description="only this state")] = None,
) -> BackfillList:
    return BackfillList(items=_automation(_svc(request), caller).list_backfills(state=state))


@router.post(
    "/backfills",
    response_model=Backfill,
    status_code=201,
    summary="Backfill partitions of assets (the automation controller launches the chunks)",
    responses=error_responses(400, 404, 409),
)
def create_backfill(body: BackfillBody, caller: Caller, request: Request) -> Backfill:
    svc = _svc(request)
    manifest = _manifest(svc, caller)
    return new_backfill(
        _acting(svc, caller),
        manifest,
        body.assets,
        partitions=body.partitions,
        first=body.from_partition,
        last=body.to_partition,
        chunk_size=body.chunk_size,
        max_in_flight=body.max_in_flight,
        backfill_id=body.backfill_id,
        tags=body.tags,
    )


@router.get(
    "/backfills/{backfill_id}",
    response_model=Backfill,
    summary="One backfill with its chunks",
    responses=error_responses(400, 404),
)
def get_backfill(backfill_id: BackfillId, caller: Caller, request: Request) -> Backfill:
    return _automation(_svc(request), caller).get_backfill(backfill_id)


def _control(
    request: Request, caller: Caller, backfill_id: str, action: BackfillAction
) -> Backfill:
    svc = _svc(request)
    automation = _automation(svc, caller)
    automation.get_backfill(backfill_id)  # 404 before anything starts
    return control_backfill(_acting(svc, caller), backfill_id, action)


@router.post(
    "/backfills/{backfill_id}/pause",
    response_model=Backfill,
    summary="Launch no more chunks (those running finish)",
    responses=error_responses(400, 404),
)
def pause_backfill(backfill_id: BackfillId, caller: Caller, request: Request) -> Backfill:
    return _control(request, caller, backfill_id, "pause")


@router.post(
    "/backfills/{backfill_id}/resume",
    response_model=Backfill,
    summary="Launch chunks again",
    responses=error_responses(400, 404),
)
def resume_backfill(backfill_id: BackfillId, caller: Caller, request: Request) -> Backfill:
    return _control(request, caller, backfill_id, "resume")


@router.post(
    "/backfills/{backfill_id}/cancel",
    response_model=Backfill,
    summary="Cancel a backfill: no more chunks, its runs in flight are cancelled",
    responses=error_responses(400, 404),
)
def cancel_backfill(backfill_id: BackfillId, caller: Caller, request: Request) -> Backfill:
    return _control(request, caller, backfill_id, "cancel")


@router.post(
    "/backfills/{backfill_id}/retry",
    response_model=Backfill,
    summary="Run the failed chunks of a FAILED backfill again",
    responses=error_responses(400, 404),
)
def retry_backfill(backfill_id: BackfillId, caller: Caller, request: Request) -> Backfill:
    return _control(request, caller, backfill_id, "retry")
