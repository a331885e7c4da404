"""The id of the request being served, for records that should name it (commit records).

The server sets it for the duration of each HTTP request; library and CLI callers may set it
with :func:`bound_request_id`. Reading it never fails: outside a request it is None.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["bound_request_id", "current_request_id"]

_REQUEST_ID: ContextVar[str | None] = ContextVar("arco_request_id", default=None)


def current_request_id() -> str | None:
    return _REQUEST_ID.get()


@contextmanager
def bound_request_id(request_id: str | None) -> Iterator[None]:
    """Make ``request_id`` current in this context (thread or task) until the block ends."""
    token = _REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        _REQUEST_ID.reset(token)
