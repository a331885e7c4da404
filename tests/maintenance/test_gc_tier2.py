"""``arco gc`` on the tier-2 ``executions`` domain: state, commits, ledger and quarantine.

Object ages are controlled: a :class:`ManualClock` drives the compactor and the event ids,
and every object a step writes gets that clock's time as its last-modified time
(:meth:`Tier2World.stamp`), so GC and verify run with ``now_ms`` = the simulated time.
"""

from __future__ import annotations

import collections
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from arco.cli import app
from arco.core.clock import ManualClock, rfc3339_ms
from arco.core.ids import ulid_time_ms
from arco.errors import ValidationError
from arco.executions import EXECUTIONS
from arco.maintenance.gc import GcReport, collect_garbage, ingested_rows
from arco.maintenance.verify import verify_scope
from arco.metadata.commit_log import read_commit
from arco.metadata.layout import ledger_prefix, quarantine_key
from arco.metadata.manifest import read_manifest
from arco.storage import FaultyStore, LocalFileStore, ObjectStore, ScopedStore, SimulatedCrash
from arco.tier2.compactor import Compactor, CompactorOptions
from arco.tier2.envelope import EventEnvelope, ulid_at
from arco.tier2.ledger import EventLedger
from gc_support import gc_fence_records

SCOPE = "tenant=default/workspace=default/"
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
RETENTION_S = 3 * 86_400
MIN_AGE_S = 3600
NO_LAG = 10**9


def options(**overrides: Any) -> CompactorOptions:
    base: dict[str, Any] = {
        "background_checkpoints": False,
        "checkpoint_every": 4,
        "dedupe_window_ms": 2 * DAY_MS,
        "read_workers": 4,
    }
    return CompactorOptions(**{**base, **overrides})


@dataclass
class Tier2World:
    """A scoped local store with an executions domain, a simulated clock and stamped ages."""

    root: LocalFileStore
    store: ObjectStore
    clock: ManualClock
    ledgers: list[EventLedger]
    compactor: Compactor[Any]
    seen: dict[str, str] = field(default_factory=dict)
    n: int = 0

    @classmethod
    def create(cls, path: Path, *, start_ms: int | None = None, writers: int = 3) -> Tier2World:
        root = LocalFileStore(path, fsync=False)
        store = ScopedStore(root, SCOPE)
        clock = ManualClock(start_ms if start_ms is not None else real_now_ms() - 120 * DAY_MS)
        ledgers = [EventLedger(store, "executions") for _ in range(writers)]
        compactor = Compactor(store, EXECUTIONS, clock=clock, options=options(), holder="main")
        return cls(root, store, clock, ledgers, compactor)

    def stamp(self) -> None:
        """Give every object written or replaced since the last call the clock's time."""
        t = self.clock.now_ms() / 1000
        for meta in self.root.list(""):
            if self.seen.get(meta.key) != meta.version:
                self.seen[meta.key] = meta.version
                path = self.root.root.joinpath(*meta.key.split("/"))
                os.utime(path, (t, t))

    def event(
        self,
        *,
        key: str | None = None,
        skew_ms: int = 0,
        bad: bool = False,
        unknown: bool = False,
        asset: str = "raw/orders",
    ) -> EventEnvelope:
        """An event made now (or ``skew_ms`` earlier: a late or clock-skewed writer)."""
        self.n += 1
        t = self.clock.now_ms() - skew_ms
        payload: dict[str, Any] = (
            {"asset_key": 7}
            if bad
            else {"asset_key": asset, "run_id": f"run-{self.n}", "status": "succeeded"}
        )
        return EventEnvelope(
            event_id=ulid_at(t),
            event_type="no_such_type" if unknown else "materialization",
            event_version=1,
            idempotency_key=key,
            occurred_at=rfc3339_ms(t),
            source="test",
            payload=payload,
        )

    def append(self, events: list[EventEnvelope], writer: int = 0) -> list[str]:
        keys = self.ledgers[writer].append(events)
        self.stamp()
        return keys

    def fresh(self) -> Compactor[Any]:
        return Compactor(self.store, EXECUTIONS, clock=self.clock, options=options())

    def crash(self, what: str, keys: list[str], crash_after: int, *, must: bool = True) -> bool:
        """Run a compactor that dies after ``crash_after`` storage operations; whether it died.

        With ``must`` (the default) the run has to need more than ``crash_after`` operations,
        so a crash that silently did not happen fails the test."""
        faulty = FaultyStore(self.store, crash_after=crash_after)
        dead = Compactor(faulty, EXECUTIONS, clock=self.clock, options=options(), holder="dead")
        crashed = False
        try:
            if what == "compact":
                dead.compact(keys)
            elif what == "anti_entropy":
                dead.anti_entropy()
            else:
                dead.checkpoint()
        except SimulatedCrash:
            crashed = True
        assert crashed or not must, f"{what} finished within {crash_after} operations"
        self.stamp()
        return crashed

    def advance(self, ms: int) -> None:
        self.clock.advance(ms)

    def keys(self) -> dict[str, int]:
        return {m.key: m.size for m in self.store.list("")}

    def ledger_keys(self) -> set[str]:
        return {m.key for m in self.store.list(ledger_prefix("executions"))}

    def folded(self) -> set[str]:
        return set(ingested_rows(self.store, read_manifest(self.store, "executions")))

    def uncompacted(self) -> set[str]:
        folded = self.folded()
        prefix = ledger_prefix("executions")
        return {k for k in self.ledger_keys() if k[len(prefix) : -len(".json")] not in folded}


