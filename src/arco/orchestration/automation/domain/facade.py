"""``Automation``: the library API of the automation domain, and the builders of its events.

Every change is one event appended to the ``automation`` ledger and folded by the
compactor (:mod:`.folds`). The builders make those events with **deterministic
idempotency keys**, so two processes (two controllers for a moment) that append the same
decision fold to one transition; the second copy is a ``duplicate``:

==============================  ==============================================
``schedule_status_changed``     ``sched-status:{schedule_id}:{request_id}``
``sensor_status_changed``       ``sensor-status:{sensor_id}:{request_id}``
``tick_recorded``               ``sched:{schedule_id}:{instant_ms}``
``sensor_evaluated``            ``eval:{sensor_id}:{cursor_seq}:{evaluation_id}``
``sensor_runs_triggered``       ``triggered:{tick_id}``
``push_received``               ``push:{sensor_id}:{message_id}``
``backfill_requested``          ``backfill:{backfill_id}``
``backfill_paused``             ``backfill-pause:{backfill_id}:{request_id}``
``backfill_resumed``            ``backfill-resume:{backfill_id}:{request_id}``
``backfill_cancel_requested``   ``backfill-cancel:{backfill_id}:{request_id}``
``backfill_retry_requested``    ``backfill-retry:{backfill_id}:{retry}``
``chunk_launched``              ``chunk-launched:{backfill_id}:{chunk}:{try}``
``chunk_finished``              ``chunk-finished:{backfill_id}:{chunk}:{try}``
``evaluation_recorded``         ``cond:{asset}:{partition}:{condition}:{ms}``
==============================  ==============================================

A ``request_id`` left out is ``t{occurred_ms}`` (the time of the request). The runs these
decisions trigger are keyed too (:func:`schedule_run_key`, :func:`sensor_run_key`,
:func:`backfill_run_key`). A key longer than an envelope allows (255 characters) is
replaced by ``{kind}:sha256:{hex digest of the whole key}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from arco.core.clock import SYSTEM_CLOCK, rfc3339_ms
from arco.core.ids import new_ulid
from arco.core.scope import DEFAULT_SCOPE, Scope
from arco.errors import NotFoundError, ValidationError
from arco.orchestration.automation.domain.model import (
    Backfill,
    BackfillChunk,
    Evaluation,
    Schedule,
    Sensor,
    Tick,
)
from arco.orchestration.automation.domain.payloads import (
    DEFAULT_EVALUATION_RETENTION_DAYS,
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
    BACKFILL_STATES,
    PENDING,
    BackfillRow,
    schedule_tick_id,
)
from arco.orchestration.automation.domain.spec import (
    AUTOMATION,
    BACKFILL_CANCEL_REQUESTED,
    BACKFILL_PAUSED,
    BACKFILL_REQUESTED,
    BACKFILL_RESUMED,
    BACKFILL_RETRY_REQUESTED,
    CHUNK_FINISHED,
    CHUNK_LAUNCHED,
    EVALUATION_RECORDED,
    PUSH_RECEIVED,
    SCHEDULE_STATUS_CHANGED,
    SENSOR_EVALUATED,
    SENSOR_RUNS_TRIGGERED,
    SENSOR_STATUS_CHANGED,
    TICK_RECORDED,
)
from arco.orchestration.automation.domain.state import AutomationState
from arco.orchestration.runs.runs import idempotency_key
from arco.storage import ScopedStore, open_store
from arco.storage.port import ObjectStore
from arco.tier2.compactor import CompactionResult, Compactor, CompactorOptions
from arco.tier2.envelope import EventEnvelope, ulid_at
from arco.tier2.ingestor import FoldMode, Ingestor
from arco.tier2.preview import PendingView

__all__ = [
    "SOURCE",
    "Automation",
    "backfill_cancel_requested",
    "backfill_paused",
    "backfill_requested",
    "backfill_resumed",
    "backfill_retry_requested",
    "backfill_run_key",
    "chunk_finished",
    "chunk_launched",
    "evaluation_recorded",
    "push_received",
    "schedule_run_key",
    "schedule_status_changed",
    "sensor_evaluated",
    "sensor_run_key",
    "sensor_runs_triggered",
    "sensor_status_changed",
    "tick_recorded",
]

#: the ``source`` of the events the builders make unless told otherwise
SOURCE = "arco-automation"

Status = Literal["running", "paused"]


def _now(occurred_ms: int | None) -> int:
    return SYSTEM_CLOCK.now_ms() if occurred_ms is None else occurred_ms


def _event(
    event_type: str, payload: dict[str, Any], key: str, ms: int, source: str
) -> EventEnvelope:
    return EventEnvelope(
        event_id=ulid_at(ms),
        event_type=event_type,
        event_version=1,
        idempotency_key=key,
        occurred_at=rfc3339_ms(ms),
        source=source,
        payload=payload,
    )


# --- run keys --------------------------------------------------------------------------------


def schedule_run_key(schedule_id: str, instant_ms: int) -> str:
    """The ``run_key`` of a schedule's tick: ``sched:{id}:{instant_ms}``."""
    return idempotency_key("sched", schedule_id, instant_ms)


