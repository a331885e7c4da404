"""The automation routes through ``arco.client.Client`` against a real ``arco serve``:
schedules, sensors and pushed messages, backfills and their control, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from arco.client import Client
from arco.errors import ArcoError, NotFoundError
from arco.orchestration.discovery import build_manifest, load_definitions
from orchestration_support import write_code
from serve_support import serve_process

CODE = """
import pyarrow as pa
from arco import DailyPartitions, ScheduleDef, asset, push_sensor

@asset(namespace="api", partitions=DailyPartitions(start="2026-11-01", end="2026-11-08"))
def daily(context):
    return pa.table({"day": [context.partition_key]})

nightly = ScheduleDef(
    name="nightly", cron="0 3 * * *", timezone="Europe/Berlin", target=["api/daily"],
    partitions="last_window",
)
inbox = push_sensor("inbox", target=["api/daily"])
"""


def test_automation_through_the_client(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", CODE, name="automation_routes_pipeline.py")
    store = f"file://{tmp_path / 'store'}"
    with (
        serve_process(store, tmp_path / "server.log", "--executor", "inprocess") as served,
        Client(served.url, tenant="default", workspace="default") as client,
    ):
        with pytest.raises(NotFoundError, match="nothing is deployed"):
            client.schedules()
        client.deploy(build_manifest(load_definitions(str(code))))
        [nightly] = client.schedules()
        assert (nightly.name, nightly.status, nightly.timezone) == (
            "nightly",
            "running",
            "Europe/Berlin",
        )
        assert nightly.next_tick_at is not None
        client.set_schedule_status("nightly", "paused")
        [paused] = client.schedules()
        assert (paused.status, paused.next_tick_at) == ("paused", None)
        assert client.schedule_ticks("nightly") == []
        with pytest.raises(NotFoundError, match="schedule 'nope' is not in the current"):
            client.set_schedule_status("nope", "paused")
        [inbox] = client.sensors()
        assert (inbox.name, inbox.kind, inbox.status) == ("inbox", "push", "running")
        client.push("inbox", "m1", {"file": "a.csv"})
        client.push("inbox", "m1", {"file": "a.csv"})  # the same message: nothing more
        client.set_sensor_status("inbox", "paused")
        assert client.sensors()[0].status == "paused"
        backfill = client.create_backfill(
            ["api/daily"], first="2026-11-02", last="2026-11-05", max_in_flight=2, backfill_id="b1"
        )
        assert (backfill.partition_count, backfill.chunk_count, backfill.state) == (
            4,
            4,
            "REQUESTED",
        )
        assert (backfill.chunks or [])[0].partitions == ["date=d:2026-11-02"]
        assert [b.backfill_id for b in client.backfills()] == ["b1"]
        assert client.control_backfill("b1", "pause").state == "PAUSED"
        with pytest.raises(ArcoError, match="only a FAILED one is retried"):
            client.control_backfill("b1", "retry")
        assert client.control_backfill("b1", "cancel").state in ("CANCELLING", "CANCELLED")
        assert client.backfill("b1").backfill_id == "b1"
        with pytest.raises(ArcoError, match="assets: 'api/nope' is not in the current deployment"):
            client.create_backfill(["api/nope"], partitions=["2026-11-02"])
        with pytest.raises(ArcoError, match="backfill_id: 'b1' is taken"):
            client.create_backfill(["api/daily"], partitions=["2026-11-02"], backfill_id="b1")
        with pytest.raises(NotFoundError):
            client.backfill("nope")