def real_now_ms(days: float = 0) -> int:
    return time.time_ns() // 1_000_000 + int(days * DAY_MS)


def items(report: GcReport) -> list[tuple[str, str, int]]:
    return [(i.key, i.reason, i.bytes) for i in report.deleted]


def retained_files(store: ObjectStore, keep_versions: int) -> set[str]:
    """Every file of the current manifest and of the last ``keep_versions`` versions."""
    head = read_manifest(store, "executions")
    if head is None:
        return set()
    files = {f.path for f in head.manifest.files}
    commit_id: str | None = head.manifest.commit_id
    for _ in range(keep_versions):
        if commit_id is None:
            break
        record = read_commit(store, "executions", commit_id)
        files.update(f.path for f in record.manifest.files)
        commit_id = record.parent_commit_id
    return files


def state_of(world: Tier2World) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """What a fresh compactor loads: version, materializations, ingested."""
    _, state = world.fresh().head()
    return (
        state.version,
        dict(state.materializations.items()),
        dict(state.ingested.items()),
    )


def gc_and_check(
    world: Tier2World, *, keep_versions: int = 3, quarantine_retention_s: int | None = None
) -> GcReport:
    """Dry run, then the real run at the same time; check everything that must survive."""
    now = world.clock.now_ms()
    args: dict[str, Any] = {
        "keep_versions": keep_versions,
        "min_age_s": MIN_AGE_S,
        "ledger_retention_s": RETENTION_S,
        "quarantine_retention_s": quarantine_retention_s,
        "now_ms": now,
    }
    listing = world.keys()
    uncompacted = world.uncompacted()
    folded = world.folded()
    live = retained_files(world.store, keep_versions)
    before = state_of(world)

    dry = collect_garbage(world.store, dry_run=True, **args)
    assert world.keys() == listing
    real = collect_garbage(world.store, **args)
    assert items(real) == items(dry)
    assert real.kept == dry.kept
    assert {**real.to_json(), "dry_run": True} == dry.to_json()

    deleted = {k for k, _, _ in items(real)}
    after = world.keys()
    fences = gc_fence_records(set(after) - set(listing), lambda key: world.store.get(key).data)
    assert len(fences) == (1 if read_manifest(world.store, "executions") else 0)
    assert set(after) == (set(listing) - deleted) | fences
    assert all(listing[k] == b for k, _, b in items(real))
    assert uncompacted <= set(after), "an uncompacted ledger object was deleted"
    assert live <= set(after), "a file of a retained manifest was deleted"
    assert not any(k.startswith(("manifests/", "locks/")) for k in deleted)
    prefix = ledger_prefix("executions")
    for item in real.deleted:
        assert item.domain == "executions"
        if item.reason == "compacted_ledger_event":
            name = item.key[len(prefix) : -len(".json")]
            assert name in folded
            assert now - ulid_time_ms(name[:26]) >= RETENTION_S * 1000
    report = verify_scope(
        world.store,
        now_ms=now,
        lag_bound_s=NO_LAG,
        quarantine_retention_s=quarantine_retention_s or RETENTION_S,
    )
    assert report.ok, report.to_json()
    version, *rows = state_of(world)
    assert rows == list(before[1:])  # the same rows; the fence is one version more
    assert version == before[0] + len(fences)
    world.seen = {k: v for k, v in world.seen.items() if k[len(SCOPE) :] not in deleted}
    return real


