"""Helpers for the tests of the ``runs`` domain (importable as ``runs_support``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from arco.metadata.layout import ledger_prefix
from arco.orchestration.runs import (
    RetryV1,
    Runs,
    RunTriggeredV1,
    TaskSpecV1,
    run_triggered,
)
from arco.orchestration.runs.schema import TaskRow
from arco.storage import open_store
from arco.tier2.compactor import CompactorOptions
from arco.tier2.envelope import EventEnvelope, rfc3339_to_ms, ulid_at
from arco.tier2.ingested import IngestedRow

#: event times of the tests: 2026-11-26T00:00:00Z and on
T0 = 1_795_651_200_000
NO_JITTER = RetryV1(backoff_s=1.0, factor=2.0, max_backoff_s=60.0, jitter=0.0)


def options() -> CompactorOptions:
    """Compactor options for tests: file compaction inline and frequent."""
    return CompactorOptions(background_checkpoints=False, checkpoint_every=4)


def open_runs(root: Path) -> Runs:
    """The runs of the default workspace of a local store under ``root``, folded inline."""
    return Runs(open_store(f"file://{root}"), fold="inline", options=options())


def spec(
    key: str,
    upstream: Sequence[str] = (),
    *,
    max_attempts: int = 1,
    retry: RetryV1 = NO_JITTER,
    partition_key: str = "",
) -> TaskSpecV1:
    """A task ``key`` of asset ``test/{key}``."""
    return TaskSpecV1(
        task_key=key,
        asset_key=f"test/{key}",
        partition_key=partition_key,
        upstream=list(upstream),
        max_attempts=max_attempts,
        retry=retry,
    )


def trigger_payload(
    run_id: str,
    tasks: Iterable[TaskSpecV1],
    *,
    done: Sequence[str] = (),
    outputs: Mapping[str, dict[str, Any]] | None = None,
    run_key: str | None = None,
    request_hash: str = "h1",
) -> RunTriggeredV1:
    return RunTriggeredV1(
        run_id=run_id,
        run_key=run_key,
        request_hash=request_hash,
        plan_fingerprint="fp",
        selection=["test/*"],
        executor="inline",
        tasks=list(tasks),
        done=list(done),
        outputs=dict(outputs or {}),
    )


def trigger(run_id: str, tasks: Iterable[TaskSpecV1], at: int = T0, **kw: Any) -> EventEnvelope:
    return run_triggered(trigger_payload(run_id, tasks, **kw), occurred_ms=at)


def copy_of(event: EventEnvelope) -> EventEnvelope:
    """Another copy of ``event`` (as another process would append it): the same idempotency
    key and payload under a new event id (appending the same envelope again rewrites the
    same ledger object, which is folded already)."""
    moment = rfc3339_to_ms(event.occurred_at)
    return EventEnvelope(**{**event.model_dump(), "event_id": ulid_at(moment)})


def ingested(runs: Runs, key: str) -> IngestedRow:
    """The ``ingested`` row of a ledger key ``append`` returned."""
    name = key[len(ledger_prefix("runs")) : -len(".json")]
    row: IngestedRow = runs.state().ingested[name]
    return row


def outcome(runs: Runs, event: EventEnvelope) -> str:
    """Append one event (folded inline) and return its outcome."""
    (key,) = runs.append([event])
    return ingested(runs, key).outcome


def states(runs: Runs, run_id: str) -> dict[str, str]:
    """Task key -> state of every task of a run."""
    return {t.task_key: t.state for t in runs.state().tasks_of(run_id)}


def task_row(runs: Runs, run_id: str, key: str) -> TaskRow:
    row = runs.state().task(run_id, key)
    assert row is not None
    return row
