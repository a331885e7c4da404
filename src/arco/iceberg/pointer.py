"""The per-table pointer: which metadata file is an Iceberg table's (or view's) current one.

One small JSON object per table, ``iceberg/pointers/{uuid}.json`` (ADR 014), changed only by
compare-and-swap on the version token read with it, created create-only::

    {"metadata_location": "...", "version": 3,
     "pending": null | {"txn": "...", "previous": "...", "started_ms": 0},
     "recent": [{"idempotency_key": "...", "request_hash": "...", "metadata_location": "..."}]}

``version`` counts the swaps (0 when created); a new metadata file is numbered with the
version of the pointer that will name it. ``pending`` marks a pointer swapped by a
multi-table transaction whose decision object (``iceberg/transactions/{txn}.json``, create-
only, ``commit`` or ``abort``) decides whether ``metadata_location`` (commit) or
``previous`` (abort, or no decision yet) is current. An undecided transaction older than the
timeout is aborted by whoever meets it: creating ``abort`` races with the coordinator's
``commit``, and whichever object was created first stands. ``recent`` holds the last
commits made with an idempotency key, written atomically with the swap they belong to.

:class:`PointerStore` reads (resolving ``pending``), creates and swaps pointers and creates
decision objects. A swap whose outcome is unknown is resolved by reading the pointer back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from arco.core import canonical_json
from arco.core.clock import SYSTEM_CLOCK, Clock
from arco.errors import (
    ArcoError,
    CorruptStateError,
    ObjectExistsError,
    ObjectNotFoundError,
    OutcomeUnknownError,
    VersionMismatchError,
)
from arco.metadata.layout import iceberg_pointer_key, iceberg_transaction_key
from arco.storage.port import IfVersion, ObjectStore

__all__ = [
    "DEFAULT_TXN_TIMEOUT_MS",
    "MAX_RECENT",
    "Decision",
    "Pending",
    "Pointer",
    "PointerMoved",
    "PointerState",
    "PointerStore",
    "RecentCommit",
]

#: how many idempotent commits a pointer remembers
MAX_RECENT = 32
#: an undecided transaction older than this may be aborted by any reader or writer
DEFAULT_TXN_TIMEOUT_MS = 30_000

Decision = Literal["commit", "abort"]


@dataclass(frozen=True, slots=True)
class Pending:
    """The marker a multi-table transaction leaves on a pointer it swapped."""

    txn: str
    #: the metadata location that stays current unless the transaction commits
    previous: str
    started_ms: int


@dataclass(frozen=True, slots=True)
class RecentCommit:
    """A commit made with an idempotency key (``metadata_location``: the file it created)."""

    idempotency_key: str
    request_hash: str
    metadata_location: str


@dataclass(frozen=True, slots=True)
class Pointer:
    metadata_location: str
    version: int = 0
    pending: Pending | None = None
    recent: tuple[RecentCommit, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "metadata_location": self.metadata_location,
            "version": self.version,
            "pending": None
            if self.pending is None
            else {
                "txn": self.pending.txn,
                "previous": self.pending.previous,
                "started_ms": self.pending.started_ms,
            },
            "recent": [
                {
                    "idempotency_key": r.idempotency_key,
                    "request_hash": r.request_hash,
                    "metadata_location": r.metadata_location,
                }
                for r in self.recent
            ],
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON: equal pointers are equal bytes."""
        return canonical_json.canonical_dumps(self.to_json())

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "pointer") -> Pointer:
        try:
            doc = canonical_json.loads(data)
            pending = doc["pending"]
            return cls(
                metadata_location=_text(doc["metadata_location"]),
                version=_int(doc["version"]),
                pending=None
                if pending is None
                else Pending(
                    _text(pending["txn"]),
                    _text(pending["previous"]),
                    _int(pending["started_ms"]),
                ),
                recent=tuple(
                    RecentCommit(
                        _text(r["idempotency_key"]),
                        _text(r["request_hash"]),
                        _text(r["metadata_location"]),
                    )
                    for r in doc["recent"]
                ),
            )
        except (ArcoError, KeyError, TypeError) as exc:
            raise CorruptStateError(f"{what}: not a valid Iceberg pointer ({exc})") from None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class PointerState:
    """A pointer as read: the object, its version token and bytes, and what is current."""

    pointer: Pointer
    token: str
    raw: bytes
    #: the current metadata location (``pending`` resolved)
    location: str
    #: the decision of ``pointer.pending``'s transaction (None: no marker, or undecided)
    decision: Decision | None = None

    @property
    def undecided(self) -> bool:
        """A transaction swapped this pointer and has not decided yet."""
        return self.pointer.pending is not None and self.decision is None

    def _counts(self, entry: RecentCommit) -> bool:
        """A ``recent`` entry counts unless it belongs to a transaction that did not commit."""
        return not (
            self.pointer.pending is not None
            and self.decision != "commit"
            and entry.metadata_location == self.pointer.metadata_location
        )

    def recent_commit(self, idempotency_key: str) -> RecentCommit | None:
        """The landed commit recorded under ``idempotency_key``, if the pointer remembers one."""
        for entry in reversed(self.pointer.recent):
            if entry.idempotency_key == idempotency_key and self._counts(entry):
                return entry
        return None

    def successor(
        self,
        metadata_location: str,
        *,
        recent: RecentCommit | None = None,
        pending: Pending | None = None,
    ) -> Pointer:
        """The next pointer: names ``metadata_location``, clears (or sets) the marker."""
        kept = [r for r in self.pointer.recent if self._counts(r)]
        if recent is not None:
            kept.append(recent)
        return Pointer(
            metadata_location=metadata_location,
            version=self.pointer.version + 1,
            pending=pending,
            recent=tuple(kept[-MAX_RECENT:]),
        )


