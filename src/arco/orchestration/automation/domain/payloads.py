"""Payloads of the event types the ``automation`` domain applies, one strict model per
version (ADR 017).

A payload that does not validate is quarantined by the compactor with a reason naming the
field (``payload.<field>``); a payload that validates but is not a legal transition from
the state it meets folds to ``stale`` (see :mod:`.folds`). Times are Unix milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from arco.core.assets import AssetKey
from arco.core.partitions import PartitionKey
from arco.errors import ValidationError, preview
from arco.tier2.envelope import rule_error, shape_error

__all__ = [
    "DEFAULT_EVALUATION_RETENTION_DAYS",
    "DEFAULT_TICK_RETENTION_DAYS",
    "BackfillCancelRequestedV1",
    "BackfillPausedV1",
    "BackfillRequestedV1",
    "BackfillResumedV1",
    "BackfillRetryRequestedV1",
    "ChunkFinishedV1",
    "ChunkLaunchedV1",
    "EvaluationRecordedV1",
    "PushReceivedV1",
    "RunRequestV1",
    "ScheduleStatusChangedV1",
    "SensorEvaluatedV1",
    "SensorRunsTriggeredV1",
    "SensorStatusChangedV1",
    "TickRecordedV1",
]

_MAX_INT64 = (1 << 63) - 1
#: longest id (schedule, sensor, backfill, run, request, message)
MAX_ID = 128
MAX_TEXT = 4096
MAX_CURSOR = 65536
#: most partitions one backfill names, and most run requests of one evaluation
MAX_PARTITIONS = 100_000
MAX_REQUESTS = 1000
#: how long the history is kept, relative to the newest row of the same schedule, sensor
#: or asset partition and condition (see :mod:`.folds`)
DEFAULT_TICK_RETENTION_DAYS = 90
DEFAULT_EVALUATION_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 36_500

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)

M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], payload: Mapping[str, Any], nullable: frozenset[str], what: str) -> M:
    try:
        return model.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise shape_error(exc, "payload.", nullable, what) from None


def _text(value: str, lo: int, hi: int) -> str:
    if not lo <= len(value) <= hi or not value.isprintable():
        rule_error(f"must be {lo}-{hi} printable characters (got {preview(value)})")
    return value


def _id(value: str) -> str:
    """An id: 1-128 printable characters without a space (row keys join ids with one)."""
    if " " in value:
        rule_error(f"must not contain a space (got {preview(value)})")
    return _text(value, 1, MAX_ID)


def _optional_text(value: str | None, hi: int = MAX_TEXT) -> str | None:
    if value is not None and len(value) > hi:
        rule_error(f"must be at most {hi} characters (got {len(value)})")
    return value


def _ms(value: int) -> int:
    if not 0 <= value <= _MAX_INT64:
        rule_error(f"must be an integer from 0 to {_MAX_INT64} (got {preview(value)})")
    return value


def _count(value: int, lo: int, hi: int) -> int:
    if not lo <= value <= hi:
        rule_error(f"must be an integer from {lo} to {hi} (got {preview(value)})")
    return value


def _asset_key(value: str) -> str:
    try:
        return str(AssetKey.parse(value))
    except ValidationError as exc:
        rule_error(exc.message.partition(": ")[2])


def _partition_key(value: str) -> str:
    try:
        return PartitionKey.parse(value).canonical()
    except ValidationError as exc:
        rule_error(exc.message.partition(": ")[2])


def _tags(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        _text(key, 1, 255)
        if len(text) > 1024:
            rule_error(f"tag {preview(key)}: values are at most 1024 characters")
    return value


def _run_ids(value: list[str]) -> list[str]:
    for run_id in value:
        _id(run_id)
    return value


def _unique(value: list[str], what: str) -> list[str]:
    if len(set(value)) != len(value):
        rule_error(f"must not name {what} twice")
    return value


# --- schedules and sensors ------------------------------------------------------------------


class _StatusChanged(BaseModel):
    model_config = _STRICT

    status: Literal["running", "paused"]
    #: the caller's id of the request (the idempotency key is built from it)
    request_id: str
    reason: str | None = None

    @field_validator("request_id")
    @classmethod
    def _request(cls, v: str) -> str:
        return _text(v, 1, MAX_ID)

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        return _optional_text(v)


class ScheduleStatusChangedV1(_StatusChanged):
    """``schedule_status_changed`` v1: pause or resume a schedule."""

    schedule_id: str

    @field_validator("schedule_id")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return _id(v)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ScheduleStatusChangedV1:
        return _parse(cls, payload, frozenset({"reason"}), "a schedule_status_changed payload")


class SensorStatusChangedV1(_StatusChanged):
    """``sensor_status_changed`` v1: pause or resume a sensor."""

    sensor_id: str

    @field_validator("sensor_id")
    @classmethod
    def _sensor(cls, v: str) -> str:
        return _id(v)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SensorStatusChangedV1:
        return _parse(cls, payload, frozenset({"reason"}), "a sensor_status_changed payload")


class TickRecordedV1(BaseModel):
    """``tick_recorded`` v1: what a schedule's tick at ``instant_ms`` did — its runs
    (``requested``), nothing (``skipped``: e.g. a collapsed catch-up range of
    ``skipped_count`` missed ticks from ``range_start_ms``), or ``failed``, with the reason.

    ``retention_days``: ticks of the schedule older than that before the newest are
    dropped by this fold."""

    model_config = _STRICT

    schedule_id: str
    instant_ms: int
    status: Literal["requested", "skipped", "failed"]
    run_ids: list[str] = []
    reason: str | None = None
    skipped_count: int = 0
    range_start_ms: int | None = None
    retention_days: int = DEFAULT_TICK_RETENTION_DAYS

    @field_validator("schedule_id")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return _id(v)

    @field_validator("instant_ms")
    @classmethod
    def _instant(cls, v: int) -> int:
        return _ms(v)

    @field_validator("range_start_ms")
    @classmethod
    def _range_start(cls, v: int | None) -> int | None:
        return None if v is None else _ms(v)

    @field_validator("run_ids")
    @classmethod
    def _runs(cls, v: list[str]) -> list[str]:
        return _unique(_run_ids(v), "a run")

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        return _optional_text(v)

    @field_validator("skipped_count")
    @classmethod
    def _skipped(cls, v: int) -> int:
        return _count(v, 0, _MAX_INT64)

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, v: int) -> int:
        return _count(v, 1, MAX_RETENTION_DAYS)

    @model_validator(mode="after")
    def _consistent(self) -> TickRecordedV1:
        if self.range_start_ms is not None and self.range_start_ms > self.instant_ms:
            raise ValidationError("payload.range_start_ms: must not be after instant_ms")
        return self

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> TickRecordedV1:
        return _parse(
            cls, payload, frozenset({"reason", "range_start_ms"}), "a tick_recorded payload"
        )


class RunRequestV1(BaseModel):
    """One run a sensor asks for: ``key`` names it within its evaluation (the run's
    ``run_key`` is ``sensor:{id}:{seq}:{key}``); an empty ``selection`` means the sensor's
    own target."""

    model_config = _STRICT

    key: str
    selection: list[str] = []
    partitions: list[str] = []
    tags: dict[str, str] = {}

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        return _text(v, 1, MAX_ID)

    @field_validator("selection")
    @classmethod
    def _selection(cls, v: list[str]) -> list[str]:
        for item in v:
            _text(item, 1, 1024)
        return v

    @field_validator("partitions")
    @classmethod
    def _partitions(cls, v: list[str]) -> list[str]:
        return _unique([_partition_key(p) for p in v], "a partition")

    @field_validator("tags")
    @classmethod
    def _tag_values(cls, v: dict[str, str]) -> dict[str, str]:
        return _tags(v)


def _requests(v: list[RunRequestV1]) -> list[RunRequestV1]:
    if len(v) > MAX_REQUESTS:
        rule_error(f"must hold at most {MAX_REQUESTS} requests (got {len(v)})")
    _unique([r.key for r in v], "a request key")
    return v


class SensorEvaluatedV1(BaseModel):
    """``sensor_evaluated`` v1: one evaluation of a poll sensor, which read the sensor at
    ``cursor_seq``. Applied only if that is still the sensor's ``cursor_seq`` (then the
    sequence moves on and, unless ``error``, the cursor becomes ``cursor``); else stale,
    and its requests never become runs."""

    model_config = _STRICT

    sensor_id: str
    #: unique per evaluation (two evaluations of one seq race: one is applied)
    evaluation_id: str
    cursor_seq: int
    cursor: str | None = None
    requests: list[RunRequestV1] = []
    error: str | None = None
    evaluated_at_ms: int
    retention_days: int = DEFAULT_TICK_RETENTION_DAYS

    @field_validator("sensor_id")
    @classmethod
    def _sensor(cls, v: str) -> str:
        return _id(v)

    @field_validator("evaluation_id")
    @classmethod
    def _evaluation(cls, v: str) -> str:
        return _text(v, 1, MAX_ID)

    @field_validator("cursor_seq")
    @classmethod
    def _seq(cls, v: int) -> int:
        return _count(v, 0, _MAX_INT64)

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, v: str | None) -> str | None:
        return _optional_text(v, MAX_CURSOR)

    @field_validator("requests")
    @classmethod
    def _reqs(cls, v: list[RunRequestV1]) -> list[RunRequestV1]:
        return _requests(v)

    @field_validator("error")
    @classmethod
    def _error(cls, v: str | None) -> str | None:
        return _optional_text(v, MAX_CURSOR)

    @field_validator("evaluated_at_ms")
    @classmethod
    def _at(cls, v: int) -> int:
        return _ms(v)

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, v: int) -> int:
        return _count(v, 1, MAX_RETENTION_DAYS)

    @model_validator(mode="after")
    def _error_has_no_requests(self) -> SensorEvaluatedV1:
        if self.error is not None and self.requests:
            raise ValidationError("payload.requests: an evaluation that failed requests no run")
        return self

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SensorEvaluatedV1:
        return _parse(cls, payload, frozenset({"cursor", "error"}), "a sensor_evaluated payload")


class SensorRunsTriggeredV1(BaseModel):
    """``sensor_runs_triggered`` v1: the runs of a tick's requests (an applied evaluation
    or a push message) were triggered; ``run_ids`` in the order of its requests."""

    model_config = _STRICT

    tick_id: str
    run_ids: list[str]

    @field_validator("tick_id")
    @classmethod
    def _tick(cls, v: str) -> str:
        return _text(v, 1, 512)

    @field_validator("run_ids")
    @classmethod
    def _runs(cls, v: list[str]) -> list[str]:
        return _run_ids(v)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SensorRunsTriggeredV1:
        return _parse(cls, payload, frozenset(), "a sensor_runs_triggered payload")


class PushReceivedV1(BaseModel):
    """``push_received`` v1: a message pushed to a sensor, keyed by its ``message_id``;
    it becomes one pending request (``requests``, or one keyed by the message id)."""

    model_config = _STRICT

    sensor_id: str
    message_id: str
    payload: dict[str, Any] = {}
    requests: list[RunRequestV1] | None = None

    @field_validator("sensor_id")
    @classmethod
    def _sensor(cls, v: str) -> str:
        return _id(v)

    @field_validator("message_id")
    @classmethod
    def _message(cls, v: str) -> str:
        return _text(v, 1, MAX_ID)

    @field_validator("requests")
    @classmethod
    def _reqs(cls, v: list[RunRequestV1] | None) -> list[RunRequestV1] | None:
        return None if v is None else _requests(v)

    def run_requests(self) -> list[RunRequestV1]:
        """The message's requests: as given, else one keyed by the message id."""
        if self.requests is not None:
            return list(self.requests)
        return [RunRequestV1(key=self.message_id)]

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message_id": self.message_id,
            "payload": dict(self.payload),
            "sensor_id": self.sensor_id,
        }
        if self.requests is not None:
            out["requests"] = [r.model_dump() for r in self.requests]
        return out

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> PushReceivedV1:
        return _parse(cls, payload, frozenset({"requests"}), "a push_received payload")


