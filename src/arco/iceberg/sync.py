"""The catalog projection of Iceberg tables and views: columns, location, ``iceberg.*``.

The pointer is the truth; the catalog row follows it. After a commit swaps a pointer, the
table is *scheduled*; a sync reads the catalog row, then the pointer (so the pointer state is
at least as new as the one the row shows), and, if the row names another metadata file,
rewrites the row's projection with ``if_match`` on the row's version. A sync therefore
never overwrites a newer projection: if the row changed meanwhile, it reads both again.
Schedules of one table coalesce: however many commits land while a sync is queued or
running, it is synced once more afterwards. Syncs of many tables share one catalog commit
(:meth:`Catalog.submit_all`; each row keeps its own ``if_match``).

Modes: ``inline`` (the committing thread syncs right after its swap; a failure is logged,
the commit stands), ``background`` (one daemon thread per :class:`CatalogSync`, which
waits ``delay_s`` after a table's first schedule so that the commits of that moment, to any
table, reach the catalog together: a row lags its pointer by about ``delay_s``) and
``manual`` (only :meth:`CatalogSync.sync_now`, for tests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Literal

from pyiceberg.schema import Schema
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FixedType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    StringType,
    StructType,
    TimestampNanoType,
    TimestampType,
    TimestamptzNanoType,
    TimestamptzType,
    TimeType,
    UnknownType,
    UUIDType,
)
from pyiceberg.view.metadata import ViewMetadata

from arco.catalog import Catalog, ColumnSpec
from arco.catalog.model import Column
from arco.catalog.operations import (
    ICEBERG_PROPERTY_PREFIX,
    MAX_COLUMNS,
    UpdateTable,
    build_request,
    iceberg_managed,
)
from arco.catalog.schema import TableRow
from arco.catalog.state import CatalogState
from arco.core.arrow_types import canonical_type
from arco.core.names import name_key, validate_name
from arco.errors import (
    ArcoError,
    NotFoundError,
    ObjectNotFoundError,
    PreconditionFailedError,
    ValidationError,
)
from arco.iceberg.metadata_io import MetadataFiles
from arco.iceberg.pointer import PointerStore

__all__ = [
    "METADATA_LOCATION",
    "SNAPSHOT_ID",
    "TABLE_UUID",
    "VIEW_UUID",
    "VIEW_VERSION_ID",
    "CatalogSync",
    "SyncMode",
    "arrow_type",
    "catalog_columns",
    "find_row",
    "table_properties",
    "view_properties",
]

log = logging.getLogger(__name__)

TABLE_UUID = "iceberg.table-uuid"
VIEW_UUID = "iceberg.view-uuid"
METADATA_LOCATION = "iceberg.metadata-location"
SNAPSHOT_ID = "iceberg.current-snapshot-id"
VIEW_VERSION_ID = "iceberg.current-version-id"

SyncMode = Literal["inline", "background", "manual"]
#: background mode: how long a scheduled table waits, so that the commits of that time (to
#: it and to other tables) reach the catalog in one catalog commit
DEFAULT_SYNC_DELAY_S = 0.25
#: most tables synced by one catalog commit
MAX_SYNC_BATCH = 256
#: a table's (namespace, name) when it was scheduled: where to look first
Hint = tuple[str, str] | None

_FIELD_NAME_UNSAFE = str.maketrans(dict.fromkeys("<>,:[]()", "_"))
_PRIMITIVES: dict[type[IcebergType], str] = {
    BooleanType: "bool",
    IntegerType: "int32",
    LongType: "int64",
    FloatType: "float",
    DoubleType: "double",
    DateType: "date32[day]",
    TimeType: "time64[us]",
    TimestampType: "timestamp[us]",
    TimestamptzType: "timestamp[us, tz=UTC]",
    TimestampNanoType: "timestamp[ns]",
    TimestamptzNanoType: "timestamp[ns, tz=UTC]",
    StringType: "string",
    UUIDType: "fixed_size_binary[16]",
    BinaryType: "binary",
    UnknownType: "null",
}


# --- the projection ---------------------------------------------------------------------


def _type_text(t: IcebergType) -> str:
    for kind, text in _PRIMITIVES.items():
        if isinstance(t, kind):
            return text
    if isinstance(t, DecimalType):
        return f"decimal{128 if t.precision <= 38 else 256}({t.precision}, {t.scale})"
    if isinstance(t, FixedType):
        return f"fixed_size_binary[{len(t)}]"
    if isinstance(t, ListType):
        return f"list<{_type_text(t.element_type)}>"
    if isinstance(t, MapType):
        return f"map<{_type_text(t.key_type)}, {_type_text(t.value_type)}>"
    if isinstance(t, StructType):
        fields = ", ".join(
            f"{(f.name.translate(_FIELD_NAME_UNSAFE).strip() or f'field_{f.field_id}')}: "
            f"{_type_text(f.field_type)}"
            for f in t.fields
        )
        return f"struct<{fields}>"
    return "binary"  # geometry, geography, variant: stored as bytes


def arrow_type(t: IcebergType) -> str:
    """The Arco (Arrow) type string of an Iceberg type (nested nullability is not kept)."""
    try:
        return canonical_type(_type_text(t))
    except ValidationError:
        return "binary"


def _column_name(name: str) -> str | None:
    try:
        return validate_name("column", name)
    except ValidationError:
        pass
    cleaned = "".join("_" if ch == "/" or not ch.isprintable() else ch for ch in name).strip()
    try:
        return validate_name("column", cleaned[:128] or "_")
    except ValidationError:
        return None


def _clean_text(text: str, limit: int = 4096) -> str:
    """A description the catalog accepts: no control characters (but newline and tab),
    valid Unicode, at most ``limit`` characters."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    cleaned = "".join(
        " " if (ord(ch) < 0x20 and ch not in "\n\t") or ord(ch) == 0x7F else ch for ch in text
    )
    return cleaned[:limit]


