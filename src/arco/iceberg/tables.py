"""The Iceberg table service of one workspace: create, load, commit, register, rename, drop.

Tables are Arco catalog tables (format ``iceberg``) whose ``iceberg.table-uuid`` property
names a pointer (:mod:`arco.iceberg.pointer`); the pointer names the current metadata file
(:mod:`arco.iceberg.metadata_io`). pyiceberg does the Iceberg work: ``new_table_metadata``
for creates, each requirement's ``validate`` and ``update_table_metadata`` for commits.

**Commit** (ADR 014): read the pointer and the metadata it names, validate the requirements
(409 naming the first that fails), apply the updates, write the new metadata file create-
only under a fresh name, and compare-and-swap the pointer on the token read. If the pointer
moved meanwhile, everything is read and validated again: the commit is applied on top of
the new state if its requirements still hold (bounded attempts), otherwise 409. A swap of
unknown outcome is resolved by reading back: the commit landed iff the pointer names our
file, or the metadata it names lists our file in its metadata log (a later commit built on
ours); 503 ``CommitStateUnknownException`` only if that read fails too. The same check runs
before every retry, so a swap that landed although the store reported otherwise is never
applied twice. The catalog row follows through :mod:`arco.iceberg.sync`.

**Create** writes the first metadata file and the pointer (create-only), then registers the
catalog row: the registration is the commit point. With an idempotency key the table uuid
and the first file's name derive from the key and the request, so a retry rebuilds the very
same registration and the catalog's idempotency record answers it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import pydantic
from pyiceberg.catalog.rest import CreateTableRequest
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.exceptions import ValidationError as PyIcebergValidationError
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.schema import Schema
from pyiceberg.table.metadata import TableMetadata, TableMetadataV1, new_table_metadata
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.table.update import (
    AssertCreate,
    SetLocationUpdate,
    TableRequirement,
    TableUpdate,
    update_table_metadata,
)
from pyiceberg.typedef import IcebergBaseModel
from pyiceberg.view.metadata import ViewMetadata

from arco.catalog import Catalog, RegisterTable, Table
from arco.catalog.operations import build_request, iceberg_managed
from arco.catalog.schema import TableRow
from arco.core.clock import SYSTEM_CLOCK, Clock
from arco.core.names import validate_name
from arco.core.paging import DEFAULT_PAGE, Page, Sorted, paginate
from arco.errors import (
    ArcoError,
    CorruptStateError,
    ObjectExistsError,
    ObjectNotFoundError,
    OutcomeUnknownError,
    PreconditionFailedError,
    ValidationError,
    VersionMismatchError,
)
from arco.iceberg.errors import (
    AlreadyExists,
    BadRequest,
    CommitFailed,
    CommitStateUnknown,
    IdempotencyKeyReused,
    NoSuchNamespace,
    NoSuchTable,
    translated,
)
from arco.iceberg.metadata_io import MetadataFiles, metadata_version
from arco.iceberg.namespaces import IcebergNamespaces, NamespaceIdent, from_arco, to_arco
from arco.iceberg.pointer import (
    DEFAULT_TXN_TIMEOUT_MS,
    Pointer,
    PointerState,
    PointerStore,
    RecentCommit,
)
from arco.iceberg.sync import (
    METADATA_LOCATION,
    TABLE_UUID,
    CatalogSync,
    SyncMode,
    catalog_columns,
    find_row,
    table_properties,
)
from arco.tier1.writer import validate_idempotency_key

__all__ = ["IcebergTables", "LoadedTable", "TableChange", "TableIdent", "request_hash"]

TABLE_FORMAT = "iceberg"
#: the namespace of the uuids derived from idempotency keys
_KEYED_UUIDS = uuid.UUID("6f1d2c1e-4a34-4c8e-9a51-2b0f0c9d7e10")
_BAD_UPDATE = (ValueError, PyIcebergValidationError, pydantic.ValidationError, KeyError)


@dataclass(frozen=True)
class TableIdent:
    """An Iceberg table (or view) identifier: namespace levels and a name."""

    namespace: NamespaceIdent
    name: str

    @classmethod
    def of(cls, namespace: Sequence[str], name: str) -> TableIdent:
        return cls(tuple(namespace), name)

    def arco(self) -> tuple[str, str]:
        """``(namespace, name)`` in the Arco catalog (BadRequest if they cannot be)."""
        namespace = to_arco(self.namespace)
        try:
            return namespace, validate_name("name", self.name)
        except ValidationError as exc:
            raise BadRequest(exc.message) from None

    def __str__(self) -> str:
        return ".".join((*self.namespace, self.name))


#: a table's or a view's metadata
M = TypeVar("M", TableMetadata, ViewMetadata)


@dataclass(frozen=True)
class NewEntity:
    """A table or view about to be created: where it goes and what it will be called."""

    ident: TableIdent
    #: the Arco namespace and name
    namespace: str
    name: str
    uuid: str
    location: str


@dataclass(frozen=True)
class LoadedTable:
    """A table's metadata and the file it was read from (None: staged, not created)."""

    metadata_location: str | None
    metadata: TableMetadata


