"""Reading and writing tier-1 domain snapshots: checkpoint + delta Parquet files.

A snapshot version is the checkpoint named by the manifest plus every delta file after it,
merged by primary key in version order (tombstones remove rows). Decoded states are cached
by version, and a newer version is built from a cached older one by applying only the new
delta files, so reads after a commit never re-read the whole catalog.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Generic

import pyarrow as pa

from arco.errors import CorruptStateError
from arco.metadata.domain import Delta, DomainSpec, S
from arco.metadata.layout import data_file
from arco.metadata.manifest import FileEntry, FileKind, Manifest, StoredManifest, sha256_hex
from arco.metadata.parquet import decode, encode, encode_table, merge_tables, read_table
from arco.storage.port import ObjectStore


def _put(
    store: ObjectStore,
    directory: str,
    kind: FileKind,
    table: str,
    data: bytes,
    rows: int,
    version: int,
    from_version: int,
) -> FileEntry:
    """Write one data file create-only and describe it for the manifest."""
    path = data_file(directory, kind, table)
    store.put(path, data, "create")
    return FileEntry(
        path=path,
        table=table,
        kind=kind,
        version=version,
        from_version=from_version,
        sha256=sha256_hex(data),
        bytes=len(data),
        rows=rows,
    )


def write_files(
    store: ObjectStore,
    domain: DomainSpec[Any],
    directory: str,
    kind: FileKind,
    tables: Mapping[str, Iterable[tuple[Any, bool]]],
    version: int,
    from_version: int,
) -> list[FileEntry]:
    """Write one Parquet file per table (create-only) and describe them for the manifest."""
    entries: list[FileEntry] = []
    for name in sorted(tables):
        data, rows = encode(domain.specs[name], tables[name])
        entries.append(_put(store, directory, kind, name, data, rows, version, from_version))
    return entries


def write_merged(
    store: ObjectStore,
    loader: SnapshotLoader[Any],
    directory: str,
    kind: FileKind,
    entries: Sequence[FileEntry],
    version: int,
    from_version: int,
    keep: Callable[[str, pa.Table], pa.Table] | None = None,
) -> list[FileEntry]:
    """Merge the files ``entries`` per table (newest row per key) into new files.

    A checkpoint drops tombstones; ``keep`` may filter a merged table further.
    """
    tables = loader.read_arrow(entries)
    per_table: dict[str, list[pa.Table]] = {}
    for entry, table in zip(entries, tables, strict=True):
        per_table.setdefault(entry.table, []).append(table)
    out: list[FileEntry] = []
    # a checkpoint has a file for every table, even an empty one
    specs = loader.domain.specs
    names = sorted(specs) if kind == "checkpoint" else sorted(per_table)
    for name in names:
        parts = per_table.get(name) or [specs[name].schema.empty_table()]
        merged = merge_tables(specs[name], parts, live_only=kind == "checkpoint")
        if keep is not None:
            merged = keep(name, merged)
        data, rows = encode_table(specs[name], merged)
        out.append(_put(store, directory, kind, name, data, rows, version, from_version))
    return out


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Decoding a state allocates millions of objects that all survive; the cyclic GC would
    scan them again and again and find nothing (it doubles the time to load a large state).
    Paused for the load only; collection resumes (and catches up) right after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class SnapshotLoader(Generic[S]):
    """Loads a domain's states from manifests, caching decoded states by version."""

    def __init__(
        self, store: ObjectStore, domain: DomainSpec[S], *, cache_size: int = 4, io_threads: int = 8
    ) -> None:
        self._store = store
        self.domain = domain
        self._cache: OrderedDict[int, S] = OrderedDict()
        self._cache_size = cache_size
        self._io_threads = io_threads
        self._mutex = threading.Lock()
        #: files read from storage so far (tests and benchmarks look at this)
        self.files_read = 0

    def remember(self, state: S) -> None:
        """Cache a state the caller built itself (e.g. a writer after its own commit)."""
        with self._mutex:
            self._cache[state.version] = state
            self._cache.move_to_end(state.version)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def remember_adopted(
        self, state: S, manifest: Manifest, edit: Callable[[S], None] | None = None
    ) -> None:
        """Cache a copy of ``state`` as the version ``manifest`` publishes with the same rows
        in other files (an adopted merge or checkpoint), after ``edit`` if given."""
        adopted = state.copy()
        if edit is not None:
            edit(adopted)
        adopted.version = manifest.snapshot_version
        adopted.checkpoint_version = manifest.checkpoint_version
        self.remember(adopted)

    def cached(self, version: int) -> S | None:
        with self._mutex:
            return self._cache.get(version)

    def load(self, stored: StoredManifest | None) -> S:
        """The state a manifest describes (empty when there is no manifest yet)."""
        if stored is None:
            return self.domain.new_state()
        manifest = stored.manifest
        hit = self.cached(manifest.snapshot_version)
        if hit is not None:
            return hit
        base = self._best_base(manifest.checkpoint_version, manifest.snapshot_version)
        lazy = self.domain.lazy_tables
        if base is not None:
            state = base.copy()
            needed = [f for f in manifest.files if f.kind == "delta" and f.version > base.version]
        else:
            state = self.domain.new_state()
            needed = list(manifest.files)
        needed = [f for f in needed if f.table not in lazy]
        with _gc_paused():
            return self._build(manifest, state, needed)

    def _build(self, manifest: Manifest, state: S, needed: list[FileEntry]) -> S:
        contents = self._read_all(needed)
        checkpoint: Delta = {}
        deltas: dict[int, Delta] = {}
        for entry, rows in zip(needed, contents, strict=True):
            target = (
                checkpoint if entry.kind == "checkpoint" else deltas.setdefault(entry.version, {})
            )
            target.setdefault(entry.table, []).extend(rows)
        state.apply(checkpoint, self.domain.primary_keys)
        for version in sorted(deltas):
            state.apply(deltas[version], self.domain.primary_keys)
        state.version = manifest.snapshot_version
        state.checkpoint_version = manifest.checkpoint_version
        self.remember(state)
        return state

    def _best_base(self, checkpoint_version: int, version: int) -> S | None:
        with self._mutex:
            candidates = [
                s
                for s in self._cache.values()
                if s.checkpoint_version == checkpoint_version and s.version < version
            ]
        return max(candidates, key=lambda s: s.version, default=None)

    def _read_all(self, entries: Sequence[FileEntry]) -> list[list[tuple[Any, bool]]]:
        if len(entries) <= 1:
            return [self._read(e) for e in entries]
        with ThreadPoolExecutor(max_workers=min(self._io_threads, len(entries))) as pool:
            return list(pool.map(self._read, entries))

    def read_arrow(self, entries: Sequence[FileEntry]) -> list[pa.Table]:
        """Each file as an Arrow table (checksums verified), for compaction."""
        with ThreadPoolExecutor(max_workers=max(1, min(self._io_threads, len(entries)))) as pool:
            return list(pool.map(lambda e: read_table(self._fetch(e)), entries))

    def _fetch(self, entry: FileEntry) -> bytes:
        data = self._store.get(entry.path).data
        self.files_read += 1
        if sha256_hex(data) != entry.sha256:
            raise CorruptStateError(f"{entry.path}: checksum does not match the manifest")
        return data

    def _read(self, entry: FileEntry) -> list[tuple[Any, bool]]:
        data = self._fetch(entry)
        spec = self.domain.specs.get(entry.table)
        if spec is None:
            raise CorruptStateError(
                f"{entry.path}: unknown {self.domain.name} table {entry.table!r}"
            )
        return decode(spec, data, entry.path)
