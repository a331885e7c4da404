"""The API benchmark in its quick configuration: every named figure is there and sane."""

from __future__ import annotations

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

from arco.bench.api import (
    HTTP_OPS,
    LIBRARY_OPS,
    QUERY_SQL,
    QUERY_TARGET_RATIO,
    ApiBenchConfig,
    DirectDuckDB,
    run_api_bench,
    run_window,
)
from arco.bench.common import Ui
from arco.catalog import Catalog
from arco.cli import app
from arco.core.scope import Scope
from arco.query.views import query_snapshot
from arco.storage import open_store

QUICK = ApiBenchConfig.make(quick=True)
WINDOW_FIGURES = (
    "requests",
    "requests_per_s",
    "latency_ms_p50",
    "latency_ms_p99",
    "latency_ms_mean",
    "latency_ms_max",
    "client_cpu_ms_per_request",
    "client_cpu_utilisation",
)
SERVER_FIGURES = ("server_cpu_ms_per_request", "server_cpu_utilisation")
SEQUENTIAL_MODES = ("http", "library", "duckdb_direct")


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], float]:
    out = tmp_path_factory.mktemp("bench") / "nested" / "bench-api.json"
    t0 = time.perf_counter()
    result = run_api_bench(out, quick=True, console=Console(file=io.StringIO(), width=120))
    return out, result, time.perf_counter() - t0


def test_json_file_is_written_and_matches(bench: tuple[Path, dict[str, Any], float]) -> None:
    path, result, elapsed = bench
    assert path.is_file()
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    assert result["benchmark"] == "api"
    assert result["started_at"].endswith("Z")
    assert set(result["machine"]) >= {"python", "platform", "cpu_count"}
    config = result["config"]
    assert config["quick"] is True
    assert config["tables"] == QUICK.tables == 50
    assert config["clients"] == 16
    assert config["query_sql"] == QUERY_SQL
    assert elapsed < 60  # the quick profile aims at < 30 s; leave room for a loaded machine


def test_every_route_was_served_and_measured(bench: tuple[Path, dict[str, Any], float]) -> None:
    result = bench[1]
    # the probe checks each answer against the catalog (the query counts the tables)
    assert result["missing"] == {}
    assert set(result["http"]) == set(HTTP_OPS)
    assert set(result["library"]) == set(LIBRARY_OPS)
    assert set(result["http_vs_library"]) == set(LIBRARY_OPS)


def test_every_figure_is_positive(bench: tuple[Path, dict[str, Any], float]) -> None:
    result = bench[1]
    for op in HTTP_OPS:
        figures = result["http"][op]
        for key in (*WINDOW_FIGURES, *SERVER_FIGURES):
            assert _positive(figures.get(key)), (op, key, figures.get(key))
    for op in LIBRARY_OPS:
        figures = result["library"][op]
        for key in WINDOW_FIGURES:
            assert _positive(figures.get(key)), (op, key, figures.get(key))
        assert "server_cpu_ms_per_request" not in figures
        for key in ("p50_ratio", "p99_ratio", "throughput_ratio"):
            assert _positive(result["http_vs_library"][op][key]), (op, key)
    sequential = result["sequential"]
    assert sequential["samples_per_mode"] == QUICK.sequential_samples
    for stat in ("p50", "p99", "mean"):
        assert _positive(sequential["health"][f"http_ms_{stat}"]), stat
    for op in LIBRARY_OPS:
        for key in ("http_ms_p50", "http_ms_p99", "library_ms_p50", "library_ms_p99"):
            assert _positive(sequential[op][key]), (op, key)
        assert _positive(sequential[op]["http_vs_library_p50_ratio"]), op
        assert sequential[op]["http_minus_library_ms_p50"] == pytest.approx(
            sequential[op]["http_ms_p50"] - sequential[op]["library_ms_p50"], abs=1e-3
        )
    qd = result["query_vs_duckdb"]
    for mode in SEQUENTIAL_MODES:
        for stat in ("p50", "p99", "mean"):
            assert _positive(qd[f"{mode}_ms_{stat}"]), (mode, stat)
    for key in ("http_vs_duckdb_p50_ratio", "library_vs_duckdb_p50_ratio"):
        assert _positive(qd[key]), key
    assert isinstance(qd["within_target"], bool)
    assert qd["samples_per_mode"] == QUICK.sequential_samples
    assert set(qd["duckdb_direct_files"]) == {"namespaces", "tables", "columns"}
    assert all(n >= 1 for n in qd["duckdb_direct_files"].values())
    catalog = result["catalog"]
    assert catalog["catalog_manifest_files_tables"] >= 1
    assert catalog["populate_s"] > 0


