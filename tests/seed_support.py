"""A small, varied workspace for the fuzzing tests (Schemathesis, the SQL grammar):
namespaces, tables with columns of several types, updates, renames and drops (so the
snapshots hold deltas, superseded versions and tombstones), lineage edges (one removed) and
folded materializations, runs with their tasks and attempts, and automation state (ticks,
a sensor, a backfill, evaluations) (importable as ``seed_support``)."""

from __future__ import annotations

from typing import Any

from arco.catalog import Catalog
from arco.core.scope import DEFAULT_SCOPE, Scope
from arco.executions import Executions
from arco.orchestration import automation
from arco.orchestration import runs as run_events
from arco.storage import open_store
from arco.tier2.envelope import increasing_ids, parse_event

#: 2026-01-01T00:00:00Z
BASE_MS = 1_767_225_600_000


def _event(asset: str, run: str, status: str, **more: Any) -> dict[str, Any]:
    return {
        "event_type": "materialization",
        "asset_key": asset,
        "run_id": run,
        "status": status,
        **more,
    }


def seed_workspace(store_url: str, scope: Scope = DEFAULT_SCOPE) -> None:
    """Write the workspace (deterministic content; ids and times are the writers')."""
    with Catalog.open(store_url, scope) as catalog:
        catalog.create_namespace(
            "sales", description="orders and customers", properties={"owner": "analytics"}
        )
        catalog.create_namespace("bi")
        catalog.create_namespace("raw", description="landing zone")
        catalog.create_namespace("Ünïcode Straße", properties={"k": "v", "lang": "de"})
        catalog.register_table(
            "sales",
            "orders",
            [
                {"name": "id", "type": "int64", "nullable": False},
                {"name": "customer", "type": "string"},
                {"name": "amount", "type": "decimal128(12, 2)"},
                {"name": "ordered_at", "type": "timestamp[us, tz=UTC]"},
            ],
            description="one row per order",
            location="s3://lake/sales/orders",
        )
        catalog.register_table(
            "sales",
            "customers",
            [
                {"name": "id", "type": "int64", "nullable": False},
                {"name": "name", "type": "string"},
            ],
        )
        catalog.register_table(
            "bi",
            "daily",
            [{"name": "day", "type": "date32"}, {"name": "total", "type": "float64"}],
            format="iceberg",
            properties={"refresh": "daily"},
        )
        catalog.register_table("raw", "events", [{"name": "payload", "type": "string"}])
        catalog.register_table("raw", "scratch", [{"name": "x", "type": "bool"}])
        catalog.register_table("Ünïcode Straße", "Größe", [{"name": "wert", "type": "int32"}])
        catalog.register_table("bi", "empty")
        # superseded versions, a rename and a tombstone in the snapshots
        catalog.update_table(
            "sales",
            "orders",
            add_columns=[{"name": "status", "type": "string"}],
            rename_columns={"customer": "customer_id"},
            set_properties={"pii": "false"},
        )
        catalog.update_table("bi", "daily", description="daily totals", drop_columns=["total"])
        catalog.rename_table("raw", "events", "events_v2")
        catalog.drop_table("raw", "scratch")
        catalog.update_namespace("bi", description="business intelligence")
        catalog.add_lineage_edge("raw/events_v2", "sales/orders", run_id="run-1")
        catalog.add_lineage_edge("sales/orders", "bi/daily", run_id="run-2")
        catalog.add_lineage_edge("sales/customers", "bi/daily", edge_type="joins")
        catalog.add_lineage_edge("bi/daily", "bi/empty")
        catalog.remove_lineage_edge("bi/daily", "bi/empty")
    events = [
        _event("sales/orders", "run-1", "started"),
        _event("sales/orders", "run-1", "succeeded", rows=1200, bytes=65536, code_version="v1"),
        _event("bi/daily", "run-2", "failed"),
        _event("bi/daily", "run-3", "succeeded", rows=31, partition_key="day=d:2026-01-01"),
        _event("raw/events_v2", "run-0", "succeeded", rows=0),
    ]
    new_id = increasing_ids()
    with Executions(open_store(store_url), scope, fold="inline") as executions:
        executions.append(
            [
                parse_event(e, source="seed", now_ms=BASE_MS + i, new_id=new_id)
                for i, e in enumerate(events)
            ]
        )
    seed_runs(store_url, scope)
    seed_automation(store_url, scope)


