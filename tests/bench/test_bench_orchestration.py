"""The orchestration benchmark in its quick configuration, through the CLI: the JSON's shape,
Dagster recorded as null with a note when it is not installed, and planning 1,000 assets in
well under a second."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import sys
import types
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from arco.bench.orchestration import (
    OrchestrationBenchConfig,
    layered_graph,
    layered_manifest,
    run_orchestration_bench,
    summary,
)
from arco.cli import app

HAS_DAGSTER = importlib.util.find_spec("dagster") is not None


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench") / "nested" / "bench-orchestration.json"
    got = CliRunner().invoke(app, ["bench", "orchestration", "--quick", "--json", str(out)])
    assert got.exit_code == 0, got.output
    return json.loads(out.read_text()), got.output


def test_quick_json_shape(quick_run: tuple[dict[str, Any], str]) -> None:
    result, _ = quick_run
    assert result["benchmark"] == "orchestration"
    assert result["config"]["quick"] is True
    assert result["config"]["sizes"] == [1000]
    assert result["machine"]["cpu_count"] >= 1
    assert isinstance(result["config"]["notes"], list) and result["config"]["notes"]
    assert list(result["planning"]) == ["assets_1000"]
    figures = result["planning"]["assets_1000"]
    assert figures["assets"] == figures["tasks"] == 1000
    assert figures["layers"] == figures["stages"] == 10
    assert figures["edges"] == 900 * 3
    assert len(figures["plan_s_runs"]) == 3
    assert figures["plan_s_best"] == min(figures["plan_s_runs"])
    assert math.isfinite(figures["tasks_per_s"]) and figures["tasks_per_s"] > 0
    assert figures["plan_json_bytes"] > 0 and len(figures["fingerprint"]) == 64
    assert result["runtime_s"] > 0


def test_planning_1000_assets_under_a_second(quick_run: tuple[dict[str, Any], str]) -> None:
    result, _ = quick_run
    assert result["planning"]["assets_1000"]["plan_s_best"] < 1.0


@pytest.mark.skipif(HAS_DAGSTER, reason="dagster is installed: it is measured instead")
def test_dagster_is_null_with_a_note(quick_run: tuple[dict[str, Any], str]) -> None:
    result, output = quick_run
    assert result["dagster"] is None
    assert "not installed" in result["dagster_note"]
    assert summary(result)["dagster"] is None
    assert "assets_1000.plan_s_best" in output


def test_the_graph_is_the_same_every_time() -> None:
    config = OrchestrationBenchConfig.make(quick=False)
    assert config.sizes == (1000, 10000)
    first = layered_graph(1000, config.width, config.deps_per_asset, config.seed)
    assert first == layered_graph(1000, config.width, config.deps_per_asset, config.seed)
    assert all(len(d) == 3 for d in first[100:]) and not any(first[:100])
    m = layered_manifest(first, config.width)
    assert m.assets[0].key == "l000/a000" and m.assets[-1].key == "l009/a099"


def test_a_dagster_it_cannot_drive_is_recorded_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("dagster")
    fake.__version__ = "0.0-fake"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dagster", fake)
    config = OrchestrationBenchConfig(sizes=(200,), width=100, deps_per_asset=3, repeats=1, seed=1)
    result = run_orchestration_bench(
        None, config=config, console=Console(file=io.StringIO(), width=120)
    )
    assert result["planning"]["assets_200"]["tasks"] == 200
    assert result["dagster"]["version"] == "0.0-fake"
    assert "error" in result["dagster"]["assets_200"]
    assert "dagster_note" not in result
    assert summary(result)["dagster.assets_200.error"]


def test_running_figures_are_measured(quick_run: tuple[dict[str, Any], str]) -> None:
    result, output = quick_run
    runs = result["runs"]
    assert runs["launch"]["runs"] == 5
    assert (
        0
        < runs["launch"]["trigger_to_started_s_best"]
        <= runs["launch"]["trigger_to_started_s_median"]
    )
    chain = runs["chain"]
    assert chain["assets"] == 10
    assert chain["first_per_task_s"] == pytest.approx(chain["first_run_s"] / 10, rel=0.01)
    assert chain["again_per_task_s"] > 0
    assert runs["fanout_pool"]["tasks"] == 20 and runs["fanout_pool"]["tasks_per_s"] > 0
    assert runs["fanout_dask"]["tasks"] == 20 and runs["fanout_dask"]["workers"] == 2
    assert runs["per_task_vs_dagster_ratio"] == pytest.approx(
        chain["again_per_task_s"] / runs["dagster_per_task_s_compared"], rel=0.01
    )
    assert "chain_per_task_s_again" in output


def test_automation_figures_are_measured(quick_run: tuple[dict[str, Any], str]) -> None:
    result, output = quick_run
    automation = result["automation"]
    conditions = automation["conditions"]
    assert conditions["assets"] == 1_000 and conditions["not_materialized"] == 0
    assert 0 < conditions["evaluate_s_best"] <= conditions["evaluate_s_median"]
    backfill = automation["backfill"]
    assert (backfill["partitions"], backfill["chunks"], backfill["state"]) == (20, 4, "SUCCEEDED")
    assert backfill["partitions_per_s"] > 0
    assert "tick" not in automation  # --quick does not wait for a minute tick
    assert "backfill_partitions_per_s" in output
