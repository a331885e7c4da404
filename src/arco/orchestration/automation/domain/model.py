"""Public, typed views of the automation rows (what the library returns)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from arco.core import canonical_json
from arco.core.clock import ms_to_datetime
from arco.orchestration.automation.domain.schema import (
    BackfillRow,
    ChunkRow,
    EvaluationRow,
    ScheduleRow,
    SensorRow,
    TickRow,
)

__all__ = ["Backfill", "BackfillChunk", "Evaluation", "RunRequest", "Schedule", "Sensor", "Tick"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else ms_to_datetime(ms)


def _json(text: str) -> Any:
    return canonical_json.loads(text)


class Schedule(BaseModel):
    model_config = _FROZEN

    schedule_id: str
    status: str
    status_changed_at: datetime | None = None
    last_tick_at: datetime | None = None
    last_tick_id: str | None = None
    last_tick_status: str | None = None
    tick_count: int
    updated_at: datetime
    version: int

    @classmethod
    def from_row(cls, row: ScheduleRow) -> Schedule:
        return cls(
            schedule_id=row.schedule_id,
            status=row.status,
            status_changed_at=_time(row.status_changed_at),
            last_tick_at=_time(row.last_tick_at),
            last_tick_id=row.last_tick_id,
            last_tick_status=row.last_tick_status,
            tick_count=row.tick_count,
            updated_at=ms_to_datetime(row.updated_at),
            version=row.version,
        )


class Sensor(BaseModel):
    model_config = _FROZEN

    sensor_id: str
    status: str
    status_changed_at: datetime | None = None
    cursor: str | None = None
    cursor_seq: int
    last_evaluated_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    evaluation_count: int
    error_count: int
    push_count: int
    updated_at: datetime
    version: int

    @classmethod
    def from_row(cls, row: SensorRow) -> Sensor:
        return cls(
            sensor_id=row.sensor_id,
            status=row.status,
            status_changed_at=_time(row.status_changed_at),
            cursor=row.cursor,
            cursor_seq=row.cursor_seq,
            last_evaluated_at=_time(row.last_evaluated_at),
            last_error=row.last_error,
            last_error_at=_time(row.last_error_at),
            evaluation_count=row.evaluation_count,
            error_count=row.error_count,
            push_count=row.push_count,
            updated_at=ms_to_datetime(row.updated_at),
            version=row.version,
        )


class RunRequest(BaseModel):
    """A run a sensor tick requests: ``key`` within the tick, the selection (empty: the
    sensor's target), partitions and tags."""

    model_config = _FROZEN

    key: str
    selection: list[str] = []
    partitions: list[str] = []
    tags: dict[str, str] = {}


class Tick(BaseModel):
    model_config = _FROZEN

    tick_id: str
    kind: str
    owner_id: str
    instant: datetime
    instant_ms: int
    status: str
    reason: str | None = None
    run_ids: list[str]
    skipped_count: int
    range_start: datetime | None = None
    cursor_seq: int | None = None
    cursor: str | None = None
    requests: list[RunRequest]
    payload: dict[str, Any] | None = None
    triggered: bool
    triggered_at: datetime | None = None
    version: int

    @classmethod
    def from_row(cls, row: TickRow) -> Tick:
        return cls(
            tick_id=row.tick_id,
            kind=row.kind,
            owner_id=row.owner_id,
            instant=ms_to_datetime(row.instant),
            instant_ms=row.instant,
            status=row.status,
            reason=row.reason,
            run_ids=_json(row.run_ids),
            skipped_count=row.skipped_count,
            range_start=_time(row.range_start),
            cursor_seq=row.cursor_seq,
            cursor=row.cursor,
            requests=[RunRequest(**r) for r in _json(row.requests)],
            payload=None if row.payload is None else _json(row.payload),
            triggered=row.triggered,
            triggered_at=_time(row.triggered_at),
            version=row.version,
        )


class BackfillChunk(BaseModel):
    model_config = _FROZEN

    backfill_id: str
    index: int
    partitions: list[str]
    state: str
    try_number: int
    run_id: str | None = None
    run_ids: list[str]
    launched_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    version: int

    @classmethod
    def from_row(cls, row: ChunkRow) -> BackfillChunk:
        return cls(
            backfill_id=row.backfill_id,
            index=row.chunk_index,
            partitions=_json(row.partitions),
            state=row.state,
            try_number=row.try_number,
            run_id=row.run_id,
            run_ids=_json(row.run_ids),
            launched_at=_time(row.launched_at),
            ended_at=_time(row.ended_at),
            error=row.error,
            version=row.version,
        )


class Backfill(BaseModel):
    """A backfill with its progress (chunk counts by state) and, from ``get_backfill``,
    its chunks."""

    model_config = _FROZEN

    backfill_id: str
    assets: list[str]
    partition_count: int
    chunk_size: int
    chunk_count: int
    max_in_flight: int
    tags: dict[str, str]
    state: str
    reason: str | None = None
    retries: int
    pending: int
    in_flight: int
    succeeded: int
    failed: int
    cancelled: int
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    updated_at: datetime
    version: int
    chunks: list[BackfillChunk] | None = None

    @property
    def progress(self) -> float:
        """The share of chunks that are terminal (0 to 1)."""
        done = self.succeeded + self.failed + self.cancelled
        return done / self.chunk_count if self.chunk_count else 1.0

    @classmethod
    def from_row(cls, row: BackfillRow, chunks: list[ChunkRow] | None = None) -> Backfill:
        return cls(
            backfill_id=row.backfill_id,
            assets=_json(row.assets),
            partition_count=row.partition_count,
            chunk_size=row.chunk_size,
            chunk_count=row.chunk_count,
            max_in_flight=row.max_in_flight,
            tags=_json(row.tags),
            state=row.state,
            reason=row.reason,
            retries=row.retries,
            pending=row.pending,
            in_flight=row.in_flight,
            succeeded=row.succeeded,
            failed=row.failed,
            cancelled=row.cancelled,
            created_at=ms_to_datetime(row.created_at),
            started_at=_time(row.started_at),
            ended_at=_time(row.ended_at),
            updated_at=ms_to_datetime(row.updated_at),
            version=row.version,
            chunks=None if chunks is None else [BackfillChunk.from_row(c) for c in chunks],
        )


class Evaluation(BaseModel):
    model_config = _FROZEN

    asset_key: str
    partition_key: str
    condition: str
    evaluated_at: datetime
    requested: bool
    reason: str
    run_id: str | None = None
    version: int

    @classmethod
    def from_row(cls, row: EvaluationRow) -> Evaluation:
        return cls(
            asset_key=row.asset_key,
            partition_key=row.partition_key,
            condition=row.condition,
            evaluated_at=ms_to_datetime(row.evaluated_at),
            requested=row.requested,
            reason=row.reason,
            run_id=row.run_id,
            version=row.version,
        )
