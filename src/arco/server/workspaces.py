"""The services of each workspace the server has been asked about, opened once and shared.

A :class:`Workspace` bundles what the routes of one ``(tenant, workspace)`` call: the
catalog (tier 1), the executions (tier 2) and the scoped store. Every server process on
one store opens its own; correctness across processes comes from the storage protocols
(leases, create-only puts, compare-and-swap), not from this registry.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from arco.catalog import Catalog
from arco.executions import Executions
from arco.scope import Scope
from arco.storage.port import ObjectStore


@dataclass
class Workspace:
    scope: Scope
    catalog: Catalog
    executions: Executions

    @property
    def store(self) -> ObjectStore:
        """The store scoped to this workspace."""
        return self.catalog.store

    def close(self) -> None:
        self.executions.close()
        self.catalog.close()


class WorkspaceRegistry:
    """Opens each workspace of a root store on first use and keeps it open."""

    def __init__(self, root: ObjectStore) -> None:
        self.root = root
        self._open: dict[Scope, Workspace] = {}
        self._lock = threading.Lock()

    def get(self, scope: Scope) -> Workspace:
        with self._lock:
            ws = self._open.get(scope)
            if ws is None:
                catalog = Catalog(self.root, scope)
                executions = Executions(catalog.store, fold="background")
                ws = Workspace(scope, catalog, executions)
                self._open[scope] = ws
            return ws

    def __iter__(self) -> Iterator[Workspace]:
        with self._lock:
            return iter(list(self._open.values()))

    def close(self) -> None:
        with self._lock:
            spaces, self._open = list(self._open.values()), {}
        for ws in spaces:
            ws.close()
