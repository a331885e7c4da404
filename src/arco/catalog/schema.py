"""Rows and published Parquet schemas of the catalog domain.

Timestamps are UTC milliseconds (``timestamp[ms, tz=UTC]`` in Parquet); ids are strings;
``version`` is the snapshot version that last wrote the row (the entity's ETag), which is
also the merge order of checkpoint and delta files.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from arco.metadata.domain import IDEMPOTENCY, IdempotencyRow
from arco.metadata.parquet import PROPERTIES, TIMESTAMP, TableSpec, field, schema_of

__all__ = [
    "COLUMNS",
    "IDEMPOTENCY",
    "NAMESPACES",
    "SEARCH_POSTINGS",
    "TABLES",
    "ColumnRow",
    "IdempotencyRow",
    "NamespaceRow",
    "PostingRow",
    "Properties",
    "TableRow",
]

Properties = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class NamespaceRow:
    namespace_id: str
    name: str
    description: str | None
    properties: Properties
    created_at: int
    updated_at: int
    version: int


@dataclass(frozen=True, slots=True)
class TableRow:
    table_id: str
    namespace_id: str
    name: str
    description: str | None
    location: str | None
    format: str
    properties: Properties
    created_at: int
    updated_at: int
    version: int


@dataclass(frozen=True, slots=True)
class ColumnRow:
    column_id: str
    table_id: str
    position: int
    name: str
    type: str
    nullable: bool
    description: str | None
    version: int


NAMESPACES = TableSpec(
    "namespaces",
    NamespaceRow,
    "namespace_id",
    schema_of(
        [
            field("namespace_id", pa.string()),
            field("name", pa.string()),
            field("description", pa.string(), nullable=True),
            field("properties", PROPERTIES),
            field("created_at", TIMESTAMP),
            field("updated_at", TIMESTAMP),
            field("version", pa.int64()),
        ]
    ),
)

TABLES = TableSpec(
    "tables",
    TableRow,
    "table_id",
    schema_of(
        [
            field("table_id", pa.string()),
            field("namespace_id", pa.string()),
            field("name", pa.string()),
            field("description", pa.string(), nullable=True),
            field("location", pa.string(), nullable=True),
            field("format", pa.string()),
            field("properties", PROPERTIES),
            field("created_at", TIMESTAMP),
            field("updated_at", TIMESTAMP),
            field("version", pa.int64()),
        ]
    ),
)

COLUMNS = TableSpec(
    "columns",
    ColumnRow,
    "column_id",
    schema_of(
        [
            field("column_id", pa.string()),
            field("table_id", pa.string()),
            field("position", pa.int32()),
            field("name", pa.string()),
            field("type", pa.string()),
            field("nullable", pa.bool_()),
            field("description", pa.string(), nullable=True),
            field("version", pa.int64()),
        ]
    ),
)


@dataclass(frozen=True, slots=True)
class PostingRow:
    """``token`` occurs in ``field`` of an entity; kept in step with every DDL commit."""

    posting_id: str
    token: str
    entity_kind: str
    entity_id: str
    table_id: str | None
    namespace_id: str
    field: str
    weight: int
    version: int


SEARCH_POSTINGS = TableSpec(
    "search_postings",
    PostingRow,
    "posting_id",
    schema_of(
        [
            field("posting_id", pa.string()),
            field("token", pa.string()),
            field("entity_kind", pa.string()),
            field("entity_id", pa.string()),
            field("table_id", pa.string(), nullable=True),
            field("namespace_id", pa.string()),
            field("field", pa.string()),
            field("weight", pa.int32()),
            field("version", pa.int64()),
        ]
    ),
)
