"""``Runs``: the library API of the runs domain, and the builders of its events.

Every state change of a run is one event appended to the ``runs`` ledger and folded by the
compactor (:mod:`arco.orchestration.runs.folds`). The builders below make those events with
**deterministic idempotency keys** (``dispatch:{run_id}:{task_key}:{attempt}``, ...), so
two processes that append the same decision fold to one transition: the second copy is a
``duplicate``. A key longer than an envelope allows (255 characters) is replaced by
``{kind}:sha256:{hex digest of the whole key}``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from arco.core.clock import SYSTEM_CLOCK, rfc3339_ms
from arco.core.paging import DEFAULT_PAGE, Page, Sorted, paginate
from arco.core.scope import DEFAULT_SCOPE, Scope
from arco.errors import NotFoundError, ValidationError
from arco.metadata.layout import request_record_key
from arco.orchestration.runs.domain import (
    ATTEMPT_COMPLETED,
    ATTEMPT_HEARTBEAT,
    ATTEMPT_STARTED,
    ATTEMPT_TIMED_OUT,
    RUN_CANCEL_REQUESTED,
    RUN_TRIGGERED,
    RUNS,
    TASK_DISPATCHED,
)
from arco.orchestration.runs.model import Attempt, Run, Task
from arco.orchestration.runs.payloads import (
    PART_BYTES,
    AttemptCompletedV1,
    AttemptHeartbeatV1,
    AttemptStartedV1,
    AttemptTimedOutV1,
    RunCancelRequestedV1,
    RunTriggeredV1,
    TaskDispatchedV1,
    split_trigger,
)
from arco.orchestration.runs.schema import RUN_STATES, RUN_TERMINAL, RunRow
from arco.orchestration.runs.state import RunsState
from arco.storage import ScopedStore, open_store
from arco.storage.port import ObjectStore
from arco.tier2.compactor import CompactionResult, Compactor, CompactorOptions
from arco.tier2.envelope import EventEnvelope, ulid_at
from arco.tier2.ingestor import FoldMode, Ingestor
from arco.tier2.preview import PendingView
from arco.tier2.requests import record_request

__all__ = [
    "SOURCE",
    "Runs",
    "attempt_completed",
    "attempt_heartbeat",
    "attempt_started",
    "attempt_timed_out",
    "idempotency_key",
    "run_cancel_requested",
    "run_key_record",
    "run_trigger_events",
    "run_triggered",
    "task_dispatched",
    "trigger_key",
    "unplanned_expired",
]

#: the ``source`` of the events the builders make unless told otherwise
SOURCE = "arco-runs"
_MAX_KEY = 255

# newest first: keys ascend as created_at descends (ms fit in 15 digits until year 33658)
_MAX_MS = 10**15 - 1


def idempotency_key(kind: str, *parts: object) -> str:
    """``kind:part:part...``, or ``kind:sha256:{digest}`` of that text if it is too long."""
    text = ":".join([kind, *(str(p) for p in parts)])
    if len(text) <= _MAX_KEY and text.isprintable():
        return text
    return f"{kind}:sha256:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


def _event(
    event_type: str,
    payload: dict[str, Any],
    key: str,
    occurred_ms: int | None,
    source: str,
) -> EventEnvelope:
    ms = SYSTEM_CLOCK.now_ms() if occurred_ms is None else occurred_ms
    return EventEnvelope(
        event_id=ulid_at(ms),
        event_type=event_type,
        event_version=1,
        idempotency_key=key,
        occurred_at=rfc3339_ms(ms),
        source=source,
        payload=payload,
    )


def trigger_key(run_id: str, part: int = 0) -> str:
    """The idempotency key of part ``part`` of a run's trigger: ``trigger:{run_id}`` for the
    first (or only) one, ``trigger:{run_id} part {n}`` for the others (a run id has no
    space, so no run's key is another's part)."""
    if part == 0:
        return idempotency_key("trigger", run_id)
    return idempotency_key("trigger", f"{run_id} part {part}")


def run_triggered(
    payload: RunTriggeredV1, *, occurred_ms: int | None = None, source: str = SOURCE
) -> EventEnvelope:
    """One ``run_triggered`` event (a whole run, or one part of it) under
    :func:`trigger_key`; ValidationError if its payload exceeds the bound of an event
    (:func:`run_trigger_events` splits a large run)."""
    return _event(
        RUN_TRIGGERED,
        payload.to_payload(),
        trigger_key(payload.run_id, payload.part),
        occurred_ms,
        source,
    )


def run_trigger_events(
    payload: RunTriggeredV1,
    *,
    occurred_ms: int | None = None,
    source: str = SOURCE,
    max_bytes: int = PART_BYTES,
) -> list[EventEnvelope]:
    """The ``run_triggered`` events of a whole run: one when its payload fits in about
    ``max_bytes``, else its parts (:func:`split_trigger`), all at the same instant."""
    ms = SYSTEM_CLOCK.now_ms() if occurred_ms is None else occurred_ms
    return [
        run_triggered(part, occurred_ms=ms, source=source)
        for part in split_trigger(payload, max_bytes)
    ]


def task_dispatched(
    run_id: str,
    task_key: str,
    attempt: int,
    attempt_id: str,
    executor: str,
    start_deadline_ms: int,
    *,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """``task_dispatched`` under ``dispatch:{run_id}:{task_key}:{attempt}``.

    A dispatch of a task waiting to retry is stale if it occurred before the task's
    ``retry_at``, and its key is then used up: pass ``occurred_ms`` at or after it.
    """
    payload = TaskDispatchedV1(
        run_id=run_id,
        task_key=task_key,
        attempt=attempt,
        attempt_id=attempt_id,
        executor=executor,
        start_deadline_ms=start_deadline_ms,
    )
    key = idempotency_key("dispatch", run_id, task_key, attempt)
    return _event(TASK_DISPATCHED, payload.model_dump(), key, occurred_ms, source)


def attempt_started(
    run_id: str,
    task_key: str,
    attempt_id: str,
    worker: str | None = None,
    *,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """``attempt_started`` under ``started:{attempt_id}``."""
    payload = AttemptStartedV1(
        run_id=run_id, task_key=task_key, attempt_id=attempt_id, worker=worker
    )
    key = idempotency_key("started", attempt_id)
    return _event(ATTEMPT_STARTED, payload.model_dump(), key, occurred_ms, source)


def attempt_heartbeat(
    run_id: str,
    task_key: str,
    attempt_id: str,
    seq: int,
    *,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """``attempt_heartbeat`` number ``seq`` of the attempt, under ``hb:{attempt_id}:{seq}``."""
    payload = AttemptHeartbeatV1(run_id=run_id, task_key=task_key, attempt_id=attempt_id)
    key = idempotency_key("hb", attempt_id, seq)
    return _event(ATTEMPT_HEARTBEAT, payload.model_dump(), key, occurred_ms, source)


def attempt_completed(
    run_id: str,
    task_key: str,
    attempt_id: str,
    status: Literal["succeeded", "failed"],
    *,
    error: str | None = None,
    error_category: str | None = None,
    retryable: bool = False,
    output: Mapping[str, Any] | None = None,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """``attempt_completed`` under ``complete:{attempt_id}``."""
    payload = AttemptCompletedV1(
        run_id=run_id,
        task_key=task_key,
        attempt_id=attempt_id,
        status=status,
        error=error,
        error_category=error_category,
        retryable=retryable,
        output=None if output is None else dict(output),
    )
    key = idempotency_key("complete", attempt_id)
    return _event(ATTEMPT_COMPLETED, payload.model_dump(), key, occurred_ms, source)


def attempt_timed_out(
    run_id: str,
    task_key: str,
    attempt_id: str,
    reason: Literal["start_deadline", "heartbeat", "timeout"],
    *,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """``attempt_timed_out`` under ``timeout:{attempt_id}``."""
    payload = AttemptTimedOutV1(
        run_id=run_id, task_key=task_key, attempt_id=attempt_id, reason=reason
    )
    key = idempotency_key("timeout", attempt_id)
    return _event(ATTEMPT_TIMED_OUT, payload.model_dump(), key, occurred_ms, source)


def run_cancel_requested(
    run_id: str,
    reason: str | None = None,
    *,
    occurred_ms: int | None = None,
    source: str = SOURCE,
) -> EventEnvelope:
    """``run_cancel_requested`` under ``cancel:{run_id}``."""
    payload = RunCancelRequestedV1(run_id=run_id, reason=reason)
    key = idempotency_key("cancel", run_id)
    return _event(RUN_CANCEL_REQUESTED, payload.model_dump(), key, occurred_ms, source)


def unplanned_expired(
    state: RunsState, runs: Iterable[RunRow], now_ms: int, timeout_s: float
) -> tuple[list[EventEnvelope], int | None]:
    """The timer of a run whose trigger's parts have not all been folded (the process that
    triggered it died between appends, and no ``run_key`` retry came): such a run cannot be
    dispatched, so ``timeout_s`` after its creation it is cancelled (``cancel:{run_id}``,
    with the reason: how many of its tasks arrived). The cancel events due among ``runs``
    at ``now_ms``, and when the next such timer fires."""
    events: list[EventEnvelope] = []
    due: int | None = None
    for run in runs:
        if run.state in RUN_TERMINAL or state.planned(run.run_id):
            continue
        deadline = run.created_at + int(timeout_s * 1000)
        if now_ms < deadline:
            due = deadline if due is None else min(due, deadline)
            continue
        present = state.tasks_present(run.run_id)
        reason = (
            f"the run's plan did not arrive in full: {present} of its {run.task_count} tasks "
            f"{timeout_s:g} s after it was triggered (the parts of its trigger were not all "
            f"appended)"
        )
        events.append(run_cancel_requested(run.run_id, reason, occurred_ms=now_ms))
    return events, due


def run_key_record(run_key: str) -> str:
    """The key (in the scoped store) of the create-only record of a ``run_key``."""
    return request_record_key(RUNS.name, f"run_key:{run_key}")


def _newest_first(row: RunRow) -> str:
    return f"{_MAX_MS - row.created_at:016d}/{row.run_id}"


class Runs:
    """Append run events and read the runs, tasks and attempts folded from them, for one
    ``(tenant, workspace)`` scope of an object store (``store`` is the *root* store)."""

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
        self.compactor: Compactor[RunsState] = Compactor(self.store, RUNS, options=options)
        self._ingestor = Ingestor(
            self.store, RUNS, fold=fold, compactor=self.compactor, linger_s=linger_s
        )
        self._sorted: tuple[RunsState, Sorted[RunRow]] | None = None
        self._view = PendingView(self._ingestor, self.compactor)
        self._mutex = threading.Lock()

    @classmethod
    def open(cls, url: str, scope: Scope = DEFAULT_SCOPE, **options: Any) -> Runs:
        """Open the runs of a workspace on a store URL."""
        return cls(open_store(url), scope, **options)

    def close(self) -> None:
        """Fold what was appended, then stop background work."""
        self._ingestor.close()

    def __enter__(self) -> Runs:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- writes -------------------------------------------------------------------------

    def append(self, events: Sequence[EventEnvelope], *, fold: FoldMode | None = None) -> list[str]:
        """Append events (each checked first: type, version, payload); their ledger keys."""
        return self._ingestor.append(events, fold=fold)

    def trigger(
        self,
        request: RunTriggeredV1 | EventEnvelope,
        *,
        run_key: str | None = None,
        fold: FoldMode | None = None,
        max_bytes: int = PART_BYTES,
    ) -> str:
        """Append the ``run_triggered`` event of a run — or its parts, when the run is too
        large for one event (:func:`run_trigger_events`: every part in one ``append``) —;
        the run id.

        With a ``run_key`` (the argument, or the payload's) triggering is idempotent: the
        first request writes a create-only record of the key with its ``request_hash`` and
        every event of the trigger, then appends them. The same key with the same hash gets
        the recorded run id, and the recorded events are appended again (appends are
        at-least-once and copies fold once, so a trigger that failed after writing its
        record is completed by its retry); the same key with another hash is
        IdempotencyConflictError.
        """
        if isinstance(request, EventEnvelope):
            event = request
            if (event.event_type, event.event_version) != (RUN_TRIGGERED, 1):
                raise ValidationError(
                    f"event_type: must be {RUN_TRIGGERED} version 1 "
                    f"(got {event.event_type!r} version {event.event_version})"
                )
            payload = RunTriggeredV1.from_payload(event.payload)
            if payload.parts != 1:
                raise ValidationError(
                    "payload.parts: a run in parts is triggered from its whole payload"
                )
            events = [event]
        else:
            payload = request
            if payload.parts != 1:
                raise ValidationError(
                    "payload.parts: a run in parts is triggered from its whole payload"
                )
            if run_key is not None and payload.run_key is None:
                payload = payload.model_copy(update={"run_key": run_key})
            events = run_trigger_events(payload, max_bytes=max_bytes)
        if run_key is not None and payload.run_key not in (None, run_key):
            raise ValidationError(
                f"run_key: {run_key!r} differs from the payload's run_key {payload.run_key!r}"
            )
        if isinstance(request, EventEnvelope):
            RUNS.check(event)  # an invalid request writes nothing, not even its record
        key = run_key if run_key is not None else payload.run_key
        if key is None:
            self.append(events, fold=fold)
            return payload.run_id
        events, record = record_request(
            self.store,
            run_key_record(key),
            payload.request_hash,
            events,
            extra={"run_key": key, "run_id": payload.run_id},
            conflict=lambda stored: (
                f"run_key: {key!r} was already used with a different request "
                f"(run {stored.get('run_id')!r})"
            ),
        )
        self.append(events, fold=fold)
        return str(record["run_id"])

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything appended so far has been folded; False on timeout."""
        return self._ingestor.flush(timeout)

    def compact(self) -> CompactionResult:
        """One anti-entropy pass: fold every ledger object not folded yet."""
        return self.compactor.anti_entropy()

    def compact_periodic(self) -> CompactionResult:
        """One pass of a compaction loop (:meth:`Compactor.periodic_pass`)."""
        return self.compactor.periodic_pass()

    # --- reads --------------------------------------------------------------------------

    def state(self) -> RunsState:
        """The compactor's head with what this process appended and no round has published
        yet folded in memory (:class:`~arco.tier2.preview.PendingView`): a process reads its
        own events at once, while rounds batch their publication."""
        return self._view.state()

    def get_run(self, run_id: str) -> Run:
        row = self.state().runs.get(run_id)
        if row is None:
            raise NotFoundError(f"run {run_id!r} does not exist")
        return Run.from_row(row)

    def list_runs(
        self,
        *,
        state: str | None = None,
        page_token: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page[Run]:
        """Runs, newest first (by creation), optionally only those in ``state``."""
        if state is not None and state not in RUN_STATES:
            raise ValidationError(f"state: must be one of {', '.join(RUN_STATES)} (got {state!r})")
        ordered = self._ordered(self.state())
        if state is not None:
            keep = [i for i, row in enumerate(ordered.rows) if row.state == state]
            ordered = Sorted([ordered.keys[i] for i in keep], [ordered.rows[i] for i in keep])
        rows, token = paginate(ordered, page_token, limit)
        return Page[Run](items=[Run.from_row(r) for r in rows], next_page_token=token)

    def tasks(self, run_id: str) -> list[Task]:
        """The tasks of a run, by task key (NotFoundError if the run does not exist)."""
        state = self.state()
        if run_id not in state.runs:
            raise NotFoundError(f"run {run_id!r} does not exist")
        return [Task.from_row(t) for t in state.tasks_of(run_id)]

    def attempts(self, run_id: str, task_key: str | None = None) -> list[Attempt]:
        """The attempts of a run (or of one task), by task key, oldest first."""
        state = self.state()
        if run_id not in state.runs:
            raise NotFoundError(f"run {run_id!r} does not exist")
        if task_key is not None and state.task(run_id, task_key) is None:
            raise NotFoundError(f"run {run_id!r} has no task {task_key!r}")
        return [Attempt.from_row(a) for a in state.attempts_of(run_id, task_key)]

    def get_attempt(self, attempt_id: str) -> Attempt:
        row = self.state().attempts.get(attempt_id)
        if row is None:
            raise NotFoundError(f"attempt {attempt_id!r} does not exist")
        return Attempt.from_row(row)

    def _ordered(self, state: RunsState) -> Sorted[RunRow]:
        with self._mutex:
            if self._sorted is not None and self._sorted[0] is state:
                return self._sorted[1]
        keyed = sorted((_newest_first(r), r) for r in state.runs.values())
        ordered = Sorted([k for k, _ in keyed], [r for _, r in keyed])
        with self._mutex:
            self._sorted = (state, ordered)
        return ordered
