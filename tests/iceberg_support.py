"""Helpers for the Iceberg tests (importable as ``iceberg_support``).

:class:`PyIcebergCatalog` is pyiceberg's own ``Catalog`` interface over an in-process
:class:`~arco.iceberg.IcebergTables`: pyiceberg's ``Table``/``Transaction`` machinery (append,
schema evolution, staged create) then produces the requirements and updates a REST client
would send, and our errors come back as pyiceberg's exceptions (so its commit retry works).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pyiceberg.catalog import MetastoreCatalog, PropertiesUpdateSummary
from pyiceberg.catalog.rest import CreateTableRequest
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import CommitTableResponse, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Operation, Snapshot, Summary
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER, SortOrder
from pyiceberg.table.update import (
    AddSnapshotUpdate,
    AssertRefSnapshotId,
    AssertTableUUID,
    SetSnapshotRefUpdate,
    TableRequirement,
    TableUpdate,
)
from pyiceberg.types import LongType, NestedField, StringType

from arco.catalog import Catalog
from arco.core.clock import Clock, ManualClock
from arco.iceberg import IcebergTables, TableIdent
from arco.iceberg.errors import (
    AlreadyExists,
    CommitFailed,
    NoSuchNamespace,
    NoSuchTable,
)
from arco.iceberg.sync import SyncMode
from arco.storage.port import ObjectStore
from catalog_support import inline_options

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "name", StringType(), required=False, doc="who"),
)
ARROW_SCHEMA = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string())]
)


def create_request(
    name: str,
    *,
    schema: Schema = SCHEMA,
    location: str | None = None,
    stage: bool = False,
    properties: dict[str, str] | None = None,
    partition_spec: PartitionSpec | None = None,
) -> CreateTableRequest:
    return CreateTableRequest.model_validate(
        {
            "name": name,
            "location": location,
            "schema": schema,
            "partition-spec": partition_spec,
            "write-order": None,
            "stage-create": stage,
            "properties": properties or {},
        }
    )


def service(
    root: ObjectStore,
    *,
    sync: SyncMode = "inline",
    clock: Clock | None = None,
    holder: str | None = None,
    **options: Any,
) -> IcebergTables:
    """An IcebergTables on a fresh Catalog over ``root`` (inline checkpoints, fake clock)."""
    clock = clock or ManualClock()
    catalog = Catalog(root, options=inline_options(lease_ms=2_000), holder=holder, clock=clock)
    return IcebergTables(catalog, sync=sync, clock=clock, **options)


def append_updates(metadata: TableMetadata, snapshot_id: int, **summary: str) -> list[TableUpdate]:
    """What an append sends (without data files): a snapshot on top of main, main moved;
    ``summary`` goes into the snapshot's summary."""
    snapshot = Snapshot.model_validate(
        {
            "snapshot-id": snapshot_id,
            "parent-snapshot-id": metadata.current_snapshot_id,
            "sequence-number": getattr(metadata, "last_sequence_number", 0) + 1,
            "timestamp-ms": metadata.last_updated_ms + 1,
            "manifest-list": f"{metadata.location}/metadata/snap-{snapshot_id}.avro",
            "summary": Summary(Operation.APPEND, **summary),
            "schema-id": metadata.current_schema_id,
        }
    )
    return [
        AddSnapshotUpdate(snapshot=snapshot),
        SetSnapshotRefUpdate.model_validate(
            {"ref-name": "main", "type": "branch", "snapshot-id": snapshot_id}
        ),
    ]


def append_requirements(metadata: TableMetadata) -> list[TableRequirement]:
    return [
        AssertTableUUID(uuid=metadata.table_uuid),
        AssertRefSnapshotId.model_validate(
            {"ref": "main", "snapshot-id": metadata.current_snapshot_id}
        ),
    ]


def main_lineage(metadata: TableMetadata) -> list[Snapshot]:
    """The snapshots of main, newest first (following parent ids)."""
    out: list[Snapshot] = []
    snapshot = metadata.current_snapshot()
    while snapshot is not None:
        out.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = metadata.snapshot_by_id(parent) if parent is not None else None
    return out


def rows(n: int, start: int = 0) -> pa.Table:
    return pa.table(
        {"id": list(range(start, start + n)), "name": [f"n{i}" for i in range(start, start + n)]},
        schema=ARROW_SCHEMA,
    )


def _ident(identifier: str | tuple[str, ...]) -> TableIdent:
    parts = tuple(identifier.split(".")) if isinstance(identifier, str) else tuple(identifier)
    return TableIdent(parts[:-1], parts[-1])


