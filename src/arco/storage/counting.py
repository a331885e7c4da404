"""A store wrapper that counts requests per operation (for cost and regression tests)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

from arco.storage.port import ObjectData, ObjectMeta, ObjectStore, PutMode


class CountingStore:
    """Counts every call per op name (``counts["put"]``), plus bytes read and written.

    A call is counted when it is made, whether or not it succeeds; ``list`` counts once per
    call. Thread-safe.
    """

    def __init__(self, inner: ObjectStore) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.bytes_read = 0
        self.bytes_written = 0

    @property
    def inner(self) -> ObjectStore:
        return self._inner

    @property
    def url(self) -> str:
        return self._inner.url

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

    def get(self, key: str) -> ObjectData:
        self._count("get")
        result = self._inner.get(key)
        self._count_bytes(read=result.size)
        return result

    def get_range(self, key: str, start: int, end: int) -> bytes:
        self._count("get_range")
        data = self._inner.get_range(key, start, end)
        self._count_bytes(read=len(data))
        return data

    def _count_bytes(self, read: int) -> None:
        with self._lock:
            self.bytes_read += read

    def head(self, key: str) -> ObjectMeta:
        self._count("head")
        return self._inner.head(key)

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        self._count("put", written=len(data))
        return self._inner.put(key, data, mode)

    def delete(self, key: str) -> None:
        self._count("delete")
        self._inner.delete(key)

    def list(self, prefix: str = "") -> Iterator[ObjectMeta]:
        self._count("list")
        return self._inner.list(prefix)

    def sign(self, key: str, ttl_seconds: int) -> str:
        self._count("sign")
        return self._inner.sign(key, ttl_seconds)
