"""The services of each workspace the server has been asked about, opened once and shared.

A :class:`Workspace` bundles what the routes of one ``(tenant, workspace)`` call: the
catalog (tier 1), the executions (tier 2) and the scoped store. Every server process on
one store opens its own; correctness across processes comes from the storage protocols
(leases, create-only puts, compare-and-swap), not from this registry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from arco.catalog import Catalog
from arco.core.scope import Scope
from arco.executions import Executions
from arco.iceberg import IcebergTables
from arco.storage.port import ObjectStore


@dataclass
class Workspace:
    scope: Scope
    catalog: Catalog
    executions: Executions
    #: the Iceberg REST catalog's table service (catalog rows synced in the background)
    iceberg: IcebergTables

    @property
    def store(self) -> ObjectStore:
        """The store scoped to this workspace."""
        return self.catalog.store

    def close(self) -> None:
        self.iceberg.close()
        self.executions.close()
        self.catalog.close()


#: workspaces a server keeps open at most (idle ones beyond it are closed, least recently
#: used first; one in use is never closed)
DEFAULT_MAX_OPEN = 256


class WorkspaceRegistry:
    """Opens each workspace of a root store on first use; keeps at most ``max_open`` open.

    Requests hold a workspace with :meth:`use` for their duration, so eviction only closes
    idle ones; a workspace needed again is simply reopened (its state reloads from storage).
    """

    def __init__(self, root: ObjectStore, max_open: int = DEFAULT_MAX_OPEN) -> None:
        if max_open < 1:
            raise ValueError("max_open must be at least 1")
        self.root = root
        self.max_open = max_open
        self._open: OrderedDict[Scope, Workspace] = OrderedDict()
        self._users: dict[Scope, int] = {}
        self._lock = threading.Lock()

    def get(self, scope: Scope) -> Workspace:
        """The workspace of ``scope``, opened if needed (not held: prefer :meth:`use`)."""
        with self.use(scope) as ws:
            return ws

    @contextmanager
    def use(self, scope: Scope) -> Iterator[Workspace]:
        """Hold the workspace of ``scope`` open while the block runs."""
        with self._lock:
            ws = self._open.get(scope)
            if ws is None:
                catalog = Catalog(self.root, scope)
                executions = Executions(self.root, scope, fold="background")
                iceberg = IcebergTables(catalog, sync="background")
                ws = self._open[scope] = Workspace(scope, catalog, executions, iceberg)
            self._open.move_to_end(scope)
            self._users[scope] = self._users.get(scope, 0) + 1
        try:
            yield ws
        finally:
            with self._lock:
                self._users[scope] -= 1
                if not self._users[scope]:
                    del self._users[scope]
                idle = self._evictable()
            for old in idle:
                old.close()

    def _evictable(self) -> list[Workspace]:
        """Remove idle workspaces beyond ``max_open`` (call with the lock held)."""
        evicted: list[Workspace] = []
        for scope in list(self._open):
            if len(self._open) <= self.max_open:
                break
            if scope not in self._users:
                evicted.append(self._open.pop(scope))
        return evicted

    def held(self) -> Iterator[Workspace]:
        """Each open workspace in turn, held while the caller works on it."""
        with self._lock:
            scopes = list(self._open)
        for scope in scopes:
            with self._lock:
                if scope not in self._open:
                    continue  # evicted meanwhile
            with self.use(scope) as ws:
                yield ws

    def __iter__(self) -> Iterator[Workspace]:
        with self._lock:
            return iter(list(self._open.values()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)

    def close(self) -> None:
        with self._lock:
            spaces = list(self._open.values())
            self._open.clear()
        for ws in spaces:
            ws.close()
