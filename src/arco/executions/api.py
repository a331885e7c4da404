"""``ExecutionsApi``: the executions surface shared by the library and the HTTP client.

:class:`arco.executions.Executions` (on a store) and :class:`arco.client.RemoteExecutions`
(through a server) both implement it, and mypy checks that they do (see the
``TYPE_CHECKING`` blocks at the end of their modules). Code that works with either, such
as the CLI, is written against this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from arco.core.paging import DEFAULT_PAGE, Page
from arco.executions.model import Materialization
from arco.executions.state import ExecutionsState
from arco.storage.port import ObjectStore
from arco.tier2.compactor import CompactionResult, Compactor
from arco.tier2.envelope import EventEnvelope
from arco.tier2.ingestor import FoldMode

__all__ = ["ExecutionsApi"]


class ExecutionsApi(Protocol):
    """Append execution events and read the materializations folded from them."""

    @property
    def store(self) -> ObjectStore:
        """The workspace's scoped store (StoreOnlyError through a server)."""
        ...

    @property
    def compactor(self) -> Compactor[ExecutionsState]:
        """The workspace's compactor (StoreOnlyError through a server)."""
        ...

    def compact(self) -> CompactionResult:
        """One anti-entropy pass (StoreOnlyError through a server)."""
        ...

    def close(self) -> None: ...

    def append(
        self, events: Sequence[EventEnvelope], *, fold: FoldMode | None = None
    ) -> list[str]: ...

    def get_materialization(self, materialization_id: str) -> Materialization: ...

    def list_materializations(
        self,
        *,
        asset_key: str | None = None,
        run_id: str | None = None,
        status: str | None = None,
        page_token: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page[Materialization]: ...