class PointerMoved(VersionMismatchError):
    """A swap of unknown outcome did not leave our pointer in place (read back)."""

    def __init__(self, message: str, current: Pointer) -> None:
        super().__init__(message)
        self.current = current


@dataclass
class PointerStore:
    """Pointers and transaction decisions on one workspace's (scoped) store."""

    store: ObjectStore
    clock: Clock = SYSTEM_CLOCK
    txn_timeout_ms: int = DEFAULT_TXN_TIMEOUT_MS
    #: how long a writer sleeps between looks at an undecided transaction
    poll_s: float = 0.01
    _nonce: str = field(default_factory=lambda: uuid.uuid4().hex, init=False)

    # --- pointers -----------------------------------------------------------------------

    def read(self, table_uuid: str, *, wait: bool = False) -> PointerState:
        """The pointer and its current location. ObjectNotFoundError if there is none.

        A pending marker of an undecided transaction resolves to ``previous``; with
        ``wait`` (writers) the call instead waits until the transaction decides or times
        out (and is then aborted here), so a writer never builds on an undecided state.
        """
        key = iceberg_pointer_key(table_uuid)
        while True:
            obj = self.store.get(key)
            pointer = Pointer.from_bytes(obj.data, f"pointer {key!r}")
            pending = pointer.pending
            if pending is None:
                return PointerState(pointer, obj.version, obj.data, pointer.metadata_location)
            decision = self.decision(pending.txn)
            if decision is None and self.expired(pending):
                decision = self.decide(pending.txn, "abort")
            if decision is None and wait:
                self.clock.sleep(self.poll_s)
                continue
            location = pointer.metadata_location if decision == "commit" else pending.previous
            return PointerState(pointer, obj.version, obj.data, location, decision)

    def expired(self, pending: Pending) -> bool:
        return self.clock.now_ms() - pending.started_ms > self.txn_timeout_ms

    def create(self, table_uuid: str, pointer: Pointer) -> str:
        """Create the pointer (ObjectExistsError if one exists); returns its version token."""
        return self.store.put(iceberg_pointer_key(table_uuid), pointer.to_bytes(), "create")

    def swap(self, table_uuid: str, pointer: Pointer | bytes, token: str) -> str:
        """Replace the pointer if its token is still ``token``; returns the new token.

        VersionMismatchError if it moved (or :class:`PointerMoved` when an unknown outcome was
        read back and the pointer is not ours); OutcomeUnknownError only if reading back
        failed as well. ObjectNotFoundError if the pointer was deleted.
        """
        key = iceberg_pointer_key(table_uuid)
        data = pointer if isinstance(pointer, bytes) else pointer.to_bytes()
        try:
            return self.store.put(key, data, IfVersion(token))
        except OutcomeUnknownError as unknown:
            try:
                current = self.store.get(key)
            except ArcoError:
                raise unknown from None
            if current.data == data:
                return current.version
            raise PointerMoved(
                f"pointer {key!r}: the swap did not apply (read back)",
                Pointer.from_bytes(current.data, f"pointer {key!r}"),
            ) from unknown

    def delete(self, table_uuid: str) -> None:
        self.store.delete(iceberg_pointer_key(table_uuid))

    # --- transaction decisions ----------------------------------------------------------

    def decision(self, txn: str) -> Decision | None:
        """The decision of transaction ``txn``, or None while it has none."""
        key = iceberg_transaction_key(txn)
        try:
            data = self.store.get(key).data
        except ObjectNotFoundError:
            return None
        try:
            value = canonical_json.loads(data)["decision"]
        except (ArcoError, KeyError, TypeError):
            value = None
        if value not in ("commit", "abort"):
            raise CorruptStateError(f"transaction decision {key!r}: not 'commit' or 'abort'")
        return "commit" if value == "commit" else "abort"

    def decide(self, txn: str, decision: Decision) -> Decision:
        """Create ``txn``'s decision object (create-only); returns the decision that stands
        (another process's, if it created one first)."""
        key = iceberg_transaction_key(txn)
        body = canonical_json.canonical_dumps(
            {
                "txn": txn,
                "decision": decision,
                "decided_ms": self.clock.now_ms(),
                "by": f"{self._nonce}-{uuid.uuid4().hex}",
            }
        )
        try:
            self.store.put(key, body, "create")
            return decision
        except (ObjectExistsError, OutcomeUnknownError) as exc:
            try:
                standing = self.decision(txn)
            except ArcoError:
                raise exc from None
            if standing is None:
                raise exc
            return standing
