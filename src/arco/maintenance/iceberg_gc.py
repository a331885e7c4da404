"""GC and verify of a workspace's Iceberg metadata (ADR 014): pointers, metadata files and
transaction decisions.

**What GC keeps.** For every pointer (``iceberg/pointers/{uuid}.json``) the *keep set* is the
file it names, the ``previous`` of its pending marker, the files its ``recent`` commits name
(an idempotent retry reads them back) and, for a table, every file in the ``metadata-log`` of
its current metadata (and of ``previous``): that log is what the table's own
``write.metadata.previous-versions-max`` retains (the writer trims it on commit; default 100
entries). Nothing any pointer keeps is ever deleted.

**What GC collects.** In the metadata directories of a pointer (the directory of every file
it keeps, and ``{location}/metadata`` of its current metadata), a ``*.metadata.json`` file no
pointer keeps is deleted (``unreferenced_metadata``) once it is older than the Iceberg
retention (``iceberg_retention_s``); if the table sets
``write.metadata.delete-after-commit.enabled=true`` (Iceberg: the writer deletes files that
leave the log), ``min_age_s`` is enough. A pointer that no catalog row references (a table
or view dropped without purge, a create that crashed before registering) and that is older
than the retention is deleted (``orphan_pointer``) together with the metadata files in its
directories older than ``min_age_s`` (``orphan_metadata``, deleted first); until then its
directories are left whole (``retained_orphan``), so such a table can be adopted again with
register. Data files are never touched: they belong to the engine (a drop with
``purgeRequested`` deletes them at once). A decision object (``iceberg/transactions/``) that no
pointer's pending marker names and that is older than the retention is deleted
(``decided_transaction``). Only ``*.metadata.json`` files, pointers and decisions are ever
deleted; a metadata file with no pointer at all (a create that crashed before writing its
pointer) is left alone: it cannot be told from one whose create is still in flight.

**Fences** (ADR 013 applied to pointers). Every pointer whose directories hold something to
collect is first *fenced*: swapped by compare-and-swap, on the token GC read it with, to the
same pointer with ``version + 1``. So the keep set GC computed is exactly the pointer's state
at the fence, and every commit in flight (a compare-and-swap on an older token) fails and
writes its new metadata file anew after reading the fenced pointer. GC deletes only files
written before the fence and older than ``min_age_s``: no pointer can ever come to name a
file GC deleted. A pointer that moved meanwhile keeps its candidates until the next run
(``moved_pointer``). A dry run does not fence and reports what a run fencing now would delete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arco.catalog.domain import CATALOG
from arco.catalog.state import CatalogState
from arco.errors import (
    ArcoError,
    CorruptStateError,
    ObjectNotFoundError,
    VersionMismatchError,
)
from arco.iceberg.errors import BadRequest
from arco.iceberg.metadata_io import MetadataFiles
from arco.iceberg.pointer import DEFAULT_TXN_TIMEOUT_MS, Pointer, PointerStore
from arco.iceberg.sync import METADATA_LOCATION, TABLE_UUID, VIEW_UUID
from arco.metadata.layout import (
    ICEBERG_POINTERS,
    ICEBERG_TRANSACTIONS,
    ICEBERG_WAREHOUSE,
    iceberg_pointer_key,
)
from arco.metadata.manifest import read_manifest
from arco.metadata.snapshot import SnapshotLoader
from arco.storage.port import IfVersion, ObjectMeta, ObjectStore

__all__ = [
    "ICEBERG_DOMAIN",
    "ICEBERG_REASONS",
    "IcebergCandidate",
    "iceberg_rows",
    "plan_iceberg",
    "verify_iceberg",
]

#: the ``domain`` of Iceberg GC items and verify findings
ICEBERG_DOMAIN = "iceberg"
#: GC's deletion reasons for Iceberg objects, in report order
ICEBERG_REASONS = (
    "unreferenced_metadata",
    "orphan_metadata",
    "orphan_pointer",
    "decided_transaction",
)
DELETE_AFTER_COMMIT = "write.metadata.delete-after-commit.enabled"
_METADATA_SUFFIX = ".metadata.json"

Progress = Callable[[str], None]
Keep = Callable[[str, int], None]


@dataclass(frozen=True)
class IcebergCandidate:
    """One Iceberg object GC deletes (or would, in a dry run)."""

    key: str
    reason: str
    bytes: int


def _ms(meta_time: Any) -> int:
    return int(meta_time.timestamp() * 1000)


def iceberg_rows(store: ObjectStore) -> dict[str, tuple[str, dict[str, str]]]:
    """``pointer uuid -> (format, properties)`` of every catalog row that names a pointer."""
    head = read_manifest(store, "catalog")
    if head is None:
        return {}
    state: CatalogState = SnapshotLoader(store, CATALOG).load(head)
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for row in state.tables.values():
        props = dict(row.properties)
        uuid = props.get(TABLE_UUID) or props.get(VIEW_UUID)
        if uuid is not None and row.format in ("iceberg", "iceberg-view"):
            out[uuid] = (row.format, props)
    return out


@dataclass
class _Table:
    """One pointer as GC read it."""

    uuid: str
    key: str
    token: str
    pointer: Pointer
    modified_ms: int
    keep: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    #: metadata could not be read: nothing in its directories is collected
    blocked: bool = False
    delete_after_commit: bool = False
    orphan: bool = False
    #: an orphan old enough to collect with its files
    collect: bool = False


def _read_metadata(files: MetadataFiles, location: str) -> Any:
    """Table metadata, or view metadata if it is not a table's (errors propagate)."""
    try:
        return files.read_table(location)
    except CorruptStateError:
        return files.read_view(location)