def catalog_columns(schema: Schema) -> list[ColumnSpec]:
    """The catalog columns of a schema: its top-level fields, in order.

    A name the catalog cannot hold is cleaned (``/`` and unprintable characters become
    ``_``); a field whose name then collides with an earlier one is left out.
    """
    out: list[ColumnSpec] = []
    seen: set[str] = set()
    for f in schema.fields:
        name = _column_name(f.name)
        if name is None or name_key(name) in seen or len(out) >= MAX_COLUMNS:
            continue
        seen.add(name_key(name))
        doc = None if f.doc is None else _clean_text(f.doc)
        out.append(
            ColumnSpec(
                name=name, type=arrow_type(f.field_type), nullable=not f.required, description=doc
            )
        )
    return out


def table_properties(table_uuid: str, location: str, metadata: TableMetadata) -> dict[str, str]:
    props = {TABLE_UUID: table_uuid, METADATA_LOCATION: location}
    if metadata.current_snapshot_id is not None:
        props[SNAPSHOT_ID] = str(metadata.current_snapshot_id)
    return props


def view_properties(view_uuid: str, location: str, metadata: ViewMetadata) -> dict[str, str]:
    return {
        VIEW_UUID: view_uuid,
        METADATA_LOCATION: location,
        VIEW_VERSION_ID: str(metadata.current_version_id),
    }


def view_schema(metadata: ViewMetadata) -> Schema:
    version = next(v for v in metadata.versions if v.version_id == metadata.current_version_id)
    return next(s for s in metadata.schemas if s.schema_id == version.schema_id)


def _uuid_of(row: TableRow) -> str | None:
    for key, value in row.properties:
        if key in (TABLE_UUID, VIEW_UUID):
            return value
    return None


def find_row(state: CatalogState, uuid: str, hint: Hint = None) -> TableRow | None:
    """The catalog row whose pointer is ``uuid`` (looked up under ``hint`` first)."""
    if hint is not None:
        ns = state.namespace_by_name(hint[0])
        row = state.table_by_name(ns.namespace_id, hint[1]) if ns is not None else None
        if row is not None and _uuid_of(row) == uuid:
            return row
    candidate: TableRow
    for candidate in state.tables.values():
        if _uuid_of(candidate) == uuid:
            return candidate
    return None