def seed_runs(store_url: str, scope: Scope = DEFAULT_SCOPE) -> None:
    """Two runs: one that ran its tasks (a retry, a success), one cancelled; a stale event."""
    retry = run_events.RetryV1(backoff_s=0.5, factor=2.0, max_backoff_s=10.0, jitter=0.0)
    tasks = [
        run_events.TaskSpecV1(task_key="raw/events_v2:materialize", asset_key="raw/events_v2"),
        run_events.TaskSpecV1(
            task_key="sales/orders:materialize",
            asset_key="sales/orders",
            stage=1,
            upstream=["raw/events_v2:materialize"],
            max_attempts=2,
            retry=retry,
            timeout_s=30.5,
            pools=["db"],
        ),
    ]
    first = run_events.RunTriggeredV1(
        run_id="run-1",
        run_key="nightly",
        request_hash="h1",
        plan_fingerprint="fp1",
        selection=["sales/orders+"],
        executor="inline",
        tags={"owner": "analytics"},
        tasks=tasks,
    )
    second = first.model_copy(update={"run_id": "run-2", "run_key": None, "priority": 5})
    raw, orders = (t.task_key for t in tasks)
    at = BASE_MS + 1000
    events = [
        run_events.run_triggered(first, occurred_ms=at),
        run_events.run_triggered(second, occurred_ms=at + 1),
        run_events.task_dispatched(
            "run-1", raw, 1, "a-1", "inline", at + 60_000, occurred_ms=at + 2
        ),
        run_events.attempt_started("run-1", raw, "a-1", "worker-1", occurred_ms=at + 3),
        run_events.attempt_completed(
            "run-1", raw, "a-1", "succeeded", output={"rows": 12}, occurred_ms=at + 4
        ),
        run_events.task_dispatched(
            "run-1", orders, 1, "a-2", "inline", at + 60_000, occurred_ms=at + 5
        ),
        run_events.attempt_heartbeat("run-1", orders, "a-2", 1, occurred_ms=at + 6),
        run_events.attempt_completed(
            "run-1",
            orders,
            "a-2",
            "failed",
            error="timeout talking to db",
            error_category="io",
            retryable=True,
            occurred_ms=at + 7,
        ),
        run_events.task_dispatched(
            "run-1", orders, 2, "a-3", "inline", at + 90_000, occurred_ms=at + 600
        ),
        run_events.attempt_completed("run-1", orders, "a-3", "succeeded", occurred_ms=at + 700),
        # a zombie: the first attempt reports again (stale)
        run_events.attempt_started("run-1", orders, "a-2", occurred_ms=at + 701),
        run_events.run_cancel_requested("run-2", "not needed", occurred_ms=at + 800),
    ]
    with run_events.Runs(open_store(store_url), scope, fold="inline") as runs:
        for event in events:  # one round each: the snapshots hold deltas and superseded rows
            runs.append([event])


def seed_automation(store_url: str, scope: Scope = DEFAULT_SCOPE) -> None:
    """Schedule ticks (one pruned by the retention), a sensor with a stale evaluation, a
    push message, a backfill with a failed chunk, and evaluations."""
    at = BASE_MS + 10_000
    day = 86_400_000
    parts = ["date=d:2026-01-01", "date=d:2026-01-02", "date=d:2026-01-03"]
    events = [
        automation.schedule_status_changed("nightly", "paused", request_id="op", occurred_ms=at),
        *(
            automation.tick_recorded(
                "nightly", BASE_MS + i * day, "requested", run_ids=[f"n{i}"], retention_days=2,
                occurred_ms=at + i,
            )
            for i in range(4)
        ),
        automation.sensor_evaluated(
            "files", 0, cursor="c1", requests=[{"key": "f1", "partitions": parts[:1]}],
            evaluated_at_ms=at + 10, evaluation_id="e1",
        ),
        automation.sensor_evaluated(
            "files", 0, cursor="stale", evaluated_at_ms=at + 11, evaluation_id="e2"
        ),
        automation.sensor_runs_triggered("sensor:files:0", ["run-1"], occurred_ms=at + 12),
        automation.push_received("hook", "m1", {"path": "a.csv"}, occurred_ms=at + 13),
        automation.backfill_requested(
            "bf-1", ["sales/orders"], parts, chunk_size=2, max_in_flight=2, occurred_ms=at + 20
        ),
        automation.chunk_launched("bf-1", 0, 1, "run-b0", occurred_ms=at + 21),
        automation.chunk_launched("bf-1", 1, 1, "run-b1", occurred_ms=at + 22),
        automation.chunk_finished("bf-1", 0, 1, "run-b0", "SUCCEEDED", occurred_ms=at + 23),
        automation.chunk_finished(
            "bf-1", 1, 1, "run-b1", "FAILED", error="boom", occurred_ms=at + 24
        ),
        automation.evaluation_recorded(
            "sales/orders", "eager", True, "upstream materialized", run_id="run-2",
            evaluated_at_ms=at + 30,
        ),
        automation.evaluation_recorded(
            "sales/orders", "missing", False, "every partition materialized",
            partition_key=parts[0], evaluated_at_ms=at + 31,
        ),
    ]  # fmt: skip
    with automation.Automation(open_store(store_url), scope, fold="inline") as auto:
        for event in events:  # one round each
            auto.append([event])