def _dir_of(files: MetadataFiles, location: str) -> str | None:
    """The storage key prefix (ending in ``/``) of the directory holding ``location``."""
    try:
        key = files.key_of(location)
    except BadRequest:
        return None
    if not key.startswith(ICEBERG_WAREHOUSE):
        return None  # never look for garbage outside the table area
    return key.rsplit("/", 1)[0] + "/"


def plan_iceberg(
    store: ObjectStore,
    *,
    min_age_ms: int,
    retention_ms: int,
    now_ms: int,
    dry_run: bool,
    keep: Keep,
    warn: Callable[[str], None],
    progress: Progress,
    txn_timeout_ms: int = DEFAULT_TXN_TIMEOUT_MS,
) -> list[IcebergCandidate]:
    """What GC deletes of the workspace's Iceberg metadata (see the module doc); fences the
    pointers concerned unless ``dry_run``. Deletes nothing itself."""
    progress("iceberg: listing transaction decisions")
    decisions = sorted(store.list(ICEBERG_TRANSACTIONS), key=lambda m: m.key)
    progress("iceberg: reading pointers")
    pointer_metas = sorted(store.list(ICEBERG_POINTERS), key=lambda m: m.key)
    if not decisions and not pointer_metas:
        return []
    files = MetadataFiles(store)
    tables: list[_Table] = []
    unreadable_pointers = False
    for meta in pointer_metas:
        name = meta.key[len(ICEBERG_POINTERS) :]
        if not name.endswith(".json") or "/" in name:
            keep("unrecognised", 1)
            continue
        try:
            obj = store.get(meta.key)
        except ObjectNotFoundError:
            continue  # deleted meanwhile (a purge)
        try:
            pointer = Pointer.from_bytes(obj.data, meta.key)
        except CorruptStateError as exc:
            unreadable_pointers = True
            warn(f"iceberg: {exc.message}: kept, and every transaction decision")
            keep("unreadable_pointer", 1)
            continue
        tables.append(
            _Table(
                name.removesuffix(".json"), meta.key, obj.version, pointer, _ms(obj.last_modified)
            )
        )
    progress("iceberg: catalog rows")
    rows = iceberg_rows(store) if tables else {}
    retention = max(retention_ms, min_age_ms)
    fenced_at: dict[str, int | None] = {}

    def fence(t: _Table) -> int | None:
        if t.uuid not in fenced_at:
            progress(f"iceberg: fence {t.uuid}")
            fenced_at[t.uuid] = now_ms if dry_run else _fence(store, t)
        return fenced_at[t.uuid]

    for t in tables:
        t.orphan = t.uuid not in rows
        t.collect = t.orphan and now_ms - t.modified_ms >= retention
    if any(t.collect for t in tables):
        # fenced first, then the catalog read again: a register that adopted the pointer
        # meanwhile either moved it (the fence fails) or shows up as a row now
        for t in tables:
            if t.collect and fence(t) is None:
                keep("moved_pointer", 1)
                t.collect = False
        again = iceberg_rows(store)
        for t in tables:
            if t.collect and t.uuid in again:
                t.collect = t.orphan = False
    for t in tables:
        _keep_set(files, t, warn)
    kept_files: set[str] = set()
    for t in tables:
        if not t.collect:
            kept_files |= t.keep
    owners: dict[str, list[_Table]] = {}
    for t in tables:
        for d in t.dirs:
            owners.setdefault(d, []).append(t)

    # --- candidates per directory -----------------------------------------------------
    by_dir: dict[str, list[tuple[ObjectMeta, str]]] = {}
    for d, who in sorted(owners.items()):
        progress(f"iceberg: listing {d}")
        listed = [
            m
            for m in store.list(d)
            if "/" not in m.key[len(d) :] and m.key.endswith(_METADATA_SUFFIX)
        ]
        live = [t for t in who if not t.collect]
        if any(t.blocked for t in live):
            keep("unreadable_metadata", len(listed))
            continue
        if live and all(t.orphan for t in live):
            # left whole until the orphan is collected (or adopted again by a register)
            keep("retained_orphan", len(listed))
            continue
        # Iceberg's delete-after-commit: files leaving the log need no retention; nor do
        # the files of an orphan that is past it
        eager = all(t.delete_after_commit for t in live)
        threshold = min_age_ms if eager else retention
        reason = "unreferenced_metadata" if live else "orphan_metadata"
        for m in listed:
            if files.base_url + "/" + m.key in kept_files:
                keep("referenced_metadata", 1)
            elif now_ms - _ms(m.last_modified) < threshold:
                keep("young", 1)
            else:
                by_dir.setdefault(d, []).append((m, reason))

    # --- fences, then what was written before them ----------------------------------------
    out: list[IcebergCandidate] = []
    for d, metas in sorted(by_dir.items()):
        fences = [fence(t) for t in sorted(owners[d], key=lambda t: t.uuid)]
        if any(f is None for f in fences):
            keep("moved_pointer", len(metas))
            continue
        at = min(f for f in fences if f is not None)
        for m, reason in metas:
            if _ms(m.last_modified) >= at or now_ms - _ms(m.last_modified) < min_age_ms:
                keep("young", 1)
            else:
                out.append(IcebergCandidate(m.key, reason, m.size))
    for t in tables:
        if not t.collect:
            continue
        if any(fence(o) is None for d in t.dirs for o in owners[d]):
            keep("moved_pointer", 1)
            continue
        out.append(IcebergCandidate(t.key, "orphan_pointer", len(t.pointer.to_bytes())))

    # --- transaction decisions ----------------------------------------------------------
    named = {t.pointer.pending.txn for t in tables if t.pointer.pending is not None}
    old_enough = max(retention, txn_timeout_ms)
    for meta in decisions:
        name = meta.key[len(ICEBERG_TRANSACTIONS) :]
        if not name.endswith(".json") or "/" in name:
            keep("unrecognised", 1)
        elif name.removesuffix(".json") in named:
            keep("pending_transaction", 1)
        elif unreadable_pointers:
            keep("unreadable_pointer", 1)
        elif now_ms - _ms(meta.last_modified) < old_enough:
            keep("young", 1)
        else:
            out.append(IcebergCandidate(meta.key, "decided_transaction", meta.size))
    order = {reason: i for i, reason in enumerate(ICEBERG_REASONS)}
    # metadata files before their pointer: a run that stops half-way leaves a pointer that
    # the next run still finds (and its files are what it would collect anyway)
    out.sort(key=lambda c: (order[c.reason] if c.reason != "orphan_pointer" else 99, c.key))
    return out


