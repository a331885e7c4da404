"""The automation controller (ADR 017): turns schedules, sensors, backfills and declarative
conditions into runs.

One controller per workspace acts: it holds the fenced lease ``automation``
(:class:`~arco.tier1.lock.LeaseLock`), renewed every pass; the others take no action and
take over when the lease expires. Every action is **decided, keyed and recorded**, so a
controller that dies between deciding and acting is finished by the next one and nothing is
done twice:

* **schedules** — each tick owed (``CronSchedule.catchup`` from the newest recorded tick, or
  from when the schedule started running) is decided by :func:`evaluate_schedule`, its runs
  are triggered with ``run_key`` ``sched:{id}:{instant}`` (one request) or
  ``sched:{id}:{instant}:{key}``, and only then ``tick_recorded`` is appended under the same
  key. A controller that finds no tick record triggers again and gets the same runs back.
  Ticks older than the catch-up window are recorded once, as one ``skipped`` tick counting
  them. A schedule first seen starts running from that moment (a ``status_changed``
  event records it), so no tick from before it existed is owed;
* **poll sensors** — evaluated at most every ``minimum_interval_s``: the evaluation is
  appended with the ``cursor_seq`` it read and folds only if that seq is still current;
  runs are triggered from *applied* evaluations only (:meth:`Automation.pending_sensor_requests`,
  ``run_key`` :func:`sensor_run_key`), then ``sensor_runs_triggered`` is appended. A stale
  evaluation's requests never become runs. An exception of the sensor's function is an
  evaluation with an error: the sensor keeps running. **Asset sensors** are evaluations too:
  their cursor is the newest materialization of the watched assets they have seen.
  **Push** messages become runs through the same pending requests;
* **backfills** — a launched chunk whose run has ended is finished with the run's state (the
  runs of a cancelling backfill are asked to stop first); then
  the chunks :meth:`Automation.due_chunks` allows are triggered (``run_key``
  ``backfill:{id}:{chunk}:{try}``) and ``chunk_launched`` is appended. A chunk whose run
  cannot even be triggered (its assets are no longer deployed...) is recorded as launched
  under the run id ``not-launched:{chunk}.{try}`` and finished FAILED with the reason, so
  every backfill ends (and ``retry`` tries it again);
* **declarative conditions** — per asset partition, from :func:`partition_statuses`:
  ``eager`` requests a partition that is stale because an upstream was materialized later
  (or missing while an upstream exists), ``missing`` one never materialized; the run key
  names the upstream materializations (``auto:{asset}:{digest}``) or the partition
  (``auto-missing:...``), so one state of the inputs is one run. Each decision is recorded
  with its reason (``evaluation_recorded``).

A pass reads projections it has just refreshed (its own appends are folded in memory) and
acts on the current deployment. :meth:`AutomationController.step` returns when the next
timer is due, so the loop sleeps exactly until then (or a wake-up).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge

from arco.core.clock import SYSTEM_CLOCK, Clock
from arco.errors import ArcoError, FencedError, LockTimeoutError
from arco.executions.state import ExecutionsState
from arco.observability.metrics import REGISTRY
from arco.orchestration.attempt import one_line
from arco.orchestration.automation.cron import CronSchedule
from arco.orchestration.automation.definitions import (
    SensorContext,
    evaluate_schedule,
    evaluate_sensor,
)
from arco.orchestration.automation.domain.facade import (
    Automation,
    backfill_run_key,
    chunk_finished,
    chunk_launched,
    evaluation_recorded,
    schedule_run_key,
    schedule_status_changed,
    sensor_evaluated,
    sensor_run_key,
    sensor_runs_triggered,
    tick_recorded,
)
from arco.orchestration.automation.domain.folds import FIRST_SEEN
from arco.orchestration.automation.domain.schema import CANCELLING, RUNNING, STATUS_RUNNING
from arco.orchestration.deploy import current
from arco.orchestration.discovery import load_definitions
from arco.orchestration.manifest import AssetSpec, DefinitionsManifest, ScheduleSpec, SensorSpec
from arco.orchestration.runs import RUN_TERMINAL, Runs
from arco.orchestration.status import partition_statuses
from arco.orchestration.trigger import RunRequest
from arco.storage.port import ObjectStore
from arco.tier1.lock import Lease, LeaseLock
from arco.tier2.envelope import EventEnvelope

__all__ = [
    "LEASE_NAME",
    "AutomationController",
    "AutomationOptions",
    "AutomationPass",
    "Trigger",
]

log = logging.getLogger(__name__)

#: the lease one automation controller per workspace holds
LEASE_NAME = "automation"
#: the run id a chunk try is recorded with when its run could not be triggered
NOT_LAUNCHED = "not-launched:"

#: triggers a run of the current deployment; the run id (the same for the same run_key)
Trigger = Callable[[RunRequest], str]
#: asks a run to stop (a no-op for a run that ended)
Cancel = Callable[[str, str], object]

TICKS = Counter(
    "arco_automation_ticks",
    "Schedule ticks recorded, by status (requested, skipped, failed).",
    ["status"],
    registry=REGISTRY,
)
EVALUATIONS = Counter(
    "arco_automation_evaluations",
    "Sensor evaluations and declarative-condition decisions, by kind and outcome.",
    ["kind", "outcome"],
    registry=REGISTRY,
)
SCHEDULE_LAG = Gauge(
    "arco_automation_schedule_lag_seconds",
    "How late the last tick a controller handled was, behind its instant.",
    registry=REGISTRY,
)
LEADER_CHANGES = Counter(
    "arco_automation_leader_changes",
    "Times a controller took (acquired) or lost the automation lease.",
    ["change"],
    registry=REGISTRY,
)


@dataclass(frozen=True)
class AutomationOptions:
    """Timers and bounds of the automation controller."""

    lease_ms: int = 15_000
    #: the longest sleep between passes (a pass also wakes for the next tick)
    idle_wait_s: float = 1.0
    #: the most runs one pass triggers for declarative conditions
    max_condition_runs: int = 100
    #: the most ticks of one schedule one pass handles (the rest wait for the next pass)
    max_ticks_per_pass: int = 100


@dataclass
class AutomationPass:
    """What one pass did (``acting``: it held the lease)."""

    acting: bool
    ticks: int = 0
    evaluations: int = 0
    runs_triggered: int = 0
    chunks_launched: int = 0
    chunks_finished: int = 0
    conditions: int = 0
    #: when the next timer is due (ms), if any
    next_due_ms: int | None = None
    errors: list[str] = field(default_factory=list)

    def due(self, ms: int) -> None:
        self.next_due_ms = ms if self.next_due_ms is None else min(self.next_due_ms, ms)


class AutomationController:
    """Drives the automation of one workspace (see the module)."""

    def __init__(
        self,
        automation: Automation,
        runs: Runs,
        executions: Callable[[], ExecutionsState],
        store: ObjectStore,
        trigger: Trigger,
        cancel: Cancel,
        *,
        lease: LeaseLock | None = None,
        clock: Clock = SYSTEM_CLOCK,
        options: AutomationOptions | None = None,
        code_location: str | None = None,
    ) -> None:
        """``store``: the workspace's scoped store (deployments, the lease);
        ``executions``: the current executions state (materializations);
        ``trigger``: triggers a run of the current deployment; ``cancel(run_id, reason)``
        asks a run to stop; ``code_location``: imported before the first schedule or sensor
        function runs (their entry points name its modules)."""
        self.automation = automation
        self.runs = runs
        self._executions = executions
        self.store = store
        self._trigger = trigger
        self._cancel = cancel
        self.options = options or AutomationOptions()
        self._clock = clock
        self._lock = lease or LeaseLock(
            store, LEASE_NAME, clock=clock, lease_ms=self.options.lease_ms
        )
        self._lease: Lease | None = None
        self._wake = threading.Event()
        self._last_evaluated: dict[str, int] = {}
        self._code_location = code_location
        self._code_loaded = code_location is None

    # --- the loop -----------------------------------------------------------------------

    def wake(self) -> None:
        """Make the loop take its next pass now."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Take passes until ``stop`` is set, sleeping until the next timer or a wake-up."""
        while not stop.is_set():
            self._wake.clear()
            try:
                done = self.step()
            except ArcoError as exc:
                log.warning("automation pass failed (retrying): %s", exc)
                done = AutomationPass(acting=False)
            wait = self.options.idle_wait_s
            if done.next_due_ms is not None:
                wait = min(wait, max(0.0, (done.next_due_ms - self._clock.now_ms()) / 1000))
            self._wake.wait(wait)

    def close(self) -> None:
        """Give the lease back."""
        if self._lease is not None:
            self._lock.release(self._lease)
            self._lease = None

    @property
    def holds_lease(self) -> bool:
        return self._lease is not None

    # --- one pass -----------------------------------------------------------------------

    def step(self) -> AutomationPass:
        """One pass: hold the lease, then schedules, sensors, backfills and conditions."""
        if not self._hold_lease():
            return AutomationPass(acting=False)
        result = AutomationPass(acting=True)
        found = current(self.store)
        manifest = None if found is None else found[1]
        if manifest is not None:
            for spec in manifest.schedules:
                self._guard(
                    result, f"schedule {spec.name!r}", self._schedule, spec, manifest, result
                )
            for sensor in manifest.sensors:
                self._guard(
                    result, f"sensor {sensor.name!r}", self._sensor, sensor, manifest, result
                )
        self._guard(result, "sensor requests", self._sensor_requests, result)
        self._guard(result, "backfills", self._backfills, result)
        if manifest is not None:
            self._guard(result, "conditions", self._conditions, manifest, result)
        return result

    def _guard(
        self, result: AutomationPass, what: str, fn: Callable[..., None], *args: Any
    ) -> None:
        """Run one part of a pass; an error is logged and kept, the other parts go on (a
        lost lease stops the pass)."""
        try:
            self._ensure_lease()
            fn(*args)
        except FencedError:
            raise
        except ArcoError as exc:
            log.warning("automation: %s: %s", what, exc.message)
            result.errors.append(f"{what}: {exc.message}")

    def _hold_lease(self) -> bool:
        try:
            if self._lease is None:
                self._lease = self._lock.try_acquire()
                if self._lease is None:
                    return False
                LEADER_CHANGES.labels("acquired").inc()
                # what the previous leader appended and no round folded yet: fold it all
                # first, or a tick it recorded would look owed (or a schedule unseen)
                self.automation.compact()
                return True
            self._lease = self._lock.ensure_valid(self._lease, self._lock.lease_ms // 2)
            return True
        except (FencedError, LockTimeoutError) as exc:
            if self._lease is not None:
                log.warning("automation: lease lost, no longer acting: %s", exc)
                LEADER_CHANGES.labels("lost").inc()
            self._lease = None
            return False

    def _load_code(self) -> None:
        if not self._code_loaded and self._code_location is not None:
            load_definitions(self._code_location)
            self._code_loaded = True

    def _ensure_lease(self) -> None:
        if self._lease is None:
            raise FencedError("automation: the lease is not held")
        self._lease = self._lock.ensure_valid(self._lease, self._lock.lease_ms // 2)

    def _append(self, events: Sequence[EventEnvelope]) -> None:
        self._ensure_lease()
        self.automation.append(events)

    def _run(self, request: RunRequest) -> str:
        self._ensure_lease()
        run_id = self._trigger(request)
        return run_id

    # --- schedules ----------------------------------------------------------------------

    def _schedule(
        self, spec: ScheduleSpec, manifest: DefinitionsManifest, result: AutomationPass
    ) -> None:
        now = self._clock.now_ms()
        row = self.automation.state().schedules.get(spec.name)
        if row is None or row.status_changed_at is None:
            # first seen: it starts now (in its default status), owing nothing before
            self._append(
                [
                    schedule_status_changed(
                        spec.name, spec.default_status, request_id=FIRST_SEEN, occurred_ms=now
                    )
                ]
            )
            row = self.automation.state().schedules.get(spec.name)
            if row is None:
                return
        cron = CronSchedule(spec.cron, spec.timezone)
        if row.status != STATUS_RUNNING:
            return
        since = max(row.last_tick_at or 0, row.status_changed_at or 0)
        owed = cron.catchup(since, now, spec.catchup_window_s)
        if owed.missed and owed.last_missed_ms is not None:
            self._append(
                [
                    tick_recorded(
                        spec.name,
                        owed.last_missed_ms,
                        "skipped",
                        reason=f"missed while no controller ran ({owed.missed} tick(s) older "
                        f"than the catch-up window of {spec.catchup_window_s} s)",
                        skipped_count=owed.missed,
                        range_start_ms=owed.first_missed_ms,
                    )
                ]
            )
            TICKS.labels("skipped").inc()
        for instant in owed.ticks[: self.options.max_ticks_per_pass]:
            self._tick(spec, manifest, instant, result)
            SCHEDULE_LAG.set(max(0.0, (self._clock.now_ms() - instant) / 1000))
        if len(owed.ticks) > self.options.max_ticks_per_pass:
            result.due(now)
        else:
            result.due(cron.next_tick(now))

    def _tick(
        self,
        spec: ScheduleSpec,
        manifest: DefinitionsManifest,
        instant: int,
        result: AutomationPass,
    ) -> None:
        try:
            if spec.entry_point is not None:
                self._load_code()
            decided = evaluate_schedule(spec, manifest, instant, log=log)
        except Exception as exc:  # the user's function: the tick failed, the schedule goes on
            self._append([tick_recorded(spec.name, instant, "failed", reason=one_line(exc))])
            TICKS.labels("failed").inc()
            result.ticks += 1
            return
        if not decided.run_requests:
            self._append([tick_recorded(spec.name, instant, "skipped", reason=decided.skip_reason)])
            TICKS.labels("skipped").inc()
            result.ticks += 1
            return
        run_ids: list[str] = []
        single = len(decided.run_requests) == 1
        try:
            for request in decided.run_requests:
                key = schedule_run_key(spec.name, instant)
                if not single:
                    key = f"{key}:{request.run_key}"
                run_ids.append(
                    self._run(
                        RunRequest(
                            selection=tuple(request.selection or spec.target),
                            partitions=request.partitions or None,
                            run_key=key,
                            tags={**spec.tags, **dict(request.tags), "arco/schedule": spec.name},
                        )
                    )
                )
        except FencedError:
            raise
        except ArcoError as exc:
            self._append(
                [tick_recorded(spec.name, instant, "failed", run_ids=run_ids, reason=exc.message)]
            )
            TICKS.labels("failed").inc()
            result.ticks += 1
            return
        self._append([tick_recorded(spec.name, instant, "requested", run_ids=run_ids)])
        TICKS.labels("requested").inc()
        result.ticks += 1
        result.runs_triggered += len(run_ids)

    # --- sensors ------------------------------------------------------------------------

    def _sensor(
        self, spec: SensorSpec, manifest: DefinitionsManifest, result: AutomationPass
    ) -> None:
        if spec.kind == "push":
            return  # its messages arrive through the API; their runs are pending requests
        state = self.automation.state()
        row = state.sensors.get(spec.name)
        status = spec.default_status if row is None else row.status
        if status != STATUS_RUNNING:
            return
        now = self._clock.now_ms()
        if spec.kind == "asset":
            self._asset_sensor(
                spec, row.cursor if row else None, row.cursor_seq if row else 0, now, result
            )
            result.due(now + int(self.options.idle_wait_s * 1000))
            return
        interval_ms = (spec.minimum_interval_s or 30) * 1000
        last = self._last_evaluated.get(spec.name)
        if row is not None and row.last_evaluated_at is not None:
            last = max(last or 0, row.last_evaluated_at)
        if last is not None and now - last < interval_ms:
            result.due(last + interval_ms)
            return
        self._last_evaluated[spec.name] = now
        seq = 0 if row is None else row.cursor_seq
        cursor = None if row is None else row.cursor
        context = SensorContext(
            spec.name,
            cursor=cursor,
            now_ms=now,
            last_evaluation_ms=None if row is None else row.last_evaluated_at,
            log=log,
        )
        try:
            self._load_code()
            evaluated = evaluate_sensor(spec, context, manifest)
        except Exception as exc:  # the user's function: recorded, the sensor goes on
            event = sensor_evaluated(
                spec.name, seq, cursor=cursor, error=one_line(exc), evaluated_at_ms=now
            )
            EVALUATIONS.labels("sensor", "error").inc()
        else:
            event = sensor_evaluated(
                spec.name,
                seq,
                cursor=evaluated.cursor if evaluated.cursor is not None else cursor,
                requests=[r.to_payload() for r in evaluated.run_requests],
                evaluated_at_ms=now,
            )
            EVALUATIONS.labels("sensor", "requested" if evaluated.run_requests else "skipped").inc()
        self._append([event])
        result.evaluations += 1
        result.due(now + interval_ms)

    def _asset_sensor(
        self,
        spec: SensorSpec,
        cursor: str | None,
        seq: int,
        now: int,
        result: AutomationPass,
    ) -> None:
        """A run of the target when a watched asset has a materialization newer than the
        cursor (the newest ``event_order`` seen)."""
        watched = set(spec.assets)
        newer = [
            m
            for m in self._executions().materializations.values()
            if m.asset_key in watched
            and m.status == "succeeded"
            and (cursor is None or m.event_order > cursor)
        ]
        if not newer:
            return
        newest = max(m.event_order for m in newer)
        digest = hashlib.sha256(newest.encode()).hexdigest()[:16]
        request = {
            "key": digest,
            "selection": list(spec.target),
            "partitions": [],
            "tags": dict(spec.tags),
        }
        self._append(
            [
                sensor_evaluated(
                    spec.name, seq, cursor=newest, requests=[request], evaluated_at_ms=now
                )
            ]
        )
        EVALUATIONS.labels("asset_sensor", "requested").inc()
        result.evaluations += 1

    def _sensor_requests(self, result: AutomationPass) -> None:
        """Trigger the runs of applied evaluations and push messages, then record them."""
        for tick in self.automation.pending_sensor_requests():
            run_ids = []
            for request in tick.requests:
                run_ids.append(
                    self._run(
                        RunRequest(
                            selection=tuple(request.selection),
                            partitions=tuple(request.partitions) or None,
                            run_key=sensor_run_key(tick.tick_id, request.key),
                            tags={**request.tags, "arco/sensor": tick.owner_id},
                        )
                    )
                )
            self._append([sensor_runs_triggered(tick.tick_id, run_ids)])
            result.runs_triggered += len(run_ids)

    # --- backfills ----------------------------------------------------------------------

    def _backfills(self, result: AutomationPass) -> None:
        runs = self.runs.state().runs
        for backfill in self.automation.active_backfills():
            full = self.automation.get_backfill(backfill.backfill_id)
            finished = []
            for chunk in full.chunks or ():
                if chunk.state != RUNNING or chunk.run_id is None:
                    continue
                run = runs.get(chunk.run_id)
                if run is None:
                    continue
                if run.state not in RUN_TERMINAL:
                    if full.state == CANCELLING and run.cancel_requested_at is None:
                        self._ensure_lease()
                        self._cancel(run.run_id, f"backfill {backfill.backfill_id} was cancelled")
                    continue
                finished.append(
                    chunk_finished(
                        backfill.backfill_id,
                        chunk.index,
                        chunk.try_number,
                        chunk.run_id,
                        run.state,
                        error=run.reason if run.state != "SUCCEEDED" else None,
                    )
                )
            if finished:
                self._append(finished)
                result.chunks_finished += len(finished)
            for chunk in self.automation.due_chunks(backfill.backfill_id):
                request = RunRequest(
                    selection=tuple(full.assets),
                    partitions=tuple(chunk.partitions) or None,
                    run_key=backfill_run_key(backfill.backfill_id, chunk.index, chunk.try_number),
                    tags={**full.tags, "arco/backfill": backfill.backfill_id},
                )
                try:
                    run_id = self._run(request)
                except FencedError:
                    raise
                except ArcoError as exc:
                    # its run cannot even be triggered (the deployment changed...): the try
                    # is recorded as launched without a run and failed, so the backfill ends
                    log.warning(
                        "backfill %s: chunk %d cannot be launched: %s",
                        backfill.backfill_id,
                        chunk.index,
                        exc.message,
                    )
                    unlaunched = f"{NOT_LAUNCHED}{chunk.index}.{chunk.try_number}"
                    self._append(
                        [
                            chunk_launched(
                                backfill.backfill_id, chunk.index, chunk.try_number, unlaunched
                            ),
                            chunk_finished(
                                backfill.backfill_id,
                                chunk.index,
                                chunk.try_number,
                                unlaunched,
                                "FAILED",
                                error=f"not launched: {exc.message}",
                            ),
                        ]
                    )
                    result.chunks_finished += 1
                    continue
                self._append(
                    [chunk_launched(backfill.backfill_id, chunk.index, chunk.try_number, run_id)]
                )
                result.chunks_launched += 1
                after = self.automation.state().chunk(backfill.backfill_id, chunk.index)
                if after is None or after.run_id != run_id:
                    # the chunk was cancelled meanwhile: its run is nobody's, stop it
                    self._cancel(run_id, f"backfill {backfill.backfill_id} was cancelled")

    # --- declarative conditions ---------------------------------------------------------

    def _conditions(self, manifest: DefinitionsManifest, result: AutomationPass) -> None:
        governed = [a for a in manifest.assets if _condition_kinds(a)]
        if not governed:
            return
        now = self._clock.now_ms()
        executions = self._executions()
        statuses = partition_statuses(
            manifest,
            executions.materializations.values(),
            self.runs.state().tasks.values(),
            now_ms=now,
            assets=[a.key for a in governed],
        )
        newest: dict[str, str] = {}
        for m in executions.materializations.values():
            if m.status == "succeeded" and m.event_order > newest.get(m.asset_key, ""):
                newest[m.asset_key] = m.event_order
        # a key already used is a decision already taken (its run exists)
        used = {r.run_key for r in self.runs.state().runs.values() if r.run_key is not None}
        kinds = {a.key: _condition_kinds(a) for a in governed}
        deps = {a.key: a.deps for a in governed}
        budget = self.options.max_condition_runs
        for status in statuses:
            if budget <= 0:
                result.due(now)
                return
            wanted = kinds[status.asset_key]
            key: str | None = None
            reason = ""
            condition = ""
            upstream_seen = [newest[d] for d in deps[status.asset_key] if d in newest]
            if "eager" in wanted and (
                (status.status == "stale" and "upstream" in (status.reason or ""))
                or (status.status == "missing" and upstream_seen)
            ):
                condition = "eager"
                digest = hashlib.sha256("|".join(sorted(upstream_seen)).encode()).hexdigest()[:16]
                key = f"auto:{status.asset_key}:{status.partition_key}:{digest}"
                reason = status.reason or "missing, and an upstream is materialized"
            elif "missing" in wanted and status.status == "missing":
                condition = "missing"
                key = f"auto-missing:{status.asset_key}:{status.partition_key}"
                reason = "never materialized"
            if key is None or key in used:
                continue
            run_id = self._run(
                RunRequest(
                    selection=(status.asset_key,),
                    partitions=(status.partition_key,) if status.partition_key else None,
                    run_key=key,
                    tags={"arco/condition": condition},
                )
            )
            self._append(
                [
                    evaluation_recorded(
                        status.asset_key,
                        condition,
                        True,
                        reason,
                        partition_key=status.partition_key,
                        run_id=run_id,
                        evaluated_at_ms=now,
                    )
                ]
            )
            EVALUATIONS.labels(condition, "requested").inc()
            result.conditions += 1
            result.runs_triggered += 1
            budget -= 1
        result.due(now + int(self.options.idle_wait_s * 1000))


def _condition_kinds(spec: AssetSpec) -> frozenset[str]:
    condition = spec.automation
    if condition is None:
        return frozenset()
    return frozenset(leaf.kind for leaf in condition.leaves())
