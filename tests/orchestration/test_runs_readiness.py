"""Readiness is per edge: a task is READY once every upstream task SUCCEEDED, read from the
states, so a duplicated success (a copy, or the same result under another key) cannot make a
join ready early."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from arco.orchestration.runs import (
    BLOCKED,
    DISPATCHED,
    FAILED,
    READY,
    SKIPPED,
    SUCCEEDED,
    Runs,
    attempt_completed,
    task_dispatched,
)
from arco.tier2.envelope import EventEnvelope
from runs_support import T0, copy_of, open_runs, outcome, spec, states, trigger

DIAMOND = [spec("A"), spec("B", ["A"]), spec("C", ["A"]), spec("D", ["B", "C"])]


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Runs]:
    with open_runs(tmp_path) as r:
        yield r


def dispatch(key: str, at: int) -> EventEnvelope:
    return task_dispatched("d", key, 1, f"d-{key}", "inline", at + 60_000, occurred_ms=at)


def done(key: str, at: int, status: str = "succeeded") -> EventEnvelope:
    return attempt_completed("d", key, f"d-{key}", status, occurred_ms=at)  # type: ignore[arg-type]


@pytest.mark.parametrize("copy", ["same_key", "other_key"])
def test_a_diamond_join_is_ready_only_after_both_branches(runs: Runs, copy: str) -> None:
    runs.append([trigger("d", DIAMOND)])
    assert states(runs, "d") == {"A": READY, "B": BLOCKED, "C": BLOCKED, "D": BLOCKED}
    runs.append([dispatch("A", T0 + 1), done("A", T0 + 2)])
    assert states(runs, "d") == {"A": SUCCEEDED, "B": READY, "C": READY, "D": BLOCKED}
    runs.append([dispatch("B", T0 + 3), dispatch("C", T0 + 3)])
    first = done("B", T0 + 4)
    assert outcome(runs, first) == "applied"
    assert states(runs, "d")["D"] == BLOCKED
    # B's success again: a copy is a duplicate, the same result under another key is stale
    again = (
        copy_of(first)
        if copy == "same_key"
        else copy_of(EventEnvelope(**{**first.model_dump(), "idempotency_key": "complete:B"}))
    )
    assert outcome(runs, again) == ("duplicate" if copy == "same_key" else "stale")
    assert states(runs, "d") == {"A": SUCCEEDED, "B": SUCCEEDED, "C": DISPATCHED, "D": BLOCKED}
    runs.append([done("C", T0 + 5)])
    assert states(runs, "d")["D"] == READY
    runs.append([dispatch("D", T0 + 6), done("D", T0 + 7)])
    assert runs.get_run("d").state == SUCCEEDED


def test_both_branches_in_one_round_make_the_join_ready_once(runs: Runs) -> None:
    runs.append([trigger("d", DIAMOND), dispatch("A", T0 + 1), done("A", T0 + 2)])
    runs.append([dispatch("B", T0 + 3), dispatch("C", T0 + 3)])
    b, c = done("B", T0 + 4), done("C", T0 + 4)
    runs.append([b, c, copy_of(b), copy_of(c)])  # copies in the same round
    assert states(runs, "d")["D"] == READY
    attempts_before = len(runs.state().attempts)
    runs.append([dispatch("D", T0 + 5), dispatch("D", T0 + 5)])
    assert len(runs.state().attempts) == attempts_before + 1


def test_a_failed_branch_skips_the_join_and_the_other_branch_finishes(runs: Runs) -> None:
    runs.append([trigger("d", DIAMOND), dispatch("A", T0 + 1), done("A", T0 + 2)])
    runs.append([dispatch("B", T0 + 3), dispatch("C", T0 + 3)])
    runs.append([done("B", T0 + 4, "failed")])
    assert states(runs, "d") == {"A": SUCCEEDED, "B": FAILED, "C": DISPATCHED, "D": SKIPPED}
    assert runs.get_run("d").state == "RUNNING"  # C has not ended: the run has not either
    runs.append([done("C", T0 + 5)])
    assert states(runs, "d")["D"] == SKIPPED  # C's success does not revive D
    run = runs.get_run("d")
    assert run.state == FAILED and run.reason == "task 'B' failed"


def test_wide_fan_out_and_fan_in(tmp_path: Path) -> None:
    """The downstream index and the per-state counts hold for a run of many tasks, and a
    fresh process rebuilds them from the Parquet state."""
    n = 300
    tasks = [spec("root"), *(spec(f"m{i:03d}", ["root"]) for i in range(n))]
    tasks.append(spec("sink", [f"m{i:03d}" for i in range(n)]))
    with open_runs(tmp_path) as runs:
        runs.append([trigger("d", tasks), dispatch("root", T0 + 1), done("root", T0 + 2)])
        state = runs.state()
        assert len(state.downstream("d", "root")) == n
        assert state.state_counts("d") == {READY: n, BLOCKED: 1, SUCCEEDED: 1}
        runs.append([dispatch(f"m{i:03d}", T0 + 3) for i in range(n)])
        runs.append([done(f"m{i:03d}", T0 + 4) for i in range(n - 1)])
        assert states(runs, "d")["sink"] == BLOCKED
        runs.append([done(f"m{n - 1:03d}", T0 + 5)])
        assert states(runs, "d")["sink"] == READY
        state = runs.state()
    with open_runs(tmp_path) as fresh:
        loaded = fresh.state()
        assert loaded.state_counts("d") == state.state_counts("d")
        assert list(loaded.downstream("d", "root")) == list(state.downstream("d", "root"))
        assert list(loaded.task_keys("d")) == sorted(t.task_key for t in tasks)
        assert list(state.task_keys("d")) == sorted(t.task_key for t in tasks)
        assert loaded.attempts_of("d") == state.attempts_of("d")
