"""Rows and published Parquet schemas of the ``runs`` domain (tier 2).

``runs`` holds one row per run, ``tasks`` one per task of a run (primary key ``id``:
``"{run_id} {task_key}"``), ``attempts`` one per dispatched attempt of a task; the domain
also keeps the :data:`arco.tier2.ingested.INGESTED` table. JSON-valued columns hold
canonical JSON text (fractional numbers as decimal strings, like the event payloads);
times are Unix milliseconds (``TIMESTAMP``). ``event_order`` is the order key of the event
that last changed the row and ``version`` the snapshot version that wrote it: a row is only
rewritten by a later fold, so the newest version of a key is its newest state.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from arco.metadata.parquet import TIMESTAMP, TableSpec, field, schema_of

__all__ = [
    "ATTEMPTS_TABLE",
    "ATTEMPT_ACTIVE",
    "ATTEMPT_STATES",
    "ATTEMPT_TERMINAL",
    "BLOCKED",
    "CANCELLED",
    "CANCELLING",
    "DISPATCHED",
    "FAILED",
    "READY",
    "RETRY_WAIT",
    "RUNNING",
    "RUNS_TABLE",
    "RUN_STATES",
    "RUN_TERMINAL",
    "SKIPPED",
    "SUCCEEDED",
    "TASKS_TABLE",
    "TASK_ACTIVE",
    "TASK_STATES",
    "TASK_TERMINAL",
    "TIMED_OUT",
    "TRIGGERED",
    "AttemptRow",
    "RunRow",
    "TaskRow",
    "task_id",
]


def task_id(run_id: str, task_key: str) -> str:
    """The primary key of a task row (run ids hold no space, so it is unambiguous)."""
    return f"{run_id} {task_key}"


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    run_key: str | None
    request_hash: str
    #: fingerprint of the deployment the run was planned from
    deployment: str | None
    plan_fingerprint: str
    #: JSON list of the selection strings
    selection: str
    executor: str
    priority: int
    #: JSON object of str -> str
    tags: str
    parent_run_id: str | None
    state: str
    reason: str | None
    created_at: int
    started_at: int | None
    ended_at: int | None
    cancel_requested_at: int | None
    task_count: int
    event_order: str
    version: int


@dataclass(frozen=True, slots=True)
class TaskRow:
    #: ``"{run_id} {task_key}"`` (see :func:`task_id`)
    id: str
    run_id: str
    task_key: str
    asset_key: str
    #: ``""`` when the asset is unpartitioned
    partition_key: str
    stage: int
    #: JSON list of the upstream task keys
    upstream: str
    state: str
    #: the number of the current (or last) attempt; 0 before any
    attempt: int
    attempt_id: str | None
    max_attempts: int
    #: JSON of the retry policy (backoff_s, factor, max_backoff_s, jitter)
    retry: str
    timeout_s: float | None
    #: JSON list of pool names
    pools: str
    #: when a task in RETRY_WAIT may be dispatched again
    retry_at: int | None
    #: JSON object reported by the successful attempt
    output: str | None
    error: str | None
    updated_at: int
    event_order: str
    version: int


@dataclass(frozen=True, slots=True)
class AttemptRow:
    attempt_id: str
    run_id: str
    task_key: str
    attempt: int
    state: str
    executor: str
    worker: str | None
    dispatched_at: int
    start_deadline: int
    started_at: int | None
    heartbeat_at: int | None
    ended_at: int | None
    error: str | None
    error_category: str | None
    retryable: bool | None
    cancel_requested: bool
    #: JSON object reported by a successful attempt
    output: str | None
    event_order: str
    version: int


RUNS_TABLE = TableSpec(
    "runs",
    RunRow,
    "run_id",
    schema_of(
        [
            field("run_id", pa.string()),
            field("run_key", pa.string(), nullable=True),
            field("request_hash", pa.string()),
            field("deployment", pa.string(), nullable=True),
            field("plan_fingerprint", pa.string()),
            field("selection", pa.string()),
            field("executor", pa.string()),
            field("priority", pa.int64()),
            field("tags", pa.string()),
            field("parent_run_id", pa.string(), nullable=True),
            field("state", pa.string()),
            field("reason", pa.string(), nullable=True),
            field("created_at", TIMESTAMP),
            field("started_at", TIMESTAMP, nullable=True),
            field("ended_at", TIMESTAMP, nullable=True),
            field("cancel_requested_at", TIMESTAMP, nullable=True),
            field("task_count", pa.int64()),
            field("event_order", pa.string()),
            field("version", pa.int64()),
        ]
    ),
)

TASKS_TABLE = TableSpec(
    "tasks",
    TaskRow,
    "id",
    schema_of(
        [
            field("id", pa.string()),
            field("run_id", pa.string()),
            field("task_key", pa.string()),
            field("asset_key", pa.string()),
            field("partition_key", pa.string()),
            field("stage", pa.int64()),
            field("upstream", pa.string()),
            field("state", pa.string()),
            field("attempt", pa.int64()),
            field("attempt_id", pa.string(), nullable=True),
            field("max_attempts", pa.int64()),
            field("retry", pa.string()),
            field("timeout_s", pa.float64(), nullable=True),
            field("pools", pa.string()),
            field("retry_at", TIMESTAMP, nullable=True),
            field("output", pa.string(), nullable=True),
            field("error", pa.string(), nullable=True),
            field("updated_at", TIMESTAMP),
            field("event_order", pa.string()),
            field("version", pa.int64()),
        ]
    ),
)

ATTEMPTS_TABLE = TableSpec(
    "attempts",
    AttemptRow,
    "attempt_id",
    schema_of(
        [
            field("attempt_id", pa.string()),
            field("run_id", pa.string()),
            field("task_key", pa.string()),
            field("attempt", pa.int64()),
            field("state", pa.string()),
            field("executor", pa.string()),
            field("worker", pa.string(), nullable=True),
            field("dispatched_at", TIMESTAMP),
            field("start_deadline", TIMESTAMP),
            field("started_at", TIMESTAMP, nullable=True),
            field("heartbeat_at", TIMESTAMP, nullable=True),
            field("ended_at", TIMESTAMP, nullable=True),
            field("error", pa.string(), nullable=True),
            field("error_category", pa.string(), nullable=True),
            field("retryable", pa.bool_(), nullable=True),
            field("cancel_requested", pa.bool_()),
            field("output", pa.string(), nullable=True),
            field("event_order", pa.string()),
            field("version", pa.int64()),
        ]
    ),
)


# --- states ------------------------------------------------------------------------------

#: a task waits for an upstream task to succeed
BLOCKED = "BLOCKED"
#: every upstream task succeeded: the task may be dispatched
READY = "READY"
#: an attempt was handed to an executor
DISPATCHED = "DISPATCHED"
#: the attempt started (the worker said so, or sent a heartbeat)
RUNNING = "RUNNING"
#: an attempt failed and a later one waits for ``retry_at``
RETRY_WAIT = "RETRY_WAIT"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
#: an upstream task failed: the task will never run
SKIPPED = "SKIPPED"
CANCELLED = "CANCELLED"
#: an attempt whose deadline passed (start, heartbeat or timeout)
TIMED_OUT = "TIMED_OUT"
#: a run: created, not dispatched yet / being cancelled
TRIGGERED = "TRIGGERED"
CANCELLING = "CANCELLING"

TASK_STATES: tuple[str, ...] = (
    BLOCKED,
    READY,
    DISPATCHED,
    RUNNING,
    RETRY_WAIT,
    SUCCEEDED,
    FAILED,
    SKIPPED,
    CANCELLED,
)
#: task states no event leaves
TASK_TERMINAL: frozenset[str] = frozenset({SUCCEEDED, FAILED, SKIPPED, CANCELLED})
#: task states with an attempt in flight
TASK_ACTIVE: frozenset[str] = frozenset({DISPATCHED, RUNNING})
RUN_STATES: tuple[str, ...] = (TRIGGERED, RUNNING, CANCELLING, SUCCEEDED, FAILED, CANCELLED)
RUN_TERMINAL: frozenset[str] = frozenset({SUCCEEDED, FAILED, CANCELLED})
ATTEMPT_STATES: tuple[str, ...] = (DISPATCHED, RUNNING, SUCCEEDED, FAILED, TIMED_OUT, CANCELLED)
ATTEMPT_TERMINAL: frozenset[str] = frozenset({SUCCEEDED, FAILED, TIMED_OUT, CANCELLED})
ATTEMPT_ACTIVE: frozenset[str] = frozenset({DISPATCHED, RUNNING})