def run_workload(world: Tier2World, rng: random.Random, steps: int) -> collections.Counter[str]:
    """Appends by several ledgers, fast-path and anti-entropy folds, checkpoints, crashed
    attempts and GC runs, with time advancing between them. Returns deleted counts."""
    pending: list[str] = []
    deleted: collections.Counter[str] = collections.Counter()
    idem = [f"idem-{i}" for i in range(12)]
    for step in range(steps):
        roll = rng.random()
        if roll < 0.40:
            batch = []
            for _ in range(rng.randint(1, 4)):
                r = rng.random()
                batch.append(
                    world.event(
                        key=rng.choice(idem) if rng.random() < 0.5 else None,
                        skew_ms=rng.randrange(10 * DAY_MS) if rng.random() < 0.15 else 0,
                        bad=r < 0.08,
                        unknown=0.08 <= r < 0.12,
                        asset=f"raw/t{rng.randrange(5)}",
                    )
                )
            writer = rng.randrange(len(world.ledgers))
            keys = world.append(batch, writer)
            if rng.random() < 0.2:  # another writer appends a copy of the same events
                world.append(batch, (writer + 1) % len(world.ledgers))
            pending.extend(keys)
        elif roll < 0.60 and pending:
            chosen = rng.sample(pending, k=rng.randint(1, len(pending)))
            world.compactor.compact(chosen)
            world.stamp()
            pending = [k for k in pending if k not in chosen]
        elif roll < 0.70:
            world.compactor.anti_entropy()
            world.stamp()
            pending = []
        elif roll < 0.76:
            world.compactor.checkpoint()
            world.stamp()
        elif roll < 0.88:
            what = rng.choice(["compact", "anti_entropy", "checkpoint"])
            # a random budget: a short round may finish before it, and that is fine here
            world.crash(
                what, pending or sorted(world.ledger_keys())[-3:], rng.randrange(1, 25), must=False
            )
        elif roll < 0.93:
            report = gc_and_check(world, keep_versions=rng.randint(1, 4))
            deleted.update(i.reason for i in report.deleted)
        world.advance(rng.choice([MINUTE_MS, 20 * MINUTE_MS, 2 * HOUR_MS, DAY_MS, 2 * DAY_MS]))
        if step % 25 == 24:
            world.stamp()
    return deleted


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gc_never_deletes_referenced_files_or_uncompacted_events(tmp_path: Path, seed: int) -> None:
    world = Tier2World.create(tmp_path / "store")
    rng = random.Random(seed)
    deleted = run_workload(world, rng, 160)
    # leave some events unfolded for a long time, then collect once more, much later
    world.append([world.event(key="late"), world.event(skew_ms=30 * DAY_MS)], 1)
    world.crash("compact", sorted(world.ledger_keys())[-2:], 4)
    world.advance(20 * DAY_MS)
    assert world.uncompacted()
    final = gc_and_check(world, keep_versions=1)
    deleted.update(i.reason for i in final.deleted)
    assert final.kept["uncompacted_ledger_event"] >= 2
    assert {
        "compacted_ledger_event",
        "unreferenced_snapshot",
        "orphan_commit",
        "expired_quarantine",
    } <= set(deleted), deleted
    # what is left still folds: nothing compacted is folded twice, the rest gets folded
    folded_before = world.folded()
    result = world.fresh().anti_entropy()
    world.stamp()
    assert world.uncompacted() == set()
    assert folded_before <= world.folded() or result.pruned
    assert verify_scope(world.store, now_ms=world.clock.now_ms()).ok


