"""The ``automation`` domain: schedules, sensors, ticks, backfills and evaluations, folded
from the tier-2 ledger (ADR 017).

Its fold functions (:mod:`.folds`) are the state machines: every event is applied if it is
a legal transition and recorded ``stale`` otherwise.
"""

from __future__ import annotations

from typing import Any

from arco.metadata.domain import DomainSpec
from arco.orchestration.automation.domain import folds
from arco.orchestration.automation.domain.payloads import (
    BackfillCancelRequestedV1,
    BackfillPausedV1,
    BackfillRequestedV1,
    BackfillResumedV1,
    BackfillRetryRequestedV1,
    ChunkFinishedV1,
    ChunkLaunchedV1,
    EvaluationRecordedV1,
    PushReceivedV1,
    ScheduleStatusChangedV1,
    SensorEvaluatedV1,
    SensorRunsTriggeredV1,
    SensorStatusChangedV1,
    TickRecordedV1,
)
from arco.orchestration.automation.domain.schema import (
    BACKFILLS_TABLE,
    CHUNKS_TABLE,
    EVALUATIONS_TABLE,
    SCHEDULES_TABLE,
    SENSORS_TABLE,
    TICKS_TABLE,
)
from arco.orchestration.automation.domain.state import AutomationState
from arco.tier2.compactor import EventType, Tier2Domain
from arco.tier2.ingested import INGESTED

__all__ = [
    "AUTOMATION",
    "AUTOMATION_SPEC",
    "BACKFILL_CANCEL_REQUESTED",
    "BACKFILL_PAUSED",
    "BACKFILL_REQUESTED",
    "BACKFILL_RESUMED",
    "BACKFILL_RETRY_REQUESTED",
    "CHUNK_FINISHED",
    "CHUNK_LAUNCHED",
    "EVALUATION_RECORDED",
    "PUSH_RECEIVED",
    "SCHEDULE_STATUS_CHANGED",
    "SENSOR_EVALUATED",
    "SENSOR_RUNS_TRIGGERED",
    "SENSOR_STATUS_CHANGED",
    "TICK_RECORDED",
]

#: the event types of the domain (all at version 1)
SCHEDULE_STATUS_CHANGED = "schedule_status_changed"
SENSOR_STATUS_CHANGED = "sensor_status_changed"
TICK_RECORDED = "tick_recorded"
SENSOR_EVALUATED = "sensor_evaluated"
SENSOR_RUNS_TRIGGERED = "sensor_runs_triggered"
PUSH_RECEIVED = "push_received"
BACKFILL_REQUESTED = "backfill_requested"
BACKFILL_PAUSED = "backfill_paused"
BACKFILL_RESUMED = "backfill_resumed"
BACKFILL_CANCEL_REQUESTED = "backfill_cancel_requested"
BACKFILL_RETRY_REQUESTED = "backfill_retry_requested"
CHUNK_LAUNCHED = "chunk_launched"
CHUNK_FINISHED = "chunk_finished"
EVALUATION_RECORDED = "evaluation_recorded"


def _no_results(_: Any) -> Any:
    raise TypeError("the automation domain has no request results (it is written by events)")


AUTOMATION_SPEC = DomainSpec(
    name="automation",
    tables=(
        SCHEDULES_TABLE,
        SENSORS_TABLE,
        TICKS_TABLE,
        BACKFILLS_TABLE,
        CHUNKS_TABLE,
        EVALUATIONS_TABLE,
        INGESTED,
    ),
    new_state=AutomationState,
    encode_result=_no_results,
    decode_result=_no_results,
    describe_result=_no_results,
    tier=2,
)

AUTOMATION: Tier2Domain[AutomationState] = Tier2Domain(
    AUTOMATION_SPEC,
    (
        EventType(
            SCHEDULE_STATUS_CHANGED,
            1,
            ScheduleStatusChangedV1.from_payload,
            folds.fold_schedule_status_changed,
        ),
        EventType(
            SENSOR_STATUS_CHANGED,
            1,
            SensorStatusChangedV1.from_payload,
            folds.fold_sensor_status_changed,
        ),
        EventType(TICK_RECORDED, 1, TickRecordedV1.from_payload, folds.fold_tick_recorded),
        EventType(SENSOR_EVALUATED, 1, SensorEvaluatedV1.from_payload, folds.fold_sensor_evaluated),
        EventType(
            SENSOR_RUNS_TRIGGERED,
            1,
            SensorRunsTriggeredV1.from_payload,
            folds.fold_sensor_runs_triggered,
        ),
        EventType(PUSH_RECEIVED, 1, PushReceivedV1.from_payload, folds.fold_push_received),
        EventType(
            BACKFILL_REQUESTED, 1, BackfillRequestedV1.from_payload, folds.fold_backfill_requested
        ),
        EventType(BACKFILL_PAUSED, 1, BackfillPausedV1.from_payload, folds.fold_backfill_paused),
        EventType(BACKFILL_RESUMED, 1, BackfillResumedV1.from_payload, folds.fold_backfill_resumed),
        EventType(
            BACKFILL_CANCEL_REQUESTED,
            1,
            BackfillCancelRequestedV1.from_payload,
            folds.fold_backfill_cancel_requested,
        ),
        EventType(
            BACKFILL_RETRY_REQUESTED,
            1,
            BackfillRetryRequestedV1.from_payload,
            folds.fold_backfill_retry_requested,
        ),
        EventType(CHUNK_LAUNCHED, 1, ChunkLaunchedV1.from_payload, folds.fold_chunk_launched),
        EventType(CHUNK_FINISHED, 1, ChunkFinishedV1.from_payload, folds.fold_chunk_finished),
        EventType(
            EVALUATION_RECORDED,
            1,
            EvaluationRecordedV1.from_payload,
            folds.fold_evaluation_recorded,
        ),
    ),
)
