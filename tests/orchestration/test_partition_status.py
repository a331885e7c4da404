"""Partition status (ADR 017): derived from the deployment, the materializations and the
runs' tasks — the rules on hand-made rows, then real runs read back locally, through the
CLI and through a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arco.cli import app
from arco.client import Client
from arco.core.clock import SYSTEM_CLOCK
from arco.core.scope import DEFAULT_SCOPE
from arco.errors import NotFoundError
from arco.executions import Executions
from arco.executions.schema import MaterializationRow
from arco.orchestration.discovery import build_manifest, load_definitions
from arco.orchestration.manifest import DefinitionsManifest
from arco.orchestration.runs import Runs
from arco.orchestration.runs.schema import TaskRow
from arco.orchestration.status import PartitionStatus, partition_statuses, workspace_statuses
from arco.orchestration.trigger import RunRequest
from arco.storage import open_store
from orchestration_support import orchestrator, workspace_store, write_code
from serve_support import serve_process

CODE = """
import os
import pyarrow as pa
from arco import DailyPartitions, asset, freshness

DAYS = DailyPartitions(start="2026-12-01", end="2026-12-06")

@asset(namespace="shop", partitions=DAYS, code_version=os.environ.get("ORDERS_VERSION", "v1"))
def orders(context):
    if context.partition_key in os.environ.get("ORDERS_FAIL", "").split(","):
        raise ValueError(f"no orders file for {context.partition_key}")
    return pa.table({"n": [1, 2]})

@asset(namespace="shop", partitions=DAYS)
def summary(context, orders: pa.Table):
    return pa.table({"total": [sum(orders["n"].to_pylist())]})

@asset(namespace="shop", checks=[freshness(3600)])
def report(context, summary: pa.Table):
    return pa.table({"rows": [summary.num_rows]})
