"""The backfill and sensor-cursor state machines of the ``automation`` domain against a
plain Python model.

* A Hypothesis state machine drives the real compactor (folded inline, on a local store)
  with random legal and illegal events and copies of events, and checks every row against
  the model after each step (and a cold reader from Parquet at the end).
* A property: a random history, shuffled and with copies, appended in one batch, folds to
  the state the model reaches by applying it in event order once per idempotency key.

The model keeps no counts or indexes: it recomputes them by scanning every chunk.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from arco.orchestration.automation import (
    Automation,
    AutomationState,
    backfill_cancel_requested,
    backfill_paused,
    backfill_requested,
    backfill_resumed,
    backfill_retry_requested,
    chunk_finished,
    chunk_launched,
    sensor_evaluated,
    sensor_runs_triggered,
    sensor_status_changed,
)
from arco.tier2.compactor import event_order
from arco.tier2.envelope import EventEnvelope
from automation_support import T0, copy_of, ingested, open_automation

BF = "bf"
SENSOR = "s"
PARTS = [f"date=d:2026-01-{i + 1:02d}" for i in range(5)]
CHUNK_SIZE = 2
N_CHUNKS = 3
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


@dataclass
class MChunk:
    state: str = "PENDING"
    try_number: int = 1
    run_id: str | None = None


@dataclass
class MBackfill:
    state: str = "REQUESTED"
    started: bool = False
    retries: int = 0
    chunks: list[MChunk] = field(default_factory=lambda: [MChunk() for _ in range(N_CHUNKS)])

    def count(self, state: str) -> int:
        return sum(1 for c in self.chunks if c.state == state)


@dataclass
class MTick:
    requests: int
    status: str
    triggered: bool = False


class Model:
    """What the automation domain should hold for one backfill and one sensor."""

    def __init__(self) -> None:
        self.backfill: MBackfill | None = None
        self.seq = 0
        self.cursor: str | None = None
        self.paused = False
        self.ticks: dict[str, MTick] = {}

    # --- backfill ---------------------------------------------------------------------------

    def request(self) -> bool:
        if self.backfill is not None:
            return False
        self.backfill = MBackfill()
        return True

    def pause(self) -> bool:
        b = self.backfill
        if b is None or b.state not in ("REQUESTED", "RUNNING"):
            return False
        b.state = "PAUSED"
        return True

    def resume(self) -> bool:
        b = self.backfill
        if b is None or b.state != "PAUSED":
            return False
        b.state = "RUNNING" if b.started else "REQUESTED"
        return True

    def cancel(self) -> bool:
        b = self.backfill
        if b is None or b.state in TERMINAL or b.state == "CANCELLING":
            return False
        for c in b.chunks:
            if c.state == "PENDING":
                c.state = "CANCELLED"
        b.state = "CANCELLED" if b.count("RUNNING") == 0 else "CANCELLING"
        return True

    def retry(self, n: int) -> bool:
        b = self.backfill
        if b is None or b.state != "FAILED" or n != b.retries + 1 or not b.count("FAILED"):
            return False
        for c in b.chunks:
            if c.state == "FAILED":
                c.state, c.try_number, c.run_id = "PENDING", c.try_number + 1, None
        b.state, b.retries = "RUNNING", n
        return True

    def launch(self, i: int, try_number: int, run_id: str) -> bool:
        b = self.backfill
        if b is None or i >= N_CHUNKS or b.chunks[i].try_number != try_number:
            return False
        c = b.chunks[i]
        if b.state in ("SUCCEEDED", "FAILED", "CANCELLED") or c.state != "PENDING":
            return False
        c.state, c.run_id = "RUNNING", run_id
        if b.state in ("REQUESTED", "RUNNING"):  # a launch while paused or cancelling is kept
            b.state = "RUNNING"
        b.started = True
        return True

    def finish(self, i: int, try_number: int, run_id: str, state: str) -> bool:
        b = self.backfill
        if b is None or i >= N_CHUNKS:
            return False
        c = b.chunks[i]
        if c.try_number != try_number or c.state != "RUNNING" or c.run_id != run_id:
            return False
        c.state = state
        if not b.count("PENDING") and not b.count("RUNNING"):
            if b.state == "CANCELLING":
                b.state = "CANCELLED"
            elif b.count("SUCCEEDED") == N_CHUNKS:
                b.state = "SUCCEEDED"
            else:
                b.state = "FAILED"
        return True

    # --- sensor -----------------------------------------------------------------------------

    def set_paused(self, paused: bool) -> bool:
        self.paused = paused
        return True

    def evaluate(self, seq: int, cursor: str, requests: int, error: bool) -> bool:
        if self.paused or seq != self.seq:
            return False
        status = "failed" if error else "requested" if requests else "skipped"
        self.ticks[f"sensor:{SENSOR}:{seq}"] = MTick(0 if error else requests, status)
        if not error:
            self.cursor = cursor
        self.seq += 1
        return True

    def triggered(self, tick_id: str, runs: int) -> bool:
        tick = self.ticks.get(tick_id)
        if tick is None or tick.status != "requested" or tick.triggered:
            return False
        if runs != tick.requests:
            return False
        tick.triggered = True
        return True


def assert_matches(state: AutomationState, model: Model) -> None:
    b = model.backfill
    row = state.backfills.get(BF)
    if b is None:
        assert row is None
    else:
        assert row is not None
        assert (row.state, row.retries) == (b.state, b.retries)
        counts = (row.pending, row.in_flight, row.succeeded, row.failed, row.cancelled)
        want = tuple(b.count(s) for s in ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"))
        assert counts == want
        assert (row.started_at is not None) == b.started
        chunks = [(c.state, c.try_number, c.run_id) for c in state.chunks_of(BF)]
        assert chunks == [(c.state, c.try_number, c.run_id) for c in b.chunks]
        active = [r.backfill_id for r in state.active_backfills()]
        assert active == ([] if b.state in TERMINAL else [BF])
    sensor = state.sensors.get(SENSOR)
    if sensor is not None:
        assert (sensor.cursor_seq, sensor.cursor) == (model.seq, model.cursor)
        assert sensor.status == ("paused" if model.paused else "running")
    else:
        assert model.seq == 0 and not model.paused
    ticks = {t.tick_id: t for t in state.ticks.values()}
    assert set(ticks) == set(model.ticks)
    for tick_id, mt in model.ticks.items():
        assert (ticks[tick_id].status, ticks[tick_id].triggered) == (mt.status, mt.triggered)
    pending = sorted(t.tick_id for t in state.pending_ticks())
    assert pending == sorted(
        k for k, t in model.ticks.items() if t.status == "requested" and not t.triggered
    )


# --- the events of a history, with what the model does with each -------------------------------


def apply(model: Model, op: tuple[Any, ...]) -> bool:
    kind, *args = op
    result: bool = getattr(model, kind)(*args)
    return result


def build(op: tuple[Any, ...], at: int) -> EventEnvelope:
    """The event of a model operation, under its builder's natural idempotency key."""
    kind, *args = op
    if kind == "request":
        return backfill_requested(
            BF, ["sales/daily"], PARTS, chunk_size=CHUNK_SIZE, max_in_flight=2, occurred_ms=at
        )
    if kind == "pause":
        return backfill_paused(BF, occurred_ms=at)
    if kind == "resume":
        return backfill_resumed(BF, occurred_ms=at)
    if kind == "cancel":
        return backfill_cancel_requested(BF, occurred_ms=at)
    if kind == "retry":
        return backfill_retry_requested(BF, args[0], occurred_ms=at)
    if kind == "launch":
        i, try_number, run_id = args
        return chunk_launched(BF, i, try_number, run_id, occurred_ms=at)
    if kind == "finish":
        i, try_number, run_id, state = args
        return chunk_finished(BF, i, try_number, run_id, state, occurred_ms=at)
    if kind == "set_paused":
        return sensor_status_changed(SENSOR, "paused" if args[0] else "running", occurred_ms=at)
    if kind == "evaluate":
        seq, cursor, requests, error = args
        return sensor_evaluated(
            SENSOR,
            seq,
            cursor=cursor,
            requests=[{"key": f"k{j}"} for j in range(requests)] if not error else [],
            error="boom" if error else None,
            evaluated_at_ms=at,
            occurred_ms=at,
        )
    assert kind == "triggered"
    tick_id, runs = args
    return sensor_runs_triggered(tick_id, [f"run{j}" for j in range(runs)], occurred_ms=at)


