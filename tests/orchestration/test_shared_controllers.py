"""Controllers that share: the workspaces of one server share its task capacity fairly
(issue 12, item 6: fair share between tenants), and two controllers of one workspace at
once are fenced (item 4: one acts, the other is a no-op)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from arco.core.scope import Scope
from arco.orchestration.capacity import SharedCapacity, fair_shares
from arco.orchestration.controller import Controller, ControllerOptions, Pass
from arco.orchestration.deploy import deploy
from arco.orchestration.discovery import build_manifest, load_definitions
from arco.orchestration.engine import Orchestrator
from arco.orchestration.runs import Attempt
from arco.orchestration.trigger import RunRequest
from arco.storage import ScopedStore, open_store
from orchestration_support import FAST, deploy_code, write_code

TASK_S = 0.3


def _independent(n: int, sleep_s: float) -> str:
    lines = ["import time", "import pyarrow as pa", "from arco import asset", ""]
    for i in range(n):
        lines += [
            '@asset(namespace="demo")',
            f"def t_{i:02d}(context):",
            f"    time.sleep({sleep_s})",
            f'    return pa.table({{"i": [{i}]}})',
            "",
        ]
    return "\n".join(lines)


def _deploy(url: str, code: Path, scope: Scope) -> None:
    manifest = build_manifest(load_definitions(str(code)))
    deploy(ScopedStore(open_store(url), scope.prefix), manifest, code_location=str(code))


def _wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def _spans(attempts: list[Attempt]) -> list[tuple[float, float]]:
    spans = []
    for a in attempts:
        assert a.started_at is not None and a.ended_at is not None
        spans.append((a.started_at.timestamp(), a.ended_at.timestamp()))
    return spans


def _peak(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def _mean_running(spans: list[tuple[float, float]], start: float, end: float) -> float:
    """Attempts running on average over [start, end]."""
    busy = sum(max(0.0, min(e, end) - max(s, start)) for s, e in spans)
    return busy / (end - start)


def test_fair_shares_lend_what_a_member_does_not_use() -> None:
    assert fair_shares(4, {"a": 1000, "b": 1000}) == {"a": 2, "b": 2}
    assert fair_shares(4, {"a": 1000, "b": 1}) == {"a": 3, "b": 1}
    assert fair_shares(4, {"a": 1000, "b": 0}) == {"a": 4, "b": 0}
    assert fair_shares(5, {"a": 9, "b": 9, "c": 1}) == {"a": 2, "b": 2, "c": 1}
    assert fair_shares(3, {"a": 5, "b": 5, "c": 5, "d": 5}) == {"a": 1, "b": 1, "c": 1, "d": 0}
    shared = SharedCapacity(4)
    assert shared.grant("a", 0, 1000) == 4  # alone: the whole capacity
    assert shared.grant("b", 0, 1000) == 0  # a holds it all: b waits for a slot...
    assert shared.grant("a", 3, 996) == 0  # ...a is above its share (2): it takes none
    assert shared.grant("b", 0, 1000) == 1  # the freed slot goes to b
    assert shared.grant("a", 2, 996) == 0
    assert shared.grant("b", 1, 999) == 1  # each at its share of 2
    shared.leave("a")
    assert shared.grant("b", 2, 998) == 2  # a left: b may use everything


def test_two_tenants_share_a_server_capacity_fairly(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'store'}"
    code = write_code(tmp_path / "code", _independent(24, TASK_S))
    tenants = [Scope("tenant-a", "default"), Scope("tenant-b", "default")]
    for scope in tenants:
        _deploy(url, code, scope)
    shared = SharedCapacity(4)
    opts = ControllerOptions(**{**FAST.__dict__})
    a, b = (
        Orchestrator(
            url,
            scope,
            executor="inprocess",
            code_location=str(code),
            capacity=4,
            options=opts,
            shared_capacity=shared,
        )
        for scope in tenants
    )
    try:
        run_a = a.trigger(RunRequest(selection=("*",)))
        a.start()
        _wait_for(lambda: len([t for t in a.runs.tasks(run_a) if t.state == "RUNNING"]) == 4)
        run_b = b.trigger(RunRequest(selection=("*",)))
        b.start()
        assert a.wait(run_a, timeout=120).state == "SUCCEEDED"
        assert b.wait(run_b, timeout=120).state == "SUCCEEDED"
        spans_a = _spans(a.runs.attempts(run_a))
        spans_b = _spans(b.runs.attempts(run_b))
    finally:
        a.close()
        b.close()
    assert len(spans_a) == len(spans_b) == 24
    assert _peak(spans_a + spans_b) <= 4  # the capacity is the server's, not per tenant
    # b progresses while a runs: it does not wait for a's 24 tasks to drain
    first_b = min(s for s, _ in spans_b)
    assert first_b < max(s for s, _ in spans_a)
    # while both have work, each runs about half of the capacity
    start = first_b + 2 * TASK_S  # a's tasks started before b came end by then
    end = min(max(e for _, e in spans_a), max(e for _, e in spans_b)) - TASK_S
    assert end - start > 4 * TASK_S, (start, end)
    share_a = _mean_running(spans_a, start, end)
    share_b = _mean_running(spans_b, start, end)
    assert 1.3 <= share_a <= 2.7, (share_a, share_b)
    assert 1.3 <= share_b <= 2.7, (share_a, share_b)


def test_two_controllers_of_one_workspace_one_acts_the_other_is_a_no_op(
    tmp_path: Path,
) -> None:
    url = f"file://{tmp_path / 'store'}"
    code = write_code(tmp_path / "code", _independent(8, 0.05))
    deploy_code(url, code)
    opts = ControllerOptions(**{**FAST.__dict__, "max_staleness_s": 0.2})
    first, second = (
        Orchestrator(url, executor="inprocess", code_location=str(code), options=opts)
        for _ in range(2)
    )
    passes: dict[int, list[Pass]] = {0: [], 1: []}
    submitted: dict[int, int] = {0: 0, 1: 0}
    lock = threading.Lock()

    def record(i: int, controller: Controller) -> None:
        step, submit = controller.step, controller.executor.submit

        def recorded_step() -> Pass:
            done = step()
            with lock:
                passes[i].append(done)
            return done

        def counted_submit(envelope: object) -> None:
            with lock:
                submitted[i] += 1
            submit(envelope)  # type: ignore[arg-type]

        controller.step = recorded_step  # type: ignore[method-assign]
        controller.executor.submit = counted_submit  # type: ignore[method-assign]

    record(0, first.controller)
    record(1, second.controller)
    try:
        run_id = first.trigger(RunRequest(selection=("*",)))
        first.start()
        second.start()
        assert first.wait(run_id, timeout=60).state == "SUCCEEDED"
        attempts = first.runs.attempts(run_id)
        with lock:  # before closing: the first one's close frees the lease for the other
            seen = {i: list(p) for i, p in passes.items()}
            handed = dict(submitted)
    finally:
        first.close()
        second.close()
    acting = [i for i in (0, 1) if any(p.acting for p in seen[i])]
    assert len(acting) == 1, {i: sum(p.acting for p in seen[i]) for i in (0, 1)}
    idle = 1 - acting[0]
    assert seen[idle], "the other controller took no pass"
    assert all(p.dispatched == p.timed_out == 0 for p in seen[idle])
    assert handed[idle] == 0 and handed[acting[0]] == 8
    assert sorted(a.task_key for a in attempts) == [f"demo/t_{i:02d}:materialize" for i in range(8)]
    assert {(a.attempt, a.state) for a in attempts} == {(1, "SUCCEEDED")}


def test_a_server_s_workspaces_share_one_capacity(tmp_path: Path) -> None:
    from arco.server.orchestration import Orchestrators
    from arco.server.settings import OrchestrationSettings

    url = f"file://{tmp_path / 'store'}"
    settings = OrchestrationSettings(executor="inprocess", capacity=3)
    server = Orchestrators(url, open_store(url), settings, b"k" * 32)
    try:
        a = server.get(Scope("tenant-a", "default"))
        b = server.get(Scope("tenant-b", "default"))
        assert server.capacity is not None and server.capacity.capacity == 3
        assert a.controller.shared is server.capacity and b.controller.shared is server.capacity
        assert sorted(server.capacity.usage()) == [
            "tenant-a/default/inprocess",
            "tenant-b/default/inprocess",
        ]
    finally:
        server.close()
    assert server.capacity.usage() == {}  # closed controllers leave it
