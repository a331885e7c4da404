"""The storage port: one small synchronous interface over object stores.

Everything above this module talks to storage only through :class:`ObjectStore`. Keys are
plain relative strings (``a/b/c.json``); backends never interpret them beyond mapping them
to their namespace. Errors are always one of :mod:`arco.errors`' storage errors, so that a
missing object (:class:`~arco.errors.ObjectNotFoundError`) can never be confused with a
failed read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TypeAlias, runtime_checkable


@dataclass(frozen=True, slots=True)
class IfVersion:
    """Put mode: replace the object only if its current version equals ``version``."""

    version: str


PutMode: TypeAlias = Literal["create", "overwrite"] | IfVersion
"""``"create"`` fails with ObjectExistsError if present; ``"overwrite"`` always writes;
``IfVersion(v)`` fails with VersionMismatchError (or ObjectNotFoundError) otherwise."""


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """What ``head`` and ``list`` return about one object."""

    key: str
    size: int
    version: str
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class ObjectData:
    """What ``get`` returns: the bytes and the version they belong to."""

    data: bytes
    version: str
    size: int
    last_modified: datetime


@runtime_checkable
class ObjectStore(Protocol):
    """The storage port. Implementations must be safe to share between threads."""

    @property
    def url(self) -> str:
        """A URL naming this store (no credentials)."""
        ...

    def get(self, key: str) -> ObjectData:
        """Read a whole object and its version token."""
        ...

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Read bytes ``[start, end)`` of an object."""
        ...

    def head(self, key: str) -> ObjectMeta:
        """Size, version and last-modified time of an object."""
        ...

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        """Write an object atomically; returns the new version token."""
        ...

    def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error."""
        ...

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[ObjectMeta]:
        """All objects whose key starts with ``prefix`` (repair and GC paths only), in key
        order; with ``start_after``, only keys that sort after it (S3's ``StartAfter``), so
        that a listing of new keys costs what is new, not what is there."""
        ...

    def sign(self, key: str, ttl_seconds: int) -> str:
        """A time-limited GET URL for the object."""
        ...