CHUNK = st.integers(0, N_CHUNKS)  # N_CHUNKS itself names no chunk
TRY = st.sampled_from([1, 1, 1, 2, 3])
FINAL = st.sampled_from(["SUCCEEDED", "SUCCEEDED", "FAILED", "CANCELLED"])


class AutomationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="arco-automation-"))
        self.auto: Automation = open_automation(self.dir)
        self.model = Model()
        self.now = T0
        self.serial = 0
        self.last: EventEnvelope | None = None

    def teardown(self) -> None:
        try:
            self.auto.close()
            with open_automation(self.dir) as fresh:  # a cold reader loads the same
                assert_matches(fresh.state(), self.model)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def send(self, op: tuple[Any, ...]) -> None:
        """Append the operation's event under a fresh key; its outcome is the model's."""
        self.now += 1
        self.serial += 1
        legal = apply(self.model, op)
        event = build(op, self.now)
        event = EventEnvelope(**{**event.model_dump(), "idempotency_key": f"k{self.serial}"})
        (key,) = self.auto.append([event])
        row = ingested(self.auto, key)
        assert row.outcome == ("applied" if legal else "stale"), (op, row.outcome, row.detail)
        self.last = event

    def chunk_run(self, i: int, which: str) -> tuple[int, str]:
        b = self.model.backfill
        if b is None or i >= N_CHUNKS:
            return 1, "bogus"
        c = b.chunks[i]
        if which == "current" and c.run_id is not None:
            return c.try_number, c.run_id
        return c.try_number, f"r{i}-{c.try_number}"

    # --- backfill rules ---------------------------------------------------------------------

    @rule()
    def request(self) -> None:
        self.send(("request",))

    @rule()
    def pause(self) -> None:
        self.send(("pause",))

    @rule()
    def resume(self) -> None:
        self.send(("resume",))

    @rule()
    def cancel(self) -> None:
        self.send(("cancel",))

    @rule(delta=st.sampled_from([1, 1, 0, 2]))
    def retry(self, delta: int) -> None:
        retries = self.model.backfill.retries if self.model.backfill is not None else 0
        self.send(("retry", max(1, retries + delta)))

    @rule(i=CHUNK, try_number=TRY)
    def launch(self, i: int, try_number: int) -> None:
        self.send(("launch", i, try_number, f"r{i}-{try_number}"))

    @rule(i=CHUNK, which=st.sampled_from(["current", "current", "other"]), final=FINAL)
    def finish(self, i: int, which: str, final: str) -> None:
        try_number, run_id = self.chunk_run(i, which)
        if which == "other":
            run_id = f"zombie-{i}"
        self.send(("finish", i, try_number, run_id, final))

    @rule(pick=st.integers(0, 100), final=FINAL)
    def advance(self, pick: int, final: str) -> None:
        """The legal next step of some chunk (so that backfills get somewhere)."""
        b = self.model.backfill
        if b is None:
            self.request()
            return
        movable = [i for i, c in enumerate(b.chunks) if c.state in ("PENDING", "RUNNING")]
        if not movable:
            return
        i = movable[pick % len(movable)]
        c = b.chunks[i]
        if c.state == "PENDING":
            self.launch(i, c.try_number)
        else:
            self.finish(i, "current", final)

    # --- sensor rules -----------------------------------------------------------------------

    @rule(paused=st.booleans())
    def set_paused(self, paused: bool) -> None:
        self.send(("set_paused", paused))

    @rule(
        delta=st.sampled_from([0, 0, 0, -1, 1]),
        requests=st.integers(0, 2),
        error=st.booleans(),
    )
    def evaluate(self, delta: int, requests: int, error: bool) -> None:
        seq = max(0, self.model.seq + delta)
        self.send(("evaluate", seq, f"c{self.serial}", requests, error))

    @rule(back=st.integers(0, 3), runs=st.integers(0, 2))
    def triggered(self, back: int, runs: int) -> None:
        seq = max(0, self.model.seq - 1 - back)
        self.send(("triggered", f"sensor:{SENSOR}:{seq}", runs))

    @rule()
    def copy_of_the_last_event(self) -> None:
        if self.last is None:
            return
        (key,) = self.auto.append([copy_of(self.last)])
        assert ingested(self.auto, key).outcome == "duplicate"

    @invariant()
    def matches_the_model(self) -> None:
        assert_matches(self.auto.state(), self.model)


