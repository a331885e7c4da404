"""The operations on a workspace's automation that the CLI and the REST API share: its
schedules and sensors (the deployed definitions with their state), pausing and resuming
them, pushing a message, creating and steering backfills. One implementation for both
surfaces; every error is a one-line ArcoError naming the field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from arco.core.ids import new_ulid
from arco.errors import NotFoundError, ValidationError
from arco.orchestration.automation.cron import CronSchedule
from arco.orchestration.automation.domain.facade import (
    Automation,
    backfill_cancel_requested,
    backfill_paused,
    backfill_requested,
    backfill_resumed,
    backfill_retry_requested,
    push_received,
    schedule_status_changed,
    sensor_status_changed,
)
from arco.orchestration.automation.domain.model import Backfill
from arco.orchestration.automation.domain.state import AutomationState
from arco.orchestration.manifest import DefinitionsManifest, SensorSpec
from arco.orchestration.partitions import parse_partition, partition_keys

__all__ = [
    "BackfillAction",
    "ScheduleInfo",
    "SensorInfo",
    "backfill_partitions",
    "control_backfill",
    "create_backfill",
    "push_message",
    "schedule_infos",
    "sensor_infos",
    "set_status",
]

BackfillAction = Literal["pause", "resume", "cancel", "retry"]
Status = Literal["running", "paused"]


class ScheduleInfo(BaseModel):
    """A deployed schedule and its state; times in ms since the epoch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    cron: str
    timezone: str
    target: list[str]
    status: str
    last_tick_at: int | None
    last_tick_status: str | None
    #: None while paused
    next_tick_at: int | None


