"""GC of orchestration's logs and asset outputs (ADR 016), on real pipelines run in process:
superseded files go and current ones stay (DuckDB and downstream inputs still read them),
the files a run still going may read stay, failed attempts' files go, the logs of ended runs
go and those of a running run stay, a dry run deletes nothing, and run keys outlive GC."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from arco.catalog import Catalog
from arco.cli import app
from arco.core.clock import SYSTEM_CLOCK, rfc3339_ms
from arco.executions import Executions
from arco.maintenance.gc import GcReport, collect_garbage
from arco.metadata.layout import asset_data_file
from arco.orchestration.io import AssetIO, materialization_id
from arco.orchestration.runs import Attempt, Runs
from arco.orchestration.trigger import RunRequest
from arco.storage import ObjectStore
from arco.tier2.envelope import EventEnvelope, ulid_at
from orchestration_support import orchestrator, wait_for_file, workspace_store, write_code

PIPELINE = """
import time
from pathlib import Path
import pyarrow as pa
from arco import asset, DailyPartitions, RetryPolicy

SIGNALS = Path({signals!r})

@asset(namespace="demo")
def a(context):
    print("a of", context.run_id)
    return pa.table({{"x": [1, 2, 3], "run": [context.run_id] * 3}})

@asset(namespace="demo")
def b(context, a: pa.Table):
    print("b of", context.run_id)
    return a.append_column("y", pa.array([v * 2 for v in a["x"].to_pylist()]))

