"""Helpers shared by the catalog tests (importable as ``catalog_support``)."""

from __future__ import annotations

from arco.catalog import WriterOptions
from arco.core.clock import ManualClock

#: the writers' clock in tests: ``sleep`` advances time instead of waiting
FakeClock = ManualClock


def inline_options(**overrides: object) -> WriterOptions:
    """Writer options for tests: checkpoints inline and frequent, so they are exercised."""
    base: dict[str, object] = {
        "background_checkpoints": False,
        "checkpoint_every": 4,
        "lock_wait_s": 10.0,
    }
    base.update(overrides)
    return WriterOptions(**base)  # type: ignore[arg-type]