# --- backfills -----------------------------------------------------------------------------


class BackfillRequestedV1(BaseModel):
    """``backfill_requested`` v1: backfill ``partitions`` of ``assets``, in that order, in
    chunks of ``chunk_size`` partitions (one run each), at most ``max_in_flight`` runs at
    once."""

    model_config = _STRICT

    backfill_id: str
    assets: list[str]
    partitions: list[str]
    chunk_size: int = 1
    max_in_flight: int = 1
    tags: dict[str, str] = {}
    reason: str | None = None

    @field_validator("backfill_id")
    @classmethod
    def _backfill(cls, v: str) -> str:
        return _id(v)

    @field_validator("assets")
    @classmethod
    def _assets(cls, v: list[str]) -> list[str]:
        if not v:
            rule_error("must name at least one asset")
        return _unique([_asset_key(a) for a in v], "an asset")

    @field_validator("partitions")
    @classmethod
    def _partitions(cls, v: list[str]) -> list[str]:
        if not 1 <= len(v) <= MAX_PARTITIONS:
            rule_error(f"must name 1 to {MAX_PARTITIONS} partitions (got {len(v)})")
        return _unique([_partition_key(p) for p in v], "a partition")

    @field_validator("chunk_size")
    @classmethod
    def _chunk_size(cls, v: int) -> int:
        return _count(v, 1, MAX_PARTITIONS)

    @field_validator("max_in_flight")
    @classmethod
    def _max_in_flight(cls, v: int) -> int:
        return _count(v, 1, 10_000)

    @field_validator("tags")
    @classmethod
    def _tag_values(cls, v: dict[str, str]) -> dict[str, str]:
        return _tags(v)

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        return _optional_text(v)

    def chunks(self) -> list[list[str]]:
        """The partitions split into chunks of ``chunk_size``, in the given order."""
        size = self.chunk_size
        return [self.partitions[i : i + size] for i in range(0, len(self.partitions), size)]

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> BackfillRequestedV1:
        return _parse(cls, payload, frozenset({"reason"}), "a backfill_requested payload")


