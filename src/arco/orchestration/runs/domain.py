"""The ``runs`` domain: runs, tasks and attempts, folded from the tier-2 ledger (ADR 015).

Its fold functions (:mod:`arco.orchestration.runs.folds`) are the state machines: every
event is applied if it is a legal transition and recorded ``stale`` otherwise.
"""

from __future__ import annotations

from typing import Any

from arco.metadata.domain import DomainSpec
from arco.orchestration.runs import folds
from arco.orchestration.runs.payloads import (
    AttemptCompletedV1,
    AttemptHeartbeatV1,
    AttemptStartedV1,
    AttemptTimedOutV1,
    RunCancelRequestedV1,
    RunTriggeredV1,
    TaskDispatchedV1,
)
from arco.orchestration.runs.schema import ATTEMPTS_TABLE, RUNS_TABLE, TASKS_TABLE
from arco.orchestration.runs.state import RunsState
from arco.tier2.compactor import EventType, Tier2Domain
from arco.tier2.ingested import INGESTED

__all__ = [
    "ATTEMPT_COMPLETED",
    "ATTEMPT_HEARTBEAT",
    "ATTEMPT_STARTED",
    "ATTEMPT_TIMED_OUT",
    "RUNS",
    "RUNS_SPEC",
    "RUN_CANCEL_REQUESTED",
    "RUN_TRIGGERED",
    "TASK_DISPATCHED",
]

#: the event types of the domain (all at version 1)
RUN_TRIGGERED = "run_triggered"
TASK_DISPATCHED = "task_dispatched"
ATTEMPT_STARTED = "attempt_started"
ATTEMPT_HEARTBEAT = "attempt_heartbeat"
ATTEMPT_COMPLETED = "attempt_completed"
ATTEMPT_TIMED_OUT = "attempt_timed_out"
RUN_CANCEL_REQUESTED = "run_cancel_requested"


def _no_results(_: Any) -> Any:
    raise TypeError("the runs domain has no request results (it is written by events)")


RUNS_SPEC = DomainSpec(
    name="runs",
    tables=(RUNS_TABLE, TASKS_TABLE, ATTEMPTS_TABLE, INGESTED),
    new_state=RunsState,
    encode_result=_no_results,
    decode_result=_no_results,
    describe_result=_no_results,
    tier=2,
)

RUNS: Tier2Domain[RunsState] = Tier2Domain(
    RUNS_SPEC,
    (
        EventType(RUN_TRIGGERED, 1, RunTriggeredV1.from_payload, folds.fold_run_triggered),
        EventType(TASK_DISPATCHED, 1, TaskDispatchedV1.from_payload, folds.fold_task_dispatched),
        EventType(ATTEMPT_STARTED, 1, AttemptStartedV1.from_payload, folds.fold_attempt_started),
        EventType(
            ATTEMPT_HEARTBEAT, 1, AttemptHeartbeatV1.from_payload, folds.fold_attempt_heartbeat
        ),
        EventType(
            ATTEMPT_COMPLETED, 1, AttemptCompletedV1.from_payload, folds.fold_attempt_completed
        ),
        EventType(
            ATTEMPT_TIMED_OUT, 1, AttemptTimedOutV1.from_payload, folds.fold_attempt_timed_out
        ),
        EventType(
            RUN_CANCEL_REQUESTED,
            1,
            RunCancelRequestedV1.from_payload,
            folds.fold_run_cancel_requested,
        ),
    ),
)
