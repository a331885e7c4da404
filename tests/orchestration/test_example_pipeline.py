"""The example pipeline of the README runs end to end with ``arco dev``: two daily partitions
of orders, their cleaned versions and the revenue report, every check passing, the tables
in the catalog and the materializations queryable."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from arco.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipeline"


def test_arco_dev_runs_the_example_pipeline(tmp_path: Path) -> None:
    store = f"file://{tmp_path / 'store'}"
    runner = CliRunner()
    got = runner.invoke(
        app,
        ["--store", store, "dev", str(EXAMPLE), "-p", "2026-12-01", "-p", "2026-12-02", "--json"],
    )
    assert got.exit_code == 0, got.output
    result = json.loads(got.output)
    assert result["run"]["state"] == "SUCCEEDED"
    tasks = {t["task_key"]: t for t in result["tasks"]}
    assert sorted(tasks) == [
        "shop/clean_orders[date=d:2026-12-01]:materialize",
        "shop/clean_orders[date=d:2026-12-02]:materialize",
        "shop/orders[date=d:2026-12-01]:materialize",
        "shop/orders[date=d:2026-12-02]:materialize",
        "shop/revenue_by_country:materialize",
    ]
    report = tasks["shop/revenue_by_country:materialize"]["output"]
    assert report["table"]["rows"] > 0
    assert {c["name"]: c["passed"] for c in report["checks"]} == {
        "row_count": True,
        "no_negative_revenue": True,
    }

    got = runner.invoke(
        app,
        [
            "--store",
            store,
            "query",
            "--json",
            "SELECT asset_key, count(*) AS n FROM executions.materializations "
            "GROUP BY asset_key ORDER BY asset_key",
        ],
    )
    assert got.exit_code == 0, got.output
    rows = [(r["asset_key"], r["n"]) for r in json.loads(got.output)]
    assert rows == [("shop/clean_orders", 2), ("shop/orders", 2), ("shop/revenue_by_country", 1)]