"""


def K(day: str) -> str:
    """The canonical key of a day of ``DAYS``."""
    return f"date=d:{day}"


def _manifest(tmp_path: Path) -> DefinitionsManifest:
    return build_manifest(load_definitions(str(write_code(tmp_path / "code", CODE))))


def _mat(asset: str, partition: str, at: int, *, code: str | None = "v1") -> MaterializationRow:
    return MaterializationRow(
        materialization_id=f"m-{asset}-{partition}-{at}",
        asset_key=asset,
        table_id=None,
        partition_key=partition or None,
        run_id=f"run-{at}",
        status="succeeded",
        rows=1,
        bytes=1,
        code_version=code,
        started_at=at - 1,
        completed_at=at,
        event_id="e",
        occurred_at=at,
        event_order=f"{at:016d}",
        version=1,
    )


def _failed(asset: str, partition: str, at: int) -> TaskRow:
    return TaskRow(
        id=f"run-{at} {asset}",
        run_id=f"run-{at}",
        task_key=f"{asset}[{partition}]:materialize",
        asset_key=asset,
        partition_key=partition,
        stage=0,
        upstream="[]",
        state="FAILED",
        attempt=1,
        attempt_id="a",
        max_attempts=1,
        retry="{}",
        timeout_s=None,
        pools="[]",
        retry_at=None,
        output=None,
        error="ValueError: boom",
        updated_at=at,
        event_order=f"{at:016d}",
        version=1,
    )


def _by_key(items: list[PartitionStatus]) -> dict[tuple[str, str], PartitionStatus]:
    return {(s.asset_key, s.partition_key): s for s in items}


def test_the_rules_in_order_failed_missing_stale_materialized(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    t = 1_796_515_200_000  # 2026-12-06T00:00Z: every window is complete
    mats = [
        _mat("shop/orders", K("2026-12-01"), t),
        _mat("shop/orders", K("2026-12-02"), t + 10),
        _mat("shop/summary", K("2026-12-01"), t + 5),  # after its upstream: fresh
        _mat("shop/summary", K("2026-12-02"), t + 5),  # before its upstream: stale
        _mat("shop/orders", K("2026-12-03"), t, code="v0"),  # another code version
        _mat("shop/report", "", t + 20),
    ]
    tasks = [
        _failed("shop/orders", K("2026-12-04"), t),  # never materialized, failed
        _failed("shop/orders", K("2026-12-01"), t - 1),  # failed before it succeeded
    ]
    got = _by_key(partition_statuses(manifest, mats, tasks, now_ms=t + 100))
    assert got[("shop/orders", K("2026-12-01"))].status == "materialized"
    assert got[("shop/orders", K("2026-12-02"))].status == "materialized"
    stale = got[("shop/summary", K("2026-12-02"))]
    assert stale.status == "stale"
    assert stale.reason is not None and "upstream shop/orders[date=d:2026-12-02]" in stale.reason
    assert got[("shop/summary", K("2026-12-01"))].status == "materialized"
    code = got[("shop/orders", K("2026-12-03"))]
    assert (code.status, code.reason) == ("stale", "code version changed (v0 -> v1)")
    failed = got[("shop/orders", K("2026-12-04"))]
    assert (failed.status, failed.reason, failed.run_id) == (
        "failed",
        "ValueError: boom",
        f"run-{t}",
    )
    assert got[("shop/orders", K("2026-12-05"))].status == "missing"
    assert got[("shop/report", "")].status == "materialized"
    # every partition of every asset, by asset then partition
    assert list(got) == sorted(got)
    assert len(got) == 5 + 5 + 1
    # the unpartitioned report reads every summary partition: a newer one makes it stale
    later = _by_key(
        partition_statuses(
            manifest, [*mats, _mat("shop/summary", K("2026-12-03"), t + 30)], [], now_ms=t + 100
        )
    )
    assert later[("shop/report", "")].status == "stale"
    # its freshness check allows an hour
    old = _by_key(partition_statuses(manifest, mats, [], now_ms=t + 20 + 3_600_001))
    assert old[("shop/report", "")].status == "stale"
    assert old[("shop/report", "")].reason == "freshness: materialized 3600 s ago, more than 3600 s"


def test_partitions_are_those_the_definition_lists_and_unknown_assets_are_refused(
    tmp_path: Path,
) -> None:
    manifest = _manifest(tmp_path)
    dec_2 = 1_796_173_200_000  # 2026-12-02T01:00Z: DAYS has an end, so all five are listed
    got = partition_statuses(manifest, [], [], now_ms=dec_2, assets=["shop/orders"])
    assert [(s.partition_key, s.status) for s in got] == [
        (K(f"2026-12-0{d}"), "missing") for d in range(1, 6)
    ]
    # a materialized partition the definition no longer lists is still shown
    extra = _mat("shop/orders", K("2026-11-30"), dec_2)
    got = partition_statuses(manifest, [extra], [], now_ms=dec_2, assets=["shop/orders"])
    assert (got[0].partition_key, got[0].status) == (K("2026-11-30"), "materialized")
    with pytest.raises(NotFoundError, match="asset: 'shop/nope' is not deployed"):
        partition_statuses(manifest, [], [], now_ms=dec_2, assets=["shop/nope"])


def _statuses(url: str) -> dict[tuple[str, str], PartitionStatus]:
    root = open_store(url)
    with Executions(root, DEFAULT_SCOPE) as ex, Runs(root, DEFAULT_SCOPE) as runs:
        items = workspace_statuses(
            workspace_store(url), ex.state(), runs.state(), now_ms=SYSTEM_CLOCK.now_ms()
        )
    return _by_key(items)


def test_real_runs_show_materialized_stale_failed_and_a_new_code_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"file://{tmp_path / 'store'}"
    code = write_code(tmp_path / "code", CODE, name="status_pipeline.py")
    days = ["2026-12-01", "2026-12-02", "2026-12-03"]
    keys = [K(d) for d in days]
    monkeypatch.setenv("ORDERS_FAIL", K("2026-12-04"))
    with orchestrator(url, code) as orch:
        orch.start()
        run = orch.wait(
            orch.trigger(
                RunRequest(selection=("shop/summary+", "+shop/summary"), partitions=tuple(keys))
            ),
            timeout=120,
        )
        assert run.state == "SUCCEEDED", run.reason
        again = orch.trigger(RunRequest(selection=("shop/orders",), partitions=(K("2026-12-02"),)))
        assert orch.wait(again, timeout=120).state == "SUCCEEDED"
        failing = orch.trigger(
            RunRequest(selection=("shop/orders",), partitions=(K("2026-12-04"),))
        )
        assert orch.wait(failing, timeout=120).state == "FAILED"
    got = _statuses(url)
    assert {k: got[("shop/orders", k)].status for k in keys} == dict.fromkeys(keys, "materialized")
    assert got[("shop/summary", K("2026-12-01"))].status == "materialized"
    assert got[("shop/summary", K("2026-12-02"))].status == "stale"
    failed = got[("shop/orders", K("2026-12-04"))]
    assert failed.status == "failed" and failed.reason is not None
    assert "no orders file for" in failed.reason and "2026-12-04" in failed.reason
    assert got[("shop/orders", K("2026-12-05"))].status == "missing"
    # report read summary's three partitions; none was materialized again since
    assert got[("shop/report", "")].status == "materialized"
    # a new code version of orders makes its materialized partitions stale
    monkeypatch.setenv("ORDERS_VERSION", "v2")
    with orchestrator(url, code):
        pass  # deploys the new definitions
    got = _statuses(url)
    reason = got[("shop/orders", K("2026-12-01"))].reason
    assert got[("shop/orders", K("2026-12-01"))].status == "stale"
    assert reason == "code version changed (v1 -> v2)"
    # the CLI says the same, as a table and as JSON
    runner = CliRunner()
    result = runner.invoke(
        app, ["--store", url, "assets", "status", "shop/orders", "--status", "stale", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["partition_key"] for r in rows] == keys
    assert all(r["reason"] == "code version changed (v1 -> v2)" for r in rows)
    table = runner.invoke(app, ["--store", url, "assets", "status"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "no orders file for" in table.output
    bad = runner.invoke(app, ["--store", url, "assets", "status", "--status", "fresh"])
    assert bad.exit_code != 0 and "--status: must be one of" in bad.output
    # and so does a real server
    with serve_process(url, tmp_path / "server.log", "--executor", "inprocess") as served:
        with Client(served.url, tenant="default", workspace="default") as client:
            remote = client.asset_status(["shop/orders"])
            assert _by_key(remote) == {k: v for k, v in got.items() if k[0] == "shop/orders"}
            assert [s.status for s in client.asset_status(status="failed")] == ["failed"]
            with pytest.raises(NotFoundError):
                client.asset_status(["shop/nope"])
