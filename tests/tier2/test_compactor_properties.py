"""Property: however events are duplicated, reordered, delayed and split into compaction
rounds, the compactor ends with the state of applying the deduplicated events in true order.

Programs are random sequences of: appends by two writers (each its own ledger entropy) of
exact copies of an envelope or retries (same idempotency key, payload and time, new event
id), whose event ids may be far older or newer than their occurrence (clock skew: names sort
anywhere, including below the watermark); fast-path compactions of arbitrary subsets of the
appended keys by one of two compactors (separate caches); anti-entropy passes; file
compactions. After every step the state equals the model of the objects folded so far; at
the end (one last anti-entropy pass) it equals the model of every appended event, and the
commit chain shows each event applied or superseded exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)
from ulid import ULID

from arco.core.clock import ManualClock, rfc3339_ms
from arco.executions import EXECUTIONS, EXECUTIONS_SPEC
from arco.metadata.manifest import read_manifest
from arco.metadata.snapshot import SnapshotLoader
from arco.storage import ObjectStore, open_store
from arco.tier2.compactor import Compactor
from arco.tier2.envelope import EventEnvelope
from arco.tier2.ledger import EventLedger
from executions_support import (
    BASE_MS,
    DOMAIN,
    assert_folded_once,
    fresh_state,
    model,
    opts,
    view,
)

N_MIDS = 2


class Ids:
    """Deterministic ULIDs (Hypothesis must be able to replay a program exactly)."""

    def __init__(self) -> None:
        self.n = 0

    def at(self, ms: int) -> str:
        self.n += 1
        return str(ULID.from_bytes(ms.to_bytes(6, "big") + self.n.to_bytes(10, "big")))


@dataclass(frozen=True)
class Logical:
    """One logical event (a distinct dedupe key once enveloped)."""

    mid: int | None
    occurred: int
    keyed: bool
    run: str
    status: str
    rows: int | None


logical_events = st.builds(
    Logical,
    # few materializations, so events compete for rows; None: one row per event
    mid=st.sampled_from([*range(N_MIDS), *range(N_MIDS), None]),
    # a narrow time range: many equal times, so the dedupe-key tie-break matters
    occurred=st.integers(0, 12),
    keyed=st.booleans(),
    run=st.sampled_from(["a", "b", "c"]),
    status=st.sampled_from(["started", "succeeded", "failed"]),
    rows=st.one_of(st.none(), st.integers(0, 3)),
)


def envelope(ev: Logical, index: int, event_id: str) -> EventEnvelope:
    payload: dict[str, Any] = {"asset_key": "sales/orders", "run_id": ev.run, "status": ev.status}
    if ev.mid is not None:
        payload["materialization_id"] = f"00000000-0000-4000-8000-{ev.mid:012d}"
    if ev.rows is not None:
        payload["rows"] = ev.rows
    return EventEnvelope(
        event_id=event_id,
        event_type="materialization",
        event_version=1,
        idempotency_key=f"job-{index}" if ev.keyed else None,
        occurred_at=rfc3339_ms(BASE_MS + ev.occurred * 1000),
        source="prop",
        payload=payload,
    )


class World:
    """Two writers, two compactors, one store, and the envelopes actually appended."""

    def __init__(self, max_batch: int, checkpoint_every: int) -> None:
        self.store: ObjectStore = open_store("memory://", retry=False)
        self.clock = ManualClock(BASE_MS + 100_000)
        self.ids = Ids()
        self.ledgers = [
            EventLedger(self.store, DOMAIN, entropy=f"{w:08x}", max_workers=1) for w in (1, 2)
        ]
        o = opts(max_batch=max_batch, checkpoint_every=checkpoint_every, read_workers=1)
        self.compactors = [
            Compactor(self.store, EXECUTIONS, clock=self.clock, options=o, holder=f"c{i}")
            for i in (0, 1)
        ]
        #: a reader of its own (incremental loads, separate from the compactors' caches)
        self.reader = SnapshotLoader(self.store, EXECUTIONS_SPEC)
        #: ledger key -> envelope stored there
        self.appended: dict[str, EventEnvelope] = {}
        #: one envelope per logical event (the first), so copies are exact copies of it
        self.first: dict[int, EventEnvelope] = {}

    def append(
        self, writer: int, items: list[tuple[int, bool, int]], events: list[Logical]
    ) -> None:
        batch: list[EventEnvelope] = []
        for raw_index, retry, skew_s in items:
            index = raw_index
            ev = events[index]
            id_ms = BASE_MS + (ev.occurred + skew_s) * 1000
            original = self.first.get(index)
            if original is None:
                original = self.first[index] = envelope(ev, index, self.ids.at(id_ms))
                env = original
            elif retry and ev.keyed:
                env = envelope(ev, index, self.ids.at(id_ms))
            else:
                env = original  # an exact copy (the same writer re-appending is idempotent)
            if all(e.event_id != env.event_id for e in batch):
                batch.append(env)
        keys = self.ledgers[writer].append(batch)
        self.appended.update(zip(keys, batch, strict=True))
        self.clock.advance(10)

    def check_folded_so_far(self) -> None:
        """State == model of the objects folded so far (copies share their model row)."""
        state = self.reader.load(read_manifest(self.store, DOMAIN))
        folded = [
            e for key, e in self.appended.items() if key.rsplit("/", 1)[1][:-5] in state.ingested
        ]
        assert view(state) == model(folded)
        # and the warm caches of both compactors agree with a cold read
        for c in self.compactors:
            assert view(c.head()[1]) == view(state)

    def finish(self) -> None:
        self.compactors[0].anti_entropy()
        state = fresh_state(self.store)
        assert len(state.ingested) == len(self.appended)
        assert view(state) == model(self.appended.values())
        assert_folded_once(self.store, self.appended.values())


skews = st.integers(-30, 30)  # seconds between an event's id time and its occurrence


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.data(),
    events=st.lists(logical_events, min_size=2, max_size=8),
    max_batch=st.sampled_from([1, 2, 3, 1000]),
    checkpoint_every=st.sampled_from([2, 3, 1000]),
)
def test_any_interleaving_folds_to_the_true_order_state(
    data: st.DataObject, events: list[Logical], max_batch: int, checkpoint_every: int
) -> None:
    world = World(max_batch, checkpoint_every)
    # every logical event is appended at some point, in a random order; copies and
    # retries of already appended ones come in between
    pending = list(data.draw(st.permutations(range(len(events))), label="first appends"))
    for _ in range(data.draw(st.integers(1, 16), label="steps")):
        op = data.draw(st.sampled_from(["append", "append", "compact", "compact", "anti", "ckpt"]))
        who = data.draw(st.integers(0, 1), label="writer or compactor")
        if op == "append":
            items = []
            known = set(world.first)
            for _ in range(data.draw(st.integers(1, 3))):
                if not pending and not known:
                    break
                new = pending and (not known or data.draw(st.booleans(), label="new"))
                if new:
                    index = pending.pop(0)
                else:
                    index = data.draw(st.sampled_from(sorted(known)), label="copy of")
                known.add(index)
                items.append((index, data.draw(st.booleans(), label="retry"), data.draw(skews)))
            world.append(who, items, events)
        elif op == "compact" and world.appended:
            keys = sorted(world.appended)
            world.compactors[who].compact(data.draw(st.lists(st.sampled_from(keys), max_size=6)))
        elif op == "anti":
            world.compactors[who].anti_entropy()
        elif op == "ckpt":
            world.compactors[who].checkpoint()
        world.clock.advance(10)
        world.check_folded_so_far()
    if pending:
        world.append(1, [(i, False, data.draw(skews)) for i in pending], events)
        keys = sorted(world.appended)
        world.compactors[1].compact(data.draw(st.lists(st.sampled_from(keys), max_size=6)))
        world.check_folded_so_far()
    world.finish()


def test_replay_of_old_events_after_newer_ones_were_compacted() -> None:
    """A concrete instance the property covers, kept as a readable regression."""
    events = [
        Logical(0, 1, True, "a", "started", None),
        Logical(0, 5, True, "a", "succeeded", 3),
        Logical(0, 3, False, "b", "failed", None),
    ]
    world = World(1000, 1000)
    world.append(0, [(1, False, 0)], events)
    world.compactors[0].anti_entropy()
    # the older events arrive later, from a writer whose clock is behind (names sort low)
    world.append(1, [(0, False, -20), (2, False, -25), (1, True, -20)], events)
    world.compactors[1].anti_entropy()
    world.check_folded_so_far()
    state = fresh_state(world.store)
    (row,) = state.materializations.values()
    assert (row.status, row.rows) == ("succeeded", 3)
    outcomes = sorted(r.outcome for r in state.ingested.values())
    assert outcomes == ["applied", "duplicate", "superseded", "superseded"]
    world.finish()


class CompactorMachine(RuleBasedStateMachine):
    """The same world driven as a state machine, with the folded-so-far invariant."""

    keys = Bundle("keys")

    def __init__(self) -> None:
        super().__init__()
        self.world = World(max_batch=2, checkpoint_every=3)
        self.events: list[Logical] = []

    @rule(ev=logical_events)
    def new_event(self, ev: Logical) -> None:
        if len(self.events) < 8:
            self.events.append(ev)

    @precondition(lambda self: bool(self.events))
    @rule(
        target=keys,
        writer=st.integers(0, 1),
        index=st.integers(0, 7),  # of the events so far (modulo)
        retry=st.booleans(),
        skew=st.integers(-30, 30),
    )
    def append(self, writer: int, index: int, retry: bool, skew: int) -> str:
        before = set(self.world.appended)
        self.world.append(writer, [(index % len(self.events), retry, skew)], self.events)
        new = set(self.world.appended) - before
        return new.pop() if new else sorted(self.world.appended)[0]

    @rule(c=st.integers(0, 1), key=keys)
    def fast_path(self, c: int, key: str) -> None:
        self.world.compactors[c].compact([key])

    @rule(c=st.integers(0, 1), key=consumes(keys))
    def fast_path_consuming(self, c: int, key: str) -> None:
        self.world.compactors[c].compact([key, key])

    @rule(c=st.integers(0, 1))
    def anti_entropy(self, c: int) -> None:
        self.world.compactors[c].anti_entropy()

    @rule(c=st.integers(0, 1))
    def checkpoint(self, c: int) -> None:
        self.world.compactors[c].checkpoint()

    @invariant()
    def folded_so_far(self) -> None:
        self.world.check_folded_so_far()

    def teardown(self) -> None:
        self.world.finish()


CompactorMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestCompactorMachine = CompactorMachine.TestCase
