"""Commit records: the hash-chained audit trail of every domain.

A commit record is written create-only *before* the manifest it describes is published, so
the chain never dangles. It embeds that manifest in full: the manifest's ``parent_hash`` is
the sha256 of the canonical bytes of the previous record's manifest, which lets ``verify``
walk and check the whole chain although the manifest object itself is overwritten.
A record whose manifest never became current (a crashed or failed attempt) is an orphan:
nothing references it and garbage collection removes it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from arco.core import canonical_json
from arco.core.ids import is_ulid
from arco.core.paging import MAX_PAGE
from arco.errors import ArcoError, CorruptStateError, ObjectNotFoundError, ValidationError
from arco.metadata.layout import commit_key
from arco.metadata.manifest import Manifest, read_manifest
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


def list_commits(
    store: ObjectStore, domain: str, *, page_token: str | None = None, limit: int = 100
) -> tuple[list[CommitRecord], str | None]:
    """One page of the current chain, newest first, and the token of the next page.

    The walk starts at the head manifest's commit (or, with ``page_token``, at the commit the
    token names) and follows ``parent_commit_id``; a token names the next commit to read, so
    each page costs ``limit`` reads. A token that does not name a commit record of this store
    is a ValidationError (tokens of another scope name nothing here).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: must be between 1 and {MAX_PAGE} (got {limit})")
    bad_token = ValidationError("page_token: not a token returned by a previous page")
    commit_id: str | None
    if page_token is None:
        head = read_manifest(store, domain)
        commit_id = head.manifest.commit_id if head is not None else None
    else:
        commit_id = _decode_commit_token(page_token)
        if commit_id is None or not is_ulid(commit_id):
            raise bad_token
    records: list[CommitRecord] = []
    while commit_id is not None and len(records) < limit:
        try:
            record = read_commit(store, domain, commit_id)
        except ObjectNotFoundError:
            if page_token is not None and not records:
                raise bad_token from None
            raise
        records.append(record)
        commit_id = record.parent_commit_id
    return records, None if commit_id is None else _encode_commit_token(commit_id)


def _encode_commit_token(commit_id: str) -> str:
    raw = canonical_json.canonical_dumps({"commit": commit_id})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_commit_token(token: str) -> str | None:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = canonical_json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ArcoError, binascii.Error, ValueError, UnicodeError):
        return None
    commit_id = data.get("commit") if isinstance(data, dict) else None
    return commit_id if isinstance(commit_id, str) else None
