"""Shared by the executions/compactor tests: event factories, the reference model, and the
commit-chain audit that proves every event was folded exactly once."""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from arco.core.clock import rfc3339_ms
from arco.executions import ExecutionsState
from arco.executions.payloads import default_materialization_id
from arco.metadata.commit_log import chain
from arco.metadata.layout import commit_dir, manifest_key
from arco.metadata.manifest import read_manifest, sha256_hex
from arco.metadata.parquet import decode
from arco.storage.port import ObjectStore
from arco.tier2.compactor import CompactorOptions, dedupe_key, event_order
from arco.tier2.envelope import EventEnvelope, ulid_at
from arco.tier2.ingested import FOLDED, INGESTED, IngestedRow

DOMAIN = "executions"
#: 2026-01-01T00:00:00Z
BASE_MS = 1_767_225_600_000


def opts(**kw: Any) -> CompactorOptions:
    """Deterministic options for tests: inline file compaction, few reader threads."""
    kw.setdefault("background_checkpoints", False)
    kw.setdefault("read_workers", 4)
    return CompactorOptions(**kw)


def mid_of(n: int) -> str:
    """A valid lowercase UUID for materialization number ``n``."""
    return f"00000000-0000-4000-8000-{n:012d}"


def mat(
    materialization: int | str | None,
    *,
    at: int,
    run: str = "r",
    status: str = "succeeded",
    rows: int | None = None,
    idem: str | None = None,
    id_ms: int | None = None,
    asset: str = "sales/orders",
    source: str = "test",
    event_type: str = "materialization",
    event_version: int = 1,
    payload: dict[str, Any] | None = None,
) -> EventEnvelope:
    """A materialization event occurring at ``at`` ms; its id's time is ``id_ms`` (default
    ``at``), so an id far in the past makes a ledger name that sorts below the watermark."""
    if payload is None:
        payload = {"asset_key": asset, "run_id": run, "status": status}
        if isinstance(materialization, int):
            payload["materialization_id"] = mid_of(materialization)
        elif materialization is not None:
            payload["materialization_id"] = materialization
        if rows is not None:
            payload["rows"] = rows
    return EventEnvelope(
        event_id=ulid_at(at if id_ms is None else id_ms),
        event_type=event_type,
        event_version=event_version,
        idempotency_key=idem,
        occurred_at=rfc3339_ms(at),
        source=source,
        payload=payload,
    )


def retry_of(event: EventEnvelope, id_ms: int | None = None) -> EventEnvelope:
    """A retry of ``event``: same idempotency key, payload and time, a new event id."""
    assert event.idempotency_key is not None, "only keyed events can be retried as copies"
    data = event.model_dump()
    data["event_id"] = ulid_at(id_ms if id_ms is not None else BASE_MS)
    return EventEnvelope(**data)


def row_mid(event: EventEnvelope) -> str:
    mid = event.payload.get("materialization_id")
    return mid if isinstance(mid, str) else default_materialization_id(dedupe_key(event))


def view_of_event(event: EventEnvelope) -> tuple[Any, ...]:
    p = event.payload
    return (p["asset_key"], p["run_id"], p["status"], p.get("rows"), event_order(event))


def model(events: Iterable[EventEnvelope]) -> dict[str, tuple[Any, ...]]:
    """The reference: dedupe by key, then per materialization the event with the max order."""
    best: dict[str, EventEnvelope] = {}
    for event in events:
        mid = row_mid(event)
        cur = best.get(mid)
        if cur is None or event_order(event) > event_order(cur):
            best[mid] = event
    return {mid: view_of_event(e) for mid, e in best.items()}


def view(state: ExecutionsState) -> dict[str, tuple[Any, ...]]:
    return {
        mid: (r.asset_key, r.run_id, r.status, r.rows, r.event_order)
        for mid, r in state.materializations.items()
    }


def fresh_state(store: ObjectStore) -> ExecutionsState:
    """The current state as a cold reader sees it (no cache)."""
    from arco.executions import EXECUTIONS_SPEC
    from arco.metadata.snapshot import SnapshotLoader

    return SnapshotLoader(store, EXECUTIONS_SPEC).load(read_manifest(store, DOMAIN))


@dataclass
class Audit:
    """What the commit chain says was folded, from each compact commit's own delta file."""

    #: per dedupe key: how many ledger objects were folded as applied/superseded
    folded: collections.Counter[str]
    #: per ledger object name: how many commits recorded it (pruning tombstones excluded)
    recorded: collections.Counter[str]
    #: per outcome, over all commits
    outcomes: collections.Counter[str]
    rows: list[IngestedRow]
    commits: int


def audit_chain(store: ObjectStore) -> Audit:
    """Walk the commit chain, check it is intact, and count what each compaction folded."""
    records = chain(store, DOMAIN)
    head = read_manifest(store, DOMAIN)
    folded: collections.Counter[str] = collections.Counter()
    recorded: collections.Counter[str] = collections.Counter()
    outcomes: collections.Counter[str] = collections.Counter()
    rows: list[IngestedRow] = []
    if head is None:
        assert records == []
        return Audit(folded, recorded, outcomes, rows, 0)
    assert records, "a manifest without a commit record"
    assert records[-1].manifest == head.manifest, "the chain must end at the current manifest"
    assert store.get(manifest_key(DOMAIN)).data == head.raw
    prev_hash: str | None = None
    for i, rec in enumerate(records):
        m = rec.manifest
        assert m.snapshot_version == i + 1, "versions must be consecutive from 1"
        assert rec.snapshot_version == m.snapshot_version
        assert m.parent_hash == prev_hash, f"broken hash chain at version {m.snapshot_version}"
        prev_hash = sha256_hex(m.to_bytes())
        for entry in m.files:
            got = store.get(entry.path).data
            assert sha256_hex(got) == entry.sha256, entry.path
        if rec.kind != "compact":
            continue
        own = [
            f
            for f in m.files
            if f.kind == "delta" and f.version == m.snapshot_version == f.from_version
        ]
        assert own, f"compact commit v{m.snapshot_version} wrote no delta"
        for f in own:
            assert f.path.startswith(commit_dir(DOMAIN, m.snapshot_version, m.commit_id, tier=2))
        for f in own:
            if f.table != "ingested":
                continue
            for row, deleted in decode(INGESTED, store.get(f.path).data, f.path):
                if deleted:
                    continue
                rows.append(row)
                recorded[row.name] += 1
                outcomes[row.outcome] += 1
                if row.outcome in FOLDED:
                    assert row.dedupe_key is not None
                    folded[row.dedupe_key] += 1
    return Audit(folded, recorded, outcomes, rows, len(records))


def assert_folded_once(store: ObjectStore, events: Iterable[EventEnvelope]) -> Audit:
    """Every distinct event applied (or superseded) exactly once; no object recorded twice."""
    audit = audit_chain(store)
    keys = {dedupe_key(e) for e in events}
    twice = {k: n for k, n in audit.folded.items() if n != 1}
    assert not twice, f"events folded more than once: {twice}"
    assert set(audit.folded) == keys, (
        f"lost: {sorted(keys - set(audit.folded))}, unexpected: {sorted(set(audit.folded) - keys)}"
    )
    again = {n: c for n, c in audit.recorded.items() if c != 1}
    assert not again, f"ledger objects recorded by more than one commit: {again}"
    return audit