def _keep_set(files: MetadataFiles, t: _Table, warn: Callable[[str], None]) -> None:
    p = t.pointer
    roots = [p.metadata_location]
    if p.pending is not None:
        roots.append(p.pending.previous)
    t.keep.update(roots)
    t.keep.update(r.metadata_location for r in p.recent)
    for i, location in enumerate(roots):
        try:
            metadata = _read_metadata(files, location)
        except (ArcoError, BadRequest) as exc:
            t.blocked = True
            if not t.collect:
                warn(
                    f"iceberg: pointer {t.uuid}: metadata {location} is unreadable ({exc}); "
                    "kept every file of its directory"
                )
            continue
        table_dir = _strip(files, metadata.location)
        if table_dir:
            t.dirs.add(table_dir + "metadata/")
        props = dict(metadata.properties or {})
        if i == 0:
            t.delete_after_commit = str(props.get(DELETE_AFTER_COMMIT, "")).lower() == "true"
        for entry in getattr(metadata, "metadata_log", []):
            t.keep.add(entry.metadata_file)
    for location in t.keep:
        d = _dir_of(files, location)
        if d is not None:
            t.dirs.add(d)


def _strip(files: MetadataFiles, location: str) -> str:
    try:
        key = files.key_of(location.rstrip("/"))
    except BadRequest:
        return ""
    return key + "/" if key.startswith(ICEBERG_WAREHOUSE) else ""


