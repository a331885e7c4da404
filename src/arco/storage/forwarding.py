"""The base of every store wrapper: forwards each call of the port to an inner store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from arco.storage.port import ObjectData, ObjectMeta, ObjectStore, PutMode

T = TypeVar("T")

#: The operations of :class:`ObjectStore`, i.e. its methods (``url`` is a property).
PORT_OPS = ("get", "get_range", "head", "put", "delete", "list", "sign")


class ForwardingStore:
    """An :class:`ObjectStore` that passes every call to ``inner`` with unchanged arguments
    and returns (or raises) exactly what ``inner`` does.

    Every operation runs through :meth:`_forward`, so a wrapper that treats all operations
    alike (timing, counting, retrying, fault injection) overrides that hook alone; a wrapper
    that changes an operation itself overrides that method, which then bypasses the hook.
    """

    def __init__(self, inner: ObjectStore) -> None:
        self._inner = inner

    @property
    def inner(self) -> ObjectStore:
        """The wrapped store."""
        return self._inner

    @property
    def url(self) -> str:
        return self._inner.url

    def _forward(self, op: str, key: str, call: Callable[[], T]) -> T:
        """Run ``call``, the operation ``op`` on ``key`` (the prefix for ``list``) against
        the inner store. The default runs it once and returns its result."""
        return call()

    def get(self, key: str) -> ObjectData:
        return self._forward("get", key, lambda: self._inner.get(key))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self._forward("get_range", key, lambda: self._inner.get_range(key, start, end))

    def head(self, key: str) -> ObjectMeta:
        return self._forward("head", key, lambda: self._inner.head(key))

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        return self._forward("put", key, lambda: self._inner.put(key, data, mode))

    def delete(self, key: str) -> None:
        self._forward("delete", key, lambda: self._inner.delete(key))

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[ObjectMeta]:
        # the hook covers starting the listing, not the caller's paging through it
        return self._forward(
            "list", prefix, lambda: self._inner.list(prefix, start_after=start_after)
        )

    def sign(self, key: str, ttl_seconds: int) -> str:
        return self._forward("sign", key, lambda: self._inner.sign(key, ttl_seconds))
