"""In-memory state of the ``runs`` domain, copy-on-write like the other states.

Besides the four tables it keeps indexes the folds and the controller need at the cost of
a lookup, all derived from the rows as they are upserted (so loading a snapshot rebuilds
them, and replaying a row never counts it twice):

* the task keys of each run, in task key order (the order rows load in; a trigger's fold
  writes them in that order too, and a key that sorts before the last one — a later part
  of a trigger in several parts — is inserted in its place);
* the downstream task keys of each task (the mirror of its ``upstream`` column);
* the attempt ids of each task, oldest first;
* how many tasks of each run are in each state;
* the runs that are not terminal (:meth:`RunsState.active_runs`).

The list-valued indexes are copied on write: a copy shares its parent's lists and copies
one (once) before it first appends to it, so adding a run's tasks one row at a time costs
O(tasks), not O(tasks²), and no published state ever sees a list change.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from arco.core import canonical_json
from arco.metadata.domain import apply_delta
from arco.metadata.layered import LayeredMap
from arco.orchestration.runs.schema import (
    DISPATCHED,
    READY,
    RETRY_WAIT,
    RUN_TERMINAL,
    RUNNING,
    TASK_STATES,
    AttemptRow,
    RunRow,
    TaskRow,
    task_id,
)
from arco.tier2.ingested import IngestedState

__all__ = ["RunsState"]

_STATE_INDEX = {s: i for i, s in enumerate(TASK_STATES)}
#: task states a controller acts on (dispatch, timers)
LIVE = frozenset({READY, RETRY_WAIT, DISPATCHED, RUNNING})
_NO_COUNTS = (0,) * len(TASK_STATES)


class RunsState(IngestedState):
    """Runs, their tasks and attempts, and the ledger objects folded so far, at ``version``."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: LayeredMap[str, RunRow] = LayeredMap()
        self.tasks: LayeredMap[str, TaskRow] = LayeredMap()
        self.attempts: LayeredMap[str, AttemptRow] = LayeredMap()
        # run id -> its task keys; task id -> downstream task keys; task id -> attempt ids
        self._run_tasks: LayeredMap[str, list[str]] = LayeredMap()
        self._downstream: LayeredMap[str, list[str]] = LayeredMap()
        self._task_attempts: LayeredMap[str, list[str]] = LayeredMap()
        # run id -> number of its tasks in each of TASK_STATES
        self._counts: LayeredMap[str, tuple[int, ...]] = LayeredMap()
        # run ids of the runs that are not terminal
        self._active: LayeredMap[str, str] = LayeredMap()
        # run id -> the keys of its tasks in a LIVE state (what a controller acts on)
        self._live: LayeredMap[str, LayeredMap[str, None]] = LayeredMap()
        # the index entries this copy created (it may change them), by (index, key)
        self._owned: dict[tuple[int, str], Any] = {}

    def copy(self) -> RunsState:
        new = self._derive()
        new.runs = self.runs.derive()
        new.tasks = self.tasks.derive()
        new.attempts = self.attempts.derive()
        new._run_tasks = self._run_tasks.derive()
        new._downstream = self._downstream.derive()
        new._task_attempts = self._task_attempts.derive()
        new._counts = self._counts.derive()
        new._active = self._active.derive()
        new._live = self._live.derive()
        new._owned = {}
        return new

    # --- lookups ----------------------------------------------------------------------------

    def task(self, run_id: str, task_key: str) -> TaskRow | None:
        found: TaskRow | None = self.tasks.get(task_id(run_id, task_key))
        return found

    def task_keys(self, run_id: str) -> Sequence[str]:
        """The task keys of a run, sorted (empty if the run is unknown)."""
        found: Sequence[str] = self._run_tasks.get(run_id, ())
        return found

    def tasks_of(self, run_id: str) -> Iterator[TaskRow]:
        """The tasks of a run, by task key."""
        for key in self.task_keys(run_id):
            yield self.tasks[task_id(run_id, key)]

    def downstream(self, run_id: str, task_key: str) -> Sequence[str]:
        """The keys of the tasks of the run that name ``task_key`` upstream."""
        found: Sequence[str] = self._downstream.get(task_id(run_id, task_key), ())
        return found

    def upstream(self, task: TaskRow) -> list[str]:
        keys: list[str] = canonical_json.loads(task.upstream)
        return keys

    def attempt_ids(self, run_id: str, task_key: str) -> list[str]:
        """The attempts of a task, oldest (lowest attempt number) first."""
        ids: Sequence[str] = self._task_attempts.get(task_id(run_id, task_key), ())
        return sorted(ids, key=lambda a: self.attempts[a].attempt)

    def attempts_of(self, run_id: str, task_key: str | None = None) -> list[AttemptRow]:
        """The attempts of a run (or of one of its tasks), by task key then attempt."""
        keys = self.task_keys(run_id) if task_key is None else (task_key,)
        return [self.attempts[a] for key in keys for a in self.attempt_ids(run_id, key)]

    def state_counts(self, run_id: str) -> dict[str, int]:
        """How many tasks of the run are in each task state (states with none left out)."""
        counts = self._counts.get(run_id, _NO_COUNTS)
        return {s: n for s, n in zip(TASK_STATES, counts, strict=True) if n}

    def count(self, run_id: str, states: Iterable[str]) -> int:
        """How many tasks of the run are in one of ``states``."""
        counts = self._counts.get(run_id, _NO_COUNTS)
        return sum(counts[_STATE_INDEX[s]] for s in states)

    def tasks_present(self, run_id: str) -> int:
        """How many tasks of the run exist: its ``task_count`` once every part of its trigger
        was folded (a run is dispatchable only then)."""
        return sum(self._counts.get(run_id, _NO_COUNTS))

    def planned(self, run_id: str) -> bool:
        """Whether every task of the run exists (every part of its trigger was folded)."""
        run: RunRow | None = self.runs.get(run_id)
        return run is not None and self.tasks_present(run_id) >= run.task_count

    def live_tasks(self, run_id: str) -> Iterator[TaskRow]:
        """The run's tasks in a LIVE state (READY, RETRY_WAIT, DISPATCHED, RUNNING): what a
        controller dispatches or watches, without visiting the blocked and finished ones."""
        keys: LayeredMap[str, None] | None = self._live.get(run_id)
        for key in keys or ():
            yield self.tasks[task_id(run_id, key)]

    def active_runs(self) -> list[RunRow]:
        """The runs that are not terminal (TRIGGERED, RUNNING, CANCELLING)."""
        return [self.runs[r] for r in self._active]

    # --- mutation (only on a private copy) -------------------------------------------------

    def upsert(self, table: str, row: Any) -> None:
        if table == "runs":
            self.runs.set(row.run_id, row)
            if row.state in RUN_TERMINAL:
                self._active.delete(row.run_id)
            else:
                self._active.set(row.run_id, row.run_id)
        elif table == "tasks":
            old: TaskRow | None = self.tasks.get(row.id)
            self.tasks.set(row.id, row)
            if old is None:
                self._append(0, self._run_tasks, row.run_id, row.task_key, ordered=True)
                for up in self.upstream(row):
                    self._append(1, self._downstream, task_id(row.run_id, up), row.task_key)
                self._recount(row.run_id, None, row.state)
                self._track_live(row.run_id, row.task_key, row.state in LIVE)
            elif old.state != row.state:
                self._recount(row.run_id, old.state, row.state)
                self._track_live(row.run_id, row.task_key, row.state in LIVE)
        elif table == "attempts":
            new = row.attempt_id not in self.attempts
            self.attempts.set(row.attempt_id, row)
            if new:
                key = task_id(row.run_id, row.task_key)
                self._append(2, self._task_attempts, key, row.attempt_id)
        else:
            self._upsert_ingested(row)

    def remove(self, table: str, key: str) -> None:
        if table == "runs":
            self.runs.delete(key)
            self._active.delete(key)
        elif table == "tasks":
            old: TaskRow | None = self.tasks.get(key)
            if old is None:
                return
            self.tasks.delete(key)
            self._discard(0, self._run_tasks, old.run_id, old.task_key)
            for up in self.upstream(old):
                self._discard(1, self._downstream, task_id(old.run_id, up), old.task_key)
            self._recount(old.run_id, old.state, None)
            self._track_live(old.run_id, old.task_key, False)
        elif table == "attempts":
            attempt: AttemptRow | None = self.attempts.get(key)
            if attempt is None:
                return
            self.attempts.delete(key)
            owner = task_id(attempt.run_id, attempt.task_key)
            self._discard(2, self._task_attempts, owner, key)
        else:
            self._remove_ingested(key)

    def _append(
        self,
        index: int,
        target: LayeredMap[str, list[str]],
        key: str,
        item: str,
        *,
        ordered: bool = False,
    ) -> None:
        items: list[str] | None = self._owned.get((index, key))
        if items is None:
            items = [*target.get(key, ())]
            target.set(key, items)
            self._owned[(index, key)] = items
        if ordered and items and item < items[-1]:
            bisect.insort(items, item)
        else:
            items.append(item)

    def _discard(self, index: int, target: LayeredMap[str, list[str]], key: str, item: str) -> None:
        items = [i for i in target.get(key, ()) if i != item]
        if items:
            target.set(key, items)
            self._owned[(index, key)] = items
        else:
            target.delete(key)
            self._owned.pop((index, key), None)

    def _track_live(self, run_id: str, task_key: str, live: bool) -> None:
        keys: LayeredMap[str, None] | None = self._owned.get((3, run_id))
        if keys is None:
            keys = self._live.get(run_id)
            if keys is None and not live:
                return
            keys = keys.derive() if keys is not None else LayeredMap()
            self._live.set(run_id, keys)
            self._owned[(3, run_id)] = keys
        if live:
            keys.set(task_key, None)
        elif task_key in keys:
            keys.delete(task_key)

    def _recount(self, run_id: str, old: str | None, new: str | None) -> None:
        counts = list(self._counts.get(run_id, _NO_COUNTS))
        if old is not None:
            counts[_STATE_INDEX[old]] -= 1
        if new is not None:
            counts[_STATE_INDEX[new]] += 1
        if any(counts):
            self._counts.set(run_id, tuple(counts))
        else:
            self._counts.delete(run_id)

    def apply(
        self, delta: Mapping[str, Sequence[tuple[Any, bool]]], primary_keys: Mapping[str, str]
    ) -> None:
        """Apply delta rows in place (call on a copy); the newest version of a row wins."""
        apply_delta(self, delta, primary_keys)
