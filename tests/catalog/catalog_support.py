"""Helpers shared by the catalog tests (importable as ``catalog_support``)."""

from __future__ import annotations

import threading

from arco.catalog import WriterOptions


class FakeClock:
    """A controllable clock: ``sleep`` advances time instead of waiting."""

    def __init__(self, now_ms: int = 1_767_225_600_000) -> None:  # 2026-01-01T00:00:00Z
        self._now = now_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def advance(self, ms: int) -> None:
        with self._lock:
            self._now += ms

    def sleep(self, seconds: float) -> None:
        self.advance(max(1, int(seconds * 1000)))


def inline_options(**overrides: object) -> WriterOptions:
    """Writer options for tests: checkpoints inline and frequent, so they are exercised."""
    base = {"background_checkpoints": False, "checkpoint_every": 4, "lock_wait_s": 10.0}
    base.update(overrides)
    return WriterOptions(**base)  # type: ignore[arg-type]