def build_small(tmp_path: Path) -> tuple[Tier2World, dict[str, list[str]]]:
    """A few folded events (one quarantined, one duplicate), a checkpoint, a crashed round,
    and one unfolded event: everything ten days old, with the ledger retention at 3 days."""
    world = Tier2World.create(tmp_path / "store")
    keys: dict[str, list[str]] = {}
    keys["applied"] = world.append([world.event(key=f"k{i}") for i in range(6)])
    keys["bad"] = world.append([world.event(bad=True)])
    keys["dup"] = world.append([world.event(key="k0")], 1)
    world.compactor.compact(keys["applied"])
    world.compactor.compact(keys["bad"] + keys["dup"])
    world.compactor.checkpoint()
    world.stamp()
    keys["unfolded"] = world.append([world.event(key="later")], 2)
    world.crash("compact", keys["unfolded"], 5)  # dies after writing its delta files
    world.advance(10 * DAY_MS)
    return world, keys


def test_each_category_in_a_small_workspace(tmp_path: Path) -> None:
    world, keys = build_small(tmp_path)
    bad_name = keys["bad"][0][len(ledger_prefix("executions")) : -len(".json")]
    assert quarantine_key("executions", bad_name) in world.keys()
    report = gc_and_check(world, keep_versions=1)
    by_reason = collections.defaultdict(set)
    for item in report.deleted:
        by_reason[item.reason].add(item.key)
    assert by_reason["compacted_ledger_event"] == set(keys["applied"] + keys["bad"] + keys["dup"])
    assert by_reason["expired_quarantine"] == {quarantine_key("executions", bad_name)}
    assert by_reason["unreferenced_snapshot"]
    assert all(k.startswith("state/executions/") for k in by_reason["unreferenced_snapshot"])
    assert set(keys["unfolded"]) <= set(world.keys())
    assert report.kept["uncompacted_ledger_event"] == 1
    assert report.summary()["compacted_ledger_event"]["count"] == 8


def test_retention_needs_both_the_event_time_and_the_object_age(tmp_path: Path) -> None:
    world = Tier2World.create(tmp_path / "store")
    # ids ten days old, objects written now: a late writer
    late = world.append([world.event(skew_ms=10 * DAY_MS) for _ in range(3)])
    # ids of now, objects that will be old
    on_time = world.append([world.event() for _ in range(3)], 1)
    world.compactor.compact(late + on_time)
    world.stamp()
    world.advance(RETENTION_S * 1000 - HOUR_MS)
    report = gc_and_check(world)
    assert not [i for i in report.deleted if i.reason == "compacted_ledger_event"]
    assert report.kept["retained_ledger_event"] == 6
    world.advance(2 * HOUR_MS)
    report = gc_and_check(world)
    assert {i.key for i in report.deleted if i.reason == "compacted_ledger_event"} == set(
        late + on_time
    )


def test_uncompacted_events_are_never_collected(tmp_path: Path) -> None:
    world = Tier2World.create(tmp_path / "store")
    old = world.append([world.event(skew_ms=400 * DAY_MS) for _ in range(4)])
    world.advance(400 * DAY_MS)
    report = collect_garbage(
        world.store, min_age_s=0, ledger_retention_s=0, now_ms=world.clock.now_ms()
    )
    assert report.deleted == []
    assert report.kept["uncompacted_ledger_event"] == 4
    assert set(old) <= set(world.keys())


def test_an_event_folded_after_the_manifest_was_read_is_kept(tmp_path: Path) -> None:
    """GC reads the manifest first; a fold landing between that and the listing is kept."""
    world = Tier2World.create(tmp_path / "store")
    first = world.append([world.event()])
    world.compactor.compact(first)
    second = world.append([world.event()], 1)
    world.stamp()
    world.advance(30 * DAY_MS)

    folded_mid_run = {"done": False}

    def fault(index: int, op: str, key: str) -> BaseException | None:
        if (
            op == "list"
            and key.startswith(SCOPE + "ledger/executions")
            and not folded_mid_run["done"]
        ):
            folded_mid_run["done"] = True
            world.compactor.compact(second)
        return None

    faulty = ScopedStore(FaultyStore(world.root, fault=fault), SCOPE)
    report = collect_garbage(faulty, min_age_s=0, ledger_retention_s=0, now_ms=world.clock.now_ms())
    assert folded_mid_run["done"]
    assert {i.key for i in report.deleted if i.reason == "compacted_ledger_event"} == set(first)
    assert set(second) <= set(world.keys())
    assert report.kept["uncompacted_ledger_event"] == 1