def _same(columns: Iterable[Column], specs: Iterable[ColumnSpec]) -> list[bool]:
    return [
        (c.name, c.type, c.nullable, c.description) == (s.name, s.type, s.nullable, s.description)
        for c, s in zip(columns, specs, strict=False)
    ]


def projection_update(
    namespace: str,
    name: str,
    row_version: int,
    current_columns: list[Column],
    current_properties: dict[str, str],
    current_location: str | None,
    columns: list[ColumnSpec],
    properties: dict[str, str],
    location: str,
) -> UpdateTable:
    """The managed UpdateTable that brings a row's projection to ``columns``/``properties``.

    Columns keep their ids as far as the old and new lists agree from the start; the rest
    are dropped and added again (so the catalog's column order is the schema's).
    """
    same = _same(current_columns, columns)
    prefix = same.index(False) if False in same else len(same)
    if prefix == len(current_columns) == len(columns):
        drop: list[str] = []
        add: list[ColumnSpec] = []
    else:
        drop = [c.name for c in current_columns[prefix:]]
        add = columns[prefix:]
    remove = [
        k
        for k in current_properties
        if k.startswith(ICEBERG_PROPERTY_PREFIX) and k not in properties
    ]
    changed = {k: v for k, v in properties.items() if current_properties.get(k) != v}
    fields: dict[str, object] = {
        "namespace": namespace,
        "name": name,
        "if_match": row_version,
        "set_properties": changed,
        "remove_properties": remove,
        "drop_columns": drop,
        "add_columns": add,
    }
    if current_location != location:
        fields["location"] = location
    return iceberg_managed(build_request(UpdateTable, **fields))


# --- the sync ---------------------------------------------------------------------------