pytest.mark.timeout(900)(AutomationMachine.TestCase)
AutomationMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestAutomationStateMachine = AutomationMachine.TestCase


# --- shuffled and duplicated histories ---------------------------------------------------------

OPS = st.one_of(
    st.just(("request",)),
    st.just(("pause",)),
    st.just(("resume",)),
    st.just(("cancel",)),
    st.tuples(st.just("retry"), st.integers(1, 2)),
    st.tuples(st.just("launch"), CHUNK, st.integers(1, 2)).map(lambda t: (*t, f"r{t[1]}-{t[2]}")),
    st.tuples(st.just("finish"), CHUNK, st.integers(1, 2), FINAL).map(
        lambda t: (t[0], t[1], t[2], f"r{t[1]}-{t[2]}", t[3])
    ),
    st.tuples(st.just("set_paused"), st.booleans()),
    st.tuples(
        st.just("evaluate"), st.integers(0, 3), st.just("c"), st.integers(0, 2), st.booleans()
    ),
    st.tuples(
        st.just("triggered"),
        st.integers(0, 3).map(lambda s: f"sensor:{SENSOR}:{s}"),
        st.integers(0, 2),
    ),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=40), seed=st.integers(0, 2**32 - 1))
def test_a_shuffled_history_with_copies_folds_like_the_model(
    ops: list[tuple[Any, ...]], seed: int
) -> None:
    rng = random.Random(seed)
    # the history: each operation an event at its own time, under its natural key
    events = [build(op, T0 + 10 * i) for i, op in enumerate(ops)]
    # what the model does: the events in event order, the first of each key only
    by_event = sorted(zip(events, ops, strict=True), key=lambda pair: event_order(pair[0]))
    model = Model()
    seen: set[str | None] = set()
    for event, op in by_event:
        if event.idempotency_key in seen:
            continue
        seen.add(event.idempotency_key)
        apply(model, op)
    # what the domain does: the events shuffled, some twice, in one append
    batch = [*events, *(copy_of(e) for e in events if rng.random() < 0.3)]
    rng.shuffle(batch)
    root = Path(tempfile.mkdtemp(prefix="arco-automation-shuffle-"))
    try:
        with open_automation(root) as auto:
            auto.append(batch)
            assert_matches(auto.state(), model)
    finally:
        shutil.rmtree(root, ignore_errors=True)