def test_quarantine_of_an_unpublished_round_is_kept(tmp_path: Path) -> None:
    world = Tier2World.create(tmp_path / "store")
    world.compactor.compact(world.append([world.event()]))
    # a late writer: the event sorts below the watermark, its object is not in the ledger's
    # folded set, and GC must still keep the quarantine copy of the round that died
    bad = world.append([world.event(bad=True, skew_ms=HOUR_MS)])

    def die_at_delta(index: int, op: str, key: str) -> BaseException | None:
        if op == "put" and "/state/executions/" in key:
            return SimulatedCrash("after the quarantine copy, before the delta files")
        return None

    faulty = FaultyStore(world.root, fault=die_at_delta)
    dead = Compactor(ScopedStore(faulty, SCOPE), EXECUTIONS, clock=world.clock, options=options())
    with pytest.raises(SimulatedCrash):
        dead.compact(bad)
    world.stamp()
    world.advance(30 * DAY_MS)
    name = bad[0][len(ledger_prefix("executions")) : -len(".json")]
    assert quarantine_key("executions", name) in world.keys()
    assert name < (world.compactor.head()[0].manifest.watermark or "")  # type: ignore[union-attr]
    report = gc_and_check(world)
    assert quarantine_key("executions", name) in world.keys()
    assert report.kept["unfolded_quarantine"] == 1
    # once folded (reusing the copy), and the retention has passed again, it goes
    world.compactor.compact(bad)
    world.stamp()
    world.advance(30 * DAY_MS)
    gc_and_check(world)
    assert quarantine_key("executions", name) not in world.keys()


def test_quarantine_retention_is_separate(tmp_path: Path) -> None:
    world, keys = build_small(tmp_path)
    bad_name = keys["bad"][0][len(ledger_prefix("executions")) : -len(".json")]
    report = gc_and_check(world, quarantine_retention_s=30 * 86_400)
    assert quarantine_key("executions", bad_name) in world.keys()
    assert report.kept["retained_quarantine"] == 1
    assert "compacted_ledger_event" in {i.reason for i in report.deleted}


def test_pruned_rows_release_their_quarantine_copies(tmp_path: Path) -> None:
    world, keys = build_small(tmp_path)
    bad_name = keys["bad"][0][len(ledger_prefix("executions")) : -len(".json")]
    # keep the quarantine copy past the ledger object and the ingested row
    gc_and_check(world, quarantine_retention_s=20 * 86_400)
    assert quarantine_key("executions", bad_name) in world.keys()
    world.compactor.anti_entropy()  # prunes rows of collected objects (2-day dedupe window)
    world.stamp()
    assert bad_name not in world.folded()
    world.advance(15 * DAY_MS)
    report = gc_and_check(world, quarantine_retention_s=20 * 86_400)
    assert [i.key for i in report.deleted if i.reason == "expired_quarantine"] == [
        quarantine_key("executions", bad_name)
    ]


def test_tier1_argument_rejects_executions_and_tier2_can_be_skipped(tmp_path: Path) -> None:
    world, _ = build_small(tmp_path)
    with pytest.raises(ValidationError, match="tier2_domains"):
        collect_garbage(world.store, domains=("executions",))
    with pytest.raises(ValidationError):
        collect_garbage(world.store, tier2_domains=("catalog",))
    with pytest.raises(ValidationError):
        collect_garbage(world.store, quarantine_retention_s=-1)
    report = collect_garbage(
        world.store, tier2_domains=(), min_age_s=0, now_ms=world.clock.now_ms()
    )
    assert report.deleted == [] and report.kept == {}


# --- CLI -------------------------------------------------------------------------------

