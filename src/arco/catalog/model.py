"""Public, typed views of catalog entities (what the library, CLI and REST API return)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from arco.catalog.schema import ColumnRow, NamespaceRow, TableRow
from arco.core.clock import ms_to_datetime
from arco.core.paging import Page

__all__ = ["Column", "Namespace", "Page", "Table"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Column(_Model):
    column_id: str
    position: int
    name: str
    type: str
    nullable: bool
    description: str | None = None

    @classmethod
    def from_row(cls, row: ColumnRow) -> Column:
        return cls(
            column_id=row.column_id,
            position=row.position,
            name=row.name,
            type=row.type,
            nullable=row.nullable,
            description=row.description,
        )


class Namespace(_Model):
    namespace_id: str
    name: str
    description: str | None
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime
    #: snapshot version that last changed this namespace: its ETag and ``if_match`` value
    version: int

    @classmethod
    def from_row(cls, row: NamespaceRow) -> Namespace:
        return cls(
            namespace_id=row.namespace_id,
            name=row.name,
            description=row.description,
            properties=dict(row.properties),
            created_at=ms_to_datetime(row.created_at),
            updated_at=ms_to_datetime(row.updated_at),
            version=row.version,
        )


class Table(_Model):
    table_id: str
    namespace_id: str
    namespace: str
    name: str
    description: str | None
    location: str | None
    format: str
    properties: dict[str, str]
    columns: list[Column]
    created_at: datetime
    updated_at: datetime
    #: snapshot version that last changed this table or its columns
    version: int

    @classmethod
    def from_rows(cls, row: TableRow, namespace: str, columns: list[ColumnRow]) -> Table:
        return cls(
            table_id=row.table_id,
            namespace_id=row.namespace_id,
            namespace=namespace,
            name=row.name,
            description=row.description,
            location=row.location,
            format=row.format,
            properties=dict(row.properties),
            columns=[Column.from_row(c) for c in columns],
            created_at=ms_to_datetime(row.created_at),
            updated_at=ms_to_datetime(row.updated_at),
            version=row.version,
        )
