"""Rows and the published Parquet schema of the lineage domain."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from arco.metadata.parquet import TIMESTAMP, TableSpec, field, schema_of


@dataclass(frozen=True, slots=True)
class EdgeRow:
    """``source`` feeds ``target`` (both asset keys ``namespace/name``)."""

    edge_id: str
    source: str
    target: str
    edge_type: str
    run_id: str | None
    created_at: int
    updated_at: int
    version: int


EDGES = TableSpec(
    "lineage_edges",
    EdgeRow,
    "edge_id",
    schema_of(
        [
            field("edge_id", pa.string()),
            field("source", pa.string()),
            field("target", pa.string()),
            field("edge_type", pa.string()),
            field("run_id", pa.string(), nullable=True),
            field("created_at", TIMESTAMP),
            field("updated_at", TIMESTAMP),
            field("version", pa.int64()),
        ]
    ),
)
