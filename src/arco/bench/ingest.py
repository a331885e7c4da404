"""``arco bench ingest``: the tier-2 event path (spec §6) on the local store and on S3.

What is measured, per backend (``file://`` with fsync, and a loopback moto S3 server):

* **append**: events per second appended through :class:`~arco.tier2.ledger.EventLedger` (one
  create-only object per event, batches of ``append_batch`` on the ledger's thread pool)
  by 1 and by 4 writer *processes*, next to the raw create-only put rate of the same store
  with the same object bytes, batch size and per-process thread count (plain
  ``store.put(key, data, "create")``); ``append_vs_raw_ratio_*`` = arco / raw;
* **compaction throughput**: events per second folded by one :class:`~arco.tier2.compactor.Compactor`
  over a ledger of N events, via ``anti_entropy()`` (lists the ledger) and via
  ``compact(keys)`` (the fast path: all keys at once, and in calls of ``append_batch`` keys
  as an :class:`~arco.tier2.ingestor.Ingestor` would make them);
* **visibility lag**: events appended at a steady rate through an ``Ingestor`` with
  ``fold="background"``; a *separate reader process* polls the manifest, loads the state and
  notes when each event's ledger object first shows up in ``ingested``. Lag = that moment
  minus the start of the ``append`` call that wrote the event (one monotonic clock, shared
  by the processes);
* **state scaling**: ``compact(keys)`` of 1,000 newly appended events (10% update existing
  materializations, 90% new) on top of a small and a large existing ``materializations``
  state (10k and 1M rows locally), p50 over several rounds after a warm-up round, with the
  cold load time of the state. The existing state is seeded by :func:`seed_materializations`
  (bench-only: one synthetic checkpoint commit, no ledger objects).

Every figure carries its unit in its name (``_ms``, ``_per_s``, ``_s``); ratios are plain.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing
import random
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from arco.bench import common
from arco.bench.common import Ui, percentile, ratio
from arco.core.clock import rfc3339_ms
from arco.core.ids import new_ulid
from arco.core.partitions import PartitionKey
from arco.core.scope import Scope
from arco.executions import EXECUTIONS, EXECUTIONS_SPEC, MaterializationRow
from arco.metadata.commit_log import CommitRecord, write_commit
from arco.metadata.layout import checkpoint_dir, ledger_key, ledger_name, ledger_prefix
from arco.metadata.manifest import Manifest, publish_manifest, read_manifest
from arco.metadata.snapshot import SnapshotLoader, write_files
from arco.storage import ScopedStore, open_store
from arco.storage.port import ObjectStore
from arco.tier2.compactor import Compactor, CompactorOptions
from arco.tier2.envelope import EventEnvelope, parse_event
from arco.tier2.ingestor import Ingestor
from arco.tier2.ledger import MAX_WORKERS, EventLedger

__all__ = ["IngestBenchConfig", "make_event", "run_ingest_bench", "seed_materializations"]

TENANT = "bench"
DOMAIN = "executions"
S3_BUCKET = "arco-bench-ingest"
#: the raw baseline writes under a ledger-shaped prefix of its own (same key lengths)
RAW_DOMAIN = "rawput"
_ASSETS = 500
_DAY0 = dt.date(2026, 1, 1)


@dataclass(frozen=True)
class IngestBenchConfig:
    """Sizes of one run (written to the JSON as ``config``)."""

    append_batch: int
    append_events_per_process: int
    s3_append_events_per_process: int
    append_reps: int
    s3_append_reps: int
    writer_processes: tuple[int, ...]
    compaction_events: int
    s3_compaction_events: int
    compaction_batched_events: int
    lag_rate_per_s: float
    lag_duration_s: float
    lag_batch: int
    s3_lag_rate_per_s: float
    s3_lag_duration_s: float
    lag_poll_ms: float
    state_sizes: tuple[int, int]
    s3_state_sizes: tuple[int, int]
    state_new_events: int
    state_update_fraction: float
    state_rounds: int

    @classmethod
    def make(cls, quick: bool) -> IngestBenchConfig:
        full = cls(
            append_batch=100,
            append_events_per_process=3_000,
            s3_append_events_per_process=1_000,
            append_reps=3,
            s3_append_reps=1,
            writer_processes=(1, 4),
            compaction_events=10_000,
            s3_compaction_events=3_000,
            compaction_batched_events=2_000,
            lag_rate_per_s=200.0,
            lag_duration_s=10.0,
            lag_batch=10,
            s3_lag_rate_per_s=50.0,
            s3_lag_duration_s=10.0,
            lag_poll_ms=5.0,
            state_sizes=(10_000, 1_000_000),
            s3_state_sizes=(10_000, 100_000),
            state_new_events=1_000,
            state_update_fraction=0.1,
            state_rounds=7,
        )
        if not quick:
            return full
        return dataclasses.replace(
            full,
            append_batch=50,
            append_events_per_process=200,
            s3_append_events_per_process=100,
            append_reps=1,
            compaction_events=300,
            s3_compaction_events=200,
            compaction_batched_events=200,
            lag_rate_per_s=100.0,
            lag_duration_s=1.5,
            s3_lag_rate_per_s=40.0,
            s3_lag_duration_s=1.5,
            state_sizes=(1_000, 10_000),
            s3_state_sizes=(1_000, 5_000),
            state_new_events=100,
            state_rounds=3,
        )


# --- events ------------------------------------------------------------------------------


def make_event(
    rng: random.Random,
    *,
    source: str,
    now_ms: int,
    materialization_id: str | None = None,
) -> EventEnvelope:
    """A realistic ``materialization`` event (~510 bytes stored, ~570 with an id), built by :func:`parse_event`.

    A new materialization names no id (the compactor derives one from the idempotency key);
    pass ``materialization_id`` to update an existing one.
    """
    asset = rng.randrange(_ASSETS)
    day = _DAY0 + dt.timedelta(days=rng.randrange(330))
    run_id = f"run-{rng.getrandbits(48):012x}"
    started = now_ms - rng.randrange(1_000, 600_000)
    payload: dict[str, Any] = {
        "materialization_id": materialization_id,
        "asset_key": f"warehouse/orders_daily_{asset:04d}",
        "partition_key": PartitionKey({"date": day}).canonical(),
        "run_id": run_id,
        "status": "succeeded",
        "rows": rng.randrange(1, 50_000_000),
        "bytes": rng.randrange(1_000, 5_000_000_000),
        "code_version": f"git:{rng.getrandbits(48):012x}",
        "started_at": rfc3339_ms(started),
        "completed_at": rfc3339_ms(now_ms),
    }
    line = {
        "event_type": "materialization",
        "idempotency_key": f"{run_id}:{asset}:{day.isoformat()}",
        "payload": {k: v for k, v in payload.items() if v is not None},
    }
    return parse_event(line, source=source, now_ms=now_ms)


def _events(n: int, seed: int, source: str) -> list[EventEnvelope]:
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    return [make_event(rng, source=source, now_ms=now) for _ in range(n)]


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --- seeding a large existing state (bench-only) -----------------------------------------


def _seed_id(i: int) -> str:
    return str(uuid.UUID(int=(0x5EED << 112) | i))


def seed_materializations(store: ObjectStore, rows: int, *, now_ms: int | None = None) -> Manifest:
    """Publish ``rows`` synthetic materializations as the first version of ``executions``.

    **Bench-only.** Folding a million events through a million ledger objects would take far
    longer than the benchmark itself, so the existing state is written directly with the
    real building blocks: one checkpoint (``materializations`` with ``rows`` rows, an empty
    ``ingested`` table) under :func:`~arco.metadata.layout.checkpoint_dir`, a ``checkpoint`` commit
    record, and the manifest published by compare-and-swap. ``store`` must be a scoped store
    whose ``executions`` domain has never been written. Row ``i`` has materialization id
    :func:`_seed_id` (``i``) and an event order older than any event of the benchmark.
    """
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    occurred = now - 86_400_000
    occurred_text = rfc3339_ms(occurred)
    prefix = f"{occurred:012x}"[-12:]
    version = 1

    def row(i: int) -> MaterializationRow:
        event_id = _seed_event_id(occurred, i)
        return MaterializationRow(
            materialization_id=_seed_id(i),
            asset_key=f"warehouse/orders_daily_{i % _ASSETS:04d}",
            table_id=None,
            partition_key=f"date=d:{_DAY0 + dt.timedelta(days=i % 330)}",
            run_id=f"seed-run-{prefix}-{i:09d}",
            status="succeeded",
            rows=(i * 7919) % 50_000_000,
            bytes=(i * 104_729) % 5_000_000_000,
            code_version="git:5eed5eed5eed",
            started_at=occurred - 60_000,
            completed_at=occurred,
            event_id=event_id,
            occurred_at=occurred,
            event_order=f"{occurred_text} e:{event_id}",
            version=version,
        )

    tables = {
        "materializations": [(row(i), False) for i in range(rows)],
        "ingested": [],
    }
    files = write_files(
        store,
        EXECUTIONS_SPEC,
        checkpoint_dir(DOMAIN, version, new_ulid(), tier=2),
        "checkpoint",
        tables,
        version,
        from_version=0,
    )
    del tables
    manifest = Manifest(
        domain=DOMAIN,
        snapshot_version=version,
        checkpoint_version=version,
        files=tuple(files),
        watermark=None,
        fencing_token=0,
        commit_id=new_ulid(),
        parent_hash=None,
        updated_at=rfc3339_ms(now),
    )
    record = CommitRecord(
        commit_id=manifest.commit_id,
        domain=DOMAIN,
        kind="checkpoint",
        snapshot_version=version,
        parent_commit_id=None,
        holder="arco-bench-seed",
        fencing_token=0,
        committed_at=manifest.updated_at,
        operations=[{"op": "bench_seed_materializations", "rows": rows}],
        manifest=manifest,
    )
    write_commit(store, record)
    publish_manifest(store, None, manifest)
    return manifest


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _seed_event_id(ms: int, i: int) -> str:
    """A ULID at ``ms`` whose random part is ``i`` (deterministic, unique per row)."""
    value = (ms << 80) | i
    return "".join(_CROCKFORD[(value >> (5 * k)) & 31] for k in range(25, -1, -1))


# --- one backend -------------------------------------------------------------------------


@dataclass
class _Backend(common.Backend):
    append_events: int
    append_reps: int
    compaction_events: int
    lag_rate: float
    lag_duration: float
    state_sizes: tuple[int, int]

    @classmethod
    def of(
        cls, name: str, url: str, options: dict[str, Any], config: IngestBenchConfig
    ) -> _Backend:
        """A backend with the sizes ``config`` gives it (its ``s3_*`` ones for ``s3``)."""
        s3 = name == "s3"
        return cls(
            name,
            url,
            options,
            config.s3_append_events_per_process if s3 else config.append_events_per_process,
            config.s3_append_reps if s3 else config.append_reps,
            config.s3_compaction_events if s3 else config.compaction_events,
            config.s3_lag_rate_per_s if s3 else config.lag_rate_per_s,
            config.s3_lag_duration_s if s3 else config.lag_duration_s,
            config.s3_state_sizes if s3 else config.state_sizes,
        )


def _scoped(url: str, options: dict[str, Any], workspace: str) -> ScopedStore:
    return ScopedStore(open_store(url, **options), Scope(TENANT, workspace).prefix)


class _BackendBench:
    def __init__(self, backend: _Backend, config: IngestBenchConfig, ui: Ui) -> None:
        self.b = backend
        self.config = config
        self.ui = ui
        self.out: dict[str, Any] = {"store_url": backend.url}
        self._workspaces = 0

    def store(self, label: str) -> tuple[str, ScopedStore]:
        self._workspaces += 1
        workspace = f"{label}-{self._workspaces}"
        return workspace, _scoped(self.b.url, self.b.options, workspace)

    def run(self) -> dict[str, Any]:
        for processes in self.config.writer_processes:
            self._append(processes)
        self._compaction()
        self._lag()
        self._state_scaling()
        return self.out

    # --- 1. append vs raw put ----------------------------------------------------------

    def _append(self, processes: int) -> None:
        label = f"{processes}_process" + ("es" if processes > 1 else "")
        rates: dict[str, float] = {}
        names = {"raw": "raw_put", "raw_pool_per_batch": "raw_put_pool_per_batch", "arco": "append"}
        samples: dict[str, list[float]] = {mode: [] for mode in names}
        for rep in range(self.b.append_reps):  # interleaved: drift hits every mode alike
            for mode in names:
                workspace, _ = self.store(f"append-{mode.replace('_', '-')}-{processes}-{rep}")
                events, elapsed_s, sizes = self._run_writers(mode, processes, workspace)
                samples[mode].append(events / elapsed_s)
                self.out[f"{mode}_events_{label}"] = events
                self.out.setdefault("event_bytes_mean", round(sum(sizes) / len(sizes), 1))
                self.out.setdefault("event_bytes_min", min(sizes))
                self.out.setdefault("event_bytes_max", max(sizes))
        for mode, name in names.items():
            rates[mode] = percentile(samples[mode], 50)
            self.out[f"{name}_events_per_s_{label}"] = round(rates[mode], 2)
            self.out[f"{name}_events_per_s_{label}_runs"] = [round(x, 2) for x in samples[mode]]
        self.out[f"append_vs_raw_ratio_{label}"] = ratio(
            self.out[f"append_events_per_s_{label}"], self.out[f"raw_put_events_per_s_{label}"]
        )
        self.out[f"append_vs_raw_pool_per_batch_ratio_{label}"] = ratio(
            self.out[f"append_events_per_s_{label}"],
            self.out[f"raw_put_pool_per_batch_events_per_s_{label}"],
        )
        self.ui.log(
            f"\\[{self.b.name}] append, {processes} process(es): "
            f"{rates['arco']:.0f} events/s (raw put {rates['raw']:.0f}/s, "
            f"ratio {self.out[f'append_vs_raw_ratio_{label}']:.3f}; raw put with a thread pool "
            f"per batch {rates['raw_pool_per_batch']:.0f}/s)"
        )

    def _run_writers(
        self, mode: str, processes: int, workspace: str
    ) -> tuple[int, float, list[int]]:
        args = {
            "url": self.b.url,
            "options": self.b.options,
            "workspace": workspace,
            "mode": mode,
            "events": self.b.append_events,
            "batch": self.config.append_batch,
        }
        desc = f"\\[{self.b.name}] {mode} appends, {processes} process(es)"
        results, elapsed_s = common.run_processes(self.ui, desc, _writer_process, args, processes)
        sizes = [s for r in results for s in r["sizes"]]
        return sum(int(r["events"]) for r in results), elapsed_s, sizes

    # --- 2. compaction throughput -------------------------------------------------------

    def _seed_ledger(self, store: ObjectStore, n: int, seed: int) -> list[str]:
        return self._seed_ledger_events(store, n, seed)[0]

    def _seed_ledger_events(
        self, store: ObjectStore, n: int, seed: int
    ) -> tuple[list[str], list[EventEnvelope]]:
        events = _events(n, seed, f"bench/seed-{seed}")
        ledger = EventLedger(store, DOMAIN)
        keys: list[str] = []
        with self.ui.task(f"\\[{self.b.name}] appending {n:,} events", n) as advance:
            for batch in _batches(events, 500):
                keys += ledger.append(batch)
                advance(len(batch))
        return keys, events

    def _compaction(self) -> None:
        n = self.b.compaction_events
        out = self.out
        # anti-entropy over a ledger of n events
        _, store = self.store("compact-ae")
        self._seed_ledger(store, n, 1)
        compactor = Compactor(store, EXECUTIONS)
        t0 = time.perf_counter_ns()
        result = compactor.anti_entropy()
        compactor.wait_for_checkpoints()
        elapsed = (time.perf_counter_ns() - t0) / 1e9
        _check_folded(result.folded, n, "anti_entropy")
        out["compaction_events"] = n
        out["compaction_events_per_s_anti_entropy"] = round(n / elapsed, 2)
        out["compaction_s_anti_entropy"] = round(elapsed, 4)
        out["compaction_rounds_anti_entropy"] = len(result.versions)
        # the fast path: every key in one call
        _, store = self.store("compact-keys")
        keys = self._seed_ledger(store, n, 2)
        compactor = Compactor(store, EXECUTIONS)
        t0 = time.perf_counter_ns()
        result = compactor.compact(keys)
        compactor.wait_for_checkpoints()
        elapsed = (time.perf_counter_ns() - t0) / 1e9
        _check_folded(result.folded, n, "compact(keys)")
        out["compaction_events_per_s_compact_keys"] = round(n / elapsed, 2)
        out["compaction_s_compact_keys"] = round(elapsed, 4)
        # the in-process fast path: the appender hands over the events it just wrote
        _, store = self.store("compact-events")
        keys, handed = self._seed_ledger_events(store, n, 4)
        compactor = Compactor(store, EXECUTIONS)
        t0 = time.perf_counter_ns()
        result = compactor.compact(keys, handed)
        compactor.wait_for_checkpoints()
        elapsed = (time.perf_counter_ns() - t0) / 1e9
        _check_folded(result.folded, n, "compact(keys, events)")
        out["compaction_events_per_s_compact_events"] = round(n / elapsed, 2)
        # the fast path as an Ingestor drives it: one call per append batch
        m = min(n, self.config.compaction_batched_events)
        batch = self.config.append_batch
        _, store = self.store("compact-batched")
        keys = self._seed_ledger(store, m, 3)
        compactor = Compactor(store, EXECUTIONS)
        folded = 0
        with self.ui.task(f"\\[{self.b.name}] compact({batch} keys) calls", m) as advance:
            t0 = time.perf_counter_ns()
            for chunk in _batches(keys, batch):
                folded += compactor.compact(chunk).folded
                advance(len(chunk))
            compactor.wait_for_checkpoints()
            elapsed = (time.perf_counter_ns() - t0) / 1e9
        _check_folded(folded, m, f"compact({batch} keys)")
        label = f"compact_keys_batch_{batch}"
        out[f"compaction_events_{label}"] = m
        out[f"compaction_events_per_s_{label}"] = round(m / elapsed, 2)
        out[f"compaction_commits_{label}"] = compactor.commits
        self.ui.log(
            f"\\[{self.b.name}] compaction of {n:,} events: "
            f"anti-entropy {out['compaction_events_per_s_anti_entropy']:.0f}/s, "
            f"compact(keys) {out['compaction_events_per_s_compact_keys']:.0f}/s, "
            f"compact(keys, events) {out['compaction_events_per_s_compact_events']:.0f}/s, "
            f"compact({batch} keys) x {m // batch}: {out[f'compaction_events_per_s_{label}']:.0f}/s"
        )

    # --- 3. visibility lag ----------------------------------------------------------------

    def _lag(self) -> None:
        rate = self.b.lag_rate
        batch = self.config.lag_batch
        total = max(batch, int(rate * self.b.lag_duration) // batch * batch)
        interval = batch / rate
        workspace, store = self.store("lag")
        events = _events(total, 4, "bench/lag")
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        stop = ctx.Event()
        queue: multiprocessing.Queue[dict[str, Any]] = ctx.Queue()
        reader = ctx.Process(
            target=_lag_reader,
            args=(
                {
                    "url": self.b.url,
                    "options": self.b.options,
                    "workspace": workspace,
                    "expected": total,
                    "poll_s": self.config.lag_poll_ms / 1000,
                },
                ready,
                stop,
                queue,
            ),
        )
        reader.start()
        started: dict[str, float] = {}
        prefix = len(ledger_prefix(DOMAIN))
        try:
            if not ready.wait(120):
                raise RuntimeError("lag reader process did not start")
            ingestor = Ingestor(store, EXECUTIONS, fold="background")
            behind = 0
            with self.ui.task(f"\\[{self.b.name}] lag at {rate:.0f} events/s", total) as advance:
                t0 = time.monotonic()
                for k, chunk in enumerate(_batches(events, batch)):
                    due = t0 + k * interval
                    now = time.monotonic()
                    if due > now:
                        time.sleep(due - now)
                    else:
                        behind += 1
                    begin = time.monotonic()
                    for key in ingestor.append(chunk):
                        started[key[prefix:-5]] = begin
                    advance(len(chunk))
                appended_s = time.monotonic() - t0
            ingestor.close()
            result = queue.get(timeout=120)
        finally:
            stop.set()
            reader.join(timeout=30)
            if reader.is_alive():
                reader.terminate()
                reader.join(timeout=10)
        if result.get("error"):
            raise RuntimeError(f"lag reader failed: {result['error']}")
        seen: dict[str, float] = result["seen"]
        missing = [name for name in started if name not in seen]
        if missing:
            raise RuntimeError(f"lag reader never saw {len(missing)} of {total} events")
        lags = [(seen[name] - t) * 1000 for name, t in started.items()]
        out = self.out
        out["lag_target_events_per_s"] = rate
        out["lag_achieved_events_per_s"] = round(total / appended_s, 2)
        out["lag_events"] = total
        out["lag_append_batch"] = batch
        out["lag_batches_behind_schedule"] = behind
        out["lag_fold_commits"] = ingestor.compactor.commits
        out["lag_reader_versions_seen"] = result["versions"]
        out["visibility_lag_ms_p50"] = round(percentile(lags, 50), 3)
        out["visibility_lag_ms_p95"] = round(percentile(lags, 95), 3)
        out["visibility_lag_ms_p99"] = round(percentile(lags, 99), 3)
        out["visibility_lag_ms_max"] = round(max(lags), 3)
        self.ui.log(
            f"\\[{self.b.name}] visibility lag at {rate:.0f} events/s: "
            f"p50 {out['visibility_lag_ms_p50']:.1f} ms, p95 {out['visibility_lag_ms_p95']:.1f} ms "
            f"({out['lag_fold_commits']} fold commits)"
        )

    # --- 4. compaction time vs state size -------------------------------------------------

    def _state_scaling(self) -> None:
        small, large = self.b.state_sizes
        for size in (small, large):
            self._state_at(size)
        out = self.out
        out[f"compact_new_events_ratio_{large}_vs_{small}"] = ratio(
            out[f"compact_new_events_ms_p50_at_{large}"],
            out[f"compact_new_events_ms_p50_at_{small}"],
        )
        out[f"compact_new_events_cpu_ratio_{large}_vs_{small}"] = ratio(
            out[f"compact_new_events_cpu_ms_p50_at_{large}"],
            out[f"compact_new_events_cpu_ms_p50_at_{small}"],
        )

    def _state_at(self, size: int) -> None:
        cfg = self.config
        out = self.out
        sfx = f"_at_{size}"
        _, store = self.store(f"state-{size}")
        self.ui.log(f"\\[{self.b.name}] seeding {size:,} materializations …")
        t0 = time.perf_counter_ns()
        seed_materializations(store, size)
        out[f"state_seed_s{sfx}"] = round((time.perf_counter_ns() - t0) / 1e9, 3)
        compactor = Compactor(store, EXECUTIONS)
        t0 = time.perf_counter_ns()
        _, state = compactor.head()
        out[f"state_cold_load_s{sfx}"] = round((time.perf_counter_ns() - t0) / 1e9, 3)
        if len(state.materializations) != size:
            raise AssertionError(f"seeded state holds {len(state.materializations)} rows")
        rng = random.Random(size)
        n = cfg.state_new_events
        updates = int(n * cfg.state_update_fraction)
        ledger = EventLedger(store, DOMAIN)
        times: list[float] = []
        cpu: list[float] = []
        outcomes: dict[str, int] = {}
        rounds = cfg.state_rounds + 1
        with self.ui.task(
            f"\\[{self.b.name}] compact {n:,} events at {size:,} rows", rounds
        ) as adv:
            for r in range(rounds):
                now = int(time.time() * 1000)
                targets = [_seed_id(i) for i in rng.sample(range(size), updates)]
                events = [
                    make_event(
                        rng,
                        source="bench/state",
                        now_ms=now,
                        materialization_id=targets[i] if i < updates else None,
                    )
                    for i in range(n)
                ]
                keys = ledger.append(events)
                c0 = time.process_time_ns()
                t0 = time.perf_counter_ns()
                result = compactor.compact(keys)
                elapsed_ms = (time.perf_counter_ns() - t0) / 1e6
                cpu_ms = (time.process_time_ns() - c0) / 1e6
                _check_folded(result.folded, n, "compact(keys)")
                compactor.wait_for_checkpoints()  # file compaction is not part of the round
                if r == 0:
                    continue  # warm-up
                times.append(elapsed_ms)
                cpu.append(cpu_ms)
                for k, v in result.outcomes.items():
                    outcomes[k] = outcomes.get(k, 0) + v
                adv(1)
        _, state = compactor.head()
        expected = size + rounds * (n - updates)
        if len(state.materializations) != expected:
            raise AssertionError(f"state holds {len(state.materializations)} rows, not {expected}")
        out[f"compact_new_events_ms_p50{sfx}"] = round(percentile(times, 50), 3)
        out[f"compact_new_events_ms_p95{sfx}"] = round(percentile(times, 95), 3)
        out[f"compact_new_events_ms_min{sfx}"] = round(min(times), 3)
        out[f"compact_new_events_cpu_ms_p50{sfx}"] = round(percentile(cpu, 50), 3)
        out[f"compact_new_events_per_s{sfx}"] = round(n / (percentile(times, 50) / 1000), 2)
        out[f"compact_outcomes{sfx}"] = dict(sorted(outcomes.items()))
        out[f"state_rows_after{sfx}"] = len(state.materializations)
        out[f"state_commits{sfx}"] = compactor.commits
        self.ui.log(
            f"\\[{self.b.name}] compact {n:,} new events at {size:,} rows: "
            f"p50 {out[f'compact_new_events_ms_p50{sfx}']:.1f} ms "
            f"(cold load {out[f'state_cold_load_s{sfx}']:.2f} s, "
            f"seed {out[f'state_seed_s{sfx}']:.1f} s)"
        )


def _check_folded(folded: int, expected: int, what: str) -> None:
    if folded != expected:
        raise AssertionError(f"{what} folded {folded} events, expected {expected}")


# --- child processes ---------------------------------------------------------------------


def _writer_process(args: dict[str, Any], barrier: Any, queue: Any) -> None:
    """One writer process: ``arco`` appends through an EventLedger, ``raw`` plain puts."""
    result: dict[str, Any] = {"worker": args["worker"], "events": 0, "sizes": [], "error": None}
    try:
        store = _scoped(args["url"], args["options"], args["workspace"])
        events = _events(
            int(args["events"]), 1000 + int(args["worker"]), f"bench/w{args['worker']}"
        )
        batches = _batches(events, int(args["batch"]))
        ledger = EventLedger(store, DOMAIN)
        entropy = ledger.entropy
        payloads = [
            (ledger_key(RAW_DOMAIN, ledger_name(e.event_id, entropy)), e.to_bytes()) for e in events
        ]
        result["sizes"] = [len(data) for _, data in payloads[:200]]

        def put(item: tuple[str, bytes]) -> str:
            return store.put(item[0], item[1], "create")

        if args["mode"] == "raw":  # one pool for the whole run
            raw_batches = _batches(payloads, int(args["batch"]))
            with ThreadPoolExecutor(MAX_WORKERS) as pool:
                barrier.wait(timeout=300)
                for raw in raw_batches:
                    list(pool.map(put, raw))
                    result["events"] += len(raw)
        elif args["mode"] == "raw_pool_per_batch":  # a new pool per batch, like the ledger
            raw_batches = _batches(payloads, int(args["batch"]))
            barrier.wait(timeout=300)
            for raw in raw_batches:
                with ThreadPoolExecutor(MAX_WORKERS) as pool:
                    list(pool.map(put, raw))
                result["events"] += len(raw)
        else:
            barrier.wait(timeout=300)
            for batch in batches:
                ledger.append(batch)
                result["events"] += len(batch)
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        barrier.abort()
    queue.put(result)


def _lag_reader(args: dict[str, Any], ready: Any, stop: Any, queue: Any) -> None:
    """Poll the manifest; note when each ledger object first appears in ``ingested``."""
    result: dict[str, Any] = {"seen": {}, "versions": 0, "error": None}
    try:
        store = _scoped(args["url"], args["options"], args["workspace"])
        loader = SnapshotLoader(store, EXECUTIONS_SPEC)
        expected = int(args["expected"])
        poll_s = float(args["poll_s"])
        seen: dict[str, float] = result["seen"]
        last = 0
        ready.set()
        deadline: float | None = None
        while len(seen) < expected:
            head = read_manifest(store, DOMAIN)
            if head is not None and head.manifest.snapshot_version != last:
                state = loader.load(head)
                now = time.monotonic()
                last = head.manifest.snapshot_version
                result["versions"] += 1
                for name in state.ingested:
                    if name not in seen:
                        seen[name] = now
                continue
            if stop.is_set():
                deadline = deadline or time.monotonic() + 5.0
                if time.monotonic() > deadline:
                    break
            time.sleep(poll_s)
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    queue.put(result)


# --- the whole run -------------------------------------------------------------------------


def run_ingest_bench(
    json_path: Path | None,
    *,
    quick: bool = False,
    s3: bool | None = None,
    console: Console | None = None,
    config: IngestBenchConfig | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the ingest benchmark; write the JSON to ``json_path`` (if given) and return it.

    ``quick`` shrinks every size (for tests: well under 20 s without S3). ``s3`` adds the
    loopback moto S3 runs; None means "unless ``quick``". ``config`` overrides the sizes.
    """
    if s3 is None:
        s3 = not quick
    config = config or IngestBenchConfig.make(quick)
    ui = Ui(console)
    t_start = time.perf_counter()
    result: dict[str, Any] = {
        **common.run_header(
            "ingest",
            config,
            quick,
            compactor_options=asdict(CompactorOptions()),
            notes=[
                "append_events_per_s_*: events appended per second by N writer processes, each "
                "with its own EventLedger, append() of append_batch events at a time (the "
                f"ledger's pool of up to {MAX_WORKERS} threads); raw_put_events_per_s_*: the "
                "same bytes put create-only with the same batches and thread count per "
                "process (one thread pool for the run); append_vs_raw_ratio_* = append / "
                "raw_put. raw_put_pool_per_batch_*: the same with a new thread pool per batch, "
                "as EventLedger.append does (append_vs_raw_pool_per_batch_ratio_*). Each is "
                "the median of append_reps runs (modes interleaved; *_runs lists them).",
                "compaction_events_per_s_*: events folded per second by one Compactor over a "
                "ledger of compaction_events events (fresh domain): anti_entropy() lists and "
                "folds (max_batch 10,000 per round); compact_keys folds all keys in one call; "
                "compact_keys_batch_N folds them in calls of N keys (the Ingestor's fast path "
                "shape). Each includes waiting for the background file compaction it started.",
                "visibility_lag_ms_*: events appended at lag_target_events_per_s in batches of "
                "lag_append_batch through an Ingestor(fold='background'); a separate reader "
                "process polls the manifest every lag_poll_ms, loads the state and notes when "
                "each ledger object appears in 'ingested'. Lag = that moment - start of the "
                "append call (CLOCK_MONOTONIC, shared by the processes).",
                "compact_new_events_*: Compactor.compact(keys) of state_new_events freshly "
                "appended events (state_update_fraction update seeded rows, the rest new) on "
                "a warm compactor, after one warm-up round; p50 over state_rounds rounds. "
                "Background file compaction started by a round is waited for outside the "
                "timing. cpu_ms = process CPU time during the call.",
                "the existing state is seeded by seed_materializations (bench-only): one "
                "synthetic checkpoint commit of N rows; state_cold_load_s = a new Compactor "
                "loading that state.",
                "local store: file:// with fsync on every write; s3: moto server on 127.0.0.1 "
                "(one Python process) with smaller sizes.",
            ],
        ),
        "backends": {},
        "ratios": {},
    }
    with common.scratch_dir("arco-bench-ingest-", work_dir) as tmp:
        with ui.progress:
            (tmp / "local").mkdir()
            local = _Backend.of("local", f"file://{tmp / 'local'}", {}, config)
            result["backends"]["local"] = {
                "state_sizes": list(config.state_sizes),
                **_BackendBench(local, config, ui).run(),
            }
            result["backends"]["s3"] = _run_s3(config, ui) if s3 else {"skipped": "s3=False"}
        result["ratios"] = _ratios(result, config)
        result["runtime_s"] = round(time.perf_counter() - t_start, 2)
    common.write_json(json_path, result)
    _print_summary(ui.console, result)
    return result


