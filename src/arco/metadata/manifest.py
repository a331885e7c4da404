"""Domain manifests: the single commit point of every domain.

A manifest names the immutable Parquet files that make up one version of a domain. It is
replaced only by compare-and-swap on its object version, and only if

* ``snapshot_version`` advances by exactly one,
* ``parent_hash`` is the sha256 of the exact bytes it replaces,
* ``fencing_token`` does not go down, and
* ``commit_id`` increases.

Readers start from the manifest and therefore see either the old or the new version.
Manifests are serialised as canonical JSON, so their hash is well defined.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from arco.core import canonical_json
from arco.errors import (
    ArcoError,
    CommitConflictError,
    CorruptStateError,
    FencedError,
    ObjectExistsError,
    ObjectNotFoundError,
    VersionMismatchError,
)
from arco.metadata.layout import manifest_key
from arco.storage.port import IfVersion, ObjectStore

SCHEMA_VERSION = 1

FileKind = Literal["checkpoint", "delta"]


class FileEntry(BaseModel):
    """One Parquet file of a snapshot. The list of entries is also the signed-URL allowlist."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    table: str
    kind: FileKind
    version: int = Field(description="newest snapshot version whose changes the file holds")
    from_version: int = Field(
        description="oldest version whose changes the file holds (0 for a checkpoint); a "
        "delta written by one commit has from_version == version, a merged delta spans several"
    )
    sha256: str
    bytes: int
    rows: int


class Manifest(BaseModel):
    """The content of ``manifests/{domain}.manifest.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    domain: str
    schema_version: int = SCHEMA_VERSION
    snapshot_version: int
    checkpoint_version: int
    files: tuple[FileEntry, ...]
    watermark: str | None
    fencing_token: int
    commit_id: str
    parent_hash: str | None
    updated_at: str

    def to_bytes(self) -> bytes:
        return canonical_json.canonical_dumps(self.model_dump(mode="json"))

    def files_of(self, table: str) -> list[FileEntry]:
        """Files of one table in merge order: checkpoint first, then deltas by version."""
        entries = [f for f in self.files if f.table == table]
        return sorted(entries, key=lambda f: (f.kind != "checkpoint", f.version))

    def delta_ranges(self) -> set[tuple[int, int]]:
        """The distinct (from_version, version) ranges of the delta files."""
        return {(f.from_version, f.version) for f in self.files if f.kind == "delta"}


@dataclass(frozen=True, slots=True)
class StoredManifest:
    """A manifest as read from storage, with what a CAS needs to replace it."""

    manifest: Manifest
    raw: bytes
    object_version: str

    @property
    def hash(self) -> str:
        return sha256_hex(self.raw)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: manifests parsed lately, by their exact bytes: every catalog read fetches the manifest,
#: and parsing one that lists many files costs more than the rest of a lookup
_PARSED: OrderedDict[bytes, Manifest] = OrderedDict()
_PARSED_MAX = 64
_parsed_lock = threading.Lock()


def parse_manifest(data: bytes, where: str) -> Manifest:
    """The manifest in ``data`` (CorruptStateError naming ``where`` if it is not one)."""
    with _parsed_lock:
        hit = _PARSED.get(data)
        if hit is not None:
            _PARSED.move_to_end(data)
            return hit
    try:
        manifest = Manifest.model_validate(canonical_json.loads(data))
    except (ArcoError, ValueError) as exc:
        raise CorruptStateError(f"manifest {where} is unreadable: {exc}") from exc
    with _parsed_lock:
        _PARSED[data] = manifest  # immutable (frozen), so it can be shared
        while len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    return manifest


def read_manifest(store: ObjectStore, domain: str) -> StoredManifest | None:
    """The current manifest, or None if the domain has never been written (version 0).

    Only a missing object means "empty"; every other failure propagates.
    """
    key = manifest_key(domain)
    try:
        obj = store.get(key)
    except ObjectNotFoundError:
        return None
    return StoredManifest(parse_manifest(obj.data, key), obj.data, obj.version)


def check_successor(old: StoredManifest | None, new: Manifest) -> None:
    """Raise unless ``new`` may replace ``old`` (the manifest invariants)."""
    if old is None:
        if new.snapshot_version != 1 or new.parent_hash is not None:
            raise CommitConflictError(f"manifest {new.domain}: first version must be 1")
        return
    prev = old.manifest
    if new.fencing_token < prev.fencing_token:
        raise FencedError(
            f"manifest {new.domain}: fencing token {new.fencing_token} is older than "
            f"{prev.fencing_token}"
        )
    if new.snapshot_version != prev.snapshot_version + 1:
        raise CommitConflictError(
            f"manifest {new.domain}: version {new.snapshot_version} does not follow "
            f"{prev.snapshot_version}"
        )
    if new.parent_hash != old.hash:
        raise CommitConflictError(f"manifest {new.domain}: parent hash does not match")
    if new.commit_id <= prev.commit_id:
        raise CommitConflictError(f"manifest {new.domain}: commit id does not increase")


def publish_manifest(
    store: ObjectStore, old: StoredManifest | None, new: Manifest
) -> StoredManifest:
    """Atomically replace ``old`` with ``new`` (CAS); the commit point of a domain.

    On a lost race the current manifest is read back: if it is ours (the write was applied
    although the call failed) the publish succeeded; otherwise FencedError when a newer
    fencing token is in place, else CommitConflictError. Nothing is published on failure.
    """
    check_successor(old, new)
    key = manifest_key(new.domain)
    raw = new.to_bytes()
    try:
        if old is None:
            version = store.put(key, raw, "create")
        else:
            version = store.put(key, raw, IfVersion(old.object_version))
    except (ObjectExistsError, VersionMismatchError, ObjectNotFoundError) as exc:
        current = read_manifest(store, new.domain)
        if current is not None and current.raw == raw:
            return current
        if current is not None and current.manifest.fencing_token > new.fencing_token:
            raise FencedError(
                f"manifest {new.domain}: a newer lock holder (fencing token "
                f"{current.manifest.fencing_token}) published first; this commit was not published"
            ) from exc
        raise CommitConflictError(
            f"manifest {new.domain}: another writer published first; this commit was not published"
        ) from exc
    return StoredManifest(new, raw, version)
