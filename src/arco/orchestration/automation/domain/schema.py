"""Rows and published Parquet schemas of the ``automation`` domain (tier 2, ADR 017).

* ``schedules`` / ``sensors``: one row per schedule or sensor any event named, with its
  status (``running`` / ``paused``); a sensor's row holds its cursor and ``cursor_seq``
  (incremented by every applied evaluation);
* ``ticks``: the history of schedules and sensors, one row per schedule tick
  (``sched:{id}:{instant_ms}``), per applied sensor evaluation (``sensor:{id}:{seq}``) and
  per push message (``push:{id}:{message_id}``), with the run requests and run ids;
* ``backfills`` / ``backfill_chunks``: a backfill, its limits, state and counts; a chunk
  (primary key ``"{backfill_id} {index}"``), its partitions, try, run id and state;
* ``evaluations``: declarative conditions, one row per asset partition, condition and
  evaluation, with the reason.

The domain also keeps the :data:`arco.tier2.ingested.INGESTED` table. JSON-valued columns
hold canonical JSON text; times are Unix milliseconds (``TIMESTAMP``). ``event_order`` is
the order of the event that last changed the row, ``version`` the snapshot version that
wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from arco.core.canonical_json import canonical_dumps
from arco.metadata.parquet import TIMESTAMP, TableSpec, field, schema_of

__all__ = [
    "BACKFILLS_TABLE",
    "BACKFILL_ACTIVE",
    "BACKFILL_STATES",
    "BACKFILL_TERMINAL",
    "CANCELLED",
    "CANCELLING",
    "CHUNKS_TABLE",
    "CHUNK_STATES",
    "CHUNK_TERMINAL",
    "EVALUATIONS_TABLE",
    "FAILED",
    "PAUSED",
    "PENDING",
    "REQUESTED",
    "RUNNING",
    "SCHEDULES_TABLE",
    "SENSORS_TABLE",
    "STATUSES",
    "STATUS_PAUSED",
    "STATUS_RUNNING",
    "SUCCEEDED",
    "TICKS_TABLE",
    "TICK_FAILED",
    "TICK_REQUESTED",
    "TICK_SKIPPED",
    "TICK_STATUSES",
    "BackfillRow",
    "ChunkRow",
    "EvaluationRow",
    "ScheduleRow",
    "SensorRow",
    "TickRow",
    "chunk_id",
    "evaluation_id",
    "push_tick_id",
    "schedule_tick_id",
    "sensor_tick_id",
]

# --- statuses and states -----------------------------------------------------------------

#: a schedule's or sensor's status
STATUS_RUNNING = "running"
STATUS_PAUSED = "paused"
STATUSES: tuple[str, ...] = (STATUS_RUNNING, STATUS_PAUSED)

#: a tick's status: runs were requested / nothing to do (or missed) / it failed
TICK_REQUESTED = "requested"
TICK_SKIPPED = "skipped"
TICK_FAILED = "failed"
TICK_STATUSES: tuple[str, ...] = (TICK_REQUESTED, TICK_SKIPPED, TICK_FAILED)

#: backfill states (REQUESTED → RUNNING ⇄ PAUSED → CANCELLING → CANCELLED, or SUCCEEDED /
#: FAILED once every chunk is terminal; FAILED → RUNNING by a retry)
REQUESTED = "REQUESTED"
RUNNING = "RUNNING"
PAUSED = "PAUSED"
CANCELLING = "CANCELLING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
BACKFILL_STATES: tuple[str, ...] = (
    REQUESTED,
    RUNNING,
    PAUSED,
    CANCELLING,
    SUCCEEDED,
    FAILED,
    CANCELLED,
)
#: backfill states no event leaves but a retry (FAILED)
BACKFILL_TERMINAL: frozenset[str] = frozenset({SUCCEEDED, FAILED, CANCELLED})
#: backfill states whose chunks may be launched
BACKFILL_ACTIVE: frozenset[str] = frozenset({REQUESTED, RUNNING})

#: chunk states: waiting / its run is in flight / its run ended so
PENDING = "PENDING"
CHUNK_STATES: tuple[str, ...] = (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED)
CHUNK_TERMINAL: frozenset[str] = frozenset({SUCCEEDED, FAILED, CANCELLED})


# --- keys --------------------------------------------------------------------------------


def schedule_tick_id(schedule_id: str, instant_ms: int) -> str:
    """A schedule tick's id, also the idempotency key and ``run_key`` of its tick."""
    return f"sched:{schedule_id}:{instant_ms}"


