"""The fold functions of the ``runs`` domain: the state machines of runs, tasks and attempts.

Each fold first decides whether its event is a legal transition from the rows it meets and
only then writes. Anything else (an unknown run or task, an attempt id that is not the
task's current attempt, a second success, a dispatch of a blocked task, ...) folds to
``stale`` with the reason, and writes nothing: a zombie worker or a late callback cannot
change a newer attempt's result.

Task states: BLOCKED / READY → DISPATCHED → RUNNING → SUCCEEDED | FAILED | RETRY_WAIT (→
DISPATCHED again) | SKIPPED (an upstream task failed) | CANCELLED. Run states: TRIGGERED →
RUNNING → SUCCEEDED | FAILED | CANCELLED (via CANCELLING). Readiness is per edge: a blocked
task becomes READY when every one of its upstream tasks is SUCCEEDED, read from their
states, so a duplicated success cannot count twice. After every applied event the run's
state is recomputed from the counts of its tasks' states.

Every time is the event's ``occurred_at`` (:attr:`arco.tier2.compactor.Fold.occurred_ms`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from arco.core import canonical_json
from arco.metadata.domain import Changes
from arco.orchestration.runs.payloads import (
    AttemptCompletedV1,
    AttemptHeartbeatV1,
    AttemptStartedV1,
    AttemptTimedOutV1,
    RetryV1,
    RunCancelRequestedV1,
    RunTriggeredV1,
    TaskDispatchedV1,
)
from arco.orchestration.runs.schema import (
    ATTEMPT_ACTIVE,
    BLOCKED,
    CANCELLED,
    CANCELLING,
    DISPATCHED,
    FAILED,
    READY,
    RETRY_WAIT,
    RUN_TERMINAL,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    TASK_ACTIVE,
    TASK_TERMINAL,
    TIMED_OUT,
    TRIGGERED,
    AttemptRow,
    RunRow,
    TaskRow,
    task_id,
)
from arco.orchestration.runs.state import RunsState
from arco.tier2.compactor import Fold, FoldResult

__all__ = [
    "fold_attempt_completed",
    "fold_attempt_heartbeat",
    "fold_attempt_started",
    "fold_attempt_timed_out",
    "fold_run_cancel_requested",
    "fold_run_triggered",
    "fold_task_dispatched",
    "retry_delay_ms",
]


def retry_delay_ms(retry: RetryV1, attempt: int, attempt_id: str) -> int:
    """How long after attempt ``attempt`` failed the next one may be dispatched, in ms.

    The base is ``min(max_backoff_s, backoff_s * factor**(attempt - 1))`` seconds; the
    jitter moves it by up to ``jitter`` of itself either way, by a fraction derived from
    ``sha256(attempt_id)``, so every process computes the same delay for the same attempt:
    the result lies in ``[base * (1 - jitter), base * (1 + jitter)]`` (rounded to ms).
    """
    try:
        grown = retry.backoff_s * retry.factor ** max(attempt - 1, 0)
    except OverflowError:
        grown = retry.max_backoff_s
    base = min(retry.max_backoff_s, grown)
    digest = hashlib.sha256(attempt_id.encode("utf-8")).digest()
    fraction = int.from_bytes(digest[:8], "big") / float(1 << 64)  # in [0, 1)
    delay = base * (1.0 + retry.jitter * (2.0 * fraction - 1.0))
    return max(0, round(delay * 1000))


def _json(value: object) -> str:
    return canonical_json.canonical_dumps(value).decode("utf-8")


_DEFAULT_RETRY_JSON = _json(RetryV1().to_json())


def _stale(reason: str) -> FoldResult:
    return ("stale", reason)


# --- writing rows -------------------------------------------------------------------------


def _put_run(changes: Changes[RunsState], fold: Fold, run: RunRow, **fields: Any) -> RunRow:
    row = dataclasses.replace(run, **fields, event_order=fold.event_order, version=fold.ctx.version)
    changes.upsert("runs", row.run_id, row)
    return row


def _put_task(changes: Changes[RunsState], fold: Fold, task: TaskRow, **fields: Any) -> TaskRow:
    row = dataclasses.replace(
        task,
        **fields,
        updated_at=fold.occurred_ms,
        event_order=fold.event_order,
        version=fold.ctx.version,
    )
    changes.upsert("tasks", row.id, row)
    return row


def _put_attempt(
    changes: Changes[RunsState], fold: Fold, attempt: AttemptRow, **fields: Any
) -> AttemptRow:
    row = dataclasses.replace(
        attempt, **fields, event_order=fold.event_order, version=fold.ctx.version
    )
    changes.upsert("attempts", row.attempt_id, row)
    return row


def _settle(changes: Changes[RunsState], fold: Fold, run_id: str) -> None:
    """Recompute the run's state from its tasks: it ends once every task is terminal.

    (A CANCELLING run has only in-flight tasks left besides terminal ones, so "no active
    task left" and "every task terminal" coincide for it.)
    """
    state = changes.state
    run: RunRow = state.runs[run_id]
    if run.state in RUN_TERMINAL:
        return
    total = run.task_count
    if run.state == CANCELLING:
        # a run cancelled before every part of its trigger arrived ends with what it has
        total = state.tasks_present(run_id)
    if state.count(run_id, TASK_TERMINAL) < total:
        return
    reason: str | None
    if state.count(run_id, (SUCCEEDED,)) == run.task_count:
        outcome, reason = SUCCEEDED, None
    elif run.state == CANCELLING:
        outcome, reason = CANCELLED, run.reason
    else:
        outcome = FAILED
        failed = next((t.task_key for t in state.tasks_of(run_id) if t.state == FAILED), None)
        reason = f"task {failed!r} failed" if failed is not None else "not every task succeeded"
    _put_run(changes, fold, run, state=outcome, reason=reason, ended_at=fold.occurred_ms)


# --- run_triggered ------------------------------------------------------------------------


def _header(p: RunTriggeredV1) -> dict[str, Any]:
    """The run row's fields a trigger sets (every part of one trigger sets the same)."""
    return {
        "run_key": p.run_key,
        "request_hash": p.request_hash,
        "deployment": p.deployment,
        "plan_fingerprint": p.plan_fingerprint,
        "selection": _json(list(p.selection)),
        "executor": p.executor,
        "priority": p.priority,
        "tags": _json(dict(p.tags)),
        "parent_run_id": p.parent_run_id,
        "task_count": p.total_tasks,
    }


def fold_run_triggered(fold: Fold, p: RunTriggeredV1, changes: Changes[RunsState]) -> FoldResult:
    """Create the run (TRIGGERED) and its tasks — or, for a trigger in parts, the run with
    the first part folded (whichever it is) and the part's tasks.

    Tasks in ``done`` start SUCCEEDED. Readiness is decided once the run has every task
    (its last part folded, in whatever order the parts came): a task whose upstream tasks
    all succeeded is READY, the others BLOCKED; until then every task that is not done is
    BLOCKED, so nothing of a partial run can be dispatched. A part is stale when its run
    exists with another header, is terminal, or has its tasks already; a one-part trigger
    of a known run id is stale.
    """
    state = changes.state
    header = _header(p)
    run: RunRow | None = state.runs.get(p.run_id)
    now = fold.occurred_ms
    if run is None:
        run = RunRow(
            run_id=p.run_id,
            state=TRIGGERED,
            reason=None,
            created_at=now,
            started_at=None,
            ended_at=None,
            cancel_requested_at=None,
            event_order=fold.event_order,
            version=fold.ctx.version,
            **header,
        )
        changes.upsert("runs", run.run_id, run)
    elif p.parts == 1:
        return _stale(f"run {p.run_id!r} already exists")
    else:
        if run.state in RUN_TERMINAL:
            return _stale(f"run {p.run_id!r} is {run.state} (part {p.part} came too late)")
        differ = sorted(k for k, v in header.items() if getattr(run, k) != v)
        if differ:
            return _stale(
                f"part {p.part} of run {p.run_id!r} does not match the run "
                f"({', '.join(differ)} differ)"
            )
        for t in p.tasks:
            if state.task(p.run_id, t.task_key) is not None:
                return _stale(f"run {p.run_id!r} already has task {t.task_key!r}")
        if state.tasks_present(p.run_id) + len(p.tasks) > run.task_count:
            return _stale(f"run {p.run_id!r} would have more than its {run.task_count} tasks")
    done = set(p.done)
    cancelled = run.state == CANCELLING
    # by task key: the order the state indexes a run's tasks in, also when loading them
    for t in sorted(p.tasks, key=lambda t: t.task_key):
        if cancelled:
            task_state = CANCELLED
        elif t.task_key in done:
            task_state = SUCCEEDED
        elif p.parts == 1 and all(u in done for u in t.upstream):
            task_state = READY  # (the whole run: no need to wait for the rest)
        else:
            task_state = BLOCKED
        output = p.outputs.get(t.task_key)
        row = TaskRow(
            id=task_id(p.run_id, t.task_key),
            run_id=p.run_id,
            task_key=t.task_key,
            asset_key=t.asset_key,
            partition_key=t.partition_key,
            stage=t.stage,
            upstream=_json(list(t.upstream)),
            state=task_state,
            attempt=0,
            attempt_id=None,
            max_attempts=t.max_attempts,
            retry=_DEFAULT_RETRY_JSON if t.retry_is_default else _json(t.retry.to_json()),
            timeout_s=t.timeout_s,
            pools=_json(list(t.pools)) if t.pools else "[]",
            retry_at=None,
            output=None if output is None else _json(output),
            error=None,
            updated_at=now,
            event_order=fold.event_order,
            version=fold.ctx.version,
        )
        changes.upsert("tasks", row.id, row)
    if p.parts > 1 and not cancelled and state.planned(p.run_id):
        _planned(changes, fold, p.run_id)
    _settle(changes, fold, p.run_id)
    return "applied"


def _planned(changes: Changes[RunsState], fold: Fold, run_id: str) -> None:
    """The last part of a trigger was folded: check the whole plan (every upstream key
    names a task of the run, no cycle), then make READY every blocked task whose upstream
    tasks all succeeded. A plan that fails the check fails the run (its tasks are SKIPPED):
    only hand-made parts can, :func:`split_trigger` cuts a checked plan."""
    state = changes.state
    tasks = list(state.tasks_of(run_id))
    upstream = {t.task_key: state.upstream(t) for t in tasks}
    problem = _plan_problem(upstream)
    if problem is not None:
        for t in tasks:
            if t.state not in TASK_TERMINAL:
                _put_task(changes, fold, t, state=SKIPPED, error=f"invalid plan: {problem}")
        run: RunRow = state.runs[run_id]
        _put_run(
            changes,
            fold,
            run,
            state=FAILED,
            reason=f"the run's plan is invalid: {problem}",
            ended_at=fold.occurred_ms,
        )
        return
    succeeded = {t.task_key for t in tasks if t.state == SUCCEEDED}
    for t in tasks:
        if t.state == BLOCKED and all(u in succeeded for u in upstream[t.task_key]):
            _put_task(changes, fold, t, state=READY)


def _plan_problem(upstream: dict[str, list[str]]) -> str | None:
    """Why a run's dependencies are not a plan (an unknown upstream task, a cycle), if so."""
    downstream: dict[str, list[str]] = {k: [] for k in upstream}
    pending = dict.fromkeys(upstream, 0)
    for key, ups in upstream.items():
        for up in ups:
            if up not in downstream:
                return f"task {key!r} depends on {up!r}, which is not a task of the run"
            downstream[up].append(key)
            pending[key] += 1
    ready = [k for k, n in pending.items() if n == 0]
    seen = 0
    while ready:
        key = ready.pop()
        seen += 1
        for child in downstream[key]:
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
    if seen == len(upstream):
        return None
    return f"the dependencies have a cycle through {min(k for k, n in pending.items() if n)!r}"


# --- task_dispatched ----------------------------------------------------------------------


def fold_task_dispatched(
    fold: Fold, p: TaskDispatchedV1, changes: Changes[RunsState]
) -> FoldResult:
    """READY (or RETRY_WAIT once ``retry_at`` is reached) → DISPATCHED with attempt
    ``task.attempt + 1``; the run goes TRIGGERED → RUNNING."""
    state = changes.state
    run: RunRow | None = state.runs.get(p.run_id)
    if run is None:
        return _stale(f"run {p.run_id!r} does not exist")
    if run.state not in (TRIGGERED, RUNNING):
        return _stale(f"run {p.run_id!r} is {run.state}")
    if not state.planned(p.run_id):
        return _stale(
            f"run {p.run_id!r} has {state.tasks_present(p.run_id)} of its {run.task_count} "
            f"tasks (its trigger's other parts have not been folded)"
        )
    task = state.task(p.run_id, p.task_key)
    if task is None:
        return _stale(f"run {p.run_id!r} has no task {p.task_key!r}")
    if p.attempt != task.attempt + 1:
        return _stale(
            f"task {p.task_key!r} is at attempt {task.attempt}: attempt {p.attempt} "
            f"is not the next one"
        )
    if p.attempt > task.max_attempts:
        return _stale(f"task {p.task_key!r} allows {task.max_attempts} attempts")
    if task.state == RETRY_WAIT:
        if task.retry_at is not None and fold.occurred_ms < task.retry_at:
            return _stale(
                f"task {p.task_key!r} waits to retry until {task.retry_at} "
                f"(the dispatch occurred at {fold.occurred_ms})"
            )
    elif task.state != READY:
        return _stale(f"task {p.task_key!r} is {task.state}, not READY")
    if p.attempt_id in state.attempts:
        return _stale(f"attempt id {p.attempt_id!r} is already used")
    now = fold.occurred_ms
    attempt = AttemptRow(
        attempt_id=p.attempt_id,
        run_id=p.run_id,
        task_key=p.task_key,
        attempt=p.attempt,
        state=DISPATCHED,
        executor=p.executor,
        worker=None,
        dispatched_at=now,
        start_deadline=p.start_deadline_ms,
        started_at=None,
        heartbeat_at=None,
        ended_at=None,
        error=None,
        error_category=None,
        retryable=None,
        cancel_requested=False,
        output=None,
        event_order=fold.event_order,
        version=fold.ctx.version,
    )
    changes.upsert("attempts", attempt.attempt_id, attempt)
    _put_task(
        changes,
        fold,
        task,
        state=DISPATCHED,
        attempt=p.attempt,
        attempt_id=p.attempt_id,
        retry_at=None,
    )
    if run.state == TRIGGERED:
        _put_run(changes, fold, run, state=RUNNING, started_at=now)
    return "applied"


# --- attempt callbacks --------------------------------------------------------------------


def _current(
    state: RunsState, run_id: str, task_key: str, attempt_id: str
) -> tuple[RunRow, TaskRow, AttemptRow] | str:
    """The run, task and attempt an attempt event is about, if the attempt is the task's
    current one and still in flight; else why the event is stale."""
    run: RunRow | None = state.runs.get(run_id)
    if run is None:
        return f"run {run_id!r} does not exist"
    task = state.task(run_id, task_key)
    if task is None:
        return f"run {run_id!r} has no task {task_key!r}"
    if task.attempt_id != attempt_id:
        return (
            f"attempt {attempt_id!r} is not the current attempt of task {task_key!r} "
            f"(that is {task.attempt_id!r})"
        )
    attempt: AttemptRow | None = state.attempts.get(attempt_id)
    if attempt is None:  # pragma: no cover - a task's attempt id always names a row
        return f"attempt {attempt_id!r} does not exist"
    if attempt.state not in ATTEMPT_ACTIVE or task.state not in TASK_ACTIVE:
        return f"attempt {attempt_id!r} is {attempt.state} (task {task.state})"
    return run, task, attempt


def fold_attempt_started(
    fold: Fold, p: AttemptStartedV1, changes: Changes[RunsState]
) -> FoldResult:
    """The current attempt DISPATCHED → RUNNING (the task too)."""
    found = _current(changes.state, p.run_id, p.task_key, p.attempt_id)
    if isinstance(found, str):
        return _stale(found)
    _, task, attempt = found
    if attempt.state != DISPATCHED:
        return _stale(f"attempt {p.attempt_id!r} already started")
    now = fold.occurred_ms
    _put_attempt(
        changes,
        fold,
        attempt,
        state=RUNNING,
        worker=p.worker if p.worker is not None else attempt.worker,
        started_at=now,
        heartbeat_at=now,
    )
    _put_task(changes, fold, task, state=RUNNING)
    return "applied"


def fold_attempt_heartbeat(
    fold: Fold, p: AttemptHeartbeatV1, changes: Changes[RunsState]
) -> FoldResult:
    """The current attempt is alive: ``heartbeat_at`` moves on (a DISPATCHED attempt that
    sends one has started)."""
    found = _current(changes.state, p.run_id, p.task_key, p.attempt_id)
    if isinstance(found, str):
        return _stale(found)
    _, task, attempt = found
    now = fold.occurred_ms
    if attempt.state == DISPATCHED:
        _put_attempt(changes, fold, attempt, state=RUNNING, started_at=now, heartbeat_at=now)
        _put_task(changes, fold, task, state=RUNNING)
        return "applied"
    beat = now if attempt.heartbeat_at is None else max(attempt.heartbeat_at, now)
    _put_attempt(changes, fold, attempt, heartbeat_at=beat)
    return "applied"


def fold_attempt_completed(
    fold: Fold, p: AttemptCompletedV1, changes: Changes[RunsState]
) -> FoldResult:
    """The current attempt ended. Success: the task SUCCEEDED and each blocked downstream
    task whose upstream tasks all succeeded READY. Failure: see :func:`_failed`."""
    found = _current(changes.state, p.run_id, p.task_key, p.attempt_id)
    if isinstance(found, str):
        return _stale(found)
    run, task, attempt = found
    if p.status == "failed":
        _failed(
            changes,
            fold,
            run,
            task,
            attempt,
            attempt_state=FAILED,
            error=p.error,
            category=p.error_category,
            retryable=p.retryable,
        )
        _settle(changes, fold, run.run_id)
        return "applied"
    output = None if p.output is None else _json(p.output)
    now = fold.occurred_ms
    _put_attempt(
        changes,
        fold,
        attempt,
        state=SUCCEEDED,
        ended_at=now,
        started_at=attempt.started_at if attempt.started_at is not None else now,
        output=output,
    )
    _put_task(changes, fold, task, state=SUCCEEDED, output=output, error=None, retry_at=None)
    state = changes.state
    for key in state.downstream(run.run_id, task.task_key):
        child = state.tasks[task_id(run.run_id, key)]
        if child.state != BLOCKED:
            continue
        upstream = state.upstream(child)
        if all(state.tasks[task_id(run.run_id, u)].state == SUCCEEDED for u in upstream):
            _put_task(changes, fold, child, state=READY)
    _settle(changes, fold, run.run_id)
    return "applied"


def fold_attempt_timed_out(
    fold: Fold, p: AttemptTimedOutV1, changes: Changes[RunsState]
) -> FoldResult:
    """A deadline of the current attempt passed: the attempt TIMED_OUT, and the task is
    treated as after a retryable failure (its error is the reason)."""
    found = _current(changes.state, p.run_id, p.task_key, p.attempt_id)
    if isinstance(found, str):
        return _stale(found)
    run, task, attempt = found
    _failed(
        changes,
        fold,
        run,
        task,
        attempt,
        attempt_state=TIMED_OUT,
        error=p.reason,
        category="timeout",
        retryable=True,
    )
    _settle(changes, fold, run.run_id)
    return "applied"


def _failed(
    changes: Changes[RunsState],
    fold: Fold,
    run: RunRow,
    task: TaskRow,
    attempt: AttemptRow,
    *,
    attempt_state: str,
    error: str | None,
    category: str | None,
    retryable: bool,
) -> None:
    """An attempt failed. In a run being cancelled the task is CANCELLED (whatever the
    failure: the run stops); else a retryable failure with attempts left → RETRY_WAIT, and
    any other the task FAILED and every descendant not terminal and not in flight SKIPPED
    (in-flight ones finish: their results stand)."""
    now = fold.occurred_ms
    cancelling = run.state == CANCELLING
    if attempt_state == FAILED and attempt.cancel_requested:
        attempt_state = CANCELLED
    _put_attempt(
        changes,
        fold,
        attempt,
        state=attempt_state,
        ended_at=now,
        error=error,
        error_category=category,
        retryable=retryable,
    )
    if cancelling:
        _put_task(changes, fold, task, state=CANCELLED, error=error)
        return
    if retryable and task.attempt < task.max_attempts:
        retry = RetryV1.model_validate(canonical_json.loads(task.retry))
        retry_at = now + retry_delay_ms(retry, task.attempt, attempt.attempt_id)
        _put_task(changes, fold, task, state=RETRY_WAIT, error=error, retry_at=retry_at)
        return
    _put_task(changes, fold, task, state=FAILED, error=error)
    _skip_descendants(changes, fold, run.run_id, task.task_key)


def _skip_descendants(
    changes: Changes[RunsState], fold: Fold, run_id: str, failed_key: str
) -> None:
    state = changes.state
    seen: set[str] = set()
    todo: list[str] = list(state.downstream(run_id, failed_key))
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        todo.extend(state.downstream(run_id, key))
        child = state.tasks[task_id(run_id, key)]
        if child.state in TASK_TERMINAL or child.state in TASK_ACTIVE:
            continue
        _put_task(
            changes,
            fold,
            child,
            state=SKIPPED,
            retry_at=None,
            error=f"upstream task {failed_key!r} failed",
        )


# --- run_cancel_requested -----------------------------------------------------------------


def fold_run_cancel_requested(
    fold: Fold, p: RunCancelRequestedV1, changes: Changes[RunsState]
) -> FoldResult:
    """A run that is not terminal (nor cancelling) → CANCELLING: tasks not yet dispatched
    (BLOCKED, READY, RETRY_WAIT) are CANCELLED and in-flight attempts are asked to stop
    (``cancel_requested``); the run is CANCELLED once none is left in flight."""
    state = changes.state
    run: RunRow | None = state.runs.get(p.run_id)
    if run is None:
        return _stale(f"run {p.run_id!r} does not exist")
    if run.state in RUN_TERMINAL or run.state == CANCELLING:
        return _stale(f"run {p.run_id!r} is {run.state}")
    now = fold.occurred_ms
    _put_run(
        changes,
        fold,
        run,
        state=CANCELLING,
        cancel_requested_at=now,
        reason=p.reason if p.reason is not None else "cancel requested",
    )
    for task in list(state.tasks_of(p.run_id)):
        if task.state in (BLOCKED, READY, RETRY_WAIT):
            _put_task(changes, fold, task, state=CANCELLED, retry_at=None)
        elif task.state in TASK_ACTIVE and task.attempt_id is not None:
            attempt: AttemptRow = state.attempts[task.attempt_id]
            if not attempt.cancel_requested:
                _put_attempt(changes, fold, attempt, cancel_requested=True)
    _settle(changes, fold, p.run_id)
    return "applied"
