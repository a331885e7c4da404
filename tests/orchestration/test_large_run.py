"""Issue 12's acceptance scenario: a 10,000-asset layered graph (100 layers of 100 assets,
3 dependencies each, as ``arco bench orchestration`` builds it) plans and runs to
completion on the process pool. Its trigger is too large for one event and travels in
parts. The assets do no table IO (``deps=``, ``return None``): this is about orchestration.

Measured on a shared 2-CPU machine (pool capacity 2): planning ~0.35 s, the trigger in 2
parts (~1.56 MB, ~156 bytes per task), the run ~160 s (~16 ms per task).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from arco.bench.orchestration import layered_graph
from arco.orchestration.deploy import current
from arco.orchestration.runs import SUCCEEDED, run_trigger_events
from arco.orchestration.trigger import RunRequest, run_triggered
from orchestration_support import orchestrator, write_code

LAYERS, WIDTH, DEPS = 100, 100, 3


def layered_source(layers: int, width: int, deps: int) -> str:
    """The layered graph as assets ``l{layer}/a{index}`` that depend by ``deps=``."""
    graph = layered_graph(layers * width, width, deps, seed=7)
    lines = ["from arco import asset", ""]
    for i, upstream in enumerate(graph):
        layer, index = divmod(i, width)
        lines += [
            f'@asset(namespace="l{layer:03d}", name="a{index:03d}", deps={upstream!r})',
            f"def asset_{i}(context):",
            "    return None",
            "",
        ]
    return "\n".join(lines)


@pytest.mark.slow
def test_a_10000_asset_layered_graph_plans_and_runs_on_the_process_pool(
    tmp_path: Path,
) -> None:
    code = write_code(tmp_path / "code", layered_source(LAYERS, WIDTH, DEPS))
    # the default staleness bound: one process appends everything, and each listing of a
    # local ledger of ~40,000 objects costs tens of ms
    with orchestrator(
        f"file://{tmp_path / 'store'}", code, executor="pool", max_staleness_s=2.0
    ) as orch:
        pointer = current(orch.store)
        assert pointer is not None
        request = RunRequest(selection=("*",), executor="pool")
        t0 = time.perf_counter()
        payload = run_triggered(pointer[1], pointer[0].fingerprint, request)
        planned = time.perf_counter() - t0
        assert len(payload.tasks) == LAYERS * WIDTH
        assert len(run_trigger_events(payload)) == 2  # too large for one event
        t1 = time.perf_counter()
        run_id = orch.runs.trigger(payload)
        state = orch.runs.state()
        assert state.planned(run_id)
        assert state.state_counts(run_id) == {"BLOCKED": 9_900, "READY": 100}
        triggered = time.perf_counter() - t1
        run = orch.wait(run_id, timeout=1200)
        took = time.perf_counter() - t1
        state = orch.runs.state()
        failures = [
            (a.task_key, a.attempt, a.state, a.error_category, (a.error or "")[-300:])
            for a in state.attempts_of(run_id)
            if a.state != SUCCEEDED
        ]
        assert run.state == SUCCEEDED, (run.reason, failures[:5])
        assert state.state_counts(run_id) == {SUCCEEDED: LAYERS * WIDTH}
        attempts = state.attempts_of(run_id)
        assert len(attempts) == LAYERS * WIDTH and {a.attempt for a in attempts} == {1}
        # every task started after each of its upstream tasks ended
        ended = {a.task_key: a.ended_at for a in attempts}
        for task in state.tasks_of(run_id):
            attempt = state.attempts[task.attempt_id or ""]
            assert attempt.started_at is not None
            for key in state.upstream(task):
                upstream_end = ended[key]
                assert upstream_end is not None and upstream_end <= attempt.started_at
        print(
            f"\nplan {planned:.2f} s, trigger {triggered:.2f} s, run {took:.1f} s "
            f"({took / (LAYERS * WIDTH) * 1000:.1f} ms per task)"
        )
