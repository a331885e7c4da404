"""The Iceberg benchmark in its quick configuration: both sides measured, every named figure
there and sane, the acknowledged appends checked (``ok``)."""

from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from arco.bench.iceberg import LATENCY_OPS, SIDES, IcebergBenchConfig, run_iceberg_bench, summary
from arco.cli import app

QUICK = IcebergBenchConfig.make(quick=True)


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], float]:
    out = tmp_path_factory.mktemp("bench") / "nested" / "bench-iceberg.json"
    t0 = time.perf_counter()
    result = run_iceberg_bench(out, quick=True, console=Console(file=io.StringIO(), width=120))
    return out, result, time.perf_counter() - t0


def test_quick_run_is_ok_and_written(bench: tuple[Path, dict[str, Any], float]) -> None:
    out, result, elapsed = bench
    assert result["ok"] is True, result["failures"]
    assert result["failures"] == []
    assert json.loads(out.read_text()) == result
    assert result["benchmark"] == "iceberg"
    assert result["config"]["quick"] is True
    assert result["config"]["writers"] == list(QUICK.writers)
    assert result["machine"]["cpu_count"] >= 1
    assert len(result["load_average_at_start"]) == 3
    assert len(result["load_average_at_end"]) == 3
    assert elapsed < 90


def test_latency_both_sides(bench: tuple[Path, dict[str, Any], float]) -> None:
    _, result, _ = bench
    lat = result["latency"]
    assert lat["samples_per_side"] == QUICK.latency_samples
    for side in SIDES:
        for op in LATENCY_OPS:
            figures = lat[side][op]
            assert _positive(figures["ms_p50"]), (side, op, figures)
            assert figures["ms_p50"] <= figures["ms_p95"]
            assert _positive(figures["ms_mean"])
            assert figures["client_cpu_ms_mean"] >= 0
    assert lat["arco"]["server_cpu_ms_mean_create_append_load"] >= 0
    # the HTTP floor is below any REST operation's p50 (each one is at least a round trip)
    floor = lat["arco_http_round_trip_ms_p50"]
    assert _positive(floor)
    assert floor < min(lat["arco"][op]["ms_p50"] for op in ("create_table", "append"))
    for op in LATENCY_OPS:
        for stat in ("p50", "p95"):
            got = lat["arco_vs_peer"][f"{op}_{stat}_ratio"]
            assert got == pytest.approx(
                lat["arco"][op][f"ms_{stat}"] / lat["peer"][op][f"ms_{stat}"], rel=1e-3
            )


def test_throughput_both_sides(bench: tuple[Path, dict[str, Any], float]) -> None:
    _, result, _ = bench
    one, many = QUICK.writers
    for side in SIDES:
        thr = result["throughput"][side]
        for w in (one, many):
            run = thr[f"writers_{w}"]
            assert run["writers"] == run["tables"] == w
            assert run["commits"] > 0 and _positive(run["commits_per_s"])
            assert len(run["per_writer_commits_per_s"]) == w
            assert run["retries"] == 0  # own tables never conflict
            assert run["check"]["ok"], run["check"]
        assert thr["scaling"] == pytest.approx(
            thr[f"writers_{many}"]["commits_per_s"] / thr[f"writers_{one}"]["commits_per_s"],
            rel=1e-3,
        )
        con = result["contention"][side]
        assert con["writers"] == QUICK.contention_writers and con["tables"] == 1
        assert con["appends"] > 0 and _positive(con["appends_per_s"])
        assert con["retries"] >= 0
        check = con["check"]
        assert check["ok"], check
        # every acknowledged append (the timed ones and one warm-up per writer) is in the table
        assert check["acknowledged"] == con["appends"] + QUICK.contention_writers
        assert check["rows"] == (check["acknowledged"] + check["uncertain"]) * 10 or (
            check["uncertain"] > 0
        )
    assert "arco" in result["config"] and "peer" in result["config"]
    assert set(result["throughput_arco_vs_peer"]) == {
        f"writers_{one}_commits_per_s_ratio",
        f"writers_{many}_commits_per_s_ratio",
        "contention_appends_per_s_ratio",
    }


def test_summary_names_the_headline_figures(bench: tuple[Path, dict[str, Any], float]) -> None:
    _, result, _ = bench
    got = summary(result)
    assert got["ok"] is True
    for op in LATENCY_OPS:
        assert f"{op}_p50_ratio_arco_vs_peer" in got
    one, many = QUICK.writers
    for side in SIDES:
        assert f"scaling_{many}_vs_{one}.{side}" in got
        assert f"one_table_appends_per_s.{side}" in got


def test_config_profiles() -> None:
    full = IcebergBenchConfig.make(quick=False)
    assert full.writers == (1, 8) and full.contention_writers == 4
    assert full.latency_samples % full.latency_rounds == 0
    odd = IcebergBenchConfig.make(quick=True, latency_samples=7)
    assert odd.latency_samples % odd.latency_rounds == 0


def test_cli_requires_the_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    import arco.cli.maintenance as maintenance

    monkeypatch.setattr(maintenance, "_importable", lambda name: name != "sqlalchemy")
    got = CliRunner().invoke(app, ["bench", "iceberg", "--quick"])
    assert got.exit_code == 1
    assert "pip install 'arco[bench]'" in got.output