def sensor_tick_id(sensor_id: str, seq: int) -> str:
    """The id of the tick row of a sensor's applied evaluation at ``cursor_seq`` ``seq``."""
    return f"sensor:{sensor_id}:{seq}"


def push_tick_id(sensor_id: str, message_id: str) -> str:
    """The id (and idempotency key) of a push sensor's message."""
    return f"push:{sensor_id}:{message_id}"


def chunk_id(backfill_id: str, index: int) -> str:
    """The primary key of a backfill chunk (backfill ids hold no space)."""
    return f"{backfill_id} {index}"


def evaluation_id(asset_key: str, partition_key: str, condition: str, evaluated_at: int) -> str:
    """The primary key of an evaluation row: the JSON list of its parts (unambiguous)."""
    return canonical_dumps([asset_key, partition_key, condition, evaluated_at]).decode("utf-8")


# --- rows --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    schedule_id: str
    status: str
    #: when the status last changed (the event's time), and that event's order
    status_changed_at: int | None
    status_order: str | None
    #: the newest tick recorded (its instant, id and status), and how many were
    last_tick_at: int | None
    last_tick_id: str | None
    last_tick_status: str | None
    tick_count: int
    updated_at: int
    event_order: str
    version: int


@dataclass(frozen=True, slots=True)
class SensorRow:
    sensor_id: str
    status: str
    status_changed_at: int | None
    status_order: str | None
    #: the cursor of the last applied evaluation (None before any, or as it set it)
    cursor: str | None
    #: incremented by every applied evaluation; an evaluation must name the current one
    cursor_seq: int
    last_evaluated_at: int | None
    last_error: str | None
    last_error_at: int | None
    evaluation_count: int
    error_count: int
    push_count: int
    updated_at: int
    event_order: str
    version: int


@dataclass(frozen=True, slots=True)
class TickRow:
    #: ``sched:{id}:{instant_ms}``, ``sensor:{id}:{seq}`` or ``push:{id}:{message_id}``
    tick_id: str
    #: ``schedule``, ``sensor`` or ``push``
    kind: str
    #: the schedule's or sensor's id
    owner_id: str
    #: the cron instant, the evaluation time or the time the message was received
    instant: int
    status: str
    reason: str | None
    #: JSON list of the run ids (in the order of ``requests`` for a sensor)
    run_ids: str
    #: how many missed ticks a collapsed catch-up row stands for (else 0)
    skipped_count: int
    #: the first missed instant of a collapsed catch-up row
    range_start: int | None
    #: a sensor evaluation's ``cursor_seq`` (the one it read) and the cursor it set
    cursor_seq: int | None
    cursor: str | None
    #: JSON list of the run requests of a sensor tick ({key, selection, partitions, tags})
    requests: str
    #: JSON of a push message's payload
    payload: str | None
    #: whether the runs of the requests were triggered (``sensor_runs_triggered``)
    triggered: bool
    triggered_at: int | None
    event_order: str
    version: int


@dataclass(frozen=True, slots=True)
class BackfillRow:
    backfill_id: str
    #: JSON list of the asset keys
    assets: str
    partition_count: int
    chunk_size: int
    chunk_count: int
    max_in_flight: int
    #: JSON object of str -> str
    tags: str
    state: str
    reason: str | None
    #: how many retries were requested (the next one is ``retries + 1``)
    retries: int
    #: chunk counts by state
    pending: int
    in_flight: int
    succeeded: int
    failed: int
    cancelled: int
    created_at: int
    started_at: int | None
    ended_at: int | None
    updated_at: int
    event_order: str
    version: int


@dataclass(frozen=True, slots=True)
class ChunkRow:
    #: ``"{backfill_id} {index}"`` (see :func:`chunk_id`)
    id: str
    backfill_id: str
    chunk_index: int
    #: JSON list of the chunk's partition keys, in the backfill's order
    partitions: str
    state: str
    #: the chunk's try (1 at first; a retry of a FAILED chunk makes the next)
    try_number: int
    #: the run of the current try, once launched
    run_id: str | None
    #: JSON list of the run ids of every try, oldest first
    run_ids: str
    launched_at: int | None
    ended_at: int | None
    error: str | None
    updated_at: int
    event_order: str
    version: int


@dataclass(frozen=True, slots=True)
class EvaluationRow:
    #: ``["{asset_key}","{partition_key}","{condition}",{evaluated_at}]`` (JSON)
    id: str
    asset_key: str
    #: ``""`` for an unpartitioned asset
    partition_key: str
    condition: str
    evaluated_at: int
    requested: bool
    reason: str
    run_id: str | None
    event_order: str
    version: int