class _BackfillControl(BaseModel):
    model_config = _STRICT

    backfill_id: str
    #: the caller's id of the request (the idempotency key is built from it)
    request_id: str
    reason: str | None = None

    @field_validator("backfill_id")
    @classmethod
    def _backfill(cls, v: str) -> str:
        return _id(v)

    @field_validator("request_id")
    @classmethod
    def _request(cls, v: str) -> str:
        return _text(v, 1, MAX_ID)

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        return _optional_text(v)


class BackfillPausedV1(_BackfillControl):
    """``backfill_paused`` v1: launch no more chunks (those in flight finish)."""

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> BackfillPausedV1:
        return _parse(cls, payload, frozenset({"reason"}), "a backfill_paused payload")


class BackfillResumedV1(_BackfillControl):
    """``backfill_resumed`` v1: launch chunks again."""

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> BackfillResumedV1:
        return _parse(cls, payload, frozenset({"reason"}), "a backfill_resumed payload")


class BackfillCancelRequestedV1(_BackfillControl):
    """``backfill_cancel_requested`` v1: pending chunks are cancelled; the backfill is
    CANCELLED once the chunks in flight have finished."""

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> BackfillCancelRequestedV1:
        return _parse(cls, payload, frozenset({"reason"}), "a backfill_cancel_requested payload")