def sensor_run_key(tick_id: str, request_key: str) -> str:
    """The ``run_key`` of a request of a sensor tick: ``{tick_id}:{request key}``
    (``sensor:{id}:{seq}:{key}`` or ``push:{id}:{message_id}:{key}``)."""
    kind, _, rest = tick_id.partition(":")
    return idempotency_key(kind, rest, request_key)


def backfill_run_key(backfill_id: str, chunk: int, try_number: int) -> str:
    """The ``run_key`` of try ``try_number`` of a backfill chunk: ``backfill:{id}:{chunk}:{try}``."""
    return idempotency_key("backfill", backfill_id, chunk, try_number)


# --- builders ------------------------------------------------------------------------------


def schedule_status_changed(
    schedule_id: str,
    status: Status,
    *,
    request_id: str | None = None,
    reason: str | None = None,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """Pause or resume a schedule, under ``sched-status:{id}:{request_id}``."""
    ms = _now(occurred_ms)
    rid = request_id if request_id is not None else f"t{ms}"
    payload = ScheduleStatusChangedV1(
        schedule_id=schedule_id, status=status, request_id=rid, reason=reason
    )
    key = idempotency_key("sched-status", schedule_id, rid)
    return _event(SCHEDULE_STATUS_CHANGED, payload.model_dump(), key, ms, source)


def sensor_status_changed(
    sensor_id: str,
    status: Status,
    *,
    request_id: str | None = None,
    reason: str | None = None,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """Pause or resume a sensor, under ``sensor-status:{id}:{request_id}``."""
    ms = _now(occurred_ms)
    rid = request_id if request_id is not None else f"t{ms}"
    payload = SensorStatusChangedV1(
        sensor_id=sensor_id, status=status, request_id=rid, reason=reason
    )
    key = idempotency_key("sensor-status", sensor_id, rid)
    return _event(SENSOR_STATUS_CHANGED, payload.model_dump(), key, ms, source)


def tick_recorded(
    schedule_id: str,
    instant_ms: int,
    status: Literal["requested", "skipped", "failed"],
    *,
    run_ids: Sequence[str] = (),
    reason: str | None = None,
    skipped_count: int = 0,
    range_start_ms: int | None = None,
    retention_days: int = DEFAULT_TICK_RETENTION_DAYS,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """What a schedule's tick did, under ``sched:{id}:{instant_ms}`` (its run's key too)."""
    payload = TickRecordedV1(
        schedule_id=schedule_id,
        instant_ms=instant_ms,
        status=status,
        run_ids=list(run_ids),
        reason=reason,
        skipped_count=skipped_count,
        range_start_ms=range_start_ms,
        retention_days=retention_days,
    )
    key = schedule_run_key(schedule_id, instant_ms)
    return _event(TICK_RECORDED, payload.model_dump(), key, _now(occurred_ms), source)


def _requests(requests: Sequence[RunRequestV1 | Mapping[str, Any]]) -> list[RunRequestV1]:
    return [
        r if isinstance(r, RunRequestV1) else RunRequestV1.model_validate(dict(r)) for r in requests
    ]


def sensor_evaluated(
    sensor_id: str,
    cursor_seq: int,
    *,
    cursor: str | None = None,
    requests: Sequence[RunRequestV1 | Mapping[str, Any]] = (),
    error: str | None = None,
    evaluated_at_ms: int | None = None,
    evaluation_id: str | None = None,
    retention_days: int = DEFAULT_TICK_RETENTION_DAYS,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """One evaluation of a poll sensor that read ``cursor_seq``, under
    ``eval:{id}:{cursor_seq}:{evaluation_id}`` (a new id unless given: two evaluations of
    one seq are two decisions, and the later-folded one is stale)."""
    ms = _now(occurred_ms if occurred_ms is not None else evaluated_at_ms)
    payload = SensorEvaluatedV1(
        sensor_id=sensor_id,
        evaluation_id=evaluation_id if evaluation_id is not None else new_ulid(),
        cursor_seq=cursor_seq,
        cursor=cursor,
        requests=_requests(requests),
        error=error,
        evaluated_at_ms=evaluated_at_ms if evaluated_at_ms is not None else ms,
        retention_days=retention_days,
    )
    key = idempotency_key("eval", sensor_id, cursor_seq, payload.evaluation_id)
    return _event(SENSOR_EVALUATED, payload.model_dump(), key, ms, source)


def sensor_runs_triggered(
    tick_id: str,
    run_ids: Sequence[str],
    *,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """The runs of a sensor tick's requests were triggered, under ``triggered:{tick_id}``."""
    payload = SensorRunsTriggeredV1(tick_id=tick_id, run_ids=list(run_ids))
    key = idempotency_key("triggered", tick_id)
    return _event(SENSOR_RUNS_TRIGGERED, payload.model_dump(), key, _now(occurred_ms), source)


def push_received(
    sensor_id: str,
    message_id: str,
    payload: Mapping[str, Any] | None = None,
    *,
    requests: Sequence[RunRequestV1 | Mapping[str, Any]] | None = None,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """A message pushed to a sensor, under ``push:{id}:{message_id}``."""
    body = PushReceivedV1(
        sensor_id=sensor_id,
        message_id=message_id,
        payload=dict(payload or {}),
        requests=None if requests is None else _requests(requests),
    )
    key = idempotency_key("push", sensor_id, message_id)
    return _event(PUSH_RECEIVED, body.to_payload(), key, _now(occurred_ms), source)


def backfill_requested(
    backfill_id: str,
    assets: Sequence[str],
    partitions: Sequence[str],
    *,
    chunk_size: int = 1,
    max_in_flight: int = 1,
    tags: Mapping[str, str] | None = None,
    reason: str | None = None,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """A new backfill, under ``backfill:{id}``."""
    payload = BackfillRequestedV1(
        backfill_id=backfill_id,
        assets=list(assets),
        partitions=list(partitions),
        chunk_size=chunk_size,
        max_in_flight=max_in_flight,
        tags=dict(tags or {}),
        reason=reason,
    )
    key = idempotency_key("backfill", backfill_id)
    return _event(BACKFILL_REQUESTED, payload.model_dump(), key, _now(occurred_ms), source)


def _control(
    kind: str,
    event_type: str,
    model: type[BackfillPausedV1 | BackfillResumedV1 | BackfillCancelRequestedV1],
    backfill_id: str,
    request_id: str | None,
    reason: str | None,
    occurred_ms: int | None,
    source: str,
) -> EventEnvelope:
    ms = _now(occurred_ms)
    rid = request_id if request_id is not None else f"t{ms}"
    payload = model(backfill_id=backfill_id, request_id=rid, reason=reason)
    return _event(
        event_type, payload.model_dump(), idempotency_key(kind, backfill_id, rid), ms, source
    )


def backfill_paused(
    backfill_id: str,
    *,
    request_id: str | None = None,
    reason: str | None = None,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """Pause a backfill, under ``backfill-pause:{id}:{request_id}``."""
    return _control(
        "backfill-pause",
        BACKFILL_PAUSED,
        BackfillPausedV1,
        backfill_id,
        request_id,
        reason,
        occurred_ms,
        source,
    )


def backfill_resumed(
    backfill_id: str,
    *,
    request_id: str | None = None,
    reason: str | None = None,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """Resume a paused backfill, under ``backfill-resume:{id}:{request_id}``."""
    return _control(
        "backfill-resume",
        BACKFILL_RESUMED,
        BackfillResumedV1,
        backfill_id,
        request_id,
        reason,
        occurred_ms,
        source,
    )


def backfill_cancel_requested(
    backfill_id: str,
    *,
    request_id: str | None = None,
    reason: str | None = None,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """Cancel a backfill, under ``backfill-cancel:{id}:{request_id}``."""
    return _control(
        "backfill-cancel",
        BACKFILL_CANCEL_REQUESTED,
        BackfillCancelRequestedV1,
        backfill_id,
        request_id,
        reason,
        occurred_ms,
        source,
    )


def backfill_retry_requested(
    backfill_id: str,
    retry: int,
    *,
    reason: str | None = None,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """Retry number ``retry`` (the backfill's ``retries`` + 1) of a FAILED backfill, under
    ``backfill-retry:{id}:{retry}``: two requests of the same retry fold once."""
    payload = BackfillRetryRequestedV1(backfill_id=backfill_id, retry=retry, reason=reason)
    key = idempotency_key("backfill-retry", backfill_id, retry)
    return _event(BACKFILL_RETRY_REQUESTED, payload.model_dump(), key, _now(occurred_ms), source)


def chunk_launched(
    backfill_id: str,
    chunk: int,
    try_number: int,
    run_id: str,
    *,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """The run of a chunk's try was triggered, under ``chunk-launched:{id}:{chunk}:{try}``."""
    payload = ChunkLaunchedV1(
        backfill_id=backfill_id, chunk=chunk, try_number=try_number, run_id=run_id
    )
    key = idempotency_key("chunk-launched", backfill_id, chunk, try_number)
    return _event(CHUNK_LAUNCHED, payload.model_dump(), key, _now(occurred_ms), source)


def chunk_finished(
    backfill_id: str,
    chunk: int,
    try_number: int,
    run_id: str,
    state: Literal["SUCCEEDED", "FAILED", "CANCELLED"],
    *,
    error: str | None = None,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """The run of a chunk's try ended, under ``chunk-finished:{id}:{chunk}:{try}``."""
    payload = ChunkFinishedV1(
        backfill_id=backfill_id,
        chunk=chunk,
        try_number=try_number,
        run_id=run_id,
        state=state,
        error=error,
    )
    key = idempotency_key("chunk-finished", backfill_id, chunk, try_number)
    return _event(CHUNK_FINISHED, payload.model_dump(), key, _now(occurred_ms), source)


def evaluation_recorded(
    asset_key: str,
    condition: str,
    requested: bool,
    reason: str,
    *,
    partition_key: str = "",
    run_id: str | None = None,
    evaluated_at_ms: int | None = None,
    retention_days: int = DEFAULT_EVALUATION_RETENTION_DAYS,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """One evaluation of a declarative condition, under
    ``cond:{asset}:{partition}:{condition}:{evaluated_at_ms}``."""
    ms = _now(occurred_ms if occurred_ms is not None else evaluated_at_ms)
    payload = EvaluationRecordedV1(
        asset_key=asset_key,
        partition_key=partition_key,
        condition=condition,
        evaluated_at_ms=evaluated_at_ms if evaluated_at_ms is not None else ms,
        requested=requested,
        reason=reason,
        run_id=run_id,
        retention_days=retention_days,
    )
    key = idempotency_key(
        "cond", payload.asset_key, payload.partition_key, condition, payload.evaluated_at_ms
    )
    return _event(EVALUATION_RECORDED, payload.model_dump(), key, ms, source)


# --- the facade ------------------------------------------------------------------------------


class Automation:
    """Append automation events and read the schedules, sensors, ticks, backfills and
    evaluations folded from them, for one ``(tenant, workspace)`` scope of an object store
    (``store`` is the *root* store)."""

    def __init__(
        self,
        store: ObjectStore,
        scope: Scope = DEFAULT_SCOPE,
        *,
        fold: FoldMode = "inline",
        options: CompactorOptions | None = None,
        linger_s: float = 0.0,
    ) -> None:
        self.scope = scope
        self.root_store = store
        self.store: ObjectStore = ScopedStore(store, scope.prefix)
        self.compactor: Compactor[AutomationState] = Compactor(
            self.store, AUTOMATION, options=options
        )
        self._ingestor = Ingestor(
            self.store, AUTOMATION, fold=fold, compactor=self.compactor, linger_s=linger_s
        )
        self._view = PendingView(self._ingestor, self.compactor)

    @classmethod
    def open(cls, url: str, scope: Scope = DEFAULT_SCOPE, **options: Any) -> Automation:
        """Open the automation state of a workspace on a store URL."""
        return cls(open_store(url), scope, **options)

    def close(self) -> None:
        """Fold what was appended, then stop background work."""
        self._ingestor.close()

    def __enter__(self) -> Automation:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- writes -------------------------------------------------------------------------

    def append(self, events: Sequence[EventEnvelope], *, fold: FoldMode | None = None) -> list[str]:
        """Append events (each checked first: type, version, payload); their ledger keys."""
        return self._ingestor.append(events, fold=fold)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything appended so far has been folded; False on timeout."""
        return self._ingestor.flush(timeout)

    def compact(self) -> CompactionResult:
        """One anti-entropy pass: fold every ledger object not folded yet."""
        return self.compactor.anti_entropy()

    def compact_periodic(self) -> CompactionResult:
        """One pass of a compaction loop (:meth:`Compactor.periodic_pass`)."""
        return self.compactor.periodic_pass()

    # --- state --------------------------------------------------------------------------

    def state(self) -> AutomationState:
        """The compactor's head with what this process appended and no round has published
        yet folded in memory (:class:`~arco.tier2.preview.PendingView`): a process reads its
        own events at once, while rounds batch their publication."""
        return self._view.state()

    # --- reads --------------------------------------------------------------------------

    def schedules(self) -> list[Schedule]:
        """Every schedule an event named, by id."""
        state = self.state()
        return [Schedule.from_row(state.schedules[k]) for k in sorted(state.schedules)]

    def get_schedule(self, schedule_id: str) -> Schedule:
        row = self.state().schedules.get(schedule_id)
        if row is None:
            raise NotFoundError(f"schedule {schedule_id!r} has no automation state")
        return Schedule.from_row(row)

    def sensors(self) -> list[Sensor]:
        """Every sensor an event named, by id."""
        state = self.state()
        return [Sensor.from_row(state.sensors[k]) for k in sorted(state.sensors)]

    def get_sensor(self, sensor_id: str) -> Sensor:
        row = self.state().sensors.get(sensor_id)
        if row is None:
            raise NotFoundError(f"sensor {sensor_id!r} has no automation state")
        return Sensor.from_row(row)

    def ticks(self, schedule_id: str, limit: int = 100) -> list[Tick]:
        """A schedule's ticks, newest first (at most ``limit``)."""
        return self._ticks("schedule", schedule_id, limit)

    def sensor_ticks(self, sensor_id: str, limit: int = 100) -> list[Tick]:
        """A sensor's evaluations and push messages, newest first (at most ``limit``)."""
        return self._ticks("sensor", sensor_id, limit)

    def _ticks(self, kind: str, owner_id: str, limit: int) -> list[Tick]:
        if limit < 1:
            raise ValidationError(f"limit: must be at least 1 (got {limit})")
        return [Tick.from_row(r) for r in self.state().ticks_of(kind, owner_id, limit)]

    def get_tick(self, tick_id: str) -> Tick:
        row = self.state().ticks.get(tick_id)
        if row is None:
            raise NotFoundError(f"tick {tick_id!r} does not exist")
        return Tick.from_row(row)

    def has_tick(self, schedule_id: str, instant_ms: int) -> bool:
        """Whether the schedule's tick at ``instant_ms`` is recorded (a controller that
        finds none triggers its run — the same one, by ``run_key`` — and records it)."""
        return schedule_tick_id(schedule_id, instant_ms) in self.state().ticks

    def list_backfills(self, *, state: str | None = None) -> list[Backfill]:
        """Backfills, newest first (by creation), optionally only those in ``state``."""
        if state is not None and state not in BACKFILL_STATES:
            raise ValidationError(
                f"state: must be one of {', '.join(BACKFILL_STATES)} (got {state!r})"
            )
        rows: list[BackfillRow] = [
            r for r in self.state().backfills.values() if state is None or r.state == state
        ]
        rows.sort(key=lambda r: (-r.created_at, r.backfill_id))
        return [Backfill.from_row(r) for r in rows]

    def get_backfill(self, backfill_id: str) -> Backfill:
        """A backfill with its chunks (by index)."""
        state = self.state()
        row = state.backfills.get(backfill_id)
        if row is None:
            raise NotFoundError(f"backfill {backfill_id!r} does not exist")
        return Backfill.from_row(row, list(state.chunks_of(backfill_id)))

    def active_backfills(self) -> list[Backfill]:
        """The backfills that are not terminal, by id."""
        return [Backfill.from_row(r) for r in self.state().active_backfills()]

    def due_chunks(self, backfill_id: str) -> list[BackfillChunk]:
        """The PENDING chunks of a backfill that may be launched now, by index: none while
        it is paused, cancelling or ended, else as many as ``max_in_flight`` leaves room
        for."""
        state = self.state()
        row = state.backfills.get(backfill_id)
        if row is None:
            raise NotFoundError(f"backfill {backfill_id!r} does not exist")
        room = row.max_in_flight - row.in_flight
        if row.state not in BACKFILL_ACTIVE or room <= 0 or not row.pending:
            return []
        due: list[BackfillChunk] = []
        for chunk in state.chunks_of(backfill_id):
            if chunk.state == PENDING:
                due.append(BackfillChunk.from_row(chunk))
                if len(due) == room:
                    break
        return due

    def pending_sensor_requests(self) -> list[Tick]:
        """Applied sensor evaluations and push messages whose runs are not triggered yet,
        oldest first: trigger each request with :func:`sensor_run_key`, then append
        :func:`sensor_runs_triggered`."""
        return [Tick.from_row(r) for r in self.state().pending_ticks()]

    def evaluations(
        self,
        asset_key: str | None = None,
        *,
        condition: str | None = None,
        limit: int = 100,
    ) -> list[Evaluation]:
        """Evaluations of declarative conditions (of one asset, one condition), newest
        first (at most ``limit``)."""
        if limit < 1:
            raise ValidationError(f"limit: must be at least 1 (got {limit})")
        rows = [
            r
            for r in self.state().evaluations.values()
            if (asset_key is None or r.asset_key == asset_key)
            and (condition is None or r.condition == condition)
        ]
        rows.sort(key=lambda r: (-r.evaluated_at, r.id))
        return [Evaluation.from_row(r) for r in rows[:limit]]