runner = CliRunner()


def arco(root: Path, *args: str) -> Result:
    return runner.invoke(app, ["--store", f"file://{root}", *args])


def backdate_to(world: Tier2World) -> None:
    """Re-stamp every object: the simulated clock is already in the real past."""
    world.seen.clear()
    world.stamp()


def test_cli_gc_dry_run_json_on_executions(tmp_path: Path) -> None:
    # the simulated clock runs 10 days behind real time, so the CLI's real clock sees the
    # whole workspace as 10 days old
    world = Tier2World.create(tmp_path / "store", start_ms=real_now_ms(-10))
    world.compactor.compact(world.append([world.event(key=f"k{i}") for i in range(5)]))
    world.compactor.compact(world.append([world.event(bad=True)]))
    world.compactor.checkpoint()
    unfolded = world.append([world.event()], 1)
    world.crash("compact", unfolded, 5)
    backdate_to(world)
    root = tmp_path / "store"
    before = {m.key for m in world.root.list("")}

    result = arco(root, "gc", "--dry-run", "--json", "--keep-versions", "1")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    reasons = {item["reason"] for item in report["deleted"]}
    assert {"compacted_ledger_event", "expired_quarantine", "unreferenced_snapshot"} <= reasons
    assert report["summary"]["compacted_ledger_event"]["count"] == 6
    assert report["kept"]["uncompacted_ledger_event"] == 1
    assert not any(item["key"] in unfolded for item in report["deleted"])
    assert all(item["domain"] == "executions" for item in report["deleted"])
    assert {m.key for m in world.root.list("")} == before

    # a longer retention keeps the events; the text report names the categories
    result = arco(root, "gc", "--dry-run", "--ledger-retention", str(30 * 86400))
    assert result.exit_code == 0, result.output
    assert "retained_ledger_event=6" in result.stdout
    assert "retained_quarantine=1" in result.stdout  # its retention defaults to the ledger's
    assert "would delete" in result.stdout and "uncompacted_ledger_event=1" in result.stdout

    result = arco(root, "gc", "--json", "--keep-versions", "1")
    assert result.exit_code == 0, result.output
    real = json.loads(result.stdout)
    assert real["deleted"] == report["deleted"]
    after = {m.key for m in world.root.list("")}
    fences = gc_fence_records(after - before, lambda key: world.root.get(key).data)
    assert len(fences) == 1
    assert after == (before - {SCOPE + item["key"] for item in report["deleted"]}) | fences
    assert set(unfolded) <= set(world.keys())
    # verify: clean but for the unfolded event, which waits longer than the lag bound
    result = arco(root, "verify", "--json")
    assert result.exit_code == 1
    assert {f["code"] for f in json.loads(result.stdout)["findings"]} == {"compaction_lag"}
    assert arco(root, "verify", "--lag-bound", str(30 * 86400)).exit_code == 0
    assert arco(root, "gc", "--quarantine-retention", "-1").exit_code == 2


def test_request_records_expire_with_the_ledger_retention() -> None:
    from arco.core.clock import SYSTEM_CLOCK
    from arco.executions import Executions
    from arco.maintenance.gc import collect_garbage
    from arco.metadata.layout import request_record_key
    from arco.storage import open_store
    from arco.tier2.envelope import parse_event

    root = open_store("memory://")
    now = SYSTEM_CLOCK.now_ms()
    event = parse_event(
        {"event_type": "materialization", "asset_key": "a/b", "run_id": "r", "status": "started"},
        source="t",
        now_ms=now,
    )
    with Executions(root, fold="inline") as executions:
        executions.append_once([event], "request-1", "hash-1")
    store = executions.store  # the workspace's scoped store
    record = request_record_key("executions", "request-1")
    young = collect_garbage(store, domains=(), now_ms=now + 6 * DAY_MS)
    assert record not in {i.key for i in young.deleted}
    assert young.kept["retained_request_record"] == 1
    old = collect_garbage(store, domains=(), now_ms=now + 8 * DAY_MS, dry_run=True)
    assert [(i.key, i.reason) for i in old.deleted if i.key.startswith("requests/")] == [
        (record, "expired_request_record")
    ]
