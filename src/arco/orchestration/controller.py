"""The controller: moves runs forward from the run projections (ADR 015).

It is stateless: every pass reads the ``runs`` projection, decides, and appends events with
deterministic idempotency keys; the run state machine (:mod:`arco.orchestration.runs`)
decides what each event means. Invariants:

* **fenced**: one controller per workspace and lease name acts; it holds a lease
  (:class:`arco.tier1.lock.LeaseLock`) renewed every pass, and a controller whose lease is
  lost stops acting before its next decision. Others try to take the lease and do nothing
  else. Even two acting controllers cannot double a transition: ``dispatch:{run}:{task}:{n}``
  folds once, and an attempt is handed to the executor only after the projection shows
  that *this* controller's attempt id won;
* **fresh**: it acts only on a projection that holds everything appended in this process
  (:meth:`Runs.state` folds what no round has published yet in memory) and a listing of
  the ledger at most ``max_staleness_s`` old (events appended by other processes);
* **no run hangs**: every non-terminal task state has a timer here — READY is dispatched
  when capacity allows, RETRY_WAIT at its ``retry_at``, DISPATCHED must start before its
  start deadline, RUNNING must heartbeat within ``heartbeat_timeout_s`` and finish within
  its timeout; an attempt that misses one is timed out (a retryable failure). A CANCELLING
  run's running attempts are asked to stop and timed out after ``cancel_grace_s``. A run
  whose trigger came in parts and is still missing some ``plan_timeout_s`` after its
  creation (the triggering process died between its appends) is cancelled, saying so.
* **limits**: at most ``max_concurrent_runs`` runs are active (the others wait, highest
  priority first, then oldest); at most the executor's capacity of attempts run at once,
  and at most ``pool_limits[p]`` attempts of tasks in pool ``p``; with a
  :class:`~arco.orchestration.capacity.SharedCapacity` (a server's workspaces), no more
  than this controller's fair share of the capacity common to all of them.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from arco.core.canonical_json import loads as json_loads
from arco.core.clock import SYSTEM_CLOCK, Clock, rfc3339_ms
from arco.core.ids import new_ulid
from arco.errors import ArcoError, FencedError, LockTimeoutError
from arco.orchestration import runs as run_events
from arco.orchestration.capacity import SharedCapacity
from arco.orchestration.dispatch import TaskEnvelope
from arco.orchestration.executors import Executor
from arco.orchestration.manifest import AssetSpec, DefinitionsManifest
from arco.orchestration.runs import (
    CANCELLING,
    DISPATCHED,
    READY,
    RETRY_WAIT,
    TASK_ACTIVE,
    TRIGGERED,
    AttemptRow,
    RunRow,
    Runs,
    RunsState,
    TaskRow,
)
from arco.tier1.lock import Lease, LeaseLock
from arco.tier2.envelope import EventEnvelope

__all__ = ["Controller", "ControllerOptions", "Pass", "lease_name", "waiting_reason"]

log = logging.getLogger(__name__)

Reason = Literal["start_deadline", "heartbeat", "timeout"]

#: how far before its previous listing a controller lists the ledger again (clock skew
#: between the processes that mint events)
LISTING_SKEW_MS = 5_000


def _json_list(text: str) -> list[str]:
    value = json_loads(text)
    return [str(v) for v in value] if isinstance(value, list) else []


@dataclass
class ControllerOptions:
    """Limits and timers of a controller; the defaults suit a small deployment."""

    max_concurrent_runs: int = 16
    #: an attempt must report ``started`` this long after its dispatch
    start_timeout_s: float = 120.0
    #: ... and then a heartbeat at least this often
    heartbeat_timeout_s: float = 60.0
    #: how often attempts send heartbeats (in the envelope)
    heartbeat_interval_s: float = 10.0
    #: how long a cancelled run's running attempts have to stop
    cancel_grace_s: float = 30.0
    #: a run whose trigger's parts have not all been folded this long after its creation
    #: is cancelled (the process that triggered it died between its appends)
    plan_timeout_s: float = 300.0
    #: a run still TRIGGERED this long after its creation, whose executor no controller has
    #: served (held its lease) for as long, is cancelled with that reason (0: never)
    orphan_timeout_s: float = 3600.0
    #: the newest ledger listing a decision may rely on (for other processes' events)
    max_staleness_s: float = 2.0
    #: attempts of tasks in a pool that may run at once, by pool name
    pool_limits: Mapping[str, int] = field(default_factory=dict)
    lease_ms: int = 15_000
    #: longest sleep between passes when no timer is due sooner
    idle_wait_s: float = 1.0


@dataclass
class Pass:
    """What one :meth:`Controller.step` did."""

    acting: bool
    dispatched: int = 0
    timed_out: int = 0
    cancel_requests: int = 0
    #: the earliest instant (ms) at which a timer of an active run fires
    next_due_ms: int | None = None


@dataclass
class _Dispatch:
    envelope: TaskEnvelope
    event: EventEnvelope


class Controller:
    """Advance the runs of one workspace that use ``executor``.

    ``definitions(fingerprint)`` returns the deployed manifest a run was planned from (for
    entry points and code versions); ``code_location`` is where executors load code from.
    """

    def __init__(
        self,
        runs: Runs,
        executor: Executor,
        definitions: Callable[[str | None], DefinitionsManifest],
        *,
        lease: LeaseLock,
        options: ControllerOptions | None = None,
        code_location: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        callback_url: str | None = None,
        token_for: Callable[[TaskEnvelope], str] | None = None,
        shared: SharedCapacity | None = None,
        member: str | None = None,
    ) -> None:
        self.runs = runs
        #: capacity shared with the controllers of other workspaces (a server's), if any
        self.shared = shared
        self._member = member or f"controller-{new_ulid()}"
        self.executor = executor
        self.options = options or ControllerOptions()
        self._definitions = definitions
        self._lock = lease
        self._lease: Lease | None = None
        self._code_location = code_location
        self._clock = clock
        self._callback_url = callback_url
        self._token_for = token_for
        self._listed_ms: int | None = None
        self._relist = False
        self._wake = threading.Event()
        self._passes = threading.Condition()
        self._passes_taken = 0
        self._cancels_sent: set[str] = set()
        self._specs: dict[str | None, dict[str, AssetSpec]] = {}
        if shared is not None:
            self.share(shared)

    def share(self, shared: SharedCapacity) -> None:
        """Dispatch within ``shared`` (with the other controllers that use it) from now on."""
        self.shared = shared
        shared.join(self._member, self.wake)

    # --- the loop -----------------------------------------------------------------------

    def wake(self) -> None:
        """Make the loop take its next pass now (an event arrived)."""
        self._wake.set()

    def run(self, stop: threading.Event, *, until: Callable[[], bool] | None = None) -> None:
        """Take passes until ``stop`` is set (or ``until()`` is true), sleeping until the
        next timer, a wake-up or ``idle_wait_s``."""
        while not stop.is_set():
            self._wake.clear()
            try:
                done = self.step()
            except ArcoError as exc:
                log.warning("controller pass failed (retrying): %s", exc)
                done = Pass(acting=False)
            with self._passes:
                self._passes_taken += 1
                self._passes.notify_all()
            if until is not None and until():
                return
            wait = self.options.idle_wait_s
            if done.next_due_ms is not None:
                wait = min(wait, max(0.0, (done.next_due_ms - self._clock.now_ms()) / 1000))
            self._wake.wait(wait)

    def wait(self, seconds: float) -> None:
        """Sleep until woken (:meth:`wake`) or ``seconds`` pass."""
        if self._wake.wait(seconds):
            self._wake.clear()

    @property
    def passes(self) -> int:
        """How many passes :meth:`run` has taken so far."""
        with self._passes:
            return self._passes_taken

    def wait_for_pass(self, after: int, seconds: float) -> None:
        """Sleep until :meth:`run` has taken more than ``after`` passes, or ``seconds`` pass
        (what a thread that reads the projection between passes waits for)."""
        with self._passes:
            self._passes.wait_for(lambda: self._passes_taken > after, seconds)

    def close(self) -> None:
        """Give the lease back (and the shared capacity's share)."""
        if self.shared is not None:
            self.shared.leave(self._member)
        if self._lease is not None:
            self._lock.release(self._lease)
            self._lease = None

    # --- one pass -----------------------------------------------------------------------

    def step(self) -> Pass:
        """One pass: hold the lease, refresh the projection, enforce timers, dispatch."""
        if not self._hold_lease():
            if self.shared is not None:
                self.shared.grant(self._member, 0, 0)
            return Pass(acting=False)
        state = self._fresh_state()
        now = self._clock.now_ms()
        result = Pass(acting=True)
        events: list[EventEnvelope] = []
        dispatches: list[_Dispatch] = []
        # a run whose trigger's parts have not all arrived cannot start: its timer
        expired, due = run_events.unplanned_expired(
            state, filter(self._serves, state.active_runs()), now, self.options.plan_timeout_s
        )
        events.extend(expired)
        result.next_due_ms = due
        events.extend(self._orphans(state, now))
        active_runs = sorted(state.active_runs(), key=_queue_order)
        running = [r for r in active_runs if r.state != TRIGGERED]
        # (a run still missing parts of its trigger takes no place in the queue yet)
        waiting = [r for r in active_runs if r.state == TRIGGERED and state.planned(r.run_id)]
        admitted = running + waiting[: max(0, self.options.max_concurrent_runs - len(running))]
        busy, by_pool = self._in_flight(state, active_runs)
        ready: list[tuple[RunRow, list[TaskRow]]] = []
        wanted = 0
        for run in admitted:
            if not self._serves(run):
                continue
            live = list(state.live_tasks(run.run_id))
            candidates: list[TaskRow] = []
            for task in live:
                due = self._timers(state, run, task, now, events, result)
                if due is not None:
                    result.next_due_ms = _earliest(result.next_due_ms, due)
                if _dispatchable(task, now):
                    candidates.append(task)
                elif task.state == RETRY_WAIT and task.retry_at is not None:
                    result.next_due_ms = _earliest(result.next_due_ms, task.retry_at)
            if run.state != CANCELLING and candidates:
                ready.append((run, candidates))
                wanted += len(candidates)
        free = max(0, self.executor.capacity - busy)
        if self.shared is not None:
            free = self.shared.grant(self._member, busy, min(wanted, free))
        granted = free
        for run, candidates in ready:
            if free <= 0:
                break
            for task in _in_dispatch_order(candidates, free):
                if free <= 0:
                    break
                pools = _json_list(task.pools)
                if any(by_pool.get(p, 0) >= self._pool_limit(p) for p in pools):
                    continue
                dispatch = self._dispatch(run, task, now)
                dispatches.append(dispatch)
                events.append(dispatch.event)
                free -= 1
                for p in pools:
                    by_pool[p] = by_pool.get(p, 0) + 1
        if self.shared is not None:
            self.shared.release(self._member, granted - len(dispatches))
        if not events:
            return result
        try:
            self._ensure_lease()
        except FencedError as exc:  # e.g. this process was stopped during the pass
            self._lost(exc)
            return Pass(acting=False)
        self.runs.append(events, fold="background")
        after = self.runs.state()  # this process's events are folded in it already
        for d in dispatches:
            won = after.task(d.envelope.run_id, d.envelope.task_key)
            if won is not None and won.attempt_id == d.envelope.attempt_id:
                self.executor.submit(d.envelope)
                result.dispatched += 1
        return result

    # --- pieces -------------------------------------------------------------------------

    def _hold_lease(self) -> bool:
        try:
            if self._lease is None:
                self._lease = self._lock.try_acquire()
                return self._lease is not None
            self._lease = self._lock.ensure_valid(self._lease, self._lock.lease_ms // 2)
            return True
        except (FencedError, LockTimeoutError) as exc:
            self._lost(exc)
            return False

    def _lost(self, exc: Exception) -> None:
        """The lease is not (or no longer) held: act no more until it is taken again."""
        if self._lease is not None:
            log.warning("controller: lease lost, no longer acting: %s", exc)
            # before acting again (if the lease is free later), list what the controller
            # that took over appended meanwhile
            self._relist = True
        self._lease = None

    @property
    def holds_lease(self) -> bool:
        """Whether the last pass held the lease (this controller acts)."""
        return self._lease is not None

    def refresh(self) -> RunsState:
        """The projection with what other processes appended (listed at most every
        ``max_staleness_s``): what a controller that does not act follows runs with."""
        return self._fresh_state()

    def _ensure_lease(self) -> None:
        """FencedError unless the lease still has time left for the appends to come."""
        if self._lease is None:
            raise FencedError("controller: the lease is not held")
        self._lease = self._lock.ensure_valid(self._lease, self._lock.lease_ms // 2)

    def _fresh_state(self) -> RunsState:
        now = self._clock.now_ms()
        last = self._listed_ms
        if last is None:
            self.runs.compact_periodic()  # the first pass lists the whole ledger
            self._listed_ms = now
        elif self._relist or now - last > self.options.max_staleness_s * 1000:
            # what other processes appended since the last listing: their events are minted
            # when appended, so listing from a little before it (clock skew) finds them
            self.runs.compactor.anti_entropy(since_ms=last - LISTING_SKEW_MS)
            self._listed_ms = now
            self._relist = False
        return self.runs.state()

    def _orphans(self, state: RunsState, now: int) -> list[EventEnvelope]:
        """Cancel requests for the waiting runs of executors nobody serves (see
        ``orphan_timeout_s``): the one timer a TRIGGERED run has when no controller of its
        executor exists. Each executor's lease is read at most once a pass."""
        limit = int(self.options.orphan_timeout_s * 1000)
        if limit <= 0:
            return []
        leases: dict[str, bool] = {}
        out: list[EventEnvelope] = []
        for run in state.active_runs():
            if run.state != TRIGGERED or self._serves(run) or now - run.created_at < limit:
                continue
            served = leases.get(run.executor)
            if served is None:
                found = LeaseLock(self.runs.store, lease_name(run.executor)).read()
                served = found is not None and found.expires_at_ms > now - limit
                leases[run.executor] = served
            if not served:
                reason = (
                    f"no controller has served executor {run.executor!r} for "
                    f"{self.options.orphan_timeout_s:g} s (run it with arco runs wait, or an "
                    "arco serve with that executor)"
                )
                out.append(run_events.run_cancel_requested(run.run_id, reason))
        return out

    def _serves(self, run: RunRow) -> bool:
        return run.executor == self.executor.name

    def _pool_limit(self, pool: str) -> int:
        return self.options.pool_limits.get(pool, 1 << 30)

    def _in_flight(self, state: RunsState, runs: Iterable[RunRow]) -> tuple[int, dict[str, int]]:
        """Attempts dispatched or running, in total and by pool (of this executor's runs)."""
        busy = 0
        by_pool: dict[str, int] = {}
        for run in runs:
            if not self._serves(run):
                continue
            for task in state.live_tasks(run.run_id):
                if task.state in TASK_ACTIVE:
                    busy += 1
                    for p in _json_list(task.pools):
                        by_pool[p] = by_pool.get(p, 0) + 1
        return busy, by_pool

    def _timers(
        self,
        state: RunsState,
        run: RunRow,
        task: TaskRow,
        now: int,
        events: list[EventEnvelope],
        result: Pass,
    ) -> int | None:
        """Time out an active attempt whose deadline passed; the next deadline otherwise."""
        if task.state not in TASK_ACTIVE or task.attempt_id is None:
            return None
        attempt = state.attempts.get(task.attempt_id)
        if attempt is None:
            return None
        deadline, reason = self._deadline(run, task, attempt)
        if run.state == CANCELLING and attempt.attempt_id not in self._cancels_sent:
            self.executor.cancel(attempt.attempt_id)
            self._cancels_sent.add(attempt.attempt_id)
            result.cancel_requests += 1
        if now < deadline:
            return deadline
        events.append(
            run_events.attempt_timed_out(run.run_id, task.task_key, attempt.attempt_id, reason)
        )
        self.executor.cancel(attempt.attempt_id)  # if it still runs somewhere, stop it
        result.timed_out += 1
        return None

    def _deadline(self, run: RunRow, task: TaskRow, attempt: AttemptRow) -> tuple[int, Reason]:
        opts = self.options
        reason: Reason
        if attempt.state == DISPATCHED:
            deadline, reason = attempt.start_deadline, "start_deadline"
        else:
            alive = attempt.heartbeat_at or attempt.started_at or attempt.dispatched_at
            deadline, reason = alive + int(opts.heartbeat_timeout_s * 1000), "heartbeat"
            if task.timeout_s is not None and attempt.started_at is not None:
                limit = attempt.started_at + int(task.timeout_s * 1000)
                if limit < deadline:
                    deadline, reason = limit, "timeout"
        if run.state == CANCELLING and run.cancel_requested_at is not None:
            grace = run.cancel_requested_at + int(opts.cancel_grace_s * 1000)
            if grace < deadline:
                deadline, reason = grace, "timeout"
        return deadline, reason

    def _dispatch(self, run: RunRow, task: TaskRow, now: int) -> _Dispatch:
        specs = self._specs.get(run.deployment)
        if specs is None:
            manifest = self._definitions(run.deployment)
            specs = self._specs[run.deployment] = {a.key: a for a in manifest.assets}
        spec = specs[task.asset_key]
        attempt = task.attempt + 1
        attempt_id = new_ulid()
        envelope = TaskEnvelope(
            run_id=run.run_id,
            task_key=task.task_key,
            attempt=attempt,
            attempt_id=attempt_id,
            asset_key=task.asset_key,
            partition_key=task.partition_key,
            entry_point=spec.entry_point,
            code_location=self._code_location,
            code_version=spec.code_version,
            deployment=run.deployment,
            inputs=self._inputs(run, task),
            start_deadline_ms=now + int(self.options.start_timeout_s * 1000),
            timeout_s=task.timeout_s,
            # at least three heartbeats per timeout, whatever the two settings say
            heartbeat_interval_s=min(
                self.options.heartbeat_interval_s, self.options.heartbeat_timeout_s / 3
            ),
            callback_url=self._callback_url,
        )
        if self._token_for is not None:
            envelope = envelope.model_copy(update={"token": self._token_for(envelope)})
        event = run_events.task_dispatched(
            run.run_id,
            task.task_key,
            attempt,
            attempt_id,
            executor=self.executor.name,
            start_deadline_ms=envelope.start_deadline_ms,
        )
        return _Dispatch(envelope, event)

    def _inputs(self, run: RunRow, task: TaskRow) -> dict[str, list[dict[str, Any]] | None]:
        """Each upstream asset's task outputs in this run (assets outside it: None)."""
        state = self.runs.state()
        inputs: dict[str, list[dict[str, Any]] | None] = {}
        for key in _json_list(task.upstream):
            upstream = state.task(run.run_id, key)
            if upstream is None:
                continue
            outputs = inputs.setdefault(upstream.asset_key, [])
            reported = None if upstream.output is None else json_loads(upstream.output)
            table = reported.get("table") if isinstance(reported, dict) else None
            if outputs is not None and isinstance(table, dict):
                outputs.append(table)
        return inputs


def lease_name(executor: str) -> str:
    """The lease (lock) name of the controllers of ``executor``: one acts per workspace."""
    return "controller-" + "".join(c if c.isalnum() else "-" for c in executor)[:60]


def _queue_order(run: RunRow) -> tuple[int, int, str]:
    return (-run.priority, run.created_at, run.run_id)


def _in_dispatch_order(tasks: list[TaskRow], free: int) -> Iterator[TaskRow]:
    """Tasks by stage then key, lazily: when there are many, the few the free capacity can
    take (with room for the ones a pool limit skips) are sorted first, the rest only if
    the caller asks for more."""
    if len(tasks) <= 256:
        yield from sorted(tasks, key=_dispatch_key)
        return
    first = heapq.nsmallest(free * 4 + 16, tasks, key=_dispatch_key)
    yield from first
    chosen = {t.id for t in first}
    yield from sorted((t for t in tasks if t.id not in chosen), key=_dispatch_key)


def _dispatch_key(task: TaskRow) -> tuple[int, str]:
    return (task.stage, task.task_key)


def _dispatchable(task: TaskRow, now: int) -> bool:
    if task.state == READY:
        return True
    return task.state == RETRY_WAIT and task.retry_at is not None and task.retry_at <= now


def _earliest(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


def waiting_reason(
    state: RunsState, run: RunRow, options: ControllerOptions | None = None
) -> str | None:
    """Why a run that is not terminal is not progressing right now, in words (None when it
    has attempts in flight): its place in the queue, a retry timer, or a pool limit."""
    opts = options or ControllerOptions()
    if run.state == TRIGGERED and not state.planned(run.run_id):
        return (
            f"planning: {state.tasks_present(run.run_id)} of its {run.task_count} tasks "
            f"have arrived (the other parts of its trigger have not been folded yet)"
        )
    if run.state == TRIGGERED:
        active = sorted(state.active_runs(), key=_queue_order)
        started = sum(1 for r in active if r.state != TRIGGERED)
        queued = [r.run_id for r in active if r.state == TRIGGERED]
        position = queued.index(run.run_id) + 1 if run.run_id in queued else 0
        if started >= opts.max_concurrent_runs:
            return (
                f"queued: {started} runs active (max {opts.max_concurrent_runs}), "
                f"position {position} of {len(queued)}"
            )
    if run.state == CANCELLING:
        return "cancelling: waiting for running attempts to stop"
    tasks = list(state.tasks_of(run.run_id))
    if any(t.state in TASK_ACTIVE for t in tasks):
        return None
    retrying = [t.retry_at for t in tasks if t.state == RETRY_WAIT and t.retry_at is not None]
    if retrying:
        return f"retry backoff until {rfc3339_ms(min(retrying))}"
    ready = [t for t in tasks if t.state == READY]
    in_flight = 0
    in_use: dict[str, int] = {}
    for other in state.active_runs():
        if other.executor != run.executor:
            continue
        for t in state.live_tasks(other.run_id):
            if t.state in TASK_ACTIVE:
                in_flight += 1
                for p in _json_list(t.pools):
                    in_use[p] = in_use.get(p, 0) + 1
    if ready and in_flight:
        pools = sorted({p for t in ready for p in _json_list(t.pools)})
        if pools:
            named = [
                f"{p}: {in_use.get(p, 0)} of max {opts.pool_limits[p]} in use"
                if p in opts.pool_limits
                else p
                for p in pools
            ]
            return f"ready tasks wait for pool capacity ({', '.join(named)})"
        return f"{len(ready)} ready task(s) wait for executor capacity ({in_flight} in flight)"
    if run.state == TRIGGERED or ready:
        return f"queued: waiting for a controller of executor {run.executor}"
    return None
