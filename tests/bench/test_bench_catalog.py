"""The catalog benchmark, in a tiny configuration: every named figure is there and sane."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from arco.bench.catalog import run_catalog_bench
from arco.bench.common import percentile, ratio

SMALL, LARGE = 20, 120

BACKEND_FIGURES = [
    f"commit_latency_ms_p50_at_{SMALL}",
    f"commit_latency_ms_p95_at_{SMALL}",
    f"commit_latency_ms_p50_at_{LARGE}",
    f"commit_latency_ms_p95_at_{LARGE}",
    f"commit_latency_ratio_{LARGE}_vs_{SMALL}",
    f"commit_latency_p95_ratio_{LARGE}_vs_{SMALL}",
    f"commit_cpu_ms_p50_at_{SMALL}",
    f"commit_cpu_ms_p50_at_{LARGE}",
    f"process_cpu_ms_per_ddl_at_{LARGE}",
    f"commit_cpu_ratio_{LARGE}_vs_{SMALL}",
    f"process_cpu_per_ddl_ratio_{LARGE}_vs_{SMALL}",
    f"create_table_ms_p50_at_{LARGE}",
    f"drop_table_ms_p50_at_{LARGE}",
    f"populate_s_to_{SMALL}",
    f"populate_s_to_{LARGE}",
    f"populate_tables_per_s_to_{LARGE}",
    f"populate_commits_to_{LARGE}",
    f"manifest_commits_during_latency_at_{LARGE}",
    f"requests_per_commit_at_{SMALL}",
    f"requests_per_commit_at_{LARGE}",
    f"requests_per_ddl_at_{LARGE}",
    "requests_per_commit",
    "commits_per_s_1_thread",
    "commits_per_s_8_threads",
    "commits_per_s_4_processes",
    "manifest_commits_per_s_8_threads",
    "ddls_per_manifest_commit_8_threads",
    "get_table_ms_cold",
    f"get_table_ms_cold_at_{SMALL}",
    f"get_table_ms_cold_at_{LARGE}",
    f"requests_per_cold_get_table_at_{LARGE}",
    "get_table_ms_cold_subprocess",
    "subprocess_wall_ms",
    "get_table_ms_warm",
    f"get_table_ms_warm_p50_at_{LARGE}",
    "create_namespace_ms_p50",
    "create_namespace_ms_p95",
    "create_table_ms_p50",
    "create_table_ms_p95",
    "load_table_ms_p50",
    "load_table_ms_p95",
    "list_tables_ms_p50",
    "list_tables_ms_p95",
]
PEER_FIGURES = [
    "create_namespace_ms_p50",
    "create_table_ms_p50",
    "load_table_ms_p50",
    "list_tables_ms_p50",
    "create_namespace_ms_p95",
    "create_table_ms_p95",
    "load_table_ms_p95",
    "list_tables_ms_p95",
]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench") / "nested" / "bench-catalog.json"
    result = run_catalog_bench(
        out,
        quick=True,
        s3=False,
        console=Console(file=io.StringIO(), width=120),
        sizes=(SMALL, LARGE),
        latency_samples=10,
        read_samples=8,
        throughput_ops=16,
        populate_threads=16,
    )
    return out, result


def test_json_file_is_written_and_matches(bench: tuple[Path, dict[str, Any]]) -> None:
    path, result = bench
    assert path.is_file()
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    assert result["benchmark"] == "catalog"
    assert result["started_at"].endswith("Z")
    assert set(result["machine"]) >= {"python", "platform", "cpu_count"}
    assert result["config"]["sizes"] == [SMALL, LARGE]
    assert result["backends"]["s3"] == {"skipped": "s3=False"}


def test_every_local_figure_is_positive(bench: tuple[Path, dict[str, Any]]) -> None:
    local = bench[1]["backends"]["local"]
    for key in BACKEND_FIGURES:
        assert key in local, key
        value = local[key]
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0, (key, value)
    assert local[f"checkpoints_during_latency_at_{LARGE}"] >= 0
    assert local[f"populate_checkpoints_to_{LARGE}"] >= 1  # 120 tables: more than 32 commits
    by_op = local["requests_per_commit_by_op"]
    assert by_op["put"] > 0 and by_op["get"] > 0
    assert sum(by_op.values()) == pytest.approx(local["requests_per_commit"], rel=1e-3)
    # a DDL commit needs at least: lock get + CAS, manifest read, ledger, delta, commit, CAS
    assert local[f"requests_per_ddl_at_{LARGE}"] >= 6
    assert local["ddls_4_processes"] == 16
    assert local["ddls_8_threads"] == 16


def test_percentiles_are_ordered(bench: tuple[Path, dict[str, Any]]) -> None:
    local = bench[1]["backends"]["local"]
    for size in (SMALL, LARGE):
        assert (
            local[f"commit_latency_ms_p50_at_{size}"] <= local[f"commit_latency_ms_p95_at_{size}"]
        )
    assert local["create_table_ms_p50"] == local[f"create_table_ms_p50_at_{SMALL}"]
    assert local["get_table_ms_cold"] == local[f"get_table_ms_cold_at_{LARGE}"]


def test_peer_figures(bench: tuple[Path, dict[str, Any]]) -> None:
    peer = bench[1]["peer"]["pyiceberg_sql_sqlite"]
    for key in PEER_FIGURES:
        assert peer[key] > 0, key
    # 100 extra tables at a few ms each fit the 60 s budget: the large size was measured
    assert f"load_table_ms_p50_at_{LARGE}" in peer


def test_ratios_are_computed_from_the_figures(bench: tuple[Path, dict[str, Any]]) -> None:
    result = bench[1]
    local = result["backends"]["local"]
    peer = result["peer"]["pyiceberg_sql_sqlite"]
    ratios = result["ratios"]
    key = f"commit_latency_ratio_{LARGE}_vs_{SMALL}"
    expected = (
        local[f"commit_latency_ms_p50_at_{LARGE}"] / local[f"commit_latency_ms_p50_at_{SMALL}"]
    )
    assert local[key] == pytest.approx(expected, rel=1e-3)
    assert ratios["local"][key] == local[key]
    cpu = f"commit_cpu_ratio_{LARGE}_vs_{SMALL}"
    expected = local[f"commit_cpu_ms_p50_at_{LARGE}"] / local[f"commit_cpu_ms_p50_at_{SMALL}"]
    assert local[cpu] == pytest.approx(expected, rel=1e-3)
    assert ratios["local"][cpu] == local[cpu]
    vs = ratios["arco_local_vs_peer"]
    for op in ("create_namespace", "create_table", "load_table", "list_tables"):
        name = f"{op}_ms_p50"
        assert vs[name] == pytest.approx(local[name] / peer[name], rel=1e-3), name
    assert "s3" not in ratios


def test_helpers() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    assert percentile([5.0], 95) == 5.0
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) == math.inf
