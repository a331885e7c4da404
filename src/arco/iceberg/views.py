"""Iceberg views: catalog tables of format ``iceberg-view``, a pointer and view metadata.

A view works like a table (ADR 014): the catalog row (``iceberg.view-uuid`` names the
pointer, its columns are the current version's schema) is the name, the pointer names the
current :class:`~pyiceberg.view.metadata.ViewMetadata` file, and a replace is a commit:
requirements (``assert-view-uuid``) validated against the current metadata, updates applied,
a new file written create-only, the pointer swapped, retried on a moved pointer while the
requirements hold. pyiceberg 0.12 has no view update models, so the REST spec's view
updates and their application are here (:func:`apply_view_updates`). A view and a table
cannot share a name: both are catalog tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import pydantic
from pydantic import Field
from pyiceberg.catalog.rest import CreateViewRequest
from pyiceberg.schema import Schema
from pyiceberg.table.update import (
    AddSchemaUpdate,
    AssignUUIDUpdate,
    RemovePropertiesUpdate,
    SetLocationUpdate,
    SetPropertiesUpdate,
    UpgradeFormatVersionUpdate,
)
from pyiceberg.typedef import IcebergBaseModel
from pyiceberg.view.metadata import ViewHistoryEntry, ViewMetadata, ViewVersion

from arco.catalog import RegisterTable, Table
from arco.catalog.operations import build_request, iceberg_managed
from arco.catalog.schema import TableRow
from arco.core.paging import DEFAULT_PAGE, Page
from arco.errors import (
    ArcoError,
    ObjectNotFoundError,
    OutcomeUnknownError,
    PreconditionFailedError,
    VersionMismatchError,
)
from arco.iceberg.errors import (
    BadRequest,
    CommitFailed,
    CommitStateUnknown,
    IdempotencyKeyReused,
    NoSuchNamespace,
    NoSuchView,
    translated,
)
from arco.iceberg.metadata_io import MetadataFiles
from arco.iceberg.pointer import PointerState, RecentCommit
from arco.iceberg.sync import (
    METADATA_LOCATION,
    VIEW_UUID,
    catalog_columns,
    view_properties,
    view_schema,
)
from arco.iceberg.tables import IcebergTables, TableIdent, checked_key, request_hash

__all__ = [
    "VIEW_FORMAT",
    "AddViewVersionUpdate",
    "AssertViewUUID",
    "IcebergViews",
    "LoadedView",
    "SetCurrentViewVersionUpdate",
    "ViewRequirement",
    "ViewUpdate",
    "apply_view_updates",
]

VIEW_FORMAT = "iceberg-view"
_KEYED_UUIDS = uuid.UUID("0c5e6a3b-59f4-4f4e-8d0f-9b7f1e4a2c61")


class AssertViewUUID(IcebergBaseModel):
    """The view's uuid must be ``uuid`` (the one requirement of a view commit)."""

    type: Literal["assert-view-uuid"] = Field(default="assert-view-uuid")
    uuid: str

    def validate_view(self, base: ViewMetadata) -> None:
        if self.uuid != base.view_uuid:
            raise CommitFailed(
                f"assert-view-uuid: view uuid does not match: {self.uuid} != {base.view_uuid}"
            )


ViewRequirement = AssertViewUUID


class AddViewVersionUpdate(IcebergBaseModel):
    action: Literal["add-view-version"] = Field(default="add-view-version")
    view_version: ViewVersion = Field(alias="view-version")


class SetCurrentViewVersionUpdate(IcebergBaseModel):
    action: Literal["set-current-view-version"] = Field(default="set-current-view-version")
    #: -1: the version added last in the same commit
    view_version_id: int = Field(alias="view-version-id")


ViewUpdate = Annotated[
    AssignUUIDUpdate
    | UpgradeFormatVersionUpdate
    | AddSchemaUpdate
    | SetLocationUpdate
    | SetPropertiesUpdate
    | RemovePropertiesUpdate
    | AddViewVersionUpdate
    | SetCurrentViewVersionUpdate,
    Field(discriminator="action"),
]


@dataclass(frozen=True)
class LoadedView:
    metadata_location: str
    metadata: ViewMetadata


