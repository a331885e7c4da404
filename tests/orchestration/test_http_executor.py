"""The HTTP executor's queue: order, capacity from the workers heard from, cancel, close."""

from __future__ import annotations

import threading
import time

from arco.orchestration.dispatch import TaskEnvelope
from arco.orchestration.executors.http import CALLBACK_PREFIX, HttpExecutor


def envelope(attempt_id: str) -> TaskEnvelope:
    return TaskEnvelope(
        run_id="R1",
        task_key=f"demo/{attempt_id.lower()}:materialize",
        attempt=1,
        attempt_id=attempt_id,
        asset_key=f"demo/{attempt_id.lower()}",
        entry_point="m:f",
        start_deadline_ms=0,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_envelopes_go_out_once_in_order_with_callback_and_token() -> None:
    executor = HttpExecutor(lambda e: f"token-{e.attempt_id}")
    executor.submit(envelope("A1"))
    executor.submit(envelope("A2"))
    assert executor.queued() == 2
    first = executor.take("w1")
    second = executor.take("w2")
    assert first is not None and second is not None
    assert (first.attempt_id, second.attempt_id) == ("A1", "A2")
    assert first.callback_url == CALLBACK_PREFIX + "A1"
    assert first.token == "token-A1"
    assert executor.take("w1") is None


def test_capacity_counts_the_slots_of_workers_heard_from_recently() -> None:
    clock = Clock()
    executor = HttpExecutor(seen_ttl_s=10, clock=clock)
    assert executor.capacity == 1  # nobody yet: one, so runs do not stall
    executor.take("w1", slots=3)
    executor.seen("w2", 2)
    assert executor.capacity == 5
    clock.now += 6
    executor.seen("w2", 2)  # a heartbeat keeps w2 counted
    clock.now += 6
    assert executor.capacity == 2
    assert executor.workers() == {"w2": 2}
    clock.now += 11
    assert executor.capacity == 1


def test_cancel_drops_a_queued_envelope_and_is_remembered() -> None:
    executor = HttpExecutor()
    executor.submit(envelope("A1"))
    executor.submit(envelope("A2"))
    executor.cancel("A1")
    executor.cancel("A9")  # not queued (running somewhere): remembered for its heartbeat
    assert executor.is_cancelled("A1") and executor.is_cancelled("A9")
    assert not executor.is_cancelled("A2")
    taken = executor.take("w")
    assert taken is not None and taken.attempt_id == "A2"
    assert executor.take("w") is None


def test_a_waiting_poll_gets_the_next_submission_and_close_ends_waits() -> None:
    executor = HttpExecutor()
    got: list[TaskEnvelope | None] = []
    poller = threading.Thread(target=lambda: got.append(executor.take("w", timeout=10)))
    poller.start()
    time.sleep(0.05)
    executor.submit(envelope("A1"))
    poller.join(timeout=5)
    assert got and got[0] is not None and got[0].attempt_id == "A1"

    waiting = threading.Thread(target=lambda: got.append(executor.take("w", timeout=30)))
    started = time.monotonic()
    waiting.start()
    time.sleep(0.05)
    executor.close()
    waiting.join(timeout=5)
    assert got[-1] is None and time.monotonic() - started < 5
