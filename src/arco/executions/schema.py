"""Rows and published Parquet schemas of the ``executions`` domain (tier 2).

``materializations`` holds one row per materialization, replaced only by an event with a
greater ``event_order``; the domain also keeps the :data:`arco.tier2.ingested.INGESTED` table.
``version`` is the snapshot version that wrote the row: a row is only ever rewritten by a
newer event, so the newest version of a key is also its newest event, which is what
checkpoints merge by.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from arco.metadata.parquet import TIMESTAMP, TableSpec, field, schema_of

__all__ = ["MATERIALIZATIONS", "MaterializationRow"]


@dataclass(frozen=True, slots=True)
class MaterializationRow:
    materialization_id: str
    asset_key: str
    table_id: str | None
    partition_key: str | None
    run_id: str
    status: str
    rows: int | None
    bytes: int | None
    code_version: str | None
    started_at: int | None
    completed_at: int | None
    #: the event that wrote this row, its time, and its ordering key (see ``event_order``)
    event_id: str
    occurred_at: int
    event_order: str
    version: int


MATERIALIZATIONS = TableSpec(
    "materializations",
    MaterializationRow,
    "materialization_id",
    schema_of(
        [
            field("materialization_id", pa.string()),
            field("asset_key", pa.string()),
            field("table_id", pa.string(), nullable=True),
            field("partition_key", pa.string(), nullable=True),
            field("run_id", pa.string()),
            field("status", pa.string()),
            field("rows", pa.int64(), nullable=True),
            field("bytes", pa.int64(), nullable=True),
            field("code_version", pa.string(), nullable=True),
            field("started_at", TIMESTAMP, nullable=True),
            field("completed_at", TIMESTAMP, nullable=True),
            field("event_id", pa.string()),
            field("occurred_at", TIMESTAMP),
            field("event_order", pa.string()),
            field("version", pa.int64()),
        ]
    ),
)
