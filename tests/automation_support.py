"""Helpers for the tests of the ``automation`` domain (importable as
``automation_support``)."""

from __future__ import annotations

from pathlib import Path

from arco.metadata.layout import ledger_prefix
from arco.metadata.manifest import read_manifest
from arco.orchestration.automation import Automation
from arco.storage import open_store
from arco.tier2.compactor import CompactorOptions
from arco.tier2.envelope import EventEnvelope, rfc3339_to_ms, ulid_at
from arco.tier2.ingested import IngestedRow

#: event times of the tests: 2026-11-26T00:00:00Z and on
T0 = 1_795_651_200_000
DAY = 86_400_000
TABLES = ("schedules", "sensors", "ticks", "backfills", "backfill_chunks", "evaluations")


def options(checkpoint_every: int = 4) -> CompactorOptions:
    """Compactor options for tests: file compaction inline."""
    return CompactorOptions(background_checkpoints=False, checkpoint_every=checkpoint_every)


def open_automation(root: Path, checkpoint_every: int = 4) -> Automation:
    """The automation state of the default workspace of a local store, folded inline."""
    return Automation(
        open_store(f"file://{root}"), fold="inline", options=options(checkpoint_every)
    )


def copy_of(event: EventEnvelope) -> EventEnvelope:
    """Another copy of ``event`` (the same key and payload under a new event id)."""
    moment = rfc3339_to_ms(event.occurred_at)
    return EventEnvelope(**{**event.model_dump(), "event_id": ulid_at(moment)})


def rekey(event: EventEnvelope, key: str) -> EventEnvelope:
    """The event under another idempotency key (another decision, not a copy)."""
    return copy_of(EventEnvelope(**{**event.model_dump(), "idempotency_key": key}))


def ingested(auto: Automation, key: str) -> IngestedRow:
    """The ``ingested`` row of a ledger key ``append`` returned."""
    name = key[len(ledger_prefix("automation")) : -len(".json")]
    row: IngestedRow = auto.state().ingested[name]
    return row


def outcome(auto: Automation, event: EventEnvelope) -> str:
    """Append one event (folded inline) and return its outcome."""
    (key,) = auto.append([event])
    return ingested(auto, key).outcome


def snapshot(auto: Automation) -> dict[str, dict[str, object]]:
    """Every row of the domain's own tables, by table and key."""
    state = auto.state()
    return {t: dict(getattr(state, t).items()) for t in TABLES}


def assert_stale(auto: Automation, event: EventEnvelope, why: str) -> None:
    """The event folds to stale with a detail containing ``why``, and changes no row."""
    before = snapshot(auto)
    (key,) = auto.append([event])
    row = ingested(auto, key)
    assert row.outcome == "stale", row
    assert row.detail is not None and why in row.detail, row.detail
    head = read_manifest(auto.store, "automation")
    assert head is not None
    v = row.version
    written = {f.table for f in head.manifest.files if f.from_version == f.version == v}
    assert written == {"ingested"}, written
    assert snapshot(auto) == before
