"""Public, typed views of runs, tasks and attempts (what the library returns)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from arco.core import canonical_json
from arco.core.clock import ms_to_datetime
from arco.orchestration.runs.schema import AttemptRow, RunRow, TaskRow

__all__ = ["Attempt", "Run", "Task"]

_FLOATS = ("backoff_s", "factor", "max_backoff_s", "jitter")


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else ms_to_datetime(ms)


def _json(text: str | None) -> Any:
    return None if text is None else canonical_json.loads(text)


class Run(BaseModel):
    """One run: what was requested, its state, and when it moved."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    run_key: str | None = None
    request_hash: str
    deployment: str | None = None
    plan_fingerprint: str
    selection: list[str]
    executor: str
    priority: int
    tags: dict[str, str]
    parent_run_id: str | None = None
    state: str
    reason: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    task_count: int
    #: the snapshot version of the runs domain that last changed it
    version: int

    @classmethod
    def from_row(cls, row: RunRow) -> Run:
        return cls(
            run_id=row.run_id,
            run_key=row.run_key,
            request_hash=row.request_hash,
            deployment=row.deployment,
            plan_fingerprint=row.plan_fingerprint,
            selection=_json(row.selection),
            executor=row.executor,
            priority=row.priority,
            tags=_json(row.tags),
            parent_run_id=row.parent_run_id,
            state=row.state,
            reason=row.reason,
            created_at=ms_to_datetime(row.created_at),
            started_at=_time(row.started_at),
            ended_at=_time(row.ended_at),
            cancel_requested_at=_time(row.cancel_requested_at),
            task_count=row.task_count,
            version=row.version,
        )


class Task(BaseModel):
    """One task of a run: an asset (partition) to materialize, and where it stands."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    task_key: str
    asset_key: str
    partition_key: str
    stage: int
    upstream: list[str]
    state: str
    attempt: int
    attempt_id: str | None = None
    max_attempts: int
    retry: dict[str, float]
    timeout_s: float | None = None
    pools: list[str]
    retry_at: datetime | None = None
    output: dict[str, Any] | None = None
    error: str | None = None
    updated_at: datetime
    version: int

    @classmethod
    def from_row(cls, row: TaskRow) -> Task:
        retry = _json(row.retry)
        return cls(
            run_id=row.run_id,
            task_key=row.task_key,
            asset_key=row.asset_key,
            partition_key=row.partition_key,
            stage=row.stage,
            upstream=_json(row.upstream),
            state=row.state,
            attempt=row.attempt,
            attempt_id=row.attempt_id,
            max_attempts=row.max_attempts,
            retry={k: float(retry[k]) for k in _FLOATS if k in retry},
            timeout_s=row.timeout_s,
            pools=_json(row.pools),
            retry_at=_time(row.retry_at),
            output=_json(row.output),
            error=row.error,
            updated_at=ms_to_datetime(row.updated_at),
            version=row.version,
        )


class Attempt(BaseModel):
    """One attempt of a task: where it ran and how it ended."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempt_id: str
    run_id: str
    task_key: str
    attempt: int
    state: str
    executor: str
    worker: str | None = None
    dispatched_at: datetime
    start_deadline: datetime
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    error_category: str | None = None
    retryable: bool | None = None
    cancel_requested: bool
    output: dict[str, Any] | None = None
    version: int

    @classmethod
    def from_row(cls, row: AttemptRow) -> Attempt:
        return cls(
            attempt_id=row.attempt_id,
            run_id=row.run_id,
            task_key=row.task_key,
            attempt=row.attempt,
            state=row.state,
            executor=row.executor,
            worker=row.worker,
            dispatched_at=ms_to_datetime(row.dispatched_at),
            start_deadline=ms_to_datetime(row.start_deadline),
            started_at=_time(row.started_at),
            heartbeat_at=_time(row.heartbeat_at),
            ended_at=_time(row.ended_at),
            error=row.error,
            error_category=row.error_category,
            retryable=row.retryable,
            cancel_requested=row.cancel_requested,
            output=_json(row.output),
            version=row.version,
        )
