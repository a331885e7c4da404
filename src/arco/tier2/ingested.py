"""The ``ingested`` table every tier-2 domain keeps: what the compactor folded, and how.

One row per ledger object the compactor has read. It is the compactor's bounded, persisted
memory: which ledger objects are folded (so anti-entropy and GC know what is compacted), and
which idempotency keys were already applied (so a copy of an event is recognised as a
duplicate in any later compaction). Rows are pruned once their ledger object has been
garbage collected and the dedupe window has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from arco.metadata.parquet import TIMESTAMP, TableSpec, field, schema_of

__all__ = ["FOLDED", "INGESTED", "OUTCOMES", "IngestedRow", "Outcome"]

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