# --- tables ------------------------------------------------------------------------------


def _common() -> list[pa.Field]:
    return [field("event_order", pa.string()), field("version", pa.int64())]


SCHEDULES_TABLE = TableSpec(
    "schedules",
    ScheduleRow,
    "schedule_id",
    schema_of(
        [
            field("schedule_id", pa.string()),
            field("status", pa.string()),
            field("status_changed_at", TIMESTAMP, nullable=True),
            field("status_order", pa.string(), nullable=True),
            field("last_tick_at", TIMESTAMP, nullable=True),
            field("last_tick_id", pa.string(), nullable=True),
            field("last_tick_status", pa.string(), nullable=True),
            field("tick_count", pa.int64()),
            field("updated_at", TIMESTAMP),
            *_common(),
        ]
    ),
)

SENSORS_TABLE = TableSpec(
    "sensors",
    SensorRow,
    "sensor_id",
    schema_of(
        [
            field("sensor_id", pa.string()),
            field("status", pa.string()),
            field("status_changed_at", TIMESTAMP, nullable=True),
            field("status_order", pa.string(), nullable=True),
            field("cursor", pa.string(), nullable=True),
            field("cursor_seq", pa.int64()),
            field("last_evaluated_at", TIMESTAMP, nullable=True),
            field("last_error", pa.string(), nullable=True),
            field("last_error_at", TIMESTAMP, nullable=True),
            field("evaluation_count", pa.int64()),
            field("error_count", pa.int64()),
            field("push_count", pa.int64()),
            field("updated_at", TIMESTAMP),
            *_common(),
        ]
    ),
)

TICKS_TABLE = TableSpec(
    "ticks",
    TickRow,
    "tick_id",
    schema_of(
        [
            field("tick_id", pa.string()),
            field("kind", pa.string()),
            field("owner_id", pa.string()),
            field("instant", TIMESTAMP),
            field("status", pa.string()),
            field("reason", pa.string(), nullable=True),
            field("run_ids", pa.string()),
            field("skipped_count", pa.int64()),
            field("range_start", TIMESTAMP, nullable=True),
            field("cursor_seq", pa.int64(), nullable=True),
            field("cursor", pa.string(), nullable=True),
            field("requests", pa.string()),
            field("payload", pa.string(), nullable=True),
            field("triggered", pa.bool_()),
            field("triggered_at", TIMESTAMP, nullable=True),
            *_common(),
        ]
    ),
)

BACKFILLS_TABLE = TableSpec(
    "backfills",
    BackfillRow,
    "backfill_id",
    schema_of(
        [
            field("backfill_id", pa.string()),
            field("assets", pa.string()),
            field("partition_count", pa.int64()),
            field("chunk_size", pa.int64()),
            field("chunk_count", pa.int64()),
            field("max_in_flight", pa.int64()),
            field("tags", pa.string()),
            field("state", pa.string()),
            field("reason", pa.string(), nullable=True),
            field("retries", pa.int64()),
            field("pending", pa.int64()),
            field("in_flight", pa.int64()),
            field("succeeded", pa.int64()),
            field("failed", pa.int64()),
            field("cancelled", pa.int64()),
            field("created_at", TIMESTAMP),
            field("started_at", TIMESTAMP, nullable=True),
            field("ended_at", TIMESTAMP, nullable=True),
            field("updated_at", TIMESTAMP),
            *_common(),
        ]
    ),
)

CHUNKS_TABLE = TableSpec(
    "backfill_chunks",
    ChunkRow,
    "id",
    schema_of(
        [
            field("id", pa.string()),
            field("backfill_id", pa.string()),
            field("chunk_index", pa.int64()),
            field("partitions", pa.string()),
            field("state", pa.string()),
            field("try_number", pa.int64()),
            field("run_id", pa.string(), nullable=True),
            field("run_ids", pa.string()),
            field("launched_at", TIMESTAMP, nullable=True),
            field("ended_at", TIMESTAMP, nullable=True),
            field("error", pa.string(), nullable=True),
            field("updated_at", TIMESTAMP),
            *_common(),
        ]
    ),
)

EVALUATIONS_TABLE = TableSpec(
    "evaluations",
    EvaluationRow,
    "id",
    schema_of(
        [
            field("id", pa.string()),
            field("asset_key", pa.string()),
            field("partition_key", pa.string()),
            field("condition", pa.string()),
            field("evaluated_at", TIMESTAMP),
            field("requested", pa.bool_()),
            field("reason", pa.string()),
            field("run_id", pa.string(), nullable=True),
            *_common(),
        ]
    ),
)
