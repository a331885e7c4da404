"""In-memory state of the ``automation`` domain, copy-on-write like the other states.

Besides its tables it keeps indexes derived from the rows as they are upserted (so loading
a snapshot rebuilds them, and replaying a row never counts it twice):

* the history of each schedule, sensor and asset condition: its tick (or evaluation) ids
  by instant, oldest first (for reads newest first and for the retention rule);
* the ticks whose requests are not triggered yet (:meth:`AutomationState.pending_ticks`);
* the backfills that are not terminal (:meth:`AutomationState.active_backfills`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from arco.core.canonical_json import canonical_dumps
from arco.metadata.domain import apply_delta
from arco.metadata.layered import LayeredMap
from arco.orchestration.automation.domain.schema import (
    BACKFILL_TERMINAL,
    TICK_REQUESTED,
    BackfillRow,
    ChunkRow,
    EvaluationRow,
    ScheduleRow,
    SensorRow,
    TickRow,
    chunk_id,
)
from arco.tier2.ingested import IngestedState

__all__ = ["AutomationState", "evaluation_owner", "tick_owner"]

_Entry = tuple[int, str]


def tick_owner(kind: str, owner_id: str) -> str:
    """The history a tick belongs to: its schedule's, or its sensor's (evaluations and
    push messages of a sensor share one)."""
    return f"schedule:{owner_id}" if kind == "schedule" else f"sensor:{owner_id}"


def evaluation_owner(asset_key: str, partition_key: str, condition: str) -> str:
    """The history an evaluation belongs to: its asset partition and condition."""
    return canonical_dumps([asset_key, partition_key, condition]).decode("utf-8")


def _evaluation_owner(row: EvaluationRow) -> str:
    return evaluation_owner(row.asset_key, row.partition_key, row.condition)


class AutomationState(IngestedState):
    """Schedules, sensors, their ticks, backfills and their chunks, evaluations, and the
    ledger objects folded so far, at ``version``."""

    def __init__(self) -> None:
        super().__init__()
        self.schedules: LayeredMap[str, ScheduleRow] = LayeredMap()
        self.sensors: LayeredMap[str, SensorRow] = LayeredMap()
        self.ticks: LayeredMap[str, TickRow] = LayeredMap()
        self.backfills: LayeredMap[str, BackfillRow] = LayeredMap()
        self.backfill_chunks: LayeredMap[str, ChunkRow] = LayeredMap()
        self.evaluations: LayeredMap[str, EvaluationRow] = LayeredMap()
        # history owner -> [(instant, id)] sorted; tick history and evaluation history
        self._tick_history: LayeredMap[str, list[_Entry]] = LayeredMap()
        self._eval_history: LayeredMap[str, list[_Entry]] = LayeredMap()
        # tick ids of requested ticks whose runs are not triggered
        self._pending: LayeredMap[str, None] = LayeredMap()
        # backfill ids of the backfills that are not terminal
        self._active: LayeredMap[str, None] = LayeredMap()
        # the history lists this copy created (it may change them in place), by owner
        self._owned: dict[tuple[int, str], list[_Entry]] = {}

    def copy(self) -> AutomationState:
        new = self._derive()
        new.schedules = self.schedules.derive()
        new.sensors = self.sensors.derive()
        new.ticks = self.ticks.derive()
        new.backfills = self.backfills.derive()
        new.backfill_chunks = self.backfill_chunks.derive()
        new.evaluations = self.evaluations.derive()
        new._tick_history = self._tick_history.derive()
        new._eval_history = self._eval_history.derive()
        new._pending = self._pending.derive()
        new._active = self._active.derive()
        new._owned = {}
        return new

    # --- lookups ----------------------------------------------------------------------------

    def tick_history(self, kind: str, owner_id: str) -> Sequence[_Entry]:
        """``(instant, tick_id)`` of a schedule's (``kind`` ``schedule``) or a sensor's
        ticks, oldest first."""
        found: Sequence[_Entry] = self._tick_history.get(tick_owner(kind, owner_id), ())
        return found

    def ticks_of(self, kind: str, owner_id: str, limit: int | None = None) -> list[TickRow]:
        """A schedule's or sensor's ticks, newest first (at most ``limit``)."""
        history = self.tick_history(kind, owner_id)
        picked = history if limit is None else history[max(0, len(history) - limit) :]
        return [self.ticks[tick_id] for _, tick_id in reversed(picked)]

    def evaluation_history(
        self, asset_key: str, partition_key: str, condition: str
    ) -> Sequence[_Entry]:
        found: Sequence[_Entry] = self._eval_history.get(
            evaluation_owner(asset_key, partition_key, condition), ()
        )
        return found

    def chunks_of(self, backfill_id: str) -> Iterator[ChunkRow]:
        """The chunks of a backfill, by index."""
        backfill: BackfillRow | None = self.backfills.get(backfill_id)
        if backfill is None:
            return
        for index in range(backfill.chunk_count):
            yield self.backfill_chunks[chunk_id(backfill_id, index)]

    def chunk(self, backfill_id: str, index: int) -> ChunkRow | None:
        found: ChunkRow | None = self.backfill_chunks.get(chunk_id(backfill_id, index))
        return found

    def pending_ticks(self) -> list[TickRow]:
        """Requested ticks (applied sensor evaluations, push messages) whose runs are not
        triggered yet, oldest first."""
        rows = [self.ticks[t] for t in self._pending]
        return sorted(rows, key=lambda r: (r.instant, r.tick_id))

    def active_backfills(self) -> list[BackfillRow]:
        """The backfills that are not terminal, by id."""
        return [self.backfills[b] for b in sorted(self._active)]

    # --- mutation (only on a private copy) -------------------------------------------------

    def upsert(self, table: str, row: Any) -> None:
        if table == "ticks":
            old: TickRow | None = self.ticks.get(row.tick_id)
            self.ticks.set(row.tick_id, row)
            if old is None:
                self._insert(0, self._tick_history, tick_owner(row.kind, row.owner_id), row)
            if row.kind != "schedule" and row.status == TICK_REQUESTED and not row.triggered:
                self._pending.set(row.tick_id, None)
            elif row.tick_id in self._pending:
                self._pending.delete(row.tick_id)
        elif table == "evaluations":
            new = row.id not in self.evaluations
            self.evaluations.set(row.id, row)
            if new:
                self._insert(1, self._eval_history, _evaluation_owner(row), row)
        elif table == "backfills":
            self.backfills.set(row.backfill_id, row)
            if row.state in BACKFILL_TERMINAL:
                if row.backfill_id in self._active:
                    self._active.delete(row.backfill_id)
            else:
                self._active.set(row.backfill_id, None)
        elif table == "backfill_chunks":
            self.backfill_chunks.set(row.id, row)
        elif table == "schedules":
            self.schedules.set(row.schedule_id, row)
        elif table == "sensors":
            self.sensors.set(row.sensor_id, row)
        else:
            self._upsert_ingested(row)

    def remove(self, table: str, key: str) -> None:
        if table == "ticks":
            old: TickRow | None = self.ticks.get(key)
            if old is None:
                return
            self.ticks.delete(key)
            self._discard(0, self._tick_history, tick_owner(old.kind, old.owner_id), old)
            if key in self._pending:
                self._pending.delete(key)
        elif table == "evaluations":
            found: EvaluationRow | None = self.evaluations.get(key)
            if found is None:
                return
            self.evaluations.delete(key)
            self._discard(1, self._eval_history, _evaluation_owner(found), found)
        elif table == "backfills":
            self.backfills.delete(key)
            if key in self._active:
                self._active.delete(key)
        elif table in ("backfill_chunks", "schedules", "sensors"):
            target: LayeredMap[str, Any] = getattr(self, table)
            if key in target:
                target.delete(key)
        else:
            self._remove_ingested(key)

    def _list(self, index: int, target: LayeredMap[str, list[_Entry]], owner: str) -> list[_Entry]:
        items = self._owned.get((index, owner))
        if items is None:
            items = [*target.get(owner, ())]
            target.set(owner, items)
            self._owned[(index, owner)] = items
        return items

    def _insert(
        self, index: int, target: LayeredMap[str, list[_Entry]], owner: str, row: Any
    ) -> None:
        entry = _entry(row)
        items = self._list(index, target, owner)
        if not items or entry > items[-1]:
            items.append(entry)
        else:
            bisect.insort(items, entry)

    def _discard(
        self, index: int, target: LayeredMap[str, list[_Entry]], owner: str, row: Any
    ) -> None:
        entry = _entry(row)
        items = self._list(index, target, owner)
        at = bisect.bisect_left(items, entry)
        if at < len(items) and items[at] == entry:
            del items[at]
        if not items:
            target.delete(owner)
            del self._owned[(index, owner)]

    def apply(
        self, delta: Mapping[str, Sequence[tuple[Any, bool]]], primary_keys: Mapping[str, str]
    ) -> None:
        """Apply delta rows in place (call on a copy); the newest version of a row wins."""
        apply_delta(self, delta, primary_keys)


def _entry(row: Any) -> _Entry:
    if isinstance(row, TickRow):
        return (row.instant, row.tick_id)
    return (row.evaluated_at, row.id)
