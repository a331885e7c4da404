"""A store wrapper that reports each request's latency and failures as Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from arco.errors import ArcoError
from arco.observability.metrics import STORAGE_DURATION, STORAGE_ERRORS
from arco.storage.forwarding import PORT_OPS, ForwardingStore
from arco.storage.port import ObjectStore

T = TypeVar("T")


class MeteredStore(ForwardingStore):
    """Wraps a backend; every call observes ``arco_storage_operation_seconds`` and, when it
    fails with anything but a miss or a lost precondition race, ``arco_storage_errors``.

    ``list`` is timed to the listing's start (the first page); paging is the caller's pace.
    """

    def __init__(self, inner: ObjectStore, backend: str) -> None:
        super().__init__(inner)
        self._backend = backend
        self._timers = {op: STORAGE_DURATION.labels(backend, op) for op in PORT_OPS}

    def _forward(self, op: str, key: str, call: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return call()
        except ArcoError as exc:
            # misses and lost races are answers, not failures of the store
            if exc.code not in ("OBJECT_NOT_FOUND", "OBJECT_EXISTS", "VERSION_MISMATCH"):
                STORAGE_ERRORS.labels(self._backend, op, exc.code).inc()
            raise
        finally:
            self._timers[op].observe(time.perf_counter() - started)