def _same_version(a: ViewVersion, b: ViewVersion) -> bool:
    """Equal definitions (the spec ignores the id and timestamp)."""
    return (a.schema_id, a.summary, a.representations, a.default_catalog, a.default_namespace) == (
        b.schema_id,
        b.summary,
        b.representations,
        b.default_catalog,
        b.default_namespace,
    )


def _history(timestamp_ms: int, version_id: int) -> ViewHistoryEntry:
    return ViewHistoryEntry.model_validate({"timestamp-ms": timestamp_ms, "version-id": version_id})


def _view_metadata(
    view_uuid: str,
    location: str,
    schemas: list[Schema],
    current_version_id: int,
    versions: list[ViewVersion],
    version_log: list[ViewHistoryEntry],
    properties: dict[str, str],
) -> ViewMetadata:
    return ViewMetadata.model_validate(
        {
            "view-uuid": view_uuid,
            "format-version": 1,
            "location": location,
            "schemas": schemas,
            "current-version-id": current_version_id,
            "versions": versions,
            "version-log": version_log,
            "properties": properties,
        }
    )


def apply_view_updates(
    base: ViewMetadata, updates: Sequence[ViewUpdate], files: MetadataFiles
) -> ViewMetadata:
    """The REST spec's view updates applied to ``base`` (BadRequest for an invalid one)."""
    schemas = list(base.schemas)
    versions = list(base.versions)
    log = list(base.version_log)
    properties = dict(base.properties)
    location = base.location
    current = base.current_version_id
    last_schema: int | None = None
    last_version: int | None = None
    for update in updates:
        if isinstance(update, AssignUUIDUpdate):
            if str(update.uuid) != base.view_uuid:
                raise BadRequest("assign-uuid: a view's uuid cannot change")
        elif isinstance(update, UpgradeFormatVersionUpdate):
            if update.format_version != 1:
                raise BadRequest(
                    f"upgrade-format-version: unknown view format {update.format_version}"
                )
        elif isinstance(update, AddSchemaUpdate):
            schema = update.schema_
            same = next((s for s in schemas if s.fields == schema.fields), None)
            if same is not None:
                last_schema = same.schema_id
                continue
            ids = {s.schema_id for s in schemas}
            new_id = schema.schema_id
            if new_id < 0 or new_id in ids:
                new_id = max(ids, default=-1) + 1
            schemas.append(schema.model_copy(update={"schema_id": new_id}))
            last_schema = new_id
        elif isinstance(update, SetLocationUpdate):
            location = files.check_location(update.location, "set-location")
        elif isinstance(update, SetPropertiesUpdate):
            properties.update(update.updates)
        elif isinstance(update, RemovePropertiesUpdate):
            for key in update.removals:
                properties.pop(key, None)
        elif isinstance(update, AddViewVersionUpdate):
            version = update.view_version
            schema_id = version.schema_id
            if schema_id == -1:
                if last_schema is None:
                    raise BadRequest("add-view-version: schema-id -1 but no schema was added")
                schema_id = last_schema
            if all(s.schema_id != schema_id for s in schemas):
                raise BadRequest(f"add-view-version: unknown schema id {schema_id}")
            version = version.model_copy(update={"schema_id": schema_id})
            same_version = next((v for v in versions if _same_version(v, version)), None)
            if same_version is not None:
                last_version = same_version.version_id
                continue
            ids = {v.version_id for v in versions}
            new_id = version.version_id
            if new_id < 1 or new_id in ids:
                new_id = max(ids, default=0) + 1
            versions.append(version.model_copy(update={"version_id": new_id}))
            last_version = new_id
        elif isinstance(update, SetCurrentViewVersionUpdate):
            wanted = update.view_version_id
            if wanted == -1:
                if last_version is None:
                    raise BadRequest("set-current-view-version: -1 but no version was added")
                wanted = last_version
            chosen = next((v for v in versions if v.version_id == wanted), None)
            if chosen is None:
                raise BadRequest(f"set-current-view-version: unknown version id {wanted}")
            if wanted != current:
                current = wanted
                log.append(_history(chosen.timestamp_ms, wanted))
    try:
        return _view_metadata(base.view_uuid, location, schemas, current, versions, log, properties)
    except pydantic.ValidationError as exc:
        raise BadRequest(f"updates: {(str(exc).splitlines() or ['invalid'])[0]}") from None


