"""Where a query runs: the one surface the server's query route calls.

Two implementations share :class:`QueryRunner`: :class:`InProcessRunner` runs the
:class:`~arco.query.engine.QueryEngine` in the calling process (the library, tests, a
``memory://`` store), and :class:`arco.query.workers.WorkerPool` runs it in worker
processes whose memory is bounded per query (the server's default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from arco.core.scope import Scope
from arco.query.engine import ENCODERS, MEDIA_TYPES, QueryEngine, QueryResult
from arco.storage.keys import ScopedStore
from arco.storage.port import ObjectStore


@dataclass(frozen=True)
class EncodedResult:
    """A query's response body in one output format, and what its headers say."""

    body: bytes
    media_type: str
    truncated: bool
    row_count: int


def encode(result: QueryResult, fmt: str) -> EncodedResult:
    """``result`` as ``fmt`` (``json``, ``arrow`` or ``csv``)."""
    return EncodedResult(
        ENCODERS[fmt](result), MEDIA_TYPES[fmt], result.truncated, result.row_count
    )


class QueryRunner(Protocol):
    """Runs one read-only statement over a scope's current snapshots."""

    def run(self, scope: Scope, sql: str, fmt: str) -> EncodedResult:
        """The encoded result; raises the engine's errors (ValidationError,
        QueryTimeoutError, QueryMemoryError) and QueryBusyError."""
        ...

    def close(self) -> None:
        """Release the engine's caches (and processes)."""
        ...


class InProcessRunner:
    """The engine in this process. DuckDB's memory limit applies to what its buffer
    manager tracks, nothing bounds the rest: the server uses it only where worker
    processes cannot open the store (``memory://``, a store object given by a test)."""

    def __init__(self, root: ObjectStore, engine: QueryEngine) -> None:
        self.root = root
        self.engine = engine

    def run(self, scope: Scope, sql: str, fmt: str) -> EncodedResult:
        store = ScopedStore(self.root, scope.prefix)
        return encode(self.engine.query(store, scope.prefix, sql), fmt)

    def close(self) -> None:
        self.engine.close()
