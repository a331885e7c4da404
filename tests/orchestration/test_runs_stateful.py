"""A Hypothesis state machine drives the real ``runs`` compactor (folded inline, on a local
store) with random legal and illegal events for a small DAG, and checks every task, attempt
and the run against a plain Python model after each step.

The model keeps no index: readiness, skipping and the run's end are recomputed by scanning
every task, so it checks the domain's per-edge readiness and its indexed counts.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from arco.orchestration.runs import (
    Runs,
    attempt_completed,
    attempt_heartbeat,
    attempt_started,
    attempt_timed_out,
    run_cancel_requested,
    task_dispatched,
)
from arco.orchestration.runs.state import RunsState
from arco.tier2.envelope import EventEnvelope
from runs_support import T0, copy_of, ingested, open_runs, spec, trigger

RUN = "run"
#: A → B, A → C, B + C → D, and an independent E
UPSTREAM: dict[str, tuple[str, ...]] = {
    "A": (),
    "B": ("A",),
    "C": ("A",),
    "D": ("B", "C"),
    "E": (),
}
KEYS = sorted(UPSTREAM)
MAX_ATTEMPTS = 2
TERMINAL = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"}
ACTIVE = {"DISPATCHED", "RUNNING"}


@dataclass
class MTask:
    state: str
    attempt: int = 0
    attempt_id: str | None = None
    retry_at: int | None = None
    ids: list[str] = field(default_factory=list)


@dataclass
class MAttempt:
    state: str
    cancel_requested: bool = False


class Model:
    """What the runs domain should hold, recomputed the slow, obvious way."""

    def __init__(self, done: set[str]) -> None:
        self.run = "TRIGGERED"
        self.tasks: dict[str, MTask] = {}
        for key in KEYS:
            if key in done:
                self.tasks[key] = MTask("SUCCEEDED")
            elif all(u in done for u in UPSTREAM[key]):
                self.tasks[key] = MTask("READY")
            else:
                self.tasks[key] = MTask("BLOCKED")
        self.attempts: dict[str, MAttempt] = {}
        self.settle()

    def settle(self) -> None:
        if self.run in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return
        states = [t.state for t in self.tasks.values()]
        if not all(s in TERMINAL for s in states):
            return
        if all(s == "SUCCEEDED" for s in states):
            self.run = "SUCCEEDED"
        elif self.run == "CANCELLING":
            self.run = "CANCELLED"
        else:
            self.run = "FAILED"

    def dispatch(self, key: str, attempt: int, attempt_id: str, now: int) -> bool:
        task = self.tasks[key]
        if self.run not in ("TRIGGERED", "RUNNING"):
            return False
        if attempt != task.attempt + 1 or attempt > MAX_ATTEMPTS:
            return False
        if task.state == "RETRY_WAIT":
            if task.retry_at is not None and now < task.retry_at:
                return False
        elif task.state != "READY":
            return False
        if attempt_id in self.attempts:
            return False
        task.state, task.attempt, task.attempt_id, task.retry_at = (
            "DISPATCHED",
            attempt,
            attempt_id,
            None,
        )
        task.ids.append(attempt_id)
        self.attempts[attempt_id] = MAttempt("DISPATCHED")
        if self.run == "TRIGGERED":
            self.run = "RUNNING"
        return True

    def current(self, key: str, attempt_id: str) -> bool:
        task = self.tasks[key]
        return (
            task.attempt_id == attempt_id
            and self.attempts[attempt_id].state in ACTIVE
            and task.state in ACTIVE
        )

    def started(self, key: str, attempt_id: str) -> bool:
        if not self.current(key, attempt_id) or self.attempts[attempt_id].state != "DISPATCHED":
            return False
        self.attempts[attempt_id].state = self.tasks[key].state = "RUNNING"
        return True

    def heartbeat(self, key: str, attempt_id: str) -> bool:
        if not self.current(key, attempt_id):
            return False
        self.attempts[attempt_id].state = self.tasks[key].state = "RUNNING"
        return True

    def succeeded(self, key: str, attempt_id: str) -> bool:
        if not self.current(key, attempt_id):
            return False
        self.attempts[attempt_id].state = self.tasks[key].state = "SUCCEEDED"
        for other, task in self.tasks.items():
            if task.state == "BLOCKED" and all(
                self.tasks[u].state == "SUCCEEDED" for u in UPSTREAM[other]
            ):
                task.state = "READY"
        self.settle()
        return True

    def failed(self, key: str, attempt_id: str, retryable: bool, timed_out: bool, now: int) -> bool:
        if not self.current(key, attempt_id):
            return False
        task, attempt = self.tasks[key], self.attempts[attempt_id]
        if timed_out:
            attempt.state = "TIMED_OUT"
        else:
            attempt.state = "CANCELLED" if attempt.cancel_requested else "FAILED"
        if self.run == "CANCELLING":
            task.state = "CANCELLED"
        elif retryable and task.attempt < MAX_ATTEMPTS:
            task.state = "RETRY_WAIT"
            task.retry_at = now + 1000 * 2 ** (task.attempt - 1)  # backoff 1 s, factor 2
        else:
            task.state = "FAILED"
            for other in self.descendants(key):
                if self.tasks[other].state not in TERMINAL | ACTIVE:
                    self.tasks[other].state = "SKIPPED"
                    self.tasks[other].retry_at = None
        self.settle()
        return True

    def descendants(self, key: str) -> set[str]:
        found: set[str] = set()
        todo = [key]
        while todo:
            current = todo.pop()
            for other, ups in UPSTREAM.items():
                if current in ups and other not in found:
                    found.add(other)
                    todo.append(other)
        return found

    def cancel(self) -> bool:
        if self.run in ("SUCCEEDED", "FAILED", "CANCELLED", "CANCELLING"):
            return False
        self.run = "CANCELLING"
        for task in self.tasks.values():
            if task.state in ("BLOCKED", "READY", "RETRY_WAIT"):
                task.state, task.retry_at = "CANCELLED", None
            elif task.state in ACTIVE and task.attempt_id is not None:
                self.attempts[task.attempt_id].cancel_requested = True
        self.settle()
        return True


def assert_matches(state: RunsState, model: Model) -> None:
    run = state.runs[RUN]
    assert run.state == model.run
    for key, expected in model.tasks.items():
        row = state.task(RUN, key)
        assert row is not None
        got = (row.state, row.attempt, row.attempt_id, row.retry_at)
        want = (expected.state, expected.attempt, expected.attempt_id, expected.retry_at)
        assert got == want, key
        assert state.attempt_ids(RUN, key) == expected.ids
    for attempt_id, attempt in model.attempts.items():
        arow = state.attempts[attempt_id]
        assert (arow.state, arow.cancel_requested) == (attempt.state, attempt.cancel_requested)
    assert set(state.attempts) == set(model.attempts)
    counts: dict[str, int] = {}
    for task in model.tasks.values():
        counts[task.state] = counts.get(task.state, 0) + 1
    assert state.state_counts(RUN) == counts
    active = [r.run_id for r in state.active_runs()]
    assert active == ([] if model.run in ("SUCCEEDED", "FAILED", "CANCELLED") else [RUN])


WHICH = st.sampled_from(["current", "current", "current", "previous", "bogus"])


class RunsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="arco-runs-"))
        self.runs: Runs = open_runs(self.dir)
        self.model = Model(set())
        self.now = T0
        self.serial = 0
        self.last: EventEnvelope | None = None

    def teardown(self) -> None:
        try:
            self.runs.close()
            with open_runs(self.dir) as fresh:  # a cold reader loads the same from Parquet
                assert_matches(fresh.state(), self.model)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- the driver -------------------------------------------------------------------------

    def send(self, event: EventEnvelope, legal: bool) -> None:
        """Append one event under a fresh key and compare its outcome with the model's."""
        self.serial += 1
        event = EventEnvelope(**{**event.model_dump(), "idempotency_key": f"k{self.serial}"})
        (key,) = self.runs.append([event])
        row = ingested(self.runs, key)
        assert row.outcome == ("applied" if legal else "stale"), (row.outcome, row.detail)
        self.last = event

    def attempt_id(self, key: str, which: str) -> str:
        ids = self.model.tasks[key].ids
        if which == "current" and ids:
            return ids[-1]
        if which == "previous" and len(ids) > 1:
            return ids[-2]
        return f"bogus-{key}"

    # --- rules ------------------------------------------------------------------------------

    @initialize(done=st.sampled_from([(), ("A",), ("E",), ("A", "B")]))
    def trigger(self, done: tuple[str, ...]) -> None:
        tasks = [spec(k, UPSTREAM[k], max_attempts=MAX_ATTEMPTS) for k in KEYS]
        self.model = Model(set(done))
        self.runs.append([trigger(RUN, tasks, at=self.now, done=list(done))])

    @rule(ms=st.sampled_from([0, 1, 300, 1000, 2500]))
    def tick(self, ms: int) -> None:
        self.now += ms

    @rule(key=st.sampled_from(KEYS), delta=st.sampled_from([1, 1, 1, 0, 2]))
    def dispatch(self, key: str, delta: int) -> None:
        attempt = self.model.tasks[key].attempt + delta
        if attempt < 1:  # payloads refuse attempt 0: send the attempt after the next
            attempt = self.model.tasks[key].attempt + 2
        self.serial += 1
        attempt_id = f"{key}-{attempt}-{self.serial}"
        legal = self.model.dispatch(key, attempt, attempt_id, self.now)
        event = task_dispatched(
            RUN, key, attempt, attempt_id, "x", self.now + 5000, occurred_ms=self.now
        )
        self.send(event, legal)

    @rule(key=st.sampled_from(KEYS), which=WHICH)
    def start(self, key: str, which: str) -> None:
        attempt_id = self.attempt_id(key, which)
        legal = self.model.started(key, attempt_id)
        self.send(attempt_started(RUN, key, attempt_id, "w", occurred_ms=self.now), legal)

    @rule(key=st.sampled_from(KEYS), which=WHICH)
    def heartbeat(self, key: str, which: str) -> None:
        attempt_id = self.attempt_id(key, which)
        legal = self.model.heartbeat(key, attempt_id)
        self.send(attempt_heartbeat(RUN, key, attempt_id, 0, occurred_ms=self.now), legal)

    @rule(key=st.sampled_from(KEYS), which=WHICH)
    def succeed(self, key: str, which: str) -> None:
        attempt_id = self.attempt_id(key, which)
        legal = self.model.succeeded(key, attempt_id)
        event = attempt_completed(RUN, key, attempt_id, "succeeded", occurred_ms=self.now)
        self.send(event, legal)

    @rule(key=st.sampled_from(KEYS), which=WHICH, retryable=st.booleans())
    def fail(self, key: str, which: str, retryable: bool) -> None:
        attempt_id = self.attempt_id(key, which)
        legal = self.model.failed(key, attempt_id, retryable, False, self.now)
        event = attempt_completed(
            RUN, key, attempt_id, "failed", retryable=retryable, occurred_ms=self.now
        )
        self.send(event, legal)

    @rule(key=st.sampled_from(KEYS), which=WHICH)
    def time_out(self, key: str, which: str) -> None:
        attempt_id = self.attempt_id(key, which)
        legal = self.model.failed(key, attempt_id, True, True, self.now)
        self.send(attempt_timed_out(RUN, key, attempt_id, "heartbeat", occurred_ms=self.now), legal)

    def _advance(self, pick: int, ok: bool) -> None:
        """The legal next step of a task that can move (so that runs get somewhere)."""
        movable = [
            k
            for k, t in self.model.tasks.items()
            if t.state in ("READY", "RETRY_WAIT", "DISPATCHED", "RUNNING")
        ]
        if not movable:
            return
        key = movable[pick % len(movable)]
        task = self.model.tasks[key]
        if task.state == "RETRY_WAIT":
            assert task.retry_at is not None
            self.now = max(self.now, task.retry_at)
            self.dispatch(key, 1)
        elif task.state == "READY":
            self.dispatch(key, 1)
        elif task.state == "DISPATCHED" and not ok:
            self.start(key, "current")
        elif ok or pick % 3:
            self.succeed(key, "current")
        else:
            self.fail(key, "current", retryable=bool(pick % 2))

    @rule(pick=st.integers(0, 1000), ok=st.booleans())
    def advance(self, pick: int, ok: bool) -> None:
        self._advance(pick, ok)

    @rule(pick=st.integers(0, 1000), ok=st.booleans())
    def advance_more(self, pick: int, ok: bool) -> None:
        self._advance(pick, ok)

    @rule()
    def cancel(self) -> None:
        legal = self.model.cancel()
        self.send(run_cancel_requested(RUN, "stop", occurred_ms=self.now), legal)

    @rule()
    def trigger_again(self) -> None:
        tasks = [spec(k, UPSTREAM[k]) for k in KEYS]
        self.send(trigger(RUN, tasks, at=self.now), False)

    @rule()
    def copy_of_the_last_event(self) -> None:
        if self.last is None:
            return
        (key,) = self.runs.append([copy_of(self.last)])
        assert ingested(self.runs, key).outcome == "duplicate"

    @invariant()
    def matches_the_model(self) -> None:
        assert_matches(self.runs.state(), self.model)


pytest.mark.timeout(900)(RunsMachine.TestCase)
RunsMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRunsStateMachine = RunsMachine.TestCase
