"""The ``Automation`` facade on a real local store: appends in each fold mode, the history
surviving compaction and a new process, SQL over ``automation.*``, verify and GC, and the
helpers a controller uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from arco.core.scope import Scope
from arco.errors import NotFoundError, ValidationError
from arco.maintenance.gc import collect_garbage
from arco.maintenance.verify import verify_scope
from arco.metadata.manifest import read_manifest
from arco.orchestration.automation import (
    FAILED,
    SUCCEEDED,
    Automation,
    backfill_paused,
    backfill_requested,
    backfill_resumed,
    backfill_retry_requested,
    backfill_run_key,
    chunk_finished,
    chunk_launched,
    evaluation_recorded,
    push_received,
    schedule_run_key,
    schedule_status_changed,
    sensor_evaluated,
    sensor_run_key,
    sensor_runs_triggered,
    tick_recorded,
)
from arco.query.views import query_snapshot
from arco.storage import open_store
from automation_support import DAY, T0, open_automation, options

PARTS = [f"date=d:2026-01-{i + 1:02d}" for i in range(6)]


def populate(auto: Automation) -> None:
    """A day of automation: ticks, a sensor, a push, a backfill through a retry, and
    evaluations — one append (one round) per event, so that files get compacted."""
    events = [
        schedule_status_changed("nightly", "running", request_id="deploy", occurred_ms=T0),
        *(
            tick_recorded(
                "nightly", T0 + i * 3_600_000, "requested", run_ids=[f"n{i}"], occurred_ms=T0 + i
            )
            for i in range(5)
        ),
        sensor_evaluated(
            "files", 0, cursor="c1", requests=[{"key": "f1", "partitions": [PARTS[0]]}],
            evaluated_at_ms=T0 + 10, evaluation_id="e1",
        ),
        sensor_runs_triggered("sensor:files:0", ["sf1"], occurred_ms=T0 + 11),
        sensor_evaluated("files", 1, cursor="c2", evaluated_at_ms=T0 + 12, evaluation_id="e2"),
        push_received("hook", "m1", {"path": "a.csv"}, occurred_ms=T0 + 13),
        backfill_requested(
            "bf", ["sales/daily"], PARTS, chunk_size=2, max_in_flight=2, occurred_ms=T0 + 20
        ),
        chunk_launched("bf", 0, 1, "b0", occurred_ms=T0 + 21),
        chunk_launched("bf", 1, 1, "b1", occurred_ms=T0 + 22),
        chunk_finished("bf", 0, 1, "b0", "SUCCEEDED", occurred_ms=T0 + 23),
        backfill_paused("bf", request_id="p", occurred_ms=T0 + 24),
        chunk_finished("bf", 1, 1, "b1", "FAILED", error="boom", occurred_ms=T0 + 25),
        backfill_resumed("bf", request_id="r", occurred_ms=T0 + 26),
        chunk_launched("bf", 2, 1, "b2", occurred_ms=T0 + 27),
        chunk_finished("bf", 2, 1, "b2", "SUCCEEDED", occurred_ms=T0 + 28),
        *(
            evaluation_recorded(
                "sales/daily", "eager", i % 2 == 0, f"pass {i}", evaluated_at_ms=T0 + 30 + i
            )
            for i in range(3)
        ),
    ]  # fmt: skip
    for event in events:
        auto.append([event])


def test_history_survives_compaction_and_a_new_process(tmp_path: Path) -> None:
    with open_automation(tmp_path, checkpoint_every=3) as auto:
        populate(auto)
        before = auto.state()
        head = read_manifest(auto.store, "automation")
        assert head is not None
        # files were merged into checkpoints along the way
        assert any(f.from_version < f.version for f in head.manifest.files)
        ticks = [t.tick_id for t in auto.ticks("nightly")]
        backfill = auto.get_backfill("bf")
    assert len(ticks) == 5 and backfill.state == FAILED
    # a new process reads the same from Parquet alone
    with open_automation(tmp_path) as fresh:
        state = fresh.state()
        for table in ("schedules", "sensors", "ticks", "backfills", "backfill_chunks"):
            assert dict(getattr(state, table).items()) == dict(getattr(before, table).items())
        assert dict(state.evaluations.items()) == dict(before.evaluations.items())
        assert [t.tick_id for t in fresh.ticks("nightly")] == ticks
        assert fresh.get_backfill("bf") == backfill
        assert fresh.get_sensor("files").cursor_seq == 2
        # the indexes are rebuilt from the rows: pending requests, the active backfills
        assert [t.tick_id for t in fresh.pending_sensor_requests()] == ["push:hook:m1"]
        assert [b.backfill_id for b in fresh.active_backfills()] == []
        # and the state machines go on from there: retry the failed chunk to the end
        fresh.append([backfill_retry_requested("bf", 1, occurred_ms=T0 + 40)])
        (due,) = fresh.due_chunks("bf")
        assert (due.index, due.try_number, due.partitions) == (1, 2, PARTS[2:4])
        fresh.append([chunk_launched("bf", 1, 2, "b1-2", occurred_ms=T0 + 41)])
        fresh.append([chunk_finished("bf", 1, 2, "b1-2", "SUCCEEDED", occurred_ms=T0 + 42)])
        assert fresh.get_backfill("bf").state == SUCCEEDED


def test_automation_views_are_queryable_with_sql(tmp_path: Path) -> None:
    with open_automation(tmp_path) as auto:
        populate(auto)
        store = auto.store
    ticks = query_snapshot(
        store,
        "SELECT kind, owner_id, status, run_ids FROM automation.ticks ORDER BY kind, instant",
    ).to_pylist()
    assert [t["kind"] for t in ticks] == ["push"] + ["schedule"] * 5 + ["sensor"] * 2
    assert ticks[1] == {"kind": "schedule", "owner_id": "nightly", "status": "requested",
                        "run_ids": '["n0"]'}  # fmt: skip
    backfills = query_snapshot(
        store,
        "SELECT state, chunk_count, pending, in_flight, succeeded, failed "
        "FROM automation.backfills",
    ).to_pylist()
    assert backfills == [
        {"state": FAILED, "chunk_count": 3, "pending": 0, "in_flight": 0, "succeeded": 2,
         "failed": 1}
    ]  # fmt: skip
    chunks = query_snapshot(
        store,
        "SELECT chunk_index, state, try_number, run_id FROM automation.backfill_chunks "
        "ORDER BY chunk_index",
    ).to_pylist()
    assert [(c["chunk_index"], c["state"], c["run_id"]) for c in chunks] == [
        (0, SUCCEEDED, "b0"),
        (1, FAILED, "b1"),
        (2, SUCCEEDED, "b2"),
    ]
    sensors = query_snapshot(
        store, "SELECT sensor_id, cursor, cursor_seq, push_count FROM automation.sensors ORDER BY 1"
    ).to_pylist()
    assert sensors == [
        {"sensor_id": "files", "cursor": "c2", "cursor_seq": 2, "push_count": 0},
        {"sensor_id": "hook", "cursor": None, "cursor_seq": 0, "push_count": 1},
    ]
    schedules = query_snapshot(
        store, "SELECT schedule_id, status, tick_count FROM automation.schedules"
    ).to_pylist()
    assert schedules == [{"schedule_id": "nightly", "status": "running", "tick_count": 5}]
    evaluations = query_snapshot(
        store, "SELECT count(*) AS n, sum(requested::int) AS r FROM automation.evaluations"
    ).to_pylist()
    assert evaluations == [{"n": 3, "r": 2}]
    outcomes = query_snapshot(
        store, "SELECT outcome, count(*) AS n FROM automation.ingested GROUP BY 1"
    ).to_pylist()
    assert outcomes == [{"outcome": "applied", "n": 22}]


def test_fold_modes_and_anti_entropy(tmp_path: Path) -> None:
    root = open_store(f"file://{tmp_path}")
    with Automation(root, fold="off", options=options()) as auto:
        auto.append([tick_recorded("s", T0, "skipped", occurred_ms=T0)])
        assert auto.state().ticks.get(f"sched:s:{T0}") is None
        assert auto.compact().outcomes["applied"] == 1
        assert auto.has_tick("s", T0)
    with Automation(root, fold="background", options=options()) as auto:
        auto.append([tick_recorded("s", T0 + DAY, "skipped", occurred_ms=T0 + DAY)])
        assert auto.has_tick("s", T0 + DAY)  # this process reads its own appends at once
        assert auto.flush(10)
        assert auto.compact_periodic().folded == 0
    with Automation.open(f"file://{tmp_path}", fold="inline") as auto:
        assert [t.instant_ms for t in auto.ticks("s")] == [T0 + DAY, T0]


def test_reads_and_their_errors(tmp_path: Path) -> None:
    with open_automation(tmp_path) as auto:
        populate(auto)
        for read in (
            lambda: auto.get_schedule("nope"),
            lambda: auto.get_sensor("nope"),
            lambda: auto.get_tick("nope"),
            lambda: auto.get_backfill("nope"),
            lambda: auto.due_chunks("nope"),
        ):
            with pytest.raises(NotFoundError):
                read()
        with pytest.raises(ValidationError, match="state: must be one of REQUESTED"):
            auto.list_backfills(state="DONE")
        with pytest.raises(ValidationError, match="limit"):
            auto.ticks("nightly", limit=0)
        assert [b.backfill_id for b in auto.list_backfills(state=FAILED)] == ["bf"]
        assert auto.list_backfills(state=SUCCEEDED) == []
        assert [s.schedule_id for s in auto.schedules()] == ["nightly"]
        assert [s.sensor_id for s in auto.sensors()] == ["files", "hook"]
        assert [t.tick_id for t in auto.sensor_ticks("files")] == [
            "sensor:files:1",
            "sensor:files:0",
        ]
        assert auto.has_tick("nightly", T0) and not auto.has_tick("nightly", T0 + 1)
        assert [e.reason for e in auto.evaluations("sales/daily", limit=2)] == [
            "pass 2",
            "pass 1",
        ]


def test_run_keys_are_deterministic() -> None:
    assert schedule_run_key("nightly", T0) == f"sched:nightly:{T0}"
    assert sensor_run_key("sensor:files:3", "f1") == "sensor:files:3:f1"
    assert sensor_run_key("push:hook:m1", "m1") == "push:hook:m1:m1"
    assert backfill_run_key("bf", 2, 1) == "backfill:bf:2:1"
    long_id = "x" * 128
    key = sensor_run_key(f"sensor:{long_id}:1", "y" * 128)
    assert key.startswith("sensor:sha256:") and len(key) <= 255
    event = tick_recorded("nightly", T0, "requested", run_ids=["r"])
    assert event.idempotency_key == schedule_run_key("nightly", T0)


def test_verify_and_gc_cover_the_automation_domain(tmp_path: Path) -> None:
    root = open_store(f"file://{tmp_path}")
    scope = Scope("acme", "main")
    with Automation(root, scope, fold="inline", options=options()) as auto:
        populate(auto)
        report = verify_scope(auto.store)
        assert report.ok, report.findings
        assert report.checked["ticks"] == 8 and report.checked["backfill_chunks"] == 3
        gc = collect_garbage(auto.store, dry_run=True)
        assert {item.domain for item in gc.deleted} <= {"automation"}
        assert auto.get_backfill("bf").state == FAILED


def test_two_processes_racing_one_sensor_evaluation_apply_one(tmp_path: Path) -> None:
    root = open_store(f"file://{tmp_path}")
    with (
        Automation(root, fold="background", options=options(), linger_s=0.05) as a,
        Automation(root, fold="background", options=options(), linger_s=0.05) as b,
    ):
        # both read the sensor before either evaluation is folded: both saw cursor_seq 0
        seq_a = a.state().sensors.get("files")
        seq_b = b.state().sensors.get("files")
        assert seq_a is None and seq_b is None
        a.append([sensor_evaluated("files", 0, cursor="A", requests=[{"key": "a"}])])
        b.append([sensor_evaluated("files", 0, cursor="B", requests=[{"key": "b"}])])
        assert a.flush(10) and b.flush(10)
    with open_automation(tmp_path) as fresh:
        sensor = fresh.get_sensor("files")
        assert sensor.cursor_seq == 1 and sensor.cursor in ("A", "B")
        (pending,) = fresh.pending_sensor_requests()
        # the requests pending are the applied evaluation's, never the stale one's
        assert [r.key for r in pending.requests] == [str(sensor.cursor).lower()]
        outcomes = sorted(r.outcome for r in fresh.state().ingested.values())
        assert outcomes == ["applied", "stale"]
