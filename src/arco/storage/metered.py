"""A store wrapper that reports each request's latency and failures as Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from arco.errors import ArcoError
from arco.observability.metrics import STORAGE_DURATION, STORAGE_ERRORS
from arco.storage.port import ObjectData, ObjectMeta, ObjectStore, PutMode

T = TypeVar("T")


class MeteredStore:
    """Wraps a backend; every call observes ``arco_storage_operation_seconds`` and, when it
    fails with anything but a miss or a lost precondition race, ``arco_storage_errors``."""

    def __init__(self, inner: ObjectStore, backend: str) -> None:
        self._inner = inner
        self._backend = backend
        self._timers = {
            op: STORAGE_DURATION.labels(backend, op)
            for op in ("get", "get_range", "head", "put", "delete", "list", "sign")
        }

    @property
    def inner(self) -> ObjectStore:
        return self._inner

    @property
    def url(self) -> str:
        return self._inner.url

    def _timed(self, op: str, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return fn()
        except ArcoError as exc:
            # misses and lost races are answers, not failures of the store
            if exc.code not in ("OBJECT_NOT_FOUND", "OBJECT_EXISTS", "VERSION_MISMATCH"):
                STORAGE_ERRORS.labels(self._backend, op, exc.code).inc()
            raise
        finally:
            self._timers[op].observe(time.perf_counter() - started)

    def get(self, key: str) -> ObjectData:
        return self._timed("get", lambda: self._inner.get(key))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self._timed("get_range", lambda: self._inner.get_range(key, start, end))

    def head(self, key: str) -> ObjectMeta:
        return self._timed("head", lambda: self._inner.head(key))

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        return self._timed("put", lambda: self._inner.put(key, data, mode))

    def delete(self, key: str) -> None:
        self._timed("delete", lambda: self._inner.delete(key))

    def list(self, prefix: str = "") -> Iterator[ObjectMeta]:
        # the time to the listing's start (the first page); paging is the caller's pace
        return self._timed("list", lambda: self._inner.list(prefix))

    def sign(self, key: str, ttl_seconds: int) -> str:
        return self._timed("sign", lambda: self._inner.sign(key, ttl_seconds))