@dataclass(frozen=True)
class TableChange:
    """One table's part of a multi-table commit."""

    ident: TableIdent
    requirements: Sequence[TableRequirement]
    updates: Sequence[TableUpdate]


@dataclass(frozen=True)
class Prepared:
    """A commit prepared against one pointer state, before its metadata file is written."""

    state: PointerState
    base: TableMetadata
    metadata: TableMetadata
    changed: bool


def request_hash(requirements: Sequence[object], updates: Sequence[object]) -> str:
    """A hash of a commit request (equal for equal requirements and updates)."""
    body = {
        "requirements": [_dump(r) for r in requirements],
        "updates": [_dump(u) for u in updates],
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _dump(model: object) -> object:
    if isinstance(model, pydantic.BaseModel):
        return model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return model


def checked_key(idempotency_key: str | None) -> str | None:
    try:
        return validate_idempotency_key(idempotency_key)
    except ValidationError as exc:
        raise BadRequest(exc.message) from None


def _empty_metadata() -> TableMetadata:
    """What a create-by-commit's updates apply to (pyiceberg's own catalogs do the same)."""
    return TableMetadataV1.model_construct(last_column_id=-1, schema=Schema())


def validate_requirements(
    requirements: Sequence[TableRequirement], base: TableMetadata | None, what: str
) -> None:
    """CommitFailed naming the first requirement that does not hold against ``base``."""
    for requirement in requirements:
        try:
            requirement.validate(base)
        except CommitFailedException as exc:
            raise CommitFailed(f"{what}: {requirement.type}: {exc}") from None


def apply_updates(
    files: MetadataFiles, state: PointerState, base: TableMetadata, updates: Sequence[TableUpdate]
) -> Prepared:
    """Apply ``updates`` to ``base`` (the metadata at ``state.location``)."""
    if not updates:
        return Prepared(state, base, base, changed=False)
    try:
        metadata = update_table_metadata(base, tuple(updates), metadata_location=state.location)
    except _BAD_UPDATE as exc:
        raise BadRequest(f"updates: {_first_line(exc)}") from None
    log = metadata.metadata_log
    changed = bool(log) and log[-1].metadata_file == state.location
    if changed and metadata.location != base.location:
        files.check_location(metadata.location, "set-location")
    return Prepared(state, base, metadata, changed)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def landed(location: str, state: PointerState, current: TableMetadata) -> bool:
    """Whether the metadata file ``location`` became current at some point: the pointer (or
    its pending marker) names it, or the current metadata lists it in its metadata log."""
    pointer = state.pointer
    if location in (state.location, pointer.metadata_location):
        return True
    if pointer.pending is not None and pointer.pending.previous == location:
        return True
    if any(r.metadata_location == location for r in pointer.recent):
        return True
    return any(entry.metadata_file == location for entry in current.metadata_log)


class IcebergTables:
    """Iceberg tables of one workspace (the catalog's scope), over a :class:`Catalog`."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        sync: SyncMode = "inline",
        clock: Clock = SYSTEM_CLOCK,
        txn_timeout_ms: int = DEFAULT_TXN_TIMEOUT_MS,
        commit_attempts: int = 16,
    ) -> None:
        self.catalog = catalog
        self.pointers = PointerStore(catalog.store, clock=clock, txn_timeout_ms=txn_timeout_ms)
        self.files = MetadataFiles(catalog.store)
        self.sync = CatalogSync(catalog, self.pointers, self.files, sync)
        self.namespaces = IcebergNamespaces(catalog)
        self.clock = clock
        self.commit_attempts = commit_attempts
        self._rng = random.Random()

    def close(self) -> None:
        """Finish the catalog syncs still scheduled."""
        self.sync.close()

    # --- lookups ------------------------------------------------------------------------

    def lookup(self, ident: TableIdent) -> tuple[str, TableRow, str]:
        """``(namespace, row, table uuid)`` of an Iceberg table."""
        namespace, name = ident.arco()
        state = self.catalog.reader.state()
        ns = state.namespace_by_name(namespace)
        if ns is None:
            raise NoSuchNamespace(f"namespace {namespace!r} does not exist")
        row = state.table_by_name(ns.namespace_id, name)
        table_uuid = dict(row.properties).get(TABLE_UUID) if row is not None else None
        if row is None or row.format != TABLE_FORMAT or table_uuid is None:
            raise NoSuchTable(f"table {str(ident)!r} does not exist")
        return ns.name, row, table_uuid

    def _uuid_in_use(self, table_uuid: str) -> bool:
        return find_row(self.catalog.reader.state(), table_uuid) is not None

    def list_tables(
        self,
        namespace: Sequence[str],
        *,
        page_token: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page[TableIdent]:
        """The Iceberg tables of a namespace, in name order."""
        return self._list(namespace, TABLE_FORMAT, page_token, limit)

    def _list(
        self, namespace: Sequence[str], fmt: str, page_token: str | None, limit: int
    ) -> Page[TableIdent]:
        name = to_arco(namespace)
        state = self.catalog.reader.state()
        ns = state.namespace_by_name(name)
        if ns is None:
            raise NoSuchNamespace(f"namespace {name!r} does not exist")
        every = state.tables_in(ns.namespace_id)
        keep = [
            (k, r)
            for k, r in zip(every.keys, every.rows, strict=True)
            if r.format == fmt and any(p.startswith("iceberg.") for p, _ in r.properties)
        ]
        with translated():
            rows, token = paginate(
                Sorted([k for k, _ in keep], [r for _, r in keep]), page_token, limit
            )
        levels = from_arco(ns.name)
        return Page[TableIdent](
            items=[TableIdent(levels, r.name) for r in rows], next_page_token=token
        )

    def table_exists(self, ident: TableIdent) -> bool:
        try:
            self.lookup(ident)
        except (NoSuchTable, NoSuchNamespace):
            return False
        return True

    def load_table(self, ident: TableIdent) -> LoadedTable:
        """The table's current metadata and its location."""
        namespace, row, table_uuid = self.lookup(ident)
        try:
            state = self.pointers.read(table_uuid)
            metadata = self.files.read_table(state.location)
        except ObjectNotFoundError:
            raise NoSuchTable(
                f"table {str(ident)!r} does not exist (its pointer is gone)"
            ) from None
        if dict(row.properties).get(METADATA_LOCATION) != state.location:
            self.sync.repair(table_uuid, (namespace, row.name))
        return LoadedTable(state.location, metadata)

    # --- create and register ------------------------------------------------------------

    def create_table(
        self,
        namespace: Sequence[str],
        request: CreateTableRequest,
        *,
        idempotency_key: str | None = None,
    ) -> LoadedTable:
        """Create a table (``request.stage_create``: build its metadata, write nothing)."""
        key = checked_key(idempotency_key)
        new = self.plan_create(
            namespace, request.name, request, request.location, key, "table", _KEYED_UUIDS
        )
        table_uuid, location = new.uuid, new.location
        try:
            metadata = new_table_metadata(
                schema=request.table_schema,
                partition_spec=request.partition_spec or UNPARTITIONED_PARTITION_SPEC,
                sort_order=request.write_order or UNSORTED_SORT_ORDER,
                location=location,
                properties=dict(request.properties),
                table_uuid=uuid.UUID(table_uuid),
            )
        except _BAD_UPDATE as exc:
            raise BadRequest(f"create: {_first_line(exc)}") from None
        if request.stage_create:
            return LoadedTable(None, metadata)
        first, metadata = self.write_first(
            table_uuid, location, metadata, key, _KEYED_UUIDS, self.files.read_table
        )
        table = self._register(new.namespace, new.name, table_uuid, first, metadata, key)
        location_now = dict(table.properties)[METADATA_LOCATION]
        if location_now != first:
            metadata = self.files.read_table(location_now)
        return LoadedTable(location_now, metadata)

    def plan_create(
        self,
        namespace: Sequence[str],
        name: str,
        request: IcebergBaseModel,
        requested_location: str | None,
        key: str | None,
        kind: str,
        keyed: uuid.UUID,
    ) -> NewEntity:
        """The first step of a table or view create: its namespace must exist and its name
        be free (unless ``key`` makes this a retry), its uuid (derived from ``key`` and the
        request in ``keyed``'s namespace, so a retry rebuilds the same registration) and its
        location (the requested one, checked, or the default)."""
        ident = TableIdent.of(namespace, name)
        ns_name, arco_name = ident.arco()
        state = self.catalog.reader.state()
        ns = state.namespace_by_name(ns_name)
        if ns is None:
            raise NoSuchNamespace(f"namespace {ns_name!r} does not exist")
        if key is None and state.table_by_name(ns.namespace_id, arco_name) is not None:
            taken = "already exists" if kind == "table" else "already exists (as a view or a table)"
            raise AlreadyExists(f"{kind} {str(ident)!r} {taken}")
        digest = hashlib.sha256(request.model_dump_json().encode("utf-8")).hexdigest()
        entity_uuid = str(uuid.uuid5(keyed, f"{key}\n{ns_name}\n{digest}") if key else uuid.uuid4())
        if requested_location:
            location = self.files.check_location(requested_location)
        else:
            location = self.files.default_location(ns.name, arco_name, entity_uuid)
        return NewEntity(ident, ns.name, arco_name, entity_uuid, location)

    def write_first(
        self,
        entity_uuid: str,
        location: str,
        metadata: M,
        key: str | None,
        keyed: uuid.UUID,
        read: Callable[[str], M],
    ) -> tuple[str, M]:
        """Write a new table's or view's first metadata file and create its pointer; with
        ``key``, under names derived from it, so a retry of the request finds (and keeps)
        what an earlier attempt wrote. The file's location and the metadata it holds."""
        if key is None:
            first = self.files.write_new(metadata, 0)
            self.pointers.create(entity_uuid, Pointer(first))
            return first, metadata
        first = f"{location}/metadata/00000-{uuid.uuid5(keyed, entity_uuid)}.metadata.json"
        try:
            self.files.write(first, metadata)
        except ObjectExistsError:
            metadata = read(first)
        with contextlib.suppress(ObjectExistsError):  # an earlier attempt of this request
            self.pointers.create(entity_uuid, Pointer(first))
        return first, metadata

    def _register(
        self,
        namespace: str,
        name: str,
        table_uuid: str,
        location: str,
        metadata: TableMetadata,
        key: str | None,
    ) -> Table:
        """Register the catalog row: the commit point of a create or register."""
        request = iceberg_managed(
            build_request(
                RegisterTable,
                namespace=namespace,
                name=name,
                columns=catalog_columns(metadata.schema()),
                location=metadata.location,
                format=TABLE_FORMAT,
                properties=table_properties(table_uuid, location, metadata),
            )
        )
        with translated():
            result = self.catalog.submit(request, idempotency_key=key)
        assert isinstance(result, Table)
        return result

    def _claim_pointer(
        self, table_uuid: str, location: str, version: int, recent: RecentCommit | None = None
    ) -> None:
        """Create the pointer of ``table_uuid`` naming ``location``; adopt an orphaned one
        (its table was dropped, or its create crashed before registering)."""
        try:
            self.pointers.create(
                table_uuid, Pointer(location, version, None, () if recent is None else (recent,))
            )
            return
        except ObjectExistsError:
            pass
        for _ in range(self.commit_attempts):
            if self._uuid_in_use(table_uuid):
                raise AlreadyExists(f"a table with uuid {table_uuid} is already in the catalog")
            state = self.pointers.read(table_uuid, wait=True)
            if state.location == location:
                return
            try:
                self.pointers.swap(
                    table_uuid, state.successor(location, recent=recent), state.token
                )
                return
            except VersionMismatchError:
                continue
        raise CommitFailed(f"pointer of table uuid {table_uuid}: changed concurrently too often")

    def register_table(
        self,
        ident: TableIdent,
        metadata_location: str,
        *,
        idempotency_key: str | None = None,
    ) -> LoadedTable:
        """Adopt an existing metadata file (in this workspace's storage) as a new table."""
        key = checked_key(idempotency_key)
        ns_name, name = ident.arco()
        self.files.key_of(metadata_location, "metadata-location")
        try:
            metadata = self.files.read_table(metadata_location)
        except ObjectNotFoundError:
            raise BadRequest(
                f"metadata-location: no metadata file at {metadata_location!r}"
            ) from None
        except CorruptStateError as exc:
            raise BadRequest(f"metadata-location: {exc.message}") from None
        self.files.check_location(metadata.location, "metadata location")
        state = self.catalog.reader.state()
        ns = state.namespace_by_name(ns_name)
        if ns is None:
            raise NoSuchNamespace(f"namespace {ns_name!r} does not exist")
        table_uuid = str(metadata.table_uuid)
        replay = key is not None and state.idempotency.get(key) is not None
        if not replay:
            if state.table_by_name(ns.namespace_id, name) is not None:
                raise AlreadyExists(f"table {str(ident)!r} already exists")
            self._claim_pointer(
                table_uuid, metadata_location, max(metadata_version(metadata_location), 0)
            )
        table = self._register(ns.name, name, table_uuid, metadata_location, metadata, key)
        return LoadedTable(dict(table.properties)[METADATA_LOCATION], metadata)

    # --- commit -------------------------------------------------------------------------

    def commit_table(
        self,
        ident: TableIdent,
        requirements: Sequence[TableRequirement],
        updates: Sequence[TableUpdate],
        *,
        idempotency_key: str | None = None,
    ) -> LoadedTable:
        """Commit ``updates`` if every requirement holds (see the module docstring).

        A table that does not exist is created by a commit that asserts ``assert-create``
        (pyiceberg's create-table transaction after a ``stage-create``).
        """
        key = checked_key(idempotency_key)
        digest = request_hash(requirements, updates)
        try:
            namespace, row, table_uuid = self.lookup(ident)
        except NoSuchTable:
            if any(isinstance(r, AssertCreate) for r in requirements):
                return self._create_by_commit(ident, requirements, updates, key, digest)
            raise
        result = self._commit(table_uuid, str(ident), requirements, updates, key, digest)
        self.sync.schedule(table_uuid, (namespace, row.name))
        return result

    def backoff(self, attempt: int) -> None:
        self.clock.sleep(self._rng.uniform(0, min(0.2, 0.002 * 2**attempt)))

    def read_state(self, table_uuid: str, what: str, *, wait: bool) -> PointerState:
        try:
            return self.pointers.read(table_uuid, wait=wait)
        except ObjectNotFoundError:
            raise NoSuchTable(f"table {what!r} does not exist (its pointer is gone)") from None

    def check_idempotency(
        self, state: PointerState, key: str | None, digest: str, what: str
    ) -> LoadedTable | None:
        """The recorded result of a commit made with ``key`` (409 if with another request)."""
        if key is None:
            return None
        hit = state.recent_commit(key)
        if hit is None:
            return None
        if hit.request_hash != digest:
            raise IdempotencyKeyReused(
                f"{what}: idempotency key {key!r} was used with a different request"
            )
        return LoadedTable(hit.metadata_location, self.files.read_table(hit.metadata_location))

    def _commit(
        self,
        table_uuid: str,
        what: str,
        requirements: Sequence[TableRequirement],
        updates: Sequence[TableUpdate],
        key: str | None,
        digest: str,
    ) -> LoadedTable:
        written: list[tuple[str, TableMetadata]] = []
        for attempt in range(self.commit_attempts):
            state = self.read_state(table_uuid, what, wait=True)
            base = self.files.read_table(state.location)
            for location, metadata in written:
                if landed(location, state, base):
                    return LoadedTable(location, metadata)
            replay = self.check_idempotency(state, key, digest, what)
            if replay is not None:
                return replay
            validate_requirements(requirements, base, what)
            prepared = apply_updates(self.files, state, base, updates)
            if not prepared.changed:
                return LoadedTable(state.location, base)
            location = self.files.write_new(prepared.metadata, state.pointer.version + 1)
            written.append((location, prepared.metadata))
            recent = RecentCommit(key, digest, location) if key is not None else None
            try:
                self.pointers.swap(
                    table_uuid, state.successor(location, recent=recent), state.token
                )
            except VersionMismatchError:
                self.backoff(attempt)
                continue  # moved: read, check and validate again
            except ObjectNotFoundError:
                raise NoSuchTable(f"table {what!r} was dropped during the commit") from None
            except OutcomeUnknownError as exc:
                try:
                    now = self.pointers.read(table_uuid)
                    current = self.files.read_table(now.location)
                except ArcoError:
                    raise CommitStateUnknown(
                        f"{what}: the pointer swap's outcome is unknown and reading back failed "
                        f"({exc})"
                    ) from exc
                if landed(location, now, current):
                    return LoadedTable(location, prepared.metadata)
                continue
            return LoadedTable(location, prepared.metadata)
        raise CommitFailed(
            f"{what}: {self.commit_attempts} concurrent commits won in a row; refresh and retry"
        )

    def _create_by_commit(
        self,
        ident: TableIdent,
        requirements: Sequence[TableRequirement],
        updates: Sequence[TableUpdate],
        key: str | None,
        digest: str,
    ) -> LoadedTable:
        ns_name, name = ident.arco()
        ns = self.catalog.reader.state().namespace_by_name(ns_name)
        if ns is None:
            raise NoSuchNamespace(f"namespace {ns_name!r} does not exist")
        validate_requirements(requirements, None, str(ident))
        if not any(isinstance(u, SetLocationUpdate) for u in updates):
            placeholder = str(uuid.uuid4())
            default = self.files.default_location(ns.name, name, placeholder)
            updates = [SetLocationUpdate(location=default), *updates]
        try:
            metadata = update_table_metadata(
                _empty_metadata(), tuple(updates), enforce_validation=True
            )
        except _BAD_UPDATE as exc:
            raise BadRequest(f"updates: {_first_line(exc)}") from None
        self.files.check_location(metadata.location)
        table_uuid = str(metadata.table_uuid)
        location = self.files.write_new(metadata, 0)
        # with a key, the pointer remembers it: a retry finds the table and this commit
        recent = RecentCommit(key, digest, location) if key is not None else None
        self._claim_pointer(table_uuid, location, 0, recent)
        try:
            self._register(ns.name, name, table_uuid, location, metadata, None)
        except AlreadyExists:
            raise CommitFailed(f"{ident}: assert-create: table already exists") from None
        return LoadedTable(location, metadata)

    # --- drop and rename ----------------------------------------------------------------

    def drop_table(
        self, ident: TableIdent, *, purge: bool = False, idempotency_key: str | None = None
    ) -> None:
        """Drop the catalog table; ``purge`` also deletes the pointer and every object
        under the table's location."""
        key = checked_key(idempotency_key)
        for _ in range(self.commit_attempts):
            namespace, row, table_uuid = self.lookup(ident)
            try:
                with translated(NoSuchTable):
                    self.catalog.drop_table(
                        namespace,
                        row.name,
                        if_match=None if key else row.version,
                        idempotency_key=key,
                    )
            except CommitFailed as exc:
                if isinstance(exc.__cause__, PreconditionFailedError):
                    continue  # changed meanwhile (a sync): check it is still the same table
                raise
            if purge:
                self._purge(table_uuid, row.location)
            return
        raise CommitFailed(f"{ident}: changed concurrently too often; try again")

    def _purge(self, table_uuid: str, row_location: str | None) -> None:
        locations = {row_location} if row_location else set()
        try:
            state = self.pointers.read(table_uuid)
            locations.add(self.files.read_table(state.location).location)
        except ObjectNotFoundError:
            pass
        for location in sorted(loc.rstrip("/") for loc in locations if loc):
            try:
                self.files.check_location(location)
            except BadRequest:
                continue  # never delete outside a table area of this store
            self.files.delete_under(location)
        self.pointers.delete(table_uuid)

    def rename_table(
        self, source: TableIdent, destination: TableIdent, *, idempotency_key: str | None = None
    ) -> None:
        """Rename (or move to another namespace); the pointer and location stay."""
        key = checked_key(idempotency_key)
        namespace, row, _ = self.lookup(source)
        new_namespace, new_name = destination.arco()
        with translated(NoSuchTable):
            self.catalog.rename_table(
                namespace,
                row.name,
                new_name,
                new_namespace=new_namespace,
                idempotency_key=key,
            )

    # --- multi-table transactions -------------------------------------------------------

    def commit_transaction(
        self, changes: Sequence[TableChange], *, idempotency_key: str | None = None
    ) -> list[LoadedTable]:
        """Commit changes to several tables atomically (see :mod:`arco.iceberg.transactions`)."""
        from arco.iceberg.transactions import commit_transaction

        return commit_transaction(self, changes, idempotency_key=checked_key(idempotency_key))