class IcebergViews:
    """The Iceberg views of one workspace (shares the table service's stores and sync)."""

    def __init__(self, tables: IcebergTables) -> None:
        self.tables = tables
        self.catalog = tables.catalog
        self.pointers = tables.pointers
        self.files = tables.files

    def lookup(self, ident: TableIdent) -> tuple[str, TableRow, str]:
        """``(namespace, row, view uuid)`` of an Iceberg view."""
        namespace, name = ident.arco()
        state = self.catalog.reader.state()
        ns = state.namespace_by_name(namespace)
        if ns is None:
            raise NoSuchNamespace(f"namespace {namespace!r} does not exist")
        row = state.table_by_name(ns.namespace_id, name)
        view_uuid = dict(row.properties).get(VIEW_UUID) if row is not None else None
        if row is None or row.format != VIEW_FORMAT or view_uuid is None:
            raise NoSuchView(f"view {str(ident)!r} does not exist")
        return ns.name, row, view_uuid

    def list_views(
        self,
        namespace: Sequence[str],
        *,
        page_token: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page[TableIdent]:
        return self.tables._list(namespace, VIEW_FORMAT, page_token, limit)

    def view_exists(self, ident: TableIdent) -> bool:
        try:
            self.lookup(ident)
        except (NoSuchView, NoSuchNamespace):
            return False
        return True

    def load_view(self, ident: TableIdent) -> LoadedView:
        namespace, row, view_uuid = self.lookup(ident)
        try:
            state = self.pointers.read(view_uuid)
            metadata = self.files.read_view(state.location)
        except ObjectNotFoundError:
            raise NoSuchView(f"view {str(ident)!r} does not exist (its pointer is gone)") from None
        if dict(row.properties).get(METADATA_LOCATION) != state.location:
            self.tables.sync.repair(view_uuid, (namespace, row.name))
        return LoadedView(state.location, metadata)

    def create_view(
        self,
        namespace: Sequence[str],
        request: CreateViewRequest,
        *,
        idempotency_key: str | None = None,
    ) -> LoadedView:
        key = checked_key(idempotency_key)
        new = self.tables.plan_create(
            namespace, request.name, request, request.location, key, "view", _KEYED_UUIDS
        )
        metadata = self._first_metadata(new.uuid, new.location, request)
        first, metadata = self.tables.write_first(
            new.uuid, new.location, metadata, key, _KEYED_UUIDS, self.files.read_view
        )
        table = self._register(new.namespace, new.name, new.uuid, first, metadata, key)
        location_now = dict(table.properties)[METADATA_LOCATION]
        return LoadedView(location_now, self.files.read_view(location_now))

    @staticmethod
    def _first_metadata(view_uuid: str, location: str, request: CreateViewRequest) -> ViewMetadata:
        schema: Schema = request.view_schema.model_copy(update={"schema_id": 0})
        version = request.view_version.model_copy(update={"schema_id": 0, "version_id": 1})
        try:
            return _view_metadata(
                view_uuid,
                location,
                [schema],
                1,
                [version],
                [_history(version.timestamp_ms, 1)],
                dict(request.properties),
            )
        except pydantic.ValidationError as exc:
            raise BadRequest(f"create view: {(str(exc).splitlines() or ['invalid'])[0]}") from None

    def _register(
        self,
        namespace: str,
        name: str,
        view_uuid: str,
        location: str,
        metadata: ViewMetadata,
        key: str | None,
    ) -> Table:
        request = iceberg_managed(
            build_request(
                RegisterTable,
                namespace=namespace,
                name=name,
                columns=catalog_columns(view_schema(metadata)),
                location=metadata.location,
                format=VIEW_FORMAT,
                properties=view_properties(view_uuid, location, metadata),
            )
        )
        with translated(NoSuchView):
            result = self.catalog.submit(request, idempotency_key=key)
        assert isinstance(result, Table)
        return result

    def replace_view(
        self,
        ident: TableIdent,
        requirements: Sequence[ViewRequirement],
        updates: Sequence[ViewUpdate],
        *,
        idempotency_key: str | None = None,
    ) -> LoadedView:
        """Commit view updates while the requirements hold (the REST "replace view")."""
        key = checked_key(idempotency_key)
        digest = request_hash(requirements, updates)
        namespace, row, view_uuid = self.lookup(ident)
        what = str(ident)
        # every view commit is remembered in the pointer (views have no metadata log), so
        # a swap that landed although the store said otherwise is found again
        marker = key if key is not None else f"~{uuid.uuid4().hex}"
        written: list[tuple[str, ViewMetadata]] = []
        for attempt in range(self.tables.commit_attempts):
            state = self._read(view_uuid, what)
            for location, metadata in written:
                if self._landed(location, state):
                    return self._done(view_uuid, namespace, row.name, location, metadata)
            hit = state.recent_commit(marker)
            if hit is not None:
                if hit.request_hash != digest:
                    raise IdempotencyKeyReused(
                        f"{what}: idempotency key {key!r} was used with a different request"
                    )
                return LoadedView(
                    hit.metadata_location, self.files.read_view(hit.metadata_location)
                )
            base = self.files.read_view(state.location)
            for requirement in requirements:
                requirement.validate_view(base)
            metadata = apply_view_updates(base, updates, self.files)
            location = self.files.write_new(metadata, state.pointer.version + 1)
            written.append((location, metadata))
            successor = state.successor(location, recent=RecentCommit(marker, digest, location))
            try:
                self.pointers.swap(view_uuid, successor, state.token)
            except VersionMismatchError:
                self.tables.backoff(attempt)
                continue
            except ObjectNotFoundError:
                raise NoSuchView(f"view {what!r} was dropped during the commit") from None
            except OutcomeUnknownError as exc:
                try:
                    now = self.pointers.read(view_uuid)
                except ArcoError:
                    raise CommitStateUnknown(
                        f"{what}: the pointer swap's outcome is unknown and reading back failed"
                    ) from exc
                if self._landed(location, now):
                    return self._done(view_uuid, namespace, row.name, location, metadata)
                continue
            return self._done(view_uuid, namespace, row.name, location, metadata)
        raise CommitFailed(f"{what}: {self.tables.commit_attempts} concurrent commits won in a row")

    def _read(self, view_uuid: str, what: str) -> PointerState:
        try:
            return self.pointers.read(view_uuid, wait=True)
        except ObjectNotFoundError:
            raise NoSuchView(f"view {what!r} does not exist (its pointer is gone)") from None

    @staticmethod
    def _landed(location: str, state: PointerState) -> bool:
        return location in (state.location, state.pointer.metadata_location) or any(
            r.metadata_location == location for r in state.pointer.recent
        )

    def _done(
        self, view_uuid: str, namespace: str, name: str, location: str, metadata: ViewMetadata
    ) -> LoadedView:
        self.tables.sync.schedule(view_uuid, (namespace, name))
        return LoadedView(location, metadata)

    def drop_view(self, ident: TableIdent, *, idempotency_key: str | None = None) -> None:
        """Drop the view's catalog row (its pointer and files stay until GC)."""
        key = checked_key(idempotency_key)
        for _ in range(self.tables.commit_attempts):
            namespace, row, _ = self.lookup(ident)
            try:
                with translated(NoSuchView):
                    self.catalog.drop_table(
                        namespace,
                        row.name,
                        if_match=None if key else row.version,
                        idempotency_key=key,
                    )
            except CommitFailed as exc:
                if isinstance(exc.__cause__, PreconditionFailedError):
                    continue
                raise
            return
        raise CommitFailed(f"{ident}: changed concurrently too often; try again")

    def rename_view(
        self, source: TableIdent, destination: TableIdent, *, idempotency_key: str | None = None
    ) -> None:
        key = checked_key(idempotency_key)
        namespace, row, _ = self.lookup(source)
        new_namespace, new_name = destination.arco()
        with translated(NoSuchView):
            self.catalog.rename_table(
                namespace, row.name, new_name, new_namespace=new_namespace, idempotency_key=key
            )