def _run_s3(config: IngestBenchConfig, ui: Ui) -> dict[str, Any]:
    def bench(url: str, options: dict[str, Any]) -> dict[str, Any]:
        return _BackendBench(_Backend.of("s3", url, options, config), config, ui).run()

    return common.run_on_s3(S3_BUCKET, {"state_sizes": list(config.s3_state_sizes)}, bench)


def _labels(config: IngestBenchConfig) -> list[str]:
    return [f"{p}_process" + ("es" if p > 1 else "") for p in config.writer_processes]


def _ratios(result: dict[str, Any], config: IngestBenchConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, backend in result["backends"].items():
        if "skipped" in backend:
            continue
        small, large = backend["state_sizes"]
        figures = {
            key: backend[key]
            for label in _labels(config)
            for key in (
                f"append_vs_raw_ratio_{label}",
                f"append_vs_raw_pool_per_batch_ratio_{label}",
            )
        }
        figures[f"compact_new_events_ratio_{large}_vs_{small}"] = backend[
            f"compact_new_events_ratio_{large}_vs_{small}"
        ]
        figures[f"compact_new_events_cpu_ratio_{large}_vs_{small}"] = backend[
            f"compact_new_events_cpu_ratio_{large}_vs_{small}"
        ]
        out[name] = figures
    return out


def _print_summary(console: Console, result: dict[str, Any]) -> None:
    backends = {k: v for k, v in result["backends"].items() if "skipped" not in v}
    keys: list[str] = []
    for backend in backends.values():
        for key in backend:
            if key in ("store_url", "state_sizes", "server") or isinstance(
                backend[key], dict | list
            ):
                continue
            if key not in keys:
                keys.append(key)
    common.print_figures(console, "arco bench ingest", backends, keys)
