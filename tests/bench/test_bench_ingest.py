"""The ingest benchmark in its quick configuration: every named figure is there and sane."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from arco.bench import ingest as bench_ingest
from arco.bench.ingest import (
    IngestBenchConfig,
    _seed_id,
    make_event,
    run_ingest_bench,
    seed_materializations,
)
from arco.cli import app
from arco.executions import EXECUTIONS
from arco.maintenance.verify import verify_scope
from arco.metadata.commit_log import chain
from arco.storage import ScopedStore, open_store
from arco.tier2.compactor import Compactor
from arco.tier2.ledger import EventLedger

QUICK = IngestBenchConfig.make(quick=True)
SMALL, LARGE = QUICK.state_sizes
LABELS = ("1_process", "4_processes")

FIGURES = [
    *(f"append_events_per_s_{label}" for label in LABELS),
    *(f"raw_put_events_per_s_{label}" for label in LABELS),
    *(f"append_vs_raw_ratio_{label}" for label in LABELS),
    *(f"raw_put_pool_per_batch_events_per_s_{label}" for label in LABELS),
    *(f"append_vs_raw_pool_per_batch_ratio_{label}" for label in LABELS),
    "event_bytes_mean",
    "compaction_events_per_s_anti_entropy",
    "compaction_events_per_s_compact_keys",
    "compaction_events_per_s_compact_events",
    f"compaction_events_per_s_compact_keys_batch_{QUICK.append_batch}",
    "lag_achieved_events_per_s",
    "visibility_lag_ms_p50",
    "visibility_lag_ms_p95",
    "visibility_lag_ms_p99",
    "visibility_lag_ms_max",
    *(
        f"{name}_at_{size}"
        for size in (SMALL, LARGE)
        for name in (
            "state_seed_s",
            "state_cold_load_s",
            "compact_new_events_ms_p50",
            "compact_new_events_ms_p95",
            "compact_new_events_cpu_ms_p50",
            "compact_new_events_per_s",
        )
    ),
    f"compact_new_events_ratio_{LARGE}_vs_{SMALL}",
    f"compact_new_events_cpu_ratio_{LARGE}_vs_{SMALL}",
]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], float]:
    out = tmp_path_factory.mktemp("bench") / "nested" / "bench-ingest.json"
    t0 = time.perf_counter()
    result = run_ingest_bench(out, quick=True, console=Console(file=io.StringIO(), width=120))
    return out, result, time.perf_counter() - t0


def test_json_file_is_written_and_matches(bench: tuple[Path, dict[str, Any], float]) -> None:
    path, result, elapsed = bench
    assert path.is_file()
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    assert result["benchmark"] == "ingest"
    assert result["started_at"].endswith("Z")
    assert set(result["machine"]) >= {"python", "platform", "cpu_count"}
    assert result["config"]["quick"] is True
    assert result["config"]["state_sizes"] == [SMALL, LARGE]
    # quick mode leaves S3 out unless asked
    assert result["backends"]["s3"] == {"skipped": "s3=False"}
    assert "s3" not in result["ratios"]
    assert elapsed < 60  # the quick profile aims at < 20 s; leave room for a loaded machine


def test_every_figure_is_positive(bench: tuple[Path, dict[str, Any], float]) -> None:
    local = bench[1]["backends"]["local"]
    for key in FIGURES:
        assert key in local, key
        value = local[key]
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0, (key, value)
    assert 300 <= local["event_bytes_min"] <= local["event_bytes_max"] <= 600


def test_counts_add_up(bench: tuple[Path, dict[str, Any], float]) -> None:
    local = bench[1]["backends"]["local"]
    per = QUICK.append_events_per_process
    assert local["arco_events_1_process"] == local["raw_events_1_process"] == per
    assert local["arco_events_4_processes"] == local["raw_events_4_processes"] == 4 * per
    assert local["raw_pool_per_batch_events_4_processes"] == 4 * per
    assert local["compaction_events"] == QUICK.compaction_events
    assert local["compaction_rounds_anti_entropy"] == 1
    batched = QUICK.compaction_batched_events // QUICK.append_batch
    assert local[f"compaction_commits_compact_keys_batch_{QUICK.append_batch}"] >= batched
    assert local["lag_events"] == int(QUICK.lag_rate_per_s * QUICK.lag_duration_s)
    assert 1 <= local["lag_reader_versions_seen"] <= local["lag_fold_commits"] + 5
    n, updates = QUICK.state_new_events, int(QUICK.state_new_events * QUICK.state_update_fraction)
    for size in (SMALL, LARGE):
        outcomes = local[f"compact_outcomes_at_{size}"]
        assert outcomes == {"applied": QUICK.state_rounds * n}
        # the warm-up round adds rows too; updates replace seeded rows
        new_rows = (QUICK.state_rounds + 1) * (n - updates)
        assert local[f"state_rows_after_at_{size}"] == size + new_rows


def test_percentiles_are_ordered(bench: tuple[Path, dict[str, Any], float]) -> None:
    local = bench[1]["backends"]["local"]
    assert (
        local["visibility_lag_ms_p50"]
        <= local["visibility_lag_ms_p95"]
        <= local["visibility_lag_ms_p99"]
        <= local["visibility_lag_ms_max"]
    )
    for size in (SMALL, LARGE):
        p50 = local[f"compact_new_events_ms_p50_at_{size}"]
        assert local[f"compact_new_events_ms_min_at_{size}"] <= p50
        assert p50 <= local[f"compact_new_events_ms_p95_at_{size}"]


def test_ratios_are_computed_from_the_figures(bench: tuple[Path, dict[str, Any], float]) -> None:
    result = bench[1]
    local = result["backends"]["local"]
    ratios = result["ratios"]["local"]
    for label in LABELS:
        key = f"append_vs_raw_ratio_{label}"
        expected = local[f"append_events_per_s_{label}"] / local[f"raw_put_events_per_s_{label}"]
        assert local[key] == pytest.approx(expected, rel=1e-3)
        assert ratios[key] == local[key]
        key = f"append_vs_raw_pool_per_batch_ratio_{label}"
        expected = (
            local[f"append_events_per_s_{label}"]
            / local[f"raw_put_pool_per_batch_events_per_s_{label}"]
        )
        assert local[key] == pytest.approx(expected, rel=1e-3)
        assert ratios[key] == local[key]
    key = f"compact_new_events_ratio_{LARGE}_vs_{SMALL}"
    expected = (
        local[f"compact_new_events_ms_p50_at_{LARGE}"]
        / local[f"compact_new_events_ms_p50_at_{SMALL}"]
    )
    assert local[key] == pytest.approx(expected, rel=1e-3)
    assert ratios[key] == local[key]
    cpu = f"compact_new_events_cpu_ratio_{LARGE}_vs_{SMALL}"
    expected = (
        local[f"compact_new_events_cpu_ms_p50_at_{LARGE}"]
        / local[f"compact_new_events_cpu_ms_p50_at_{SMALL}"]
    )
    assert local[cpu] == pytest.approx(expected, rel=1e-3)


def test_events_are_valid_materializations() -> None:
    rng = random.Random(7)
    now = int(time.time() * 1000)
    event = make_event(rng, source="bench/test", now_ms=now)
    EXECUTIONS.check(event)
    assert event.event_type == "materialization"
    assert "materialization_id" not in event.payload
    update = make_event(rng, source="bench/test", now_ms=now, materialization_id=_seed_id(3))
    EXECUTIONS.check(update)
    assert update.payload["materialization_id"] == _seed_id(3)


def test_seeded_state_is_a_valid_checkpoint() -> None:
    store = ScopedStore(open_store("memory://"), "tenant=t/workspace=w/")
    manifest = seed_materializations(store, 50)
    assert manifest.snapshot_version == manifest.checkpoint_version == 1
    assert {f.table for f in manifest.files} == {"materializations", "ingested"}
    assert [r.kind for r in chain(store, "executions")] == ["checkpoint"]
    compactor = Compactor(store, EXECUTIONS)
    _, state = compactor.head()
    assert len(state.materializations) == 50 and len(state.ingested) == 0
    # an event naming a seeded id replaces that row (its event order is newer)
    rng = random.Random(1)
    now = int(time.time() * 1000)
    events = [
        make_event(rng, source="bench/test", now_ms=now, materialization_id=_seed_id(7)),
        make_event(rng, source="bench/test", now_ms=now),
    ]
    keys = EventLedger(store, "executions").append(events)
    result = compactor.compact(keys)
    assert result.outcomes == {"applied": 2}
    _, state = compactor.head()
    assert len(state.materializations) == 51
    assert state.materializations[_seed_id(7)].event_id == events[0].event_id
    report = verify_scope(store, domains=("executions",))
    assert report.ok, report.findings


def test_cli_writes_the_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = dataclasses.replace(
        QUICK,
        append_events_per_process=40,
        writer_processes=(1,),
        compaction_events=60,
        compaction_batched_events=60,
        append_batch=20,
        lag_duration_s=0.5,
        state_sizes=(100, 400),
        state_new_events=20,
        state_rounds=2,
    )
    monkeypatch.setattr(bench_ingest.IngestBenchConfig, "make", classmethod(lambda cls, q: tiny))
    out = tmp_path / "ingest.json"
    result = CliRunner().invoke(app, ["bench", "ingest", "--quick", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    local = data["backends"]["local"]
    assert local["append_events_per_s_1_process"] > 0
    assert local["visibility_lag_ms_p95"] >= local["visibility_lag_ms_p50"] > 0
    assert data["ratios"]["local"]["compact_new_events_ratio_400_vs_100"] > 0
    assert data["backends"]["s3"] == {"skipped": "s3=False"}
    assert "append_vs_raw_ratio_1_process" in result.output