class BackfillRetryRequestedV1(BaseModel):
    """``backfill_retry_requested`` v1: retry number ``retry`` (the backfill's ``retries``
    + 1) of a FAILED backfill: its FAILED chunks get a new try."""

    model_config = _STRICT

    backfill_id: str
    retry: int
    reason: str | None = None

    @field_validator("backfill_id")
    @classmethod
    def _backfill(cls, v: str) -> str:
        return _id(v)

    @field_validator("retry")
    @classmethod
    def _retry(cls, v: int) -> int:
        return _count(v, 1, 1_000_000)

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        return _optional_text(v)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> BackfillRetryRequestedV1:
        return _parse(cls, payload, frozenset({"reason"}), "a backfill_retry_requested payload")


class _ChunkEvent(BaseModel):
    model_config = _STRICT

    backfill_id: str
    chunk: int
    try_number: int
    run_id: str

    @field_validator("backfill_id", "run_id")
    @classmethod
    def _ids(cls, v: str) -> str:
        return _id(v)

    @field_validator("chunk")
    @classmethod
    def _chunk(cls, v: int) -> int:
        return _count(v, 0, MAX_PARTITIONS)

    @field_validator("try_number")
    @classmethod
    def _try(cls, v: int) -> int:
        return _count(v, 1, 1_000_000)