def _fence(store: ObjectStore, t: _Table) -> int | None:
    """Swap the pointer to itself with ``version + 1`` on the token read; when that happened
    (the store's clock), or None if the pointer moved."""
    p = t.pointer
    fenced = Pointer(p.metadata_location, p.version + 1, p.pending, p.recent)
    try:
        store.put(t.key, fenced.to_bytes(), IfVersion(t.token))
        meta = store.head(t.key)
    except (VersionMismatchError, ObjectNotFoundError):
        return None
    t.token = meta.version
    t.pointer = fenced
    return _ms(meta.last_modified)


# --- verify ---------------------------------------------------------------------------


Add = Callable[[str, str, str | None], None]


def verify_iceberg(
    store: ObjectStore,
    *,
    error: Add,
    warning: Add,
    count: Callable[[str], None],
    progress: Progress,
    now_ms: int,
    txn_timeout_ms: int = DEFAULT_TXN_TIMEOUT_MS,
) -> None:
    """Every pointer a catalog row references resolves (pending markers per ADR 014) to a
    readable metadata file of the same uuid; lags and unreferenced pointers are warnings."""
    rows = iceberg_rows(store)
    pointer_keys = {
        m.key[len(ICEBERG_POINTERS) :].removesuffix(".json")
        for m in store.list(ICEBERG_POINTERS)
        if m.key.endswith(".json")
    }
    if not rows and not pointer_keys:
        return
    files = MetadataFiles(store)
    pointers = PointerStore(store, txn_timeout_ms=txn_timeout_ms)
    for uuid in sorted(set(rows) | pointer_keys):
        key = iceberg_pointer_key(uuid)
        progress(f"iceberg: pointer {uuid}")
        count("iceberg_pointers")
        row = rows.get(uuid)
        # an orphan: no table stands on it, so what is wrong with it is no fault (GC's job)
        fault = error if row is not None else warning
        if row is None:
            warning("orphan_pointer", f"pointer {uuid}: no catalog row references it", key)
        try:
            obj = store.get(key)
        except ObjectNotFoundError:
            if row is None:
                continue  # deleted since the listing (a purge, GC)
            kind = "view" if row[0] == "iceberg-view" else "table"
            error(
                "missing_pointer",
                f"{kind} {uuid}: its catalog row names a pointer that does not exist",
                key,
            )
            continue
        try:
            pointer = Pointer.from_bytes(obj.data, key)
        except CorruptStateError as exc:
            fault("corrupt_pointer", exc.message, key)
            continue
        location = pointer.metadata_location
        if pointer.pending is not None:
            try:
                decision = pointers.decision(pointer.pending.txn)
            except CorruptStateError as exc:
                fault("corrupt_decision", exc.message, key)
                continue
            if decision != "commit":
                location = pointer.pending.previous
            if decision is None and now_ms - pointer.pending.started_ms > txn_timeout_ms:
                warning(
                    "undecided_transaction",
                    f"pointer {uuid}: transaction {pointer.pending.txn} is undecided past the "
                    "timeout (the next reader or writer aborts it)",
                    key,
                )
        _verify_metadata(files, uuid, key, location, row, fault, warning, count)


def _verify_metadata(
    files: MetadataFiles,
    uuid: str,
    key: str,
    location: str,
    row: tuple[str, dict[str, str]] | None,
    error: Add,
    warning: Add,
    count: Callable[[str], None],
) -> None:
    view = row is not None and row[0] == "iceberg-view"
    try:
        metadata: Any = files.read_view(location) if view else _read_metadata(files, location)
    except ObjectNotFoundError:
        error("missing_metadata", f"pointer {uuid}: metadata file {location} is missing", key)
        return
    except BadRequest as exc:
        error("foreign_metadata", f"pointer {uuid}: {exc.message}", key)
        return
    except ArcoError as exc:
        error("unreadable_metadata", f"pointer {uuid}: {exc}", key)
        return
    count("iceberg_metadata_files")
    found = str(getattr(metadata, "table_uuid", None) or getattr(metadata, "view_uuid", ""))
    if found != uuid:
        error(
            "uuid_mismatch",
            f"pointer {uuid}: metadata file {location} belongs to {found or 'no uuid'}",
            key,
        )
    if row is not None and row[1].get(METADATA_LOCATION) != location:
        warning(
            "projection_lag",
            f"pointer {uuid}: the catalog row names {row[1].get(METADATA_LOCATION)}, the "
            f"pointer {location} (the projection catches up asynchronously)",
            key,
        )