@asset(namespace="demo")
def stall(context):
    print("stall of", context.run_id, flush=True)
    (SIGNALS / "stalling").touch()
    deadline = time.monotonic() + 60
    while not (SIGNALS / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("no go file")
        time.sleep(0.02)
    return None

@asset(namespace="demo", deps=["demo/stall"])
def c(context, a: pa.Table):
    return a

@asset(namespace="demo", partitions=DailyPartitions(start="2026-01-01"))
def p(context):
    print("p of", context.run_id, context.partition_key)
    return pa.table({{"day": [context.partition_key], "run": [context.run_id]}})

@asset(namespace="demo", retry=RetryPolicy(max_attempts=2, backoff_s=0))
def flaky(context):
    if context.attempt == 1:
        raise ConnectionError("the source was unreachable")
    return pa.table({{"x": [context.attempt]}})
"""

DAY1, DAY2 = "date=d:2026-01-01", "date=d:2026-01-02"


def _url(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'store'}"


def _pipeline(tmp_path: Path) -> tuple[str, Path, Path]:
    """The store's URL, the signals folder and the code location of :data:`PIPELINE`."""
    signals = tmp_path / "signals"
    signals.mkdir()
    return (
        _url(tmp_path),
        signals,
        write_code(tmp_path / "code", PIPELINE.format(signals=str(signals))),
    )


def _gc(store: ObjectStore, *, dry_run: bool = False) -> GcReport:
    return collect_garbage(
        store, min_age_s=0, logs_retention_s=0, output_retention_s=0, dry_run=dry_run
    )


def _deleted(report: GcReport, reason: str) -> set[str]:
    return {i.key for i in report.deleted if i.reason == reason}


def _files(store: ObjectStore, prefix: str) -> set[str]:
    return {m.key for m in store.list(prefix)}


def _output(runs: Runs, run_id: str, asset: str) -> str:
    [task] = [t for t in runs.tasks(run_id) if t.asset_key == asset]
    assert task.output is not None
    file: str = task.output["table"]["file"]
    return file


def _read_location(url: str, name: str) -> set[tuple[object, ...]]:
    """The rows DuckDB reads from every file under the location of table ``demo.name``."""
    location = Catalog.open(url).get_table("demo", name).location
    assert location is not None
    directory = location.removeprefix("file://").rstrip("/")
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT * EXCLUDE (run), run FROM read_parquet('{directory}/**/*.parquet', "
            "hive_partitioning = true)"
        ).fetchall()
    return set(rows)


def test_superseded_outputs_and_ended_runs_logs_go_current_and_running_ones_stay(
    tmp_path: Path,
) -> None:
    url, signals, code = _pipeline(tmp_path)
    store = workspace_store(url)
    with orchestrator(url, code) as orch:
        orch.start()  # drives every run in the background, the going one too
        first = orch.trigger(RunRequest(selection=("+demo/b",)))
        assert orch.wait(first, timeout=60).state == "SUCCEEDED"
        first_p = orch.trigger(RunRequest(selection=("demo/p",), partitions=(DAY1, DAY2)))
        assert orch.wait(first_p, timeout=60).state == "SUCCEEDED"
        second = orch.trigger(RunRequest(selection=("+demo/b",)))
        assert orch.wait(second, timeout=60).state == "SUCCEEDED"
        second_p = orch.trigger(RunRequest(selection=("demo/p",), partitions=(DAY1,)))
        assert orch.wait(second_p, timeout=60).state == "SUCCEEDED"
        # a run still going: its a succeeded, its c (which reads that a) waits for stall
        going = orch.trigger(RunRequest(selection=("+demo/c",)))
        wait_for_file(signals / "stalling")
        # ... while a later run replaces a again
        third = orch.trigger(RunRequest(selection=("demo/a",)))
        assert orch.wait(third, timeout=60).state == "SUCCEEDED"
        orch.runs.flush()
        with Executions.open(url) as executions:
            executions.compact()

        runs = orch.runs
        a1, a2, a_going, a3 = (_output(runs, r, "demo/a") for r in (first, second, going, third))
        b1, b2 = (_output(runs, r, "demo/b") for r in (first, second))
        p1_day1, p1_day2 = sorted(_output_p(runs, first_p))
        [p2_day1] = _output_p(runs, second_p)
        deadline = time.monotonic() + 10  # the stalled attempt flushes its log within 1 s
        while not _files(store, f"logs/{going}/"):
            assert time.monotonic() < deadline, "the running attempt wrote no log"
            time.sleep(0.1)
        before = _files(store, "")

        dry = _gc(store, dry_run=True)
        assert before <= _files(store, "")  # a dry run deletes nothing (the run going writes)
        report = _gc(store)

        assert {i.key for i in dry.deleted if i.domain == "orchestration"} == {
            i.key for i in report.deleted if i.domain == "orchestration"
        }
        # a1 and a2 were replaced (by a2, then by the going run's a), b1 by b2
        assert _deleted(report, "superseded_output") == {a1, a2, b1, p1_day1}
        assert _deleted(report, "failed_attempt_output") == set()
        after = _files(store, "data/")
        # current files, and the one the going run's c will read, are kept
        assert {a3, b2, p2_day1, p1_day2, a_going} <= after
        assert {a1, a2, b1, p1_day1}.isdisjoint(after)
        assert report.kept["active_run_output"] >= 1
        assert report.kept["current_output"] >= 4
        # logs: every ended run's are gone, the going run's stay
        logs = _deleted(report, "expired_run_log")
        for ended in (first, first_p, second, second_p, third):
            assert any(k.startswith(f"logs/{ended}/") for k in logs)
            assert not _files(store, f"logs/{ended}/")
        assert _files(store, f"logs/{going}/")
        assert report.kept["active_run_log"] >= 1

        # the going run finishes: its c reads the a of its own run, kept for it
        (signals / "go").touch()
        assert orch.wait(going, timeout=60).state == "SUCCEEDED"
        # a downstream asset run alone reads a's current file
        alone = orch.trigger(RunRequest(selection=("demo/b",)))
        assert orch.wait(alone, timeout=60).state == "SUCCEEDED"

    # DuckDB over the tables' locations reads the current files only, and inputs load
    assert {r[-1] for r in _read_location(url, "a")} <= {third, going}
    assert {r[-1] for r in _read_location(url, "p")} == {second_p, first_p}
    assert _read_location(url, "b")
    catalog = Catalog.open(url)
    with Executions.open(url) as executions:
        asset_io = AssetIO(store, catalog, executions)
        assert asset_io.read_input("demo/a", None, None).num_rows == 3
        assert asset_io.read_input("demo/p", [DAY1, DAY2], None).num_rows == 2


def _output_p(runs: Runs, run_id: str) -> list[str]:
    return sorted(
        t.output["table"]["file"]
        for t in runs.tasks(run_id)
        if t.asset_key == "demo/p" and t.output is not None
    )


def _flaky_with_crashed_file(tmp_path: Path) -> tuple[str, str, Attempt, Attempt, bytes]:
    """Run ``demo/flaky`` (attempt 1 fails, 2 succeeds), then write the file attempt 1 would
    have left had it crashed between writing and recording; the URL, the run, both attempts
    and that file's content."""
    url, _, code = _pipeline(tmp_path)
    with orchestrator(url, code) as orch:
        run_id = orch.trigger(RunRequest(selection=("demo/flaky",)))
        assert orch.wait(run_id, timeout=60).state == "SUCCEEDED"
        orch.runs.flush()
        failed, succeeded = sorted(orch.runs.attempts(run_id), key=lambda a: a.attempt)
        assert (failed.state, succeeded.state) == ("FAILED", "SUCCEEDED")
    sink = io.BytesIO()
    pq.write_table(pa.table({"x": [1]}), sink)
    crashed = asset_data_file("demo", "flaky", "", materialization_id(failed.attempt_id))
    workspace_store(url).put(crashed, sink.getvalue(), "create")
    return url, run_id, failed, succeeded, sink.getvalue()


def test_the_output_of_a_failed_attempt_goes_once_its_run_ended(tmp_path: Path) -> None:
    url, _, failed, succeeded, _ = _flaky_with_crashed_file(tmp_path)
    store = workspace_store(url)
    crashed = asset_data_file("demo", "flaky", "", materialization_id(failed.attempt_id))
    with Executions.open(url) as executions:
        executions.compact()
    current = asset_data_file("demo", "flaky", "", materialization_id(succeeded.attempt_id))
    # within the retention (the CLI's defaults: the run just ended) it is kept
    args = ["--store", url, "gc", "--dry-run", "--json", "--min-age", "0"]
    kept = json.loads(CliRunner().invoke(app, args).stdout)
    assert kept["summary"] == {}
    assert kept["kept"]["retained_output"] == 1
    assert kept["kept"]["retained_run_log"] >= 1
    args += ["--output-retention", "0", "--logs-retention", "0"]
    would = json.loads(CliRunner().invoke(app, args).stdout)
    assert {i["key"] for i in would["deleted"] if i["reason"] == "failed_attempt_output"} == {
        crashed
    }
    assert crashed in _files(store, "data/")

    report = _gc(store)

    assert _deleted(report, "failed_attempt_output") == {crashed}
    assert _files(store, "data/") == {current}


def test_a_file_whose_success_is_appended_but_not_folded_is_kept(tmp_path: Path) -> None:
    """The race with a task registering its file: its materialization is in the ledger, not
    folded yet, and its attempt was reported failed (a zombie) long ago."""
    url, run_id, failed, _, data = _flaky_with_crashed_file(tmp_path)
    store = workspace_store(url)
    table_id = Catalog.open(url).get_table("demo", "flaky").table_id
    late = asset_data_file("demo", "flaky", "", materialization_id(failed.attempt_id))
    now = SYSTEM_CLOCK.now_ms()
    event = EventEnvelope(
        event_id=ulid_at(now),
        event_type="materialization",
        event_version=1,
        idempotency_key=f"mat:{failed.attempt_id}",
        occurred_at=rfc3339_ms(now),
        source="test",
        payload={
            "materialization_id": materialization_id(failed.attempt_id),
            "asset_key": "demo/flaky",
            "partition_key": "",
            "run_id": run_id,
            "status": "succeeded",
            "table_id": table_id,
            "rows": 1,
            "bytes": len(data),
        },
    )
    with Executions.open(url, fold="off") as executions:
        executions.append([event])

    report = _gc(store)

    assert late in _files(store, "data/")
    assert report.kept["unrecorded_output"] == 1
    with Executions.open(url) as executions:
        executions.compact()  # the late success is the newest: its file is current now
        asset_io = AssetIO(store, Catalog.open(url), executions)
        assert asset_io.read_input("demo/flaky", None, None).to_pydict() == {"x": [1]}


def test_an_output_nothing_explains_is_kept(tmp_path: Path) -> None:
    store = workspace_store(_url(tmp_path))
    stray = "data/demo/a/0190a1b2-0000-4000-8000-000000000000.parquet"
    store.put(stray, b"PAR1", "create")
    store.put("logs/run-that-is-unknown/attempt/000000.log", b"hello\n", "create")

    report = _gc(store)

    assert report.deleted == []
    assert report.kept["unknown_output"] == 1
    assert report.kept["unknown_run_log"] == 1


def test_a_run_key_gives_the_same_run_after_gc(tmp_path: Path) -> None:
    url, _, code = _pipeline(tmp_path)
    with orchestrator(url, code) as orch:
        first = orch.trigger(RunRequest(selection=("demo/a",), run_key="nightly-1"))
        assert orch.wait(first, timeout=60).state == "SUCCEEDED"
        report = collect_garbage(workspace_store(url), min_age_s=0, ledger_retention_s=0)
        assert "expired_request_record" not in report.summary()
        assert report.kept["run_key_record"] == 1
        assert orch.trigger(RunRequest(selection=("demo/a",), run_key="nightly-1")) == first