class ChunkLaunchedV1(_ChunkEvent):
    """``chunk_launched`` v1: the run of try ``try_number`` of a chunk was triggered
    (``run_key = backfill:{id}:{chunk}:{try}``)."""

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ChunkLaunchedV1:
        return _parse(cls, payload, frozenset(), "a chunk_launched payload")


class ChunkFinishedV1(_ChunkEvent):
    """``chunk_finished`` v1: the run of try ``try_number`` of a chunk ended so."""

    state: Literal["SUCCEEDED", "FAILED", "CANCELLED"]
    error: str | None = None

    @field_validator("error")
    @classmethod
    def _error(cls, v: str | None) -> str | None:
        return _optional_text(v, MAX_CURSOR)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ChunkFinishedV1:
        return _parse(cls, payload, frozenset({"error"}), "a chunk_finished payload")


# --- declarative automation -------------------------------------------------------------------


class EvaluationRecordedV1(BaseModel):
    """``evaluation_recorded`` v1: a declarative condition of an asset (partition) was
    evaluated at ``evaluated_at_ms``: whether it requested a run, why, and the run."""

    model_config = _STRICT

    asset_key: str
    partition_key: str = ""
    condition: str
    evaluated_at_ms: int
    requested: bool
    reason: str
    run_id: str | None = None
    retention_days: int = DEFAULT_EVALUATION_RETENTION_DAYS

    @field_validator("asset_key")
    @classmethod
    def _asset(cls, v: str) -> str:
        return _asset_key(v)

    @field_validator("partition_key")
    @classmethod
    def _partition(cls, v: str) -> str:
        return v if v == "" else _partition_key(v)

    @field_validator("condition")
    @classmethod
    def _condition(cls, v: str) -> str:
        return _text(v, 1, MAX_ID)

    @field_validator("evaluated_at_ms")
    @classmethod
    def _at(cls, v: int) -> int:
        return _ms(v)

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        if len(v) > MAX_TEXT:
            rule_error(f"must be at most {MAX_TEXT} characters (got {len(v)})")
        return v

    @field_validator("run_id")
    @classmethod
    def _run(cls, v: str | None) -> str | None:
        return None if v is None else _id(v)

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, v: int) -> int:
        return _count(v, 1, MAX_RETENTION_DAYS)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> EvaluationRecordedV1:
        return _parse(cls, payload, frozenset({"run_id"}), "an evaluation_recorded payload")
