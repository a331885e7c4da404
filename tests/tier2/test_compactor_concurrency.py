"""Two compactors on one workspace at once: lock-free, the manifest CAS decides each round.

(a) two threads, each with its own ledger and Compactor, appending and folding (fast path
over their own and the other's recent keys, anti-entropy now and then, background file
compaction) on one file:// store; (b) two OS processes doing the same on a file:// store
and on the loopback S3 server. Afterwards every event is folded exactly once (audited from
each compact commit's own ``ingested`` delta), the state equals the model, every published
version belongs to exactly one compactor (the loser of a round publishes nothing), and the
commit chain is intact.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import pytest

from arco.executions import EXECUTIONS
from arco.metadata.commit_log import chain
from arco.storage import LocalFileStore, ObjectStore, open_store
from arco.tier2.compactor import CompactionResult, Compactor, CompactorOptions
from arco.tier2.envelope import EventEnvelope
from arco.tier2.ledger import EventLedger
from executions_support import (
    BASE_MS,
    DOMAIN,
    assert_folded_once,
    fresh_state,
    mat,
    model,
    retry_of,
    view,
)
from process_support import run_workers

WORKER = Path(__file__).parent / "compactor_worker.py"


def plan(
    workers: int, batches: int, per_batch: int, seed: int
) -> tuple[list[list[list[EventEnvelope]]], list[EventEnvelope]]:
    """Per worker, its batches; each batch also carries a copy of another worker's event
    (an exact copy or, if keyed, a retry with a new id). Returns (plan, distinct events)."""
    rng = random.Random(seed)
    own: list[list[list[EventEnvelope]]] = []
    distinct: list[EventEnvelope] = []
    for w in range(workers):
        mine = []
        for b in range(batches):
            batch = []
            for j in range(per_batch):
                at = BASE_MS + rng.randrange(20_000)
                e = mat(
                    rng.randrange(6),  # few rows: workers' events compete for them
                    at=at,
                    run=f"w{w}b{b}j{j}",
                    rows=j,
                    idem=f"w{w}-{b}-{j}" if rng.random() < 0.5 else None,
                    id_ms=at + rng.randrange(-5_000, 5_000),  # skewed clocks
                )
                batch.append(e)
                distinct.append(e)
            mine.append(batch)
        own.append(mine)
    for w in range(workers):
        others = [e for v in range(workers) if v != w for batch in own[v] for e in batch]
        for batch in own[w]:
            e = rng.choice(others)
            copy = retry_of(e, BASE_MS + rng.randrange(20_000)) if e.idempotency_key else e
            if all(x.event_id != copy.event_id for x in batch):
                batch.append(copy)
    return own, distinct


def check_outcome(
    store: ObjectStore,
    distinct: list[EventEnvelope],
    published: dict[str, list[int]],
    commits: dict[str, int],
) -> None:
    """State, exactly-once folding, and one owner per published version."""
    state = fresh_state(store)
    assert view(state) == model(distinct)
    listed = {k.rsplit("/", 1)[1][:-5] for k in EventLedger(store, DOMAIN).list_keys()}
    assert set(state.ingested) == listed
    assert_folded_once(store, distinct)
    records = chain(store, DOMAIN)
    by_holder: dict[str, list[int]] = {}
    for rec in records:
        by_holder.setdefault(rec.holder, []).append(rec.snapshot_version)
    # every commit a compactor claims is in the chain under its name, and nothing else is
    for holder, versions in published.items():
        folds = [r.snapshot_version for r in records if r.holder == holder and r.kind == "compact"]
        assert sorted(versions) == folds, holder
    assert {h: len(v) for h, v in by_holder.items()} == {h: n for h, n in commits.items() if n}, (
        "commits published per compactor"
    )


def test_two_compactor_threads_race_on_one_file_store(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "store", fsync=False)
    per_worker, distinct = plan(2, batches=8, per_batch=4, seed=11)
    options = CompactorOptions(max_batch=5, checkpoint_every=4, read_workers=4)
    compactors = [Compactor(store, EXECUTIONS, options=options, holder=f"t{w}") for w in (0, 1)]
    barrier = threading.Barrier(2)
    lock = threading.Lock()
    shared: list[str] = []
    results: list[list[CompactionResult]] = [[], []]
    errors: list[BaseException] = []

    def run(w: int) -> None:
        try:
            ledger = EventLedger(store, DOMAIN)
            barrier.wait()
            for i, batch in enumerate(per_worker[w]):
                keys = ledger.append(batch)
                with lock:
                    shared.extend(keys)
                    recent = shared[-12:]  # ours and the other writer's newest keys
                results[w].append(compactors[w].compact(recent))
                if i % 3 == 2:
                    results[w].append(compactors[w].anti_entropy())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for c in compactors:
        c.wait_for_checkpoints(timeout=60)
    final = compactors[0].anti_entropy()
    compactors[0].wait_for_checkpoints(timeout=60)
    results[0].append(final)
    published = {f"t{w}": [v for r in results[w] for v in r.versions] for w in (0, 1)}
    assert not set(published["t0"]) & set(published["t1"])
    # each compactor folded the other's recent keys: some were found already folded
    assert sum(r.already_folded for rs in results for r in rs) > 0
    check_outcome(store, distinct, published, {f"t{w}": compactors[w].commits for w in (0, 1)})
    conflicts = sum(r.conflicts for rs in results for r in rs)
    print(f"thread race: {conflicts} rounds lost to the other compactor")


def _run_processes(
    tmp_path: Path, url: str, store_options: dict[str, Any], batches: int, seed: int
) -> None:
    per_worker, distinct = plan(2, batches=batches, per_batch=4, seed=seed)
    configs = [
        {
            "worker": w,
            "batches": [[e.model_dump() for e in batch] for batch in per_worker[w]],
            "max_batch": 5,
            "checkpoint_every": 4,
            "anti_entropy_every": 3,
        }
        for w in (0, 1)
    ]
    outputs = run_workers(WORKER, tmp_path, url, store_options, configs)
    published: dict[str, list[int]] = {}
    commits: dict[str, int] = {}
    conflicts = 0
    for w, records in enumerate(outputs):
        passes = [r for r in records if r["event"] == "pass"]
        assert passes, records
        published[f"w{w}"] = [v for r in passes for v in r["versions"]]
        conflicts += sum(r["conflicts"] for r in passes)
        commits[f"w{w}"] = next(r["commits"] for r in records if r["event"] == "commits")
    assert not set(published["w0"]) & set(published["w1"])
    store = open_store(url, **store_options)
    # both workers ended with an anti-entropy pass after their last append: nothing left
    checker = Compactor(store, EXECUTIONS, holder="checker")
    assert checker.anti_entropy().versions == []
    check_outcome(store, distinct, published, commits)
    print(f"process race: {conflicts} rounds lost to the other compactor")


def test_two_compactor_processes_race_on_a_file_store(tmp_path: Path) -> None:
    _run_processes(tmp_path, f"file://{tmp_path}/store", {"fsync": False}, batches=6, seed=5)


@pytest.mark.s3
def test_two_compactor_processes_race_on_s3(
    tmp_path: Path, s3_url: tuple[str, dict[str, Any]]
) -> None:
    url, options = s3_url
    _run_processes(tmp_path, url, options, batches=6, seed=6)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_two_compactor_processes_race_on_a_file_store_more_seeds(tmp_path: Path, seed: int) -> None:
    _run_processes(tmp_path, f"file://{tmp_path}/store", {"fsync": False}, batches=30, seed=seed)
