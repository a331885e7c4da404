"""Public, typed view of a materialization (what the library, CLI and REST API return)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from arco.core.clock import ms_to_datetime
from arco.executions.schema import MaterializationRow

__all__ = ["Materialization"]


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else ms_to_datetime(ms)


class Materialization(BaseModel):
    """One materialization of an asset (or of a partition of it) by a run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    materialization_id: str
    asset_key: str
    table_id: str | None = None
    partition_key: str | None = None
    run_id: str
    status: str
    rows: int | None = None
    bytes: int | None = None
    code_version: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    #: the event that last set this materialization, and when it occurred
    event_id: str
    occurred_at: datetime
    #: the snapshot version of the executions domain that last changed it
    version: int

    @classmethod
    def from_row(cls, row: MaterializationRow) -> Materialization:
        return cls(
            materialization_id=row.materialization_id,
            asset_key=row.asset_key,
            table_id=row.table_id,
            partition_key=row.partition_key,
            run_id=row.run_id,
            status=row.status,
            rows=row.rows,
            bytes=row.bytes,
            code_version=row.code_version,
            started_at=_time(row.started_at),
            completed_at=_time(row.completed_at),
            event_id=row.event_id,
            occurred_at=ms_to_datetime(row.occurred_at),
            version=row.version,
        )