def test_figures_are_consistent(bench: tuple[Path, dict[str, Any], float]) -> None:
    result = bench[1]
    window = result["config"]["window_s"]
    for side in ("http", "library"):
        for op, figures in result[side].items():
            assert figures["latency_ms_p50"] <= figures["latency_ms_p99"], (side, op)
            assert figures["requests_per_s"] == pytest.approx(figures["requests"] / window)
            assert isinstance(figures["requests"], int)
            assert figures["latency_ms_p99"] <= figures["latency_ms_max"], (side, op)
            # a thread is busy with one call at a time: the counted calls' time fits in the
            # window plus the one call that straddles its start
            busy_s = figures["requests"] * figures["latency_ms_mean"] / 1000
            clients = result["config"]["clients"]
            assert busy_s <= clients * (window + figures["latency_ms_max"] / 1000) * 1.01
    qd = result["query_vs_duckdb"]
    for mode in SEQUENTIAL_MODES:
        assert qd[f"{mode}_ms_p50"] <= qd[f"{mode}_ms_p99"]


def test_ratios_are_computed_from_the_figures(bench: tuple[Path, dict[str, Any], float]) -> None:
    result = bench[1]
    http, library = result["http"], result["library"]
    for op in LIBRARY_OPS:
        ratios = result["http_vs_library"][op]
        assert ratios["p50_ratio"] == pytest.approx(
            http[op]["latency_ms_p50"] / library[op]["latency_ms_p50"], rel=1e-3
        )
        assert ratios["p99_ratio"] == pytest.approx(
            http[op]["latency_ms_p99"] / library[op]["latency_ms_p99"], rel=1e-3
        )
        assert ratios["throughput_ratio"] == pytest.approx(
            library[op]["requests_per_s"] / http[op]["requests_per_s"], rel=1e-3
        )
    qd = result["query_vs_duckdb"]
    assert qd["http_vs_duckdb_p50_ratio"] == pytest.approx(
        qd["http_ms_p50"] / qd["duckdb_direct_ms_p50"], rel=1e-3
    )
    assert qd["library_vs_duckdb_p50_ratio"] == pytest.approx(
        qd["library_ms_p50"] / qd["duckdb_direct_ms_p50"], rel=1e-3
    )
    assert qd["within_target"] == (qd["http_vs_duckdb_p50_ratio"] <= QUERY_TARGET_RATIO)


def test_direct_duckdb_merges_like_the_query_engine(tmp_path: Path) -> None:
    """The baseline reads the manifest's files with the merged view: drops and updates in
    later deltas win over the checkpoint, as in the engine."""
    scope = Scope("t", "w")
    catalog = Catalog(open_store(f"file://{tmp_path}"), scope)
    catalog.create_namespace("ns")
    for name in ("a", "b", "c"):
        catalog.register_table("ns", name, [{"name": "x", "type": "int64"}])
    catalog.writer.checkpoint()
    catalog.drop_table("ns", "b")
    catalog.update_table("ns", "c", description="changed")
    direct = DirectDuckDB(tmp_path, scope, catalog)
    try:
        assert sum(len(p) for p in direct.files.values()) >= 4  # checkpoint + deltas
        sql = "SELECT name, description FROM catalog.tables ORDER BY name"
        assert direct.query(sql) == [("a", None), ("c", "changed")]
        expected = query_snapshot(catalog.store, sql).to_pylist()
        assert [tuple(r.values()) for r in expected] == direct.query(sql)
    finally:
        direct.close()
        catalog.close()


def test_a_failing_call_fails_the_window() -> None:
    def make(w: int) -> tuple[Any, Any]:
        def call(rng: random.Random) -> None:
            if w == 3:
                raise ValueError("boom")

        return call, lambda: None

    ui = Ui(Console(file=io.StringIO()))
    with pytest.raises(RuntimeError, match="ValueError: boom"):
        run_window(ui, "failing", 4, make, window_s=0.2, warmup_s=0.0)
    # and a healthy window counts what ended inside it
    ok = run_window(ui, "ok", 2, lambda w: (lambda rng: time.sleep(0.01), lambda: None), 0.3, 0.05)
    assert 20 <= ok["requests"] <= 62 and ok["latency_ms_p50"] >= 10


def test_cli_has_the_command() -> None:
    result = CliRunner().invoke(app, ["bench", "api", "--help"])
    assert result.exit_code == 0, result.output
    assert "--quick" in result.output and "--json" in result.output
