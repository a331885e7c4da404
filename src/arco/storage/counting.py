"""A store wrapper that counts requests per operation (for cost and regression tests)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from arco.storage.forwarding import ForwardingStore
from arco.storage.port import ObjectData, ObjectStore, PutMode

T = TypeVar("T")


class CountingStore(ForwardingStore):
    """Counts every call per op name (``counts["put"]``), plus bytes read and written.

    A call is counted when it is made, whether or not it succeeds; ``list`` counts once per
    call. Thread-safe.
    """

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.bytes_read = 0
        self.bytes_written = 0

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.bytes_read = 0
            self.bytes_written = 0

    def _count(self, op: str, written: int = 0) -> None:
        with self._lock:
            self.counts[op] += 1
            self.bytes_written += written

    def _count_bytes(self, read: int) -> None:
        with self._lock:
            self.bytes_read += read

    def _forward(self, op: str, key: str, call: Callable[[], T]) -> T:
        self._count(op)
        return call()

    def get(self, key: str) -> ObjectData:
        result = super().get(key)
        self._count_bytes(read=result.size)
        return result

    def get_range(self, key: str, start: int, end: int) -> bytes:
        data = super().get_range(key, start, end)
        self._count_bytes(read=len(data))
        return data

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        self._count("put", written=len(data))
        return self._inner.put(key, data, mode)
