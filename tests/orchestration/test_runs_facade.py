"""The ``Runs`` facade: run_key idempotency, reads, builders, SQL views, verify and GC."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from arco.core.scope import Scope
from arco.errors import IdempotencyConflictError, NotFoundError, ValidationError
from arco.maintenance.gc import collect_garbage
from arco.maintenance.verify import verify_scope
from arco.orchestration.runs import (
    CANCELLED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    TRIGGERED,
    Runs,
    attempt_completed,
    attempt_heartbeat,
    attempt_started,
    attempt_timed_out,
    idempotency_key,
    run_cancel_requested,
    run_triggered,
    task_dispatched,
)
from arco.orchestration.runs.runs import run_key_record
from arco.query.views import query_snapshot
from arco.storage import open_store
from arco.tier2.envelope import EventEnvelope
from runs_support import T0, open_runs, options, spec, trigger, trigger_payload


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Runs]:
    with open_runs(tmp_path) as r:
        yield r


def test_run_key_gives_the_same_run_for_the_same_request(runs: Runs) -> None:
    first = trigger_payload("run-1", [spec("a")], run_key="nightly-2026-11-26", request_hash="h")
    assert runs.trigger(first) == "run-1"
    # a retry of the same request (a new run id minted by the caller) gets the first run
    retry = trigger_payload("run-2", [spec("a")], run_key="nightly-2026-11-26", request_hash="h")
    assert runs.trigger(retry) == "run-1"
    assert [r.run_id for r in runs.list_runs().items] == ["run-1"]
    assert runs.get_run("run-1").run_key == "nightly-2026-11-26"
    other = trigger_payload("run-3", [spec("b")], run_key="nightly-2026-11-26", request_hash="x")
    with pytest.raises(IdempotencyConflictError, match="run_key: 'nightly-2026-11-26'"):
        runs.trigger(other)
    assert "run-3" not in runs.state().runs
    # the record is keyed by the run key alone
    record = runs.store.get(run_key_record("nightly-2026-11-26")).data
    assert b'"run_id":"run-1"' in record and b'"request_hash":"h"' in record


def test_run_key_as_an_argument_and_as_an_envelope(runs: Runs) -> None:
    payload = trigger_payload("run-9", [spec("a")])
    assert runs.trigger(payload, run_key="k") == "run-9"
    assert runs.get_run("run-9").run_key == "k"
    event = run_triggered(trigger_payload("run-10", [spec("a")], run_key="k2"))
    assert runs.trigger(event) == "run-10"
    assert runs.trigger(event) == "run-10"
    with pytest.raises(ValidationError, match="run_key: 'other' differs"):
        runs.trigger(event, run_key="other")
    with pytest.raises(ValidationError, match="event_type: must be run_triggered"):
        runs.trigger(run_cancel_requested("run-10"))


def test_a_trigger_whose_record_was_written_but_not_its_event_is_completed_by_the_retry(
    tmp_path: Path,
) -> None:
    with open_runs(tmp_path) as runs:
        runs.trigger(trigger_payload("r1", [spec("a")], run_key="k"), fold="off")
        assert "r1" not in runs.state().runs  # appended, not folded (as if the process died)
    with open_runs(tmp_path) as runs:
        assert runs.trigger(trigger_payload("r2", [spec("a")], run_key="k")) == "r1"
        assert runs.get_run("r1").state == TRIGGERED


def test_reads_and_their_errors(runs: Runs) -> None:
    runs.append([trigger("old", [spec("a")], at=T0), trigger("new", [spec("a")], at=T0 + 5)])
    runs.append([run_cancel_requested("old", occurred_ms=T0 + 6)])
    assert [r.run_id for r in runs.list_runs().items] == ["new", "old"]
    assert [r.run_id for r in runs.list_runs(state=CANCELLED).items] == ["old"]
    page = runs.list_runs(limit=1)
    assert [r.run_id for r in page.items] == ["new"] and page.next_page_token is not None
    rest = runs.list_runs(limit=1, page_token=page.next_page_token)
    assert [r.run_id for r in rest.items] == ["old"]
    with pytest.raises(ValidationError, match=r"^state: must be one of"):
        runs.list_runs(state="DONE")
    with pytest.raises(NotFoundError, match="run 'zz' does not exist"):
        runs.get_run("zz")
    with pytest.raises(NotFoundError):
        runs.tasks("zz")
    with pytest.raises(NotFoundError, match="has no task 'q'"):
        runs.attempts("new", "q")
    with pytest.raises(NotFoundError, match="attempt 'q' does not exist"):
        runs.get_attempt("q")
    assert runs.attempts("new") == []


def test_builders_use_deterministic_idempotency_keys() -> None:
    assert task_dispatched("r", "t", 2, "a1", "x", 0).idempotency_key == "dispatch:r:t:2"
    assert attempt_started("r", "t", "a1").idempotency_key == "started:a1"
    assert attempt_heartbeat("r", "t", "a1", 7).idempotency_key == "hb:a1:7"
    assert attempt_completed("r", "t", "a1", "failed").idempotency_key == "complete:a1"
    assert attempt_timed_out("r", "t", "a1", "heartbeat").idempotency_key == "timeout:a1"
    assert run_cancel_requested("r").idempotency_key == "cancel:r"
    assert run_triggered(trigger_payload("r", [spec("a")])).idempotency_key == "trigger:r"
    long_key = "ns/" + "x" * 300 + ":materialize"
    event = task_dispatched("r", long_key, 1, "a1", "x", 0)
    assert event.idempotency_key is not None and len(event.idempotency_key) <= 255
    assert event.idempotency_key.startswith("dispatch:sha256:")
    assert event.idempotency_key == idempotency_key("dispatch", "r", long_key, 1)
    assert event.idempotency_key != idempotency_key("dispatch", "r", long_key, 2)


def test_the_runs_views_are_queryable_with_sql(runs: Runs) -> None:
    runs.append([trigger("r", [spec("a"), spec("b", ["a"])])])
    runs.append([task_dispatched("r", "a", 1, "r-a-1", "inline", T0 + 9, occurred_ms=T0 + 1)])
    runs.append([attempt_completed("r", "a", "r-a-1", "failed", occurred_ms=T0 + 2)])
    table = query_snapshot(
        runs.store, "SELECT run_id, state, task_count, reason FROM runs.runs ORDER BY run_id"
    )
    assert table.to_pylist() == [
        {"run_id": "r", "state": FAILED, "task_count": 2, "reason": "task 'a' failed"}
    ]
    tasks = query_snapshot(
        runs.store, "SELECT task_key, state, attempt, upstream FROM runs.tasks ORDER BY task_key"
    ).to_pylist()
    assert tasks == [
        {"task_key": "a", "state": FAILED, "attempt": 1, "upstream": "[]"},
        {"task_key": "b", "state": "SKIPPED", "attempt": 0, "upstream": '["a"]'},
    ]
    attempts = query_snapshot(
        runs.store, "SELECT attempt_id, state, retryable, cancel_requested FROM runs.attempts"
    ).to_pylist()
    assert attempts == [
        {"attempt_id": "r-a-1", "state": FAILED, "retryable": False, "cancel_requested": False}
    ]
    outcomes = query_snapshot(
        runs.store, "SELECT outcome, count(*) AS n FROM runs.ingested GROUP BY 1"
    ).to_pylist()
    assert outcomes == [{"outcome": "applied", "n": 3}]


def test_verify_and_gc_cover_the_runs_domain(tmp_path: Path) -> None:
    root = open_store(f"file://{tmp_path}")
    scope = Scope("acme", "main")
    with Runs(root, scope, fold="inline", options=options()) as runs:
        runs.append([trigger("r", [spec("a")])])
        for i in range(6):  # enough rounds for a checkpoint
            at = T0 + 10 * (i + 1)
            runs.append([task_dispatched("r", "a", 1, "r-a-1", "x", T0, occurred_ms=at)])
        runs.append([attempt_completed("r", "a", "r-a-1", "succeeded", occurred_ms=T0 + 99)])
        report = verify_scope(runs.store)
        assert report.ok, report.findings
        assert report.checked["runs"] == 1 and report.checked["tasks"] == 1
        assert report.checked["attempts"] == 1
        gc = collect_garbage(runs.store, dry_run=True)
        assert all(
            item.domain in ("catalog", "lineage", "executions", "runs") for item in gc.deleted
        )
        assert runs.get_run("r").state == SUCCEEDED


def test_background_fold_and_anti_entropy(tmp_path: Path) -> None:
    root = open_store(f"file://{tmp_path}")
    with Runs(root, fold="off", options=options()) as runs:
        runs.append([trigger("r", [spec("a")])])
        assert "r" not in runs.state().runs
        result = runs.compact()
        assert result.outcomes["applied"] == 1
        assert runs.get_run("r").state == TRIGGERED
    with Runs(root, fold="background", options=options()) as runs:
        runs.append([task_dispatched("r", "a", 1, "id", "x", T0, occurred_ms=T0 + 1)])
        assert runs.flush(10)
        assert runs.get_run("r").state == RUNNING
        assert runs.compact_periodic().folded == 0


def test_state_never_misses_an_event_published_while_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = open_store(f"file://{tmp_path}")
    with Runs(root, fold="background", options=options(), linger_s=0.05) as runs:
        runs.append([trigger("r", [spec("a")])])
        unpublished = runs._ingestor.unpublished

        def racing() -> dict[str, EventEnvelope]:
            runs.flush(10)  # the round publishes and stops tracking the event right now
            return unpublished()

        monkeypatch.setattr(runs._ingestor, "unpublished", racing)
        # (read the other way round, the event was in neither the head nor the pending)
        assert runs.get_run("r").state == TRIGGERED