class PyIcebergCatalog(MetastoreCatalog):
    """pyiceberg's Catalog interface over an in-process IcebergTables."""

    def __init__(self, tables: IcebergTables, **properties: str) -> None:
        super().__init__("arco", **properties)
        self.tables = tables

    def _table(self, ident: TableIdent, location: str | None, metadata: Any) -> Table:
        assert location is not None
        return Table(
            identifier=(*ident.namespace, ident.name),
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(metadata.properties, location),
            catalog=self,
        )

    def create_table(
        self,
        identifier: str | tuple[str, ...],
        schema: Schema | pa.Schema,
        location: str | None = None,
        partition_spec: PartitionSpec = UNPARTITIONED_PARTITION_SPEC,
        sort_order: SortOrder = UNSORTED_SORT_ORDER,
        properties: dict[str, str] | None = None,
    ) -> Table:
        ident = _ident(identifier)
        iceberg_schema = self._convert_schema_if_needed(schema)
        request = CreateTableRequest.model_validate(
            {
                "name": ident.name,
                "location": location,
                "schema": iceberg_schema,
                "partition-spec": partition_spec,
                "write-order": sort_order,
                "properties": dict(properties or {}),
            }
        )
        try:
            loaded = self.tables.create_table(ident.namespace, request)
        except AlreadyExists as exc:
            raise TableAlreadyExistsError(str(exc)) from exc
        return self._table(ident, loaded.metadata_location, loaded.metadata)

    def load_table(self, identifier: str | tuple[str, ...]) -> Table:
        ident = _ident(identifier)
        try:
            loaded = self.tables.load_table(ident)
        except (NoSuchTable, NoSuchNamespace) as exc:
            raise NoSuchTableError(str(exc)) from exc
        return self._table(ident, loaded.metadata_location, loaded.metadata)

    def commit_table(
        self,
        table: Table,
        requirements: tuple[TableRequirement, ...],
        updates: tuple[TableUpdate, ...],
    ) -> CommitTableResponse:
        ident = _ident(table.name())
        try:
            loaded = self.tables.commit_table(ident, requirements, updates)
        except CommitFailed as exc:
            raise CommitFailedException(str(exc)) from exc
        except NoSuchTable as exc:
            raise NoSuchTableError(str(exc)) from exc
        assert loaded.metadata_location is not None
        return CommitTableResponse.model_validate(
            {"metadata": loaded.metadata, "metadata-location": loaded.metadata_location}
        )

    def _resolve_table_location(
        self, location: str | None, database_name: str, table_name: str
    ) -> str:
        if location:
            return location.rstrip("/")
        return self.tables.files.default_location(database_name, table_name, "staged00")

    def create_namespace(
        self, namespace: str | tuple[str, ...], properties: dict[str, str] | None = None
    ) -> None:
        levels = tuple(namespace.split(".")) if isinstance(namespace, str) else namespace
        try:
            self.tables.namespaces.create(levels, properties)
        except AlreadyExists as exc:
            raise NamespaceAlreadyExistsError(str(exc)) from exc

    def load_namespace_properties(self, namespace: str | tuple[str, ...]) -> dict[str, str]:
        levels = tuple(namespace.split(".")) if isinstance(namespace, str) else namespace
        try:
            return self.tables.namespaces.load(levels)
        except NoSuchNamespace as exc:
            raise NoSuchNamespaceError(str(exc)) from exc

    def list_tables(self, namespace: str | tuple[str, ...]) -> list[tuple[str, ...]]:
        levels = tuple(namespace.split(".")) if isinstance(namespace, str) else namespace
        page = self.tables.list_tables(levels, limit=1000)
        return [(*i.namespace, i.name) for i in page.items]

    def list_namespaces(self, namespace: str | tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        levels = tuple(namespace.split(".")) if isinstance(namespace, str) else namespace
        return list(self.tables.namespaces.list(levels, limit=1000).items)

    def drop_table(self, identifier: str | tuple[str, ...]) -> None:
        self.tables.drop_table(_ident(identifier))

    def rename_table(
        self, from_identifier: str | tuple[str, ...], to_identifier: str | tuple[str, ...]
    ) -> Table:
        self.tables.rename_table(_ident(from_identifier), _ident(to_identifier))
        return self.load_table(to_identifier)

    def register_table(
        self, identifier: str | tuple[str, ...], metadata_location: str, overwrite: bool = False
    ) -> Table:
        ident = _ident(identifier)
        loaded = self.tables.register_table(ident, metadata_location)
        return self._table(ident, loaded.metadata_location, loaded.metadata)

    # --- not used by the tests ----------------------------------------------------------

    def drop_namespace(self, namespace: Any) -> None:
        raise NotImplementedError

    def update_namespace_properties(
        self, namespace: Any, removals: Any = None, updates: Any = None
    ) -> PropertiesUpdateSummary:
        raise NotImplementedError

    def list_views(self, namespace: Any) -> list[tuple[str, ...]]:
        raise NotImplementedError

    def view_exists(self, identifier: Any) -> bool:
        raise NotImplementedError

    def drop_view(self, identifier: Any) -> None:
        raise NotImplementedError

    def load_view(self, identifier: Any) -> Any:
        raise NotImplementedError

    def register_view(self, identifier: Any, metadata_location: str) -> Any:
        raise NotImplementedError
