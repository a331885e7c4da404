"""Commit records: the hash-chained audit trail of every domain.

A commit record is written create-only *before* the manifest it describes is published, so
the chain never dangles. It embeds that manifest in full: the manifest's ``parent_hash`` is
the sha256 of the canonical bytes of the previous record's manifest, which lets ``verify``
walk and check the whole chain although the manifest object itself is overwritten.
A record whose manifest never became current (a crashed or failed attempt) is an orphan:
nothing references it and garbage collection removes it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from arco import canonical_json
from arco.errors import ArcoError, CorruptStateError
from arco.layout import commit_key
from arco.manifest import Manifest, read_manifest
from arco.storage.port import ObjectStore

#: ``compact`` folds tier-2 ledger events; the rest are tier-1 kinds, ``checkpoint`` and
#: ``merge`` adopting compacted files in either tier
CommitKind = Literal["ddl", "fence", "compact", "checkpoint", "merge"]


class CommitRecord(BaseModel):
    """Who committed what, when, and the manifest the commit published."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    commit_id: str
    domain: str
    kind: CommitKind
    snapshot_version: int
    parent_commit_id: str | None
    holder: str
    fencing_token: int
    committed_at: str
    #: the ledger event holding the requests of this commit (DDL commits)
    ledger_event: str | None = None
    #: one entry per applied request: op, target, idempotency key, request hash
    operations: list[dict[str, Any]] = []
    manifest: Manifest

    def to_bytes(self) -> bytes:
        return canonical_json.canonical_dumps(self.model_dump(mode="json"))


def write_commit(store: ObjectStore, record: CommitRecord) -> None:
    store.put(commit_key(record.domain, record.commit_id), record.to_bytes(), "create")


def read_commit(store: ObjectStore, domain: str, commit_id: str) -> CommitRecord:
    """A commit record; ObjectNotFoundError if it does not exist."""
    key = commit_key(domain, commit_id)
    data = store.get(key).data
    try:
        return CommitRecord.model_validate(canonical_json.loads(data))
    except (ArcoError, ValueError) as exc:
        raise CorruptStateError(f"commit record {key} is unreadable: {exc}") from exc


def chain(store: ObjectStore, domain: str) -> list[CommitRecord]:
    """Every commit record of the current manifest's chain, oldest first (audit, tests).

    ObjectNotFoundError if a record of the chain is missing.
    """
    head = read_manifest(store, domain)
    records: list[CommitRecord] = []
    commit_id = head.manifest.commit_id if head is not None else None
    while commit_id is not None:
        record = read_commit(store, domain, commit_id)
        records.append(record)
        commit_id = record.parent_commit_id
    return records[::-1]