class SensorInfo(BaseModel):
    """A deployed sensor and its state; times in ms since the epoch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: str
    target: list[str]
    status: str
    cursor: str | None
    last_evaluated_at: int | None
    last_error: str | None


def schedule_infos(
    manifest: DefinitionsManifest, state: AutomationState, now_ms: int
) -> list[ScheduleInfo]:
    """Every schedule of ``manifest`` (by name) with its status, last and next tick."""
    out = []
    for spec in manifest.schedules:
        row = state.schedules.get(spec.name)
        status = spec.default_status if row is None else row.status
        running = status == "running"
        out.append(
            ScheduleInfo(
                name=spec.name,
                cron=spec.cron,
                timezone=spec.timezone,
                target=list(spec.target),
                status=status,
                last_tick_at=None if row is None else row.last_tick_at,
                last_tick_status=None if row is None else row.last_tick_status,
                next_tick_at=CronSchedule(spec.cron, spec.timezone).next_tick(now_ms)
                if running
                else None,
            )
        )
    return out


def sensor_infos(manifest: DefinitionsManifest, state: AutomationState) -> list[SensorInfo]:
    """Every sensor of ``manifest`` (by name) with its status, cursor and last evaluation."""
    out = []
    for spec in manifest.sensors:
        row = state.sensors.get(spec.name)
        out.append(
            SensorInfo(
                name=spec.name,
                kind=spec.kind,
                target=list(spec.target),
                status=spec.default_status if row is None else row.status,
                cursor=None if row is None else row.cursor,
                last_evaluated_at=None if row is None else row.last_evaluated_at,
                last_error=None if row is None else row.last_error,
            )
        )
    return out


def backfill_partitions(
    manifest: DefinitionsManifest,
    assets: Sequence[str],
    partitions: Sequence[str] | None = None,
    first: str | None = None,
    last: str | None = None,
) -> list[str]:
    """The canonical partition keys a backfill of ``assets`` covers: ``partitions`` (plain
    or canonical keys), or the range ``first``..``last`` (inclusive; either end open) of
    their partitions definition, in its order. ValidationError naming the field when an
    asset is not deployed, the assets are not partitioned alike, both forms are given, or
    the request names no partition."""
    specs = {a.key: a for a in manifest.assets}
    if not assets:
        raise ValidationError("assets: a backfill needs at least one asset")
    for key in assets:
        if key not in specs:
            raise ValidationError(f"assets: {key!r} is not in the current deployment")
    definitions = [specs[a].partitions for a in assets]
    spec = definitions[0]
    if spec is None or any(d != spec for d in definitions):
        raise ValidationError(
            "assets: must all be partitioned, with the same partitions definition"
        )
    if partitions and (first is not None or last is not None):
        raise ValidationError("partitions: give partitions or a from/to range, not both")
    if partitions:
        keys = [parse_partition(spec, p) for p in partitions]
        if len(set(keys)) != len(keys):
            raise ValidationError("partitions: must not repeat a partition")
        return keys
    every = partition_keys(spec)

    def index(field: str, text: str) -> int:
        key = parse_partition(spec, text)
        if key not in every:
            raise ValidationError(f"{field}: {text!r} is not a partition of the assets")
        return every.index(key)

    lo = 0 if first is None else index("from", first)
    hi = len(every) - 1 if last is None else index("to", last)
    keys = every[lo : hi + 1]
    if not keys:
        raise ValidationError("partitions: the backfill names no partition")
    return keys


def set_status(
    automation: Automation,
    manifest: DefinitionsManifest,
    kind: Literal["schedule", "sensor"],
    name: str,
    status: Status,
) -> None:
    """Pause (``paused``) or resume (``running``) a deployed schedule or sensor."""
    if kind == "schedule":
        if name not in {s.name for s in manifest.schedules}:
            raise NotFoundError(f"schedule {name!r} is not in the current deployment")
        automation.append([schedule_status_changed(name, status, request_id=new_ulid())])
    else:
        if name not in {s.name for s in manifest.sensors}:
            raise NotFoundError(f"sensor {name!r} is not in the current deployment")
        automation.append([sensor_status_changed(name, status, request_id=new_ulid())])


def push_message(
    automation: Automation,
    manifest: DefinitionsManifest,
    name: str,
    message_id: str,
    payload: Mapping[str, Any],
) -> None:
    """Record a message pushed to a push sensor: one run of its target per message id (a
    message id pushed again is a duplicate)."""
    spec = next((s for s in manifest.sensors if s.name == name), None)
    if spec is None or spec.kind != "push":
        raise NotFoundError(f"sensor {name!r} is not a push sensor of the current deployment")
    automation.append(
        [push_received(name, message_id, dict(payload), requests=[_push_request(spec)])]
    )


def create_backfill(
    automation: Automation,
    manifest: DefinitionsManifest,
    assets: Sequence[str],
    *,
    partitions: Sequence[str] | None = None,
    first: str | None = None,
    last: str | None = None,
    chunk_size: int = 1,
    max_in_flight: int = 1,
    backfill_id: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Backfill:
    """A new backfill of ``assets`` over :func:`backfill_partitions`; the backfill."""
    keys = backfill_partitions(manifest, assets, partitions, first, last)
    bid = backfill_id or new_ulid()
    if bid in automation.state().backfills:
        raise ValidationError(f"backfill_id: {bid!r} is taken")
    automation.append(
        [
            backfill_requested(
                bid,
                list(assets),
                keys,
                chunk_size=chunk_size,
                max_in_flight=max_in_flight,
                tags=tags,
            )
        ]
    )
    return automation.get_backfill(bid)


def control_backfill(automation: Automation, backfill_id: str, action: BackfillAction) -> Backfill:
    """Pause, resume, cancel or retry (a FAILED one only) a backfill; the backfill after."""
    backfill = automation.get_backfill(backfill_id)
    if action == "retry":
        if backfill.state != "FAILED":
            raise ValidationError(
                f"backfill_id: {backfill_id} is {backfill.state}; only a FAILED one is retried"
            )
        event = backfill_retry_requested(backfill_id, backfill.retries + 1)
    elif action == "pause":
        event = backfill_paused(backfill_id, request_id=new_ulid())
    elif action == "resume":
        event = backfill_resumed(backfill_id, request_id=new_ulid())
    else:
        event = backfill_cancel_requested(backfill_id, request_id=new_ulid())
    automation.append([event])
    return automation.get_backfill(backfill_id)


def _push_request(spec: SensorSpec) -> dict[str, Any]:
    """The run request a message pushed to ``spec`` carries: a run of its target."""
    return {"key": "0", "selection": list(spec.target), "partitions": [], "tags": dict(spec.tags)}
