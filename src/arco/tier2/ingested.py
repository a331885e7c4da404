"""The ``ingested`` table every tier-2 domain keeps: what the compactor folded, and how.

One row per ledger object the compactor has read. It is the compactor's bounded, persisted
memory: which ledger objects are folded (so anti-entropy and GC know what is compacted), and
which idempotency keys were already applied (so a copy of an event is recognised as a
duplicate in any later compaction). Rows are pruned once their ledger object has been
garbage collected and the dedupe window has passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

import pyarrow as pa

from arco.metadata.layered import LayeredMap
from arco.metadata.parquet import TIMESTAMP, TableSpec, field, schema_of

__all__ = ["FOLDED", "INGESTED", "OUTCOMES", "IngestedRow", "IngestedState", "Outcome"]

#: what became of a ledger object: ``applied``; ``superseded`` (older than the row it would
#: replace); ``stale`` (not a legal transition from the state it met, e.g. a callback of
#: an attempt that is no longer current: it changes nothing and ``detail`` says why);
#: ``duplicate`` (a copy of an event already folded); ``quarantined`` (cannot be applied)
Outcome = Literal["applied", "superseded", "stale", "duplicate", "quarantined"]
OUTCOMES: tuple[Outcome, ...] = ("applied", "superseded", "stale", "duplicate", "quarantined")
#: outcomes of the copy of an event that was folded (later copies are its duplicates)
FOLDED: frozenset[str] = frozenset({"applied", "superseded", "stale"})


@dataclass(frozen=True, slots=True)
class IngestedRow:
    """One ledger object the compactor folded: ``name`` is ``{event_id}-{entropy}``."""

    name: str
    #: None when the object could not be parsed as an event (it is quarantined)
    event_id: str | None
    event_type: str | None
    #: ``k:{idempotency_key}`` or ``e:{event_id}``: copies of one event share it
    dedupe_key: str | None
    outcome: str
    #: why it was quarantined or stale, or the object it duplicates
    detail: str | None
    occurred_at: int | None
    compacted_at: int
    version: int


INGESTED = TableSpec(
    "ingested",
    IngestedRow,
    "name",
    schema_of(
        [
            field("name", pa.string()),
            field("event_id", pa.string(), nullable=True),
            field("event_type", pa.string(), nullable=True),
            field("dedupe_key", pa.string(), nullable=True),
            field("outcome", pa.string()),
            field("detail", pa.string(), nullable=True),
            field("occurred_at", TIMESTAMP, nullable=True),
            field("compacted_at", TIMESTAMP),
            field("version", pa.int64()),
        ]
    ),
)


class IngestedState:
    """What every tier-2 state holds besides its own tables: ``version``, the ``ingested``
    table and its index of the folded copy of each dedupe key. A domain's state subclasses
    it, upserts and removes its ``ingested`` rows through :meth:`_upsert_ingested` /
    :meth:`_remove_ingested`, and derives its copies with :meth:`_derive`."""

    def __init__(self) -> None:
        self.version = 0
        self.checkpoint_version = 0
        self.ingested: LayeredMap[str, IngestedRow] = LayeredMap()
        # dedupe key -> the ledger object whose copy of the event was folded
        self._by_dedupe_key: LayeredMap[str, str] = LayeredMap()

    def _derive(self) -> Self:
        """A new state of this class sharing (copy-on-write) the common fields; the
        subclass derives its own tables on it."""
        new = type(self).__new__(type(self))
        new.version = self.version
        new.checkpoint_version = self.checkpoint_version
        new.ingested = self.ingested.derive()
        new._by_dedupe_key = self._by_dedupe_key.derive()
        return new

    @property
    def idempotency(self) -> Mapping[str, Any]:
        """Tier-2 domains keep no request idempotency table (events dedupe via ``ingested``)."""
        return {}

    def first_copy(self, dedupe_key: str) -> str | None:
        """The ledger object whose copy of ``dedupe_key`` was folded, while it is remembered."""
        found: str | None = self._by_dedupe_key.get(dedupe_key)
        return found

    def rows(self, table: str) -> Iterable[Any]:
        source: LayeredMap[str, Any] = getattr(self, table)
        return list(source.values())

    def _upsert_ingested(self, row: IngestedRow) -> None:
        previous = self.ingested.get(row.name)
        if previous is not None:
            self._unindex(previous)
        self.ingested.set(row.name, row)
        if row.dedupe_key is not None and row.outcome in FOLDED:
            self._by_dedupe_key.set(row.dedupe_key, row.name)

    def _remove_ingested(self, name: str) -> None:
        previous = self.ingested.get(name)
        if previous is not None:
            self.ingested.delete(name)
            self._unindex(previous)

    def _unindex(self, row: IngestedRow) -> None:
        if row.dedupe_key is not None and self._by_dedupe_key.get(row.dedupe_key) == row.name:
            self._by_dedupe_key.delete(row.dedupe_key)
