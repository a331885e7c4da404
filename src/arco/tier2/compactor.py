"""The tier-2 compactor (spec §6): the sole writer of a tier-2 domain's state.

Appenders write one create-only ledger object per event and never touch shared state. The
compactor folds ledger objects into the domain's Parquet state, one *round* at a time:

1. read the manifest and the state it names (cached per version, loaded incrementally);
2. take the ledger objects not yet folded: an explicit list (the fast path, right after an
   append) or a full listing of the ledger (anti-entropy: finds whatever the fast path
   missed, including objects that sort below the watermark);
3. read them and fold them in event order: a copy of an event already folded is a
   ``duplicate`` (by idempotency key, across compactions); an event older than the row it
   would replace is ``superseded``; an event that is not a legal transition from the
   state it meets (a state-machine domain such as ``runs``) is ``stale`` with its reason
   and changes nothing; a malformed, unknown or unapplicable event is
   ``quarantined`` with its reason (copied under ``quarantine/``), never dropped and never
   blocking the others;
4. write one delta Parquet file per changed table under a directory unique to the attempt;
   the ``ingested`` table records every object read and its outcome;
5. write the commit record, then publish the manifest by compare-and-swap.

There is no lock: two compactors may run at once. The compare-and-swap decides each round;
the loser re-reads and finds the objects folded (a no-op) or folds what is left. A crash at
any step leaves the previous version current and at most unreferenced files behind.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from arco.core import canonical_json
from arco.core.clock import SYSTEM_CLOCK, Clock, rfc3339_ms
from arco.core.ids import next_ulid_after, ulid_floor, ulid_time_ms
from arco.errors import (
    ArcoError,
    CommitConflictError,
    CorruptStateError,
    FencedError,
    ObjectExistsError,
    ObjectNotFoundError,
    ValidationError,
)
from arco.metadata import merge
from arco.metadata.commit_log import CommitKind
from arco.metadata.domain import ApplyContext, Changes, DomainSpec, DomainState
from arco.metadata.layout import commit_dir, ledger_prefix, parse_ledger_key, quarantine_key
from arco.metadata.manifest import Manifest, StoredManifest, read_manifest
from arco.metadata.publish import Publisher, PublishingSteps, StepHook
from arco.metadata.snapshot import SnapshotLoader, write_files
from arco.observability.metrics import (
    COMPACTION_DURATION,
    COMPACTION_EVENTS,
    COMPACTION_ROUNDS,
    VISIBILITY_LAG,
)
from arco.storage.port import ObjectStore
from arco.tier2.envelope import EventEnvelope, rfc3339_to_ms
from arco.tier2.ingested import IngestedRow, Outcome
from arco.tier2.ledger import EventLedger

__all__ = [
    "DEFAULT_DEDUPE_WINDOW_MS",
    "CompactionResult",
    "Compactor",
    "CompactorOptions",
    "EventType",
    "Fold",
    "FoldResult",
    "Tier2Domain",
    "dedupe_key",
    "event_order",
]

log = logging.getLogger(__name__)

#: how long a folded event's idempotency key is remembered after its ledger object is gone
DEFAULT_DEDUPE_WINDOW_MS = 7 * 24 * 3600 * 1000


def dedupe_key(event: EventEnvelope) -> str:
    """What makes two ledger objects copies of one event: the idempotency key, else the id."""
    if event.idempotency_key is not None:
        return f"k:{event.idempotency_key}"
    return f"e:{event.event_id}"


def event_order(event: EventEnvelope) -> str:
    """The total order of events: occurrence time, then dedupe key.

    Copies of one event (same idempotency key and time) have the same order, so which copy
    is folded never changes the outcome. ``occurred_at`` is fixed-width UTC text, so the
    string order is the time order.
    """
    return f"{event.occurred_at} {dedupe_key(event)}"


@dataclass(frozen=True, slots=True)
class Fold:
    """One event being folded, with what every handler needs."""

    event: EventEnvelope
    dedupe_key: str
    event_order: str
    occurred_ms: int
    ctx: ApplyContext


#: what a fold returns: the outcome, or the outcome and its detail (why it was ``stale``)
FoldResult = Outcome | tuple[Outcome, str]


@dataclass(frozen=True)
class EventType:
    """How a tier-2 domain applies one event type and version.

    ``parse`` validates a payload (ValidationError naming ``payload.<field>``); ``fold``
    applies the parsed payload to the changes of a round and says what became of it,
    optionally with a detail recorded in ``ingested`` (a ``stale`` fold says why, and must
    have written nothing).
    """

    event_type: str
    event_version: int
    parse: Callable[[dict[str, Any]], Any]
    fold: Callable[[Fold, Any, Changes[Any]], FoldResult]


class Tier2State(DomainState, Protocol):
    """What the compactor needs from a tier-2 state besides its tables."""

    @property
    def ingested(self) -> Mapping[str, IngestedRow]: ...

    def first_copy(self, dedupe_key: str) -> str | None: ...


T2 = TypeVar("T2", bound=Tier2State)


@dataclass(frozen=True)
class Tier2Domain(Generic[T2]):
    """A tier-2 domain: its tables (``ingested`` among them) and the events it applies."""

    spec: DomainSpec[T2]
    event_types: tuple[EventType, ...]
    by_type: dict[tuple[str, int], EventType] = field(init=False)

    def __post_init__(self) -> None:
        if "ingested" not in self.spec.specs:
            raise TypeError(f"tier-2 domain {self.spec.name} must keep the ingested table")
        if self.spec.tier != 2:
            raise TypeError(f"domain {self.spec.name} is not declared tier 2")
        types = {(t.event_type, t.event_version): t for t in self.event_types}
        object.__setattr__(self, "by_type", types)

    @property
    def name(self) -> str:
        return self.spec.name

    def known(self) -> str:
        return ", ".join(f"{t} v{v}" for t, v in sorted(self.by_type))

    def check(self, event: EventEnvelope) -> None:
        """ValidationError unless this domain can apply ``event`` (type, version, payload)."""
        handler = self.by_type.get((event.event_type, event.event_version))
        if handler is None:
            raise ValidationError(
                f"event_type: {event.event_type!r} version {event.event_version} is not an "
                f"event type of domain {self.name} (known: {self.known()})"
            )
        handler.parse(event.payload)


@dataclass
class CompactorOptions:
    """Tuning of a :class:`Compactor`; the defaults suit production."""

    #: most ledger objects folded in one round (one commit)
    max_batch: int = 10_000
    #: rounds lost to other compactors before a call gives up (CommitConflictError)
    max_conflicts: int = 50
    #: see :data:`DEFAULT_DEDUPE_WINDOW_MS`
    dedupe_window_ms: int = DEFAULT_DEDUPE_WINDOW_MS
    #: compact the state's delta files once this many delta ranges have accumulated
    checkpoint_every: int = 8
    #: compact files in a background thread (False: inline, after the round)
    background_checkpoints: bool = True
    #: concurrent ledger reads
    read_workers: int = 16
    #: a periodic pass (:meth:`Compactor.periodic_pass`) lists the events minted this
    #: recently: an append reaches the ledger well within it of minting its event id
    recent_window_ms: int = 10 * 60 * 1000
    #: ... and the whole ledger at its first pass and then at most this often
    full_pass_every_ms: int = 10 * 60 * 1000


@dataclass
class CompactionResult:
    """What one :meth:`Compactor.compact` or :meth:`Compactor.anti_entropy` call did."""

    #: snapshot versions this call published, oldest first
    versions: list[int] = field(default_factory=list)
    #: ledger objects this call folded, by outcome
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    #: ledger objects named to the call that were folded already (by anyone)
    already_folded: int = 0
    #: ledger objects named to the call that do not exist
    missing: int = 0
    #: ``ingested`` rows forgotten (ledger object collected, dedupe window passed)
    pruned: int = 0
    #: per folded object: ms from the event id's time to the publish that folded it
    lag_ms: list[int] = field(default_factory=list)
    #: rounds lost to another compactor
    conflicts: int = 0

    @property
    def folded(self) -> int:
        return sum(self.outcomes.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "versions": self.versions,
            "folded": self.folded,
            "outcomes": dict(sorted(self.outcomes.items())),
            "already_folded": self.already_folded,
            "missing": self.missing,
            "pruned": self.pruned,
            "conflicts": self.conflicts,
        }


@dataclass
class _Read:
    """One ledger object as read: an event, or why it cannot be one."""

    key: str
    name: str
    event: EventEnvelope | None = None
    problem: str | None = None
    raw: bytes | None = None


def _holder() -> str:
    return f"compactor-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Compactor(PublishingSteps, Generic[T2]):
    """Folds a tier-2 domain's ledger into its state; safe to run beside other compactors."""

    def __init__(
        self,
        store: ObjectStore,
        domain: Tier2Domain[T2],
        *,
        clock: Clock = SYSTEM_CLOCK,
        options: CompactorOptions | None = None,
        holder: str | None = None,
        on_step: StepHook | None = None,
    ) -> None:
        self._store = store
        self.domain = domain
        self._name = domain.name
        self._clock = clock
        self.options = options or CompactorOptions()
        self.holder = holder or _holder()
        self._ledger = EventLedger(store, domain.name, max_workers=self.options.read_workers)
        self.loader: SnapshotLoader[T2] = SnapshotLoader(store, domain.spec)
        self._publisher = Publisher(store, domain.name, holder=lambda: self.holder, clock=clock)
        self._publisher.on_step = on_step
        self._mutex = threading.Lock()
        self._compactions = merge.CompactionRunner(
            domain.name, self.checkpoint, background=self.options.background_checkpoints
        )
        self._last_full_pass_ms: int | None = None
        #: commits this compactor published (folds and file compactions)
        self.commits = 0
        self._last_published: Manifest | None = None

    # --- reading ------------------------------------------------------------------------

    def head(self) -> tuple[StoredManifest | None, T2]:
        """The current manifest and the state it names."""
        head = read_manifest(self._store, self._name)
        return head, self.loader.load(head)

    # --- folding ------------------------------------------------------------------------

    def compact(
        self, keys: Sequence[str], events: Sequence[EventEnvelope] | None = None
    ) -> CompactionResult:
        """Fold the named ledger objects (the fast path, right after they were appended).

        ``events``, if given, are the events that ``keys`` were just appended with (by
        :meth:`EventLedger.append`, which succeeds only if each object holds exactly that
        event): they are folded without reading the objects back. Objects already folded
        are skipped, so repeating a call is harmless.
        """
        if events is not None and len(events) != len(keys):
            raise ValidationError(
                f"events: must match keys one to one (got {len(events)} for {len(keys)} keys)"
            )
        names: list[str] = []
        for key in keys:
            parsed = parse_ledger_key(self._name, key)
            if parsed is None or parsed[1] is None:
                raise ValidationError(f"keys: not a {self._name} ledger object key ({key!r})")
            names.append(key[len(ledger_prefix(self._name)) : -len(".json")])
        known: dict[str, EventEnvelope] = {}
        for name, event in zip(names, events or (), strict=False):
            if event.event_id != name[:26]:
                raise ValidationError(f"events: {event.event_id} is not the event of key {name}")
            known[name] = event
        with self._mutex:
            result = CompactionResult()
            self._fold(sorted(set(names)), result, None, known)
        self._compactions.trigger(self._last_published, self.options.checkpoint_every)
        return result

    def anti_entropy(self, *, since_ms: int | None = None) -> CompactionResult:
        """List the whole ledger and fold every object not folded yet, wherever it sorts.

        Also forgets ``ingested`` rows whose ledger object is gone (collected by GC) once the
        dedupe window has passed since they were folded.

        With ``since_ms``, only the objects of events minted from ``since_ms`` on are listed
        and folded (the ledger lists in event-id order, so this costs what is recent, not
        the whole ledger), and nothing is forgotten (that needs the whole listing). An event
        appended later than it was minted by more than the caller's window is folded by the
        next whole pass.
        """
        prefix = ledger_prefix(self._name)
        after = None if since_ms is None else prefix + ulid_floor(max(since_ms, 0))
        with self._mutex:
            listed = {key[len(prefix) : -len(".json")] for key in self._ledger.list_keys(after)}
            result = CompactionResult()
            self._fold(sorted(listed), result, listed if since_ms is None else None, {})
        self._compactions.trigger(self._last_published, self.options.checkpoint_every)
        return result

    def periodic_pass(self) -> CompactionResult:
        """One pass of a compaction loop: the events minted in the last
        ``recent_window_ms``, or, at the first pass and every ``full_pass_every_ms``, the
        whole ledger. A loop's cost per pass so follows the append rate, not the ledger's
        length (listing a grown ledger every few seconds made every request of a long-running
        server slower, and reads every object's metadata on some stores)."""
        now = self._clock.now_ms()
        last = self._last_full_pass_ms
        if last is None or now - last >= self.options.full_pass_every_ms:
            result = self.anti_entropy()
            self._last_full_pass_ms = now
            return result
        return self.anti_entropy(since_ms=now - self.options.recent_window_ms)

    def _fold(
        self,
        names: list[str],
        result: CompactionResult,
        listed: set[str] | None,
        known: Mapping[str, EventEnvelope],
    ) -> None:
        """Fold ``names`` in rounds of at most ``max_batch``; prune if ``listed`` is given."""
        conflicts = 0
        prune_pending = listed is not None
        total = len(names)
        while True:
            head, state = self.head()
            ingested = state.ingested
            todo = [n for n in names if n not in ingested]
            prune = self._prunable(ingested, listed) if prune_pending and listed is not None else []
            if not todo and not prune:
                break
            batch = todo[: self.options.max_batch]
            try:
                self._round(head, state, batch, prune, result, known)
            except (CommitConflictError, FencedError) as exc:
                COMPACTION_ROUNDS.labels(self._name, "conflict").inc()
                conflicts += 1
                result.conflicts += 1
                if conflicts > self.options.max_conflicts:
                    raise CommitConflictError(
                        f"compactor {self._name}: lost {conflicts} rounds in a row to other "
                        "compactors; giving up for now"
                    ) from exc
                time.sleep(min(0.2, 0.005 * conflicts) * (0.5 + secrets.randbelow(1000) / 1000))
                continue
            conflicts = 0
            prune_pending = False
            done = set(batch)
            names = [n for n in todo if n not in done]
            if not names:
                break
        result.already_folded = total - result.folded - result.missing

    def preview(self, events: Mapping[str, EventEnvelope], base: T2 | None = None) -> T2:
        """The head state with ``events`` (ledger object name -> event) folded in memory, in
        event order, as a round would fold them; nothing is written. Objects the head has
        folded already are skipped, so a preview is never ahead of the ledger and never
        counts an event twice. What a process reads between its appends and the background
        round that publishes them (the round re-folds them over whatever head it meets).
        ``base``: an earlier preview over the current head, to fold only what is new."""
        state = self.head()[1] if base is None else base
        todo = [(name, e) for name, e in events.items() if name not in state.ingested]
        if not todo:
            return state
        ctx = ApplyContext(version=state.version + 1, now_ms=self._clock.now_ms())
        changes: Changes[T2] = Changes(state)
        items = [_Read(f"{ledger_prefix(self._name)}{n}.json", n, e) for n, e in todo]
        for item in _in_event_order(items):
            self._fold_one(item, changes, ctx)
        return changes.state

    def _prunable(self, ingested: Mapping[str, IngestedRow], listed: set[str]) -> list[str]:
        """Rows whose ledger object is gone, folded more than the dedupe window ago."""
        cutoff = self._clock.now_ms() - self.options.dedupe_window_ms
        return [
            name
            for name, row in ingested.items()
            if row.compacted_at < cutoff and name not in listed
        ]

    def _round(
        self,
        head: StoredManifest | None,
        state: T2,
        batch: list[str],
        prune: list[str],
        result: CompactionResult,
        known: Mapping[str, EventEnvelope],
    ) -> bool:
        """One commit: fold ``batch`` and forget ``prune``. True if anything was published."""
        started = time.monotonic()
        self._publisher.step("read")
        reads = self._read(batch, known)
        present = [r for r in reads if r.event is not None or r.problem is not None]
        missing = len(reads) - len(present)
        now = self._clock.now_ms()
        version = state.version + 1
        commit_id = next_ulid_after(head.manifest.commit_id if head is not None else None)
        ctx = ApplyContext(version=version, now_ms=now)
        changes: Changes[T2] = Changes(state)
        outcomes: collections.Counter[str] = collections.Counter()
        quarantined: list[tuple[_Read, str]] = []
        for item in _in_event_order(present):
            outcome, detail = self._fold_one(item, changes, ctx)
            outcomes[outcome] += 1
            if outcome == "quarantined":
                quarantined.append((item, detail or ""))
        ingested = state.ingested
        for name in prune:
            row = ingested[name]
            # the tombstone: the row as it was, written by this version
            tombstone = dataclasses.replace(row, compacted_at=now, version=version)
            changes.remove("ingested", name, tombstone)
        if changes.empty:
            result.missing += missing
            return False
        self._publisher.step("quarantine")
        for item, reason in quarantined:
            self._quarantine(item, reason, now)
        self._publisher.step("delta")
        files = write_files(
            self._store,
            self.domain.spec,
            commit_dir(self._name, version, commit_id, tier=2),
            "delta",
            changes.delta(),
            version,
            from_version=version,
        )
        base = head.manifest if head is not None else None
        watermark = max(
            [n for n in (base.watermark if base else None, *(r.name for r in present)) if n],
            default=None,
        )
        manifest = self._publisher.successor(
            head,
            files=(*(base.files if base else ()), *files),
            checkpoint_version=base.checkpoint_version if base else 0,
            watermark=watermark,
            fencing_token=base.fencing_token if base else 0,
            commit_id=commit_id,
        )
        summary: dict[str, Any] = {"outcomes": dict(sorted(outcomes.items()))}
        if prune:
            summary["pruned"] = len(prune)
        self._publisher.publish(head, manifest, "compact", [summary])
        self._last_published = manifest
        published = self._clock.now_ms()
        new_state = changes.state
        new_state.version = version
        self.loader.remember(new_state)
        self.commits += 1
        result.versions.append(version)
        result.outcomes.update(outcomes)
        result.missing += missing
        result.pruned += len(prune)
        lags = [max(0, published - ulid_time_ms(r.name[:26])) for r in present]
        result.lag_ms.extend(lags)
        COMPACTION_ROUNDS.labels(self._name, "published").inc()
        COMPACTION_DURATION.labels(self._name).observe(time.monotonic() - started)
        for name, n in outcomes.items():
            COMPACTION_EVENTS.labels(self._name, name).inc(n)
        lag = VISIBILITY_LAG.labels(self._name)
        for ms in lags:
            lag.observe(ms / 1000)
        return True

    def _fold_one(
        self, item: _Read, changes: Changes[T2], ctx: ApplyContext
    ) -> tuple[Outcome, str | None]:
        event = item.event
        if event is None:
            self._record(changes, item, None, "quarantined", item.problem, ctx)
            return "quarantined", item.problem
        key = dedupe_key(event)
        first = changes.state.first_copy(key)
        if first is not None:
            self._record(changes, item, key, "duplicate", first, ctx)
            return "duplicate", first
        handler = self.domain.by_type.get((event.event_type, event.event_version))
        outcome: Outcome
        detail: str | None = None
        if handler is None:
            outcome = "quarantined"
            detail = (
                f"unknown event type {event.event_type!r} version {event.event_version} "
                f"(known: {self.domain.known()})"
            )
        else:
            try:
                parsed = handler.parse(event.payload)
                fold = Fold(event, key, event_order(event), rfc3339_to_ms(event.occurred_at), ctx)
                folded = handler.fold(fold, parsed, changes)
                outcome, detail = folded if isinstance(folded, tuple) else (folded, None)
            except ValidationError as exc:
                outcome, detail = "quarantined", exc.message
        self._record(changes, item, key, outcome, detail, ctx)
        return outcome, detail

    def _record(
        self,
        changes: Changes[T2],
        item: _Read,
        key: str | None,
        outcome: Outcome,
        detail: str | None,
        ctx: ApplyContext,
    ) -> None:
        event = item.event
        row = IngestedRow(
            name=item.name,
            event_id=event.event_id if event else None,
            event_type=event.event_type if event else None,
            dedupe_key=key,
            outcome=outcome,
            detail=detail,
            occurred_at=rfc3339_to_ms(event.occurred_at) if event else None,
            compacted_at=ctx.now_ms,
            version=ctx.version,
        )
        changes.upsert("ingested", item.name, row)

    def _read(self, names: list[str], known: Mapping[str, EventEnvelope]) -> list[_Read]:
        """Each object as an event, or why it is not one; ``known`` events are not read."""

        def read(name: str) -> _Read:
            key = f"{ledger_prefix(self._name)}{name}.json"
            item = _Read(key, name)
            try:
                item.event = self._ledger.read(key)
            except ObjectNotFoundError:
                pass
            except CorruptStateError as exc:
                item.problem = exc.message.partition(": ")[2] or exc.message
                try:
                    item.raw = self._store.get(key).data
                except ObjectNotFoundError:
                    item.problem = None
            return item

        reads = {
            n: _Read(f"{ledger_prefix(self._name)}{n}.json", n, known[n])
            for n in names
            if n in known
        }
        unknown = [n for n in names if n not in reads]
        reads.update(zip(unknown, self._ledger.map(read, unknown), strict=True))
        return [reads[n] for n in names]

    def _quarantine(self, item: _Read, reason: str, now: int) -> None:
        """Set the object aside under ``quarantine/`` (create-only; a copy from an earlier
        attempt is as good as ours)."""
        if item.event is not None:
            content: Any = item.event.model_dump()
        else:
            content = (item.raw or b"").decode("utf-8", errors="replace")
        record = {
            "ledger_key": item.key,
            "reason": reason,
            "quarantined_at": rfc3339_ms(now),
            "holder": self.holder,
            "event": content,
        }
        with contextlib.suppress(ObjectExistsError):
            self._store.put(
                quarantine_key(self._name, item.name),
                canonical_json.canonical_dumps(record),
                "create",
            )

    # --- compaction of the state's files -------------------------------------------------

    def close(self) -> None:
        """Wait for background file compaction, then stop the I/O threads."""
        self.wait_for_checkpoints()
        self._ledger.close()

    def wait_for_checkpoints(self, timeout: float | None = None) -> None:
        """Wait for a background file compaction to finish (tests, benchmarks, shutdown)."""
        self._compactions.wait(timeout)

    def checkpoint(self) -> bool:
        """Merge the state's delta files (or write a checkpoint) now; False if nothing to do.

        The new files are written first and adopted by a small commit if the files they
        replace are still current; a round that lands meanwhile only adds files, so
        adoption retries on conflict.
        """
        head = read_manifest(self._store, self._name)
        todo = merge.plan(head.manifest) if head is not None else None
        if head is None or todo is None:
            return False
        started = self._clock.now_ms()
        files = merge.write(self._store, self.loader, todo, set())
        kind: CommitKind = "checkpoint" if todo.kind == "checkpoint" else "merge"
        for _ in range(self.options.max_conflicts):
            with self._mutex:
                current, state = self.head()
                manifest = self._publisher.adoption(
                    current,
                    todo.replaced,
                    files,
                    planned_on=head,
                    written_at_ms=started,
                    checkpoint_version=todo.last if kind == "checkpoint" else None,
                )
                if manifest is None:
                    return False
                try:
                    self._publisher.publish(current, manifest, kind, [])
                except (CommitConflictError, FencedError):
                    continue
                self._last_published = manifest
                self.loader.remember_adopted(state, manifest)
                self.commits += 1
                return True
        return False

    # --- running continuously ------------------------------------------------------------

    def watch(
        self,
        interval_s: float,
        stop: threading.Event,
        on_pass: Callable[[CompactionResult], None] | None = None,
    ) -> None:
        """Run :meth:`periodic_pass` every ``interval_s`` seconds until ``stop`` is set.

        A failed pass is logged and retried at the next interval.
        """
        while not stop.is_set():
            try:
                result = self.periodic_pass()
            except ArcoError as exc:
                log.warning("compaction pass of %s failed: %s", self._name, exc)
            else:
                if on_pass is not None:
                    on_pass(result)
            stop.wait(interval_s)


def _in_event_order(items: list[_Read]) -> list[_Read]:
    """Events by (event order, object name); unreadable objects first (they apply nothing)."""
    return sorted(
        items,
        key=lambda r: ("", r.name) if r.event is None else (event_order(r.event), r.name),
    )