class CatalogSync:
    """Brings catalog rows up to date with their pointers (see the module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        pointers: PointerStore,
        files: MetadataFiles,
        mode: SyncMode = "inline",
        *,
        attempts: int = 8,
        delay_s: float = DEFAULT_SYNC_DELAY_S,
        max_batch: int = MAX_SYNC_BATCH,
    ) -> None:
        self._catalog = catalog
        self._pointers = pointers
        self._files = files
        self.mode: SyncMode = mode
        self._attempts = attempts
        self.delay_s = delay_s
        self._max_batch = max_batch
        #: uuid -> (hint, when it was first scheduled, monotonic s)
        self._dirty: dict[str, tuple[Hint, float]] = {}
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._flushing = 0
        self._busy = 0

    def schedule(self, uuid: str, hint: Hint = None) -> None:
        """Bring the row of pointer ``uuid`` up to date (now, soon, or at ``sync_now``)."""
        if self.mode == "inline":
            self._sync_logged([(uuid, hint)])
            return
        with self._cv:
            since = self._dirty.pop(uuid, (None, time.monotonic()))[1]
            self._dirty[uuid] = (hint, since)
            if self.mode == "background" and not self._closed:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="arco-iceberg-sync", daemon=True
                    )
                    self._thread.start()
                self._cv.notify_all()

    def repair(self, uuid: str, hint: Hint = None) -> None:
        """A reader found the row behind its pointer: schedule a sync, except inline, where
        the committing process syncs right after its swap (a reader would only race it); a
        row left behind by a crashed committer is then brought up to date by the table's
        next commit or an explicit :meth:`sync_table`."""
        if self.mode != "inline":
            self.schedule(uuid, hint)

    def pending(self) -> int:
        """How many tables wait for a sync."""
        with self._cv:
            return len(self._dirty) + self._busy

    def _take(self) -> list[tuple[str, Hint]]:
        """Up to ``max_batch`` scheduled tables, oldest first (call with the lock held)."""
        taken = list(self._dirty.items())[: self._max_batch]
        for uuid, _ in taken:
            del self._dirty[uuid]
        return [(uuid, hint) for uuid, (hint, _) in taken]

    def sync_now(self) -> int:
        """Sync every scheduled table in this thread; returns how many rows were written."""
        written = 0
        while True:
            with self._cv:
                batch = self._take()
            if not batch:
                return written
            written += self.sync_tables(batch)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Background mode: sync what is scheduled without waiting out the delay, and wait
        until nothing is scheduled or running."""
        with self._cv:
            self._flushing += 1
            self._cv.notify_all()
            try:
                return self._cv.wait_for(lambda: not self._dirty and not self._busy, timeout_s)
            finally:
                self._flushing -= 1

    def close(self) -> None:
        """Stop the background thread after it has synced what is scheduled."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)
        self.sync_now()

    def _due(self) -> float | None:
        """Seconds until the oldest scheduled table is due (0: now), None if none is."""
        if not self._dirty:
            return None
        if self._closed or self._flushing:
            return 0.0
        oldest = next(iter(self._dirty.values()))[1]
        return max(0.0, oldest + self.delay_s - time.monotonic())

    def _run(self) -> None:
        while True:
            with self._cv:
                while True:
                    due = self._due()
                    if due is None and self._closed:
                        return
                    if due == 0.0:
                        break
                    self._cv.wait(due)
                batch = self._take()
                self._busy += len(batch)
            try:
                self._sync_logged(batch)
            finally:
                with self._cv:
                    self._busy -= len(batch)
                    self._cv.notify_all()

    def _sync_logged(self, batch: list[tuple[str, Hint]]) -> None:
        try:
            self.sync_tables(batch)
        except ArcoError as exc:
            names = ", ".join(uuid for uuid, _ in batch[:3])
            more = f" and {len(batch) - 3} more" if len(batch) > 3 else ""
            log.warning(
                "iceberg catalog sync of %s%s failed (the pointers stand): %s", names, more, exc
            )

    def sync_table(self, uuid: str, hint: Hint = None) -> bool:
        """Sync one table or view now; True if its catalog row was rewritten."""
        return self.sync_tables([(uuid, hint)]) == 1

    def sync_tables(self, batch: Sequence[tuple[str, Hint]]) -> int:
        """Sync tables and views now, in one catalog commit when nothing races it; returns
        how many rows were rewritten."""
        todo = dict(batch)
        written = 0
        for _ in range(self._attempts):
            if not todo:
                break
            state = self._catalog.reader.state()
            requests: list[tuple[str, UpdateTable]] = []
            for uuid, hint in todo.items():
                try:
                    request = self._projection(state, uuid, hint)
                except ArcoError as exc:
                    log.warning(
                        "iceberg catalog sync of %s failed (the pointer stands): %s", uuid, exc
                    )
                    continue
                if request is not None:
                    requests.append((uuid, request))
            todo = {}
            outcomes = self._catalog.submit_all([r for _, r in requests])
            for (uuid, _), outcome in zip(requests, outcomes, strict=True):
                if isinstance(outcome, (PreconditionFailedError, NotFoundError)):
                    todo[uuid] = None  # the row changed (or moved) meanwhile: read both again
                elif isinstance(outcome, ArcoError):
                    log.warning(
                        "iceberg catalog sync of %s refused (the pointer stands): %s", uuid, outcome
                    )
                else:
                    written += 1
        return written

    def _projection(self, state: CatalogState, uuid: str, hint: Hint) -> UpdateTable | None:
        """The update that brings the row of ``uuid`` to its pointer, None if there is
        nothing to do (up to date, dropped, or not registered yet: its creator writes it)."""
        row = find_row(state, uuid, hint)
        if row is None:
            return None
        try:
            current = self._pointers.read(uuid)
        except ObjectNotFoundError:
            return None
        props = dict(row.properties)
        if props.get(METADATA_LOCATION) == current.location:
            return None
        namespace = state.namespaces[row.namespace_id].name
        if row.format == "iceberg-view":
            view = self._files.read_view(current.location)
            columns = catalog_columns(view_schema(view))
            wanted = view_properties(uuid, current.location, view)
            location = view.location
        else:
            table = self._files.read_table(current.location)
            columns = catalog_columns(table.schema())
            wanted = table_properties(uuid, current.location, table)
            location = table.location
        columns_now = [Column.from_row(c) for c in state.columns_of(row.table_id)]
        return projection_update(
            namespace,
            row.name,
            row.version,
            columns_now,
            props,
            row.location,
            columns,
            wanted,
            location,
        )
