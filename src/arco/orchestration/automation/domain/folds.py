"""The fold functions of the ``automation`` domain: its state machines (ADR 017).

Each fold first decides whether its event is a legal transition from the rows it meets and
only then writes; anything else folds to ``stale`` with the reason and writes nothing.

* **Status** (``schedule_status_changed`` / ``sensor_status_changed``): a last-writer-wins
  register — the change with the greatest event order holds, an older one is
  ``superseded`` — so pauses and resumes fold to the same status in any order.
* **Ticks** (``tick_recorded``): one row per ``sched:{id}:{instant_ms}``; a second record
  of an instant is stale.
* **Sensor cursor** (``sensor_evaluated``): applied only if its ``cursor_seq`` is the
  sensor's (then ``cursor_seq + 1``, the cursor set unless the evaluation failed, a tick
  row ``sensor:{id}:{seq}`` with its requests); else stale, so a racing evaluation's
  requests never become runs. A paused sensor's evaluations are stale.
  ``sensor_runs_triggered`` marks a requested tick's runs as triggered, once.
  ``push_received`` is a tick row ``push:{id}:{message_id}`` (requested, or skipped with
  the reason while the sensor is paused).
* **Backfills**: REQUESTED → RUNNING (first chunk launched) ⇄ PAUSED; REQUESTED / RUNNING /
  PAUSED → CANCELLING (pending chunks CANCELLED) → CANCELLED once no chunk is in flight;
  the fold that makes the last chunk terminal sets SUCCEEDED (every chunk succeeded) or
  FAILED; a retry moves FAILED → RUNNING and its FAILED chunks to PENDING with the next
  try. A chunk: PENDING → RUNNING (launched, not while the backfill is paused, cancelling
  or ended) → SUCCEEDED | FAILED | CANCELLED (its run's end, for the chunk's current try
  only). The backfill row keeps the count of its chunks in each state.

**Retention** of the history: when a tick (or evaluation) is folded, the rows of the same
schedule or sensor (or asset partition and condition) whose instant is more than
``retention_days`` before the newest are dropped — except requested ticks whose runs are
not triggered yet. A tick that old when it arrives is stale. The history is thus bounded by
a fold, never by GC of the ledger.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from arco.core import canonical_json
from arco.metadata.domain import Changes
from arco.orchestration.automation.domain.payloads import (
    DEFAULT_TICK_RETENTION_DAYS,
    BackfillCancelRequestedV1,
    BackfillPausedV1,
    BackfillRequestedV1,
    BackfillResumedV1,
    BackfillRetryRequestedV1,
    ChunkFinishedV1,
    ChunkLaunchedV1,
    EvaluationRecordedV1,
    PushReceivedV1,
    RunRequestV1,
    ScheduleStatusChangedV1,
    SensorEvaluatedV1,
    SensorRunsTriggeredV1,
    SensorStatusChangedV1,
    TickRecordedV1,
)
from arco.orchestration.automation.domain.schema import (
    BACKFILL_ACTIVE,
    BACKFILL_TERMINAL,
    CANCELLED,
    CANCELLING,
    FAILED,
    PAUSED,
    PENDING,
    REQUESTED,
    RUNNING,
    STATUS_PAUSED,
    STATUS_RUNNING,
    SUCCEEDED,
    TICK_FAILED,
    TICK_REQUESTED,
    TICK_SKIPPED,
    BackfillRow,
    ChunkRow,
    EvaluationRow,
    ScheduleRow,
    SensorRow,
    TickRow,
    chunk_id,
    evaluation_id,
    push_tick_id,
    schedule_tick_id,
    sensor_tick_id,
)
from arco.orchestration.automation.domain.state import AutomationState
from arco.tier2.compactor import Fold, FoldResult

__all__ = [
    "DAY_MS",
    "fold_backfill_cancel_requested",
    "fold_backfill_paused",
    "fold_backfill_requested",
    "fold_backfill_resumed",
    "fold_backfill_retry_requested",
    "fold_chunk_finished",
    "fold_chunk_launched",
    "fold_evaluation_recorded",
    "fold_push_received",
    "fold_schedule_status_changed",
    "fold_sensor_evaluated",
    "fold_sensor_runs_triggered",
    "fold_sensor_status_changed",
    "fold_tick_recorded",
]

DAY_MS = 86_400_000

Changes_ = Changes[AutomationState]


def _json(value: object) -> str:
    return canonical_json.canonical_dumps(value).decode("utf-8")


def _stale(reason: str) -> FoldResult:
    return ("stale", reason)


def _put(changes: Changes_, fold: Fold, table: str, key: str, row: Any, **fields: Any) -> Any:
    new = dataclasses.replace(row, **fields, event_order=fold.event_order, version=fold.ctx.version)
    changes.upsert(table, key, new)
    return new


def _requests_json(requests: list[RunRequestV1]) -> str:
    return _json([r.model_dump() for r in requests])


# --- schedules and sensors: status --------------------------------------------------------


def _new_schedule(fold: Fold, schedule_id: str) -> ScheduleRow:
    return ScheduleRow(
        schedule_id=schedule_id,
        status=STATUS_RUNNING,
        status_changed_at=None,
        status_order=None,
        last_tick_at=None,
        last_tick_id=None,
        last_tick_status=None,
        tick_count=0,
        updated_at=fold.occurred_ms,
        event_order=fold.event_order,
        version=fold.ctx.version,
    )


def _new_sensor(fold: Fold, sensor_id: str) -> SensorRow:
    return SensorRow(
        sensor_id=sensor_id,
        status=STATUS_RUNNING,
        status_changed_at=None,
        status_order=None,
        cursor=None,
        cursor_seq=0,
        last_evaluated_at=None,
        last_error=None,
        last_error_at=None,
        evaluation_count=0,
        error_count=0,
        push_count=0,
        updated_at=fold.occurred_ms,
        event_order=fold.event_order,
        version=fold.ctx.version,
    )


#: the request id of the status a controller records for a schedule it sees first
FIRST_SEEN = "deployed"


def fold_schedule_status_changed(
    fold: Fold, p: ScheduleStatusChangedV1, changes: Changes_
) -> FoldResult:
    """The schedule's status becomes ``p.status`` unless a later change holds
    (``superseded``). The controller's first-sight record (request id
    :data:`FIRST_SEEN`) only creates the row: it never overrides a recorded change (a pause
    through the API while no controller ran yet), and any change, folded before or after
    it, overrides it."""
    row: ScheduleRow | None = changes.state.schedules.get(p.schedule_id)
    if row is None:
        row = _new_schedule(fold, p.schedule_id)
    elif (p.request_id == FIRST_SEEN and row.status_changed_at is not None) or (
        row.status_order is not None and row.status_order >= fold.event_order
    ):
        return "superseded"
    _put(
        changes,
        fold,
        "schedules",
        p.schedule_id,
        row,
        status=p.status,
        status_changed_at=fold.occurred_ms,
        # a first sight orders before every real change, whenever either was minted
        status_order="" if p.request_id == FIRST_SEEN else fold.event_order,
        updated_at=fold.occurred_ms,
    )
    return "applied"


def fold_sensor_status_changed(
    fold: Fold, p: SensorStatusChangedV1, changes: Changes_
) -> FoldResult:
    """The sensor's status becomes ``p.status`` unless a later change holds
    (``superseded``)."""
    row: SensorRow | None = changes.state.sensors.get(p.sensor_id)
    if row is None:
        row = _new_sensor(fold, p.sensor_id)
    elif row.status_order is not None and row.status_order >= fold.event_order:
        return "superseded"
    _put(
        changes,
        fold,
        "sensors",
        p.sensor_id,
        row,
        status=p.status,
        status_changed_at=fold.occurred_ms,
        status_order=fold.event_order,
        updated_at=fold.occurred_ms,
    )
    return "applied"


# --- history and its retention -------------------------------------------------------------


def _too_old(history: Any, instant: int, retention_days: int) -> int | None:
    """The newest instant of ``history`` if ``instant`` is older than the retention
    before it, else None."""
    if history and instant < history[-1][0] - retention_days * DAY_MS:
        newest: int = history[-1][0]
        return newest
    return None


def _prune_ticks(
    changes: Changes_, fold: Fold, kind: str, owner_id: str, retention_days: int
) -> None:
    state = changes.state
    history = state.tick_history(kind, owner_id)
    if not history:
        return
    cutoff = history[-1][0] - retention_days * DAY_MS
    doomed = []
    for instant, tick_id in history:
        if instant >= cutoff:
            break
        row: TickRow = state.ticks[tick_id]
        if row.status == TICK_REQUESTED and not row.triggered:
            continue  # its runs are still to be triggered
        doomed.append(row)
    for row in doomed:
        changes.remove("ticks", row.tick_id, dataclasses.replace(row, version=fold.ctx.version))


def _prune_evaluations(changes: Changes_, fold: Fold, row: EvaluationRow, days: int) -> None:
    state = changes.state
    history = state.evaluation_history(row.asset_key, row.partition_key, row.condition)
    if not history:
        return
    cutoff = history[-1][0] - days * DAY_MS
    doomed = [state.evaluations[key] for instant, key in history if instant < cutoff]
    for old in doomed:
        changes.remove("evaluations", old.id, dataclasses.replace(old, version=fold.ctx.version))


def _tick(
    fold: Fold,
    *,
    tick_id: str,
    kind: str,
    owner_id: str,
    instant: int,
    status: str,
    reason: str | None = None,
    run_ids: list[str] | None = None,
    skipped_count: int = 0,
    range_start: int | None = None,
    cursor_seq: int | None = None,
    cursor: str | None = None,
    requests: list[RunRequestV1] | None = None,
    payload: dict[str, Any] | None = None,
) -> TickRow:
    return TickRow(
        tick_id=tick_id,
        kind=kind,
        owner_id=owner_id,
        instant=instant,
        status=status,
        reason=reason,
        run_ids=_json(list(run_ids or [])),
        skipped_count=skipped_count,
        range_start=range_start,
        cursor_seq=cursor_seq,
        cursor=cursor,
        requests=_requests_json(list(requests or [])),
        payload=None if payload is None else _json(payload),
        triggered=False,
        triggered_at=None,
        event_order=fold.event_order,
        version=fold.ctx.version,
    )


# --- tick_recorded ----------------------------------------------------------------------------


def fold_tick_recorded(fold: Fold, p: TickRecordedV1, changes: Changes_) -> FoldResult:
    """A tick row ``sched:{id}:{instant_ms}`` (stale if the instant is recorded already, or
    older than the retention before the schedule's newest tick); the schedule's last tick
    moves on; older ticks fall out of the retention."""
    state = changes.state
    tick_id = schedule_tick_id(p.schedule_id, p.instant_ms)
    if tick_id in state.ticks:
        return _stale(f"tick {tick_id!r} is already recorded")
    newest = _too_old(state.tick_history("schedule", p.schedule_id), p.instant_ms, p.retention_days)
    if newest is not None:
        return _stale(
            f"tick {tick_id!r} is more than {p.retention_days} days older than the "
            f"schedule's newest tick ({newest})"
        )
    row = _tick(
        fold,
        tick_id=tick_id,
        kind="schedule",
        owner_id=p.schedule_id,
        instant=p.instant_ms,
        status=p.status,
        reason=p.reason,
        run_ids=p.run_ids,
        skipped_count=p.skipped_count,
        range_start=p.range_start_ms,
    )
    if p.status == TICK_REQUESTED:  # its run was triggered before the tick was recorded
        row = dataclasses.replace(row, triggered=True, triggered_at=fold.occurred_ms)
    changes.upsert("ticks", tick_id, row)
    schedule: ScheduleRow | None = state.schedules.get(p.schedule_id)
    if schedule is None:
        schedule = _new_schedule(fold, p.schedule_id)
    fields: dict[str, Any] = {"tick_count": schedule.tick_count + 1, "updated_at": fold.occurred_ms}
    if schedule.last_tick_at is None or p.instant_ms > schedule.last_tick_at:
        fields.update(last_tick_at=p.instant_ms, last_tick_id=tick_id, last_tick_status=p.status)
    _put(changes, fold, "schedules", p.schedule_id, schedule, **fields)
    _prune_ticks(changes, fold, "schedule", p.schedule_id, p.retention_days)
    return "applied"


# --- sensors ------------------------------------------------------------------------------------


def fold_sensor_evaluated(fold: Fold, p: SensorEvaluatedV1, changes: Changes_) -> FoldResult:
    """Compare-and-swap of the sensor's cursor: applied only if ``p.cursor_seq`` is the
    sensor's ``cursor_seq`` and the sensor runs (see the module docstring)."""
    state = changes.state
    sensor: SensorRow | None = state.sensors.get(p.sensor_id)
    if sensor is None:
        sensor = _new_sensor(fold, p.sensor_id)
    if sensor.status == STATUS_PAUSED:
        return _stale(f"sensor {p.sensor_id!r} is paused")
    if p.cursor_seq != sensor.cursor_seq:
        return _stale(
            f"sensor {p.sensor_id!r} is at cursor_seq {sensor.cursor_seq}: the evaluation "
            f"read cursor_seq {p.cursor_seq}"
        )
    tick_id = sensor_tick_id(p.sensor_id, p.cursor_seq)
    if p.error is not None:
        status, reason = TICK_FAILED, p.error
    elif p.requests:
        status, reason = TICK_REQUESTED, None
    else:
        status, reason = TICK_SKIPPED, "no run requested"
    cursor = sensor.cursor if p.error is not None else p.cursor
    row = _tick(
        fold,
        tick_id=tick_id,
        kind="sensor",
        owner_id=p.sensor_id,
        instant=p.evaluated_at_ms,
        status=status,
        reason=reason,
        cursor_seq=p.cursor_seq,
        cursor=cursor,
        requests=list(p.requests),
    )
    changes.upsert("ticks", tick_id, row)
    fields: dict[str, Any] = {
        "cursor_seq": sensor.cursor_seq + 1,
        "cursor": cursor,
        "last_evaluated_at": p.evaluated_at_ms,
        "evaluation_count": sensor.evaluation_count + 1,
        "updated_at": fold.occurred_ms,
    }
    if p.error is not None:
        fields.update(
            last_error=p.error, last_error_at=p.evaluated_at_ms, error_count=sensor.error_count + 1
        )
    else:
        fields.update(last_error=None)
    _put(changes, fold, "sensors", p.sensor_id, sensor, **fields)
    _prune_ticks(changes, fold, "sensor", p.sensor_id, p.retention_days)
    return "applied"


def fold_sensor_runs_triggered(
    fold: Fold, p: SensorRunsTriggeredV1, changes: Changes_
) -> FoldResult:
    """A requested tick whose runs were not triggered: ``triggered``, with its run ids (one
    per request, in order)."""
    tick: TickRow | None = changes.state.ticks.get(p.tick_id)
    if tick is None:
        return _stale(f"tick {p.tick_id!r} does not exist")
    if tick.kind == "schedule":
        return _stale(f"tick {p.tick_id!r} is a schedule's (its runs are in tick_recorded)")
    if tick.status != TICK_REQUESTED:
        return _stale(f"tick {p.tick_id!r} is {tick.status}: it requested no run")
    if tick.triggered:
        return _stale(f"the runs of tick {p.tick_id!r} are already triggered")
    wanted = len(canonical_json.loads(tick.requests))
    if len(p.run_ids) != wanted:
        return _stale(
            f"tick {p.tick_id!r} has {wanted} requests: {len(p.run_ids)} run ids were given"
        )
    _put(
        changes,
        fold,
        "ticks",
        p.tick_id,
        tick,
        run_ids=_json(list(p.run_ids)),
        triggered=True,
        triggered_at=fold.occurred_ms,
    )
    return "applied"


def fold_push_received(fold: Fold, p: PushReceivedV1, changes: Changes_) -> FoldResult:
    """A tick row ``push:{id}:{message_id}``: requested (pending until its runs are
    triggered), or skipped while the sensor is paused; stale if the message is recorded
    already."""
    state = changes.state
    tick_id = push_tick_id(p.sensor_id, p.message_id)
    if tick_id in state.ticks:
        return _stale(f"message {p.message_id!r} of sensor {p.sensor_id!r} is already recorded")
    sensor: SensorRow | None = state.sensors.get(p.sensor_id)
    if sensor is None:
        sensor = _new_sensor(fold, p.sensor_id)
    paused = sensor.status == STATUS_PAUSED
    row = _tick(
        fold,
        tick_id=tick_id,
        kind="push",
        owner_id=p.sensor_id,
        instant=fold.occurred_ms,
        status=TICK_SKIPPED if paused else TICK_REQUESTED,
        reason=f"sensor {p.sensor_id!r} is paused" if paused else None,
        requests=p.run_requests(),
        payload=dict(p.payload),
    )
    changes.upsert("ticks", tick_id, row)
    _put(
        changes,
        fold,
        "sensors",
        p.sensor_id,
        sensor,
        push_count=sensor.push_count + 1,
        updated_at=fold.occurred_ms,
    )
    _prune_ticks(changes, fold, "sensor", p.sensor_id, DEFAULT_TICK_RETENTION_DAYS)
    return "applied"


# --- backfills ------------------------------------------------------------------------------

_COUNT_FIELD = {
    PENDING: "pending",
    RUNNING: "in_flight",
    SUCCEEDED: "succeeded",
    FAILED: "failed",
    CANCELLED: "cancelled",
}


def _recount(backfill: BackfillRow, moves: list[tuple[str, str]]) -> dict[str, int]:
    """The backfill's counts after chunks moved from one state to another."""
    counts = {name: getattr(backfill, name) for name in _COUNT_FIELD.values()}
    for old, new in moves:
        counts[_COUNT_FIELD[old]] -= 1
        counts[_COUNT_FIELD[new]] += 1
    return counts


def _end_state(backfill: BackfillRow, counts: dict[str, int]) -> tuple[str, str | None] | None:
    """The terminal state (and reason) of a backfill whose chunks are all terminal."""
    if counts["pending"] or counts["in_flight"]:
        return None
    if backfill.state == CANCELLING:
        return CANCELLED, backfill.reason
    if counts["succeeded"] == backfill.chunk_count:
        return SUCCEEDED, None
    return FAILED, (
        f"{counts['failed']} of {backfill.chunk_count} chunks failed"
        + (f", {counts['cancelled']} were cancelled" if counts["cancelled"] else "")
    )


def fold_backfill_requested(fold: Fold, p: BackfillRequestedV1, changes: Changes_) -> FoldResult:
    """A new backfill (REQUESTED) and its chunks (PENDING, try 1)."""
    state = changes.state
    if p.backfill_id in state.backfills:
        return _stale(f"backfill {p.backfill_id!r} already exists")
    chunks = p.chunks()
    now = fold.occurred_ms
    for index, partitions in enumerate(chunks):
        chunk = ChunkRow(
            id=chunk_id(p.backfill_id, index),
            backfill_id=p.backfill_id,
            chunk_index=index,
            partitions=_json(partitions),
            state=PENDING,
            try_number=1,
            run_id=None,
            run_ids="[]",
            launched_at=None,
            ended_at=None,
            error=None,
            updated_at=now,
            event_order=fold.event_order,
            version=fold.ctx.version,
        )
        changes.upsert("backfill_chunks", chunk.id, chunk)
    backfill = BackfillRow(
        backfill_id=p.backfill_id,
        assets=_json(list(p.assets)),
        partition_count=len(p.partitions),
        chunk_size=p.chunk_size,
        chunk_count=len(chunks),
        max_in_flight=p.max_in_flight,
        tags=_json(dict(p.tags)),
        state=REQUESTED,
        reason=p.reason,
        retries=0,
        pending=len(chunks),
        in_flight=0,
        succeeded=0,
        failed=0,
        cancelled=0,
        created_at=now,
        started_at=None,
        ended_at=None,
        updated_at=now,
        event_order=fold.event_order,
        version=fold.ctx.version,
    )
    changes.upsert("backfills", p.backfill_id, backfill)
    return "applied"


def _backfill(changes: Changes_, backfill_id: str) -> BackfillRow | str:
    row: BackfillRow | None = changes.state.backfills.get(backfill_id)
    if row is None:
        return f"backfill {backfill_id!r} does not exist"
    return row


def fold_backfill_paused(fold: Fold, p: BackfillPausedV1, changes: Changes_) -> FoldResult:
    """REQUESTED / RUNNING → PAUSED: no chunk is launched until it is resumed."""
    found = _backfill(changes, p.backfill_id)
    if isinstance(found, str):
        return _stale(found)
    if found.state not in BACKFILL_ACTIVE:
        return _stale(f"backfill {p.backfill_id!r} is {found.state}")
    _put(
        changes,
        fold,
        "backfills",
        p.backfill_id,
        found,
        state=PAUSED,
        reason=p.reason if p.reason is not None else "paused",
        updated_at=fold.occurred_ms,
    )
    return "applied"


def fold_backfill_resumed(fold: Fold, p: BackfillResumedV1, changes: Changes_) -> FoldResult:
    """PAUSED → RUNNING (REQUESTED if no chunk was ever launched)."""
    found = _backfill(changes, p.backfill_id)
    if isinstance(found, str):
        return _stale(found)
    if found.state != PAUSED:
        return _stale(f"backfill {p.backfill_id!r} is {found.state}, not PAUSED")
    _put(
        changes,
        fold,
        "backfills",
        p.backfill_id,
        found,
        state=REQUESTED if found.started_at is None else RUNNING,
        reason=None,
        updated_at=fold.occurred_ms,
    )
    return "applied"


def fold_backfill_cancel_requested(
    fold: Fold, p: BackfillCancelRequestedV1, changes: Changes_
) -> FoldResult:
    """REQUESTED / RUNNING / PAUSED → CANCELLING: pending chunks are CANCELLED; the
    backfill is CANCELLED at once if no chunk is in flight, else when the last one ends."""
    found = _backfill(changes, p.backfill_id)
    if isinstance(found, str):
        return _stale(found)
    if found.state in BACKFILL_TERMINAL or found.state == CANCELLING:
        return _stale(f"backfill {p.backfill_id!r} is {found.state}")
    now = fold.occurred_ms
    moves: list[tuple[str, str]] = []
    for chunk in list(changes.state.chunks_of(p.backfill_id)):
        if chunk.state == PENDING:
            _put(
                changes,
                fold,
                "backfill_chunks",
                chunk.id,
                chunk,
                state=CANCELLED,
                ended_at=now,
                updated_at=now,
            )
            moves.append((PENDING, CANCELLED))
    counts = _recount(found, moves)
    reason = p.reason if p.reason is not None else "cancel requested"
    fields: dict[str, Any] = {**counts, "state": CANCELLING, "reason": reason, "updated_at": now}
    if not counts["in_flight"]:
        fields.update(state=CANCELLED, ended_at=now)
    _put(changes, fold, "backfills", p.backfill_id, found, **fields)
    return "applied"


def fold_backfill_retry_requested(
    fold: Fold, p: BackfillRetryRequestedV1, changes: Changes_
) -> FoldResult:
    """Retry ``retries + 1`` of a FAILED backfill: → RUNNING, its FAILED chunks PENDING with
    the next try (its SUCCEEDED and CANCELLED chunks stay)."""
    found = _backfill(changes, p.backfill_id)
    if isinstance(found, str):
        return _stale(found)
    if found.state != FAILED:
        return _stale(f"backfill {p.backfill_id!r} is {found.state}, not FAILED")
    if p.retry != found.retries + 1:
        return _stale(
            f"backfill {p.backfill_id!r} had {found.retries} retries: retry {p.retry} is not "
            f"the next one"
        )
    if not found.failed:
        return _stale(f"backfill {p.backfill_id!r} has no FAILED chunk")
    now = fold.occurred_ms
    moves: list[tuple[str, str]] = []
    for chunk in list(changes.state.chunks_of(p.backfill_id)):
        if chunk.state == FAILED:
            _put(
                changes,
                fold,
                "backfill_chunks",
                chunk.id,
                chunk,
                state=PENDING,
                try_number=chunk.try_number + 1,
                run_id=None,
                launched_at=None,
                ended_at=None,
                error=None,
                updated_at=now,
            )
            moves.append((FAILED, PENDING))
    _put(
        changes,
        fold,
        "backfills",
        p.backfill_id,
        found,
        **_recount(found, moves),
        state=RUNNING,
        reason=None,
        retries=p.retry,
        ended_at=None,
        updated_at=now,
    )
    return "applied"


def _chunk(
    changes: Changes_, p: ChunkLaunchedV1 | ChunkFinishedV1
) -> tuple[BackfillRow, ChunkRow] | str:
    found = _backfill(changes, p.backfill_id)
    if isinstance(found, str):
        return found
    chunk = changes.state.chunk(p.backfill_id, p.chunk)
    if chunk is None:
        return f"backfill {p.backfill_id!r} has no chunk {p.chunk} (it has {found.chunk_count})"
    if p.try_number != chunk.try_number:
        return (
            f"chunk {p.chunk} of backfill {p.backfill_id!r} is at try {chunk.try_number} "
            f"(the event is about try {p.try_number})"
        )
    return found, chunk


def fold_chunk_launched(fold: Fold, p: ChunkLaunchedV1, changes: Changes_) -> FoldResult:
    """A PENDING chunk of a backfill that has not ended → RUNNING with its run; a REQUESTED
    backfill → RUNNING. A launch is a fact (its run was triggered), so it also applies while
    the backfill is PAUSED or CANCELLING (the controller triggered it before it saw the
    pause or cancel; a cancelling backfill's runs are then cancelled): refusing it would use
    up its key and leave the chunk PENDING for ever, its run unaccounted for."""
    found = _chunk(changes, p)
    if isinstance(found, str):
        return _stale(found)
    backfill, chunk = found
    if backfill.state in BACKFILL_TERMINAL:
        return _stale(f"backfill {p.backfill_id!r} is {backfill.state}: no chunk is launched")
    if chunk.state != PENDING:
        return _stale(f"chunk {p.chunk} of backfill {p.backfill_id!r} is {chunk.state}")
    now = fold.occurred_ms
    runs = [*canonical_json.loads(chunk.run_ids), p.run_id]
    _put(
        changes,
        fold,
        "backfill_chunks",
        chunk.id,
        chunk,
        state=RUNNING,
        run_id=p.run_id,
        run_ids=_json(runs),
        launched_at=now,
        updated_at=now,
    )
    _put(
        changes,
        fold,
        "backfills",
        p.backfill_id,
        backfill,
        **_recount(backfill, [(PENDING, RUNNING)]),
        state=RUNNING if backfill.state in BACKFILL_ACTIVE else backfill.state,
        started_at=backfill.started_at if backfill.started_at is not None else now,
        updated_at=now,
    )
    return "applied"


def fold_chunk_finished(fold: Fold, p: ChunkFinishedV1, changes: Changes_) -> FoldResult:
    """The run of a RUNNING chunk's current try ended: the chunk takes the run's terminal
    state; the backfill ends if that was its last chunk not terminal."""
    found = _chunk(changes, p)
    if isinstance(found, str):
        return _stale(found)
    backfill, chunk = found
    if chunk.state != RUNNING:
        return _stale(f"chunk {p.chunk} of backfill {p.backfill_id!r} is {chunk.state}")
    if chunk.run_id != p.run_id:
        return _stale(
            f"chunk {p.chunk} of backfill {p.backfill_id!r} runs as {chunk.run_id!r}, "
            f"not {p.run_id!r}"
        )
    now = fold.occurred_ms
    _put(
        changes,
        fold,
        "backfill_chunks",
        chunk.id,
        chunk,
        state=p.state,
        ended_at=now,
        error=p.error,
        updated_at=now,
    )
    counts = _recount(backfill, [(RUNNING, p.state)])
    fields: dict[str, Any] = {**counts, "updated_at": now}
    ended = _end_state(backfill, counts)
    if ended is not None:
        fields.update(state=ended[0], reason=ended[1], ended_at=now)
    _put(changes, fold, "backfills", p.backfill_id, backfill, **fields)
    return "applied"


# --- declarative automation -------------------------------------------------------------------


def fold_evaluation_recorded(fold: Fold, p: EvaluationRecordedV1, changes: Changes_) -> FoldResult:
    """One evaluation row (stale if that evaluation is recorded already, or older than the
    retention before the newest of its asset partition and condition)."""
    state = changes.state
    key = evaluation_id(p.asset_key, p.partition_key, p.condition, p.evaluated_at_ms)
    if key in state.evaluations:
        return _stale(f"evaluation {key} is already recorded")
    history = state.evaluation_history(p.asset_key, p.partition_key, p.condition)
    newest = _too_old(history, p.evaluated_at_ms, p.retention_days)
    if newest is not None:
        return _stale(
            f"evaluation {key} is more than {p.retention_days} days older than the newest "
            f"({newest})"
        )
    row = EvaluationRow(
        id=key,
        asset_key=p.asset_key,
        partition_key=p.partition_key,
        condition=p.condition,
        evaluated_at=p.evaluated_at_ms,
        requested=p.requested,
        reason=p.reason,
        run_id=p.run_id,
        event_order=fold.event_order,
        version=fold.ctx.version,
    )
    changes.upsert("evaluations", key, row)
    _prune_evaluations(changes, fold, row, p.retention_days)
    return "applied"
