"""The request being served, for records that should name it (commit records).

The server binds one :class:`RequestInfo` per HTTP request (its id at once, the caller's
subject once authenticated); library and CLI callers may bind one with
:func:`bound_request_id`. Reading never fails: outside a request there is none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["RequestInfo", "bound_request_id", "current_request", "current_request_id"]


@dataclass
class RequestInfo:
    """Mutable on purpose: authentication runs in another context copy than the middleware
    that bound it, and fills in ``subject`` on the shared object."""

    request_id: str | None
    subject: str | None = None


_CURRENT: ContextVar[RequestInfo | None] = ContextVar("arco_request", default=None)


def current_request() -> RequestInfo | None:
    return _CURRENT.get()


def current_request_id() -> str | None:
    info = _CURRENT.get()
    return None if info is None else info.request_id


@contextmanager
def bound_request_id(request_id: str | None, subject: str | None = None) -> Iterator[RequestInfo]:
    """Make a request current in this context (thread or task) until the block ends."""
    info = RequestInfo(request_id, subject)
    token = _CURRENT.set(info)
    try:
        yield info
    finally:
        _CURRENT.reset(token)
