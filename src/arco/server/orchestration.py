"""The orchestration of a server: one :class:`~arco.orchestration.engine.Orchestrator` per
workspace, started on demand, with its controller on a background thread.

A workspace's orchestrator starts the first time something needs its controller: a run is
triggered, cancelled or read while unfinished, a worker polls, an attempt calls back. It uses the server's one
executor (``arco serve --executor``: ``pool`` by default, ``inprocess``, ``dask://...``,
or ``http`` for ``arco worker`` processes, whose queue it then holds). Reads (runs, tasks,
attempts) do not start anything: they use the orchestrator's ``Runs`` if it runs, else a
``Runs`` of their own (both read the same projection from the store). Everything is
closed with the server.

Beside each workspace's orchestrator runs its automation controller (ADR 017; unless
``automation`` is off): schedules, sensors, backfills and conditions, triggering on that
orchestrator. A workspace's automation so starts with its orchestrator: recording a schedule,
sensor or backfill change through the API starts it too.

The workspaces share the server's task capacity (``--task-capacity``, by default the
executor's): a :class:`~arco.orchestration.capacity.SharedCapacity` bounds the attempts in
flight across all their controllers and divides it fairly among the workspaces that have
work, lending what one does not use to the others, so one tenant with a thousand ready
tasks cannot starve another. Not with ``http``: each workspace has its own workers.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable

from arco.core.scope import Scope
from arco.orchestration.automation import Automation
from arco.orchestration.automation.service import AutomationService
from arco.orchestration.capacity import SharedCapacity
from arco.orchestration.controller import ControllerOptions
from arco.orchestration.deploy import current
from arco.orchestration.engine import AssetRunner, Orchestrator
from arco.orchestration.executors import Executor
from arco.orchestration.executors.http import HttpExecutor
from arco.orchestration.ledger_reporter import LedgerReporter
from arco.orchestration.runs import Runs
from arco.server.settings import OrchestrationSettings
from arco.server.task_tokens import TaskTokens, task_token_key
from arco.storage import ScopedStore
from arco.storage.port import ObjectStore

__all__ = ["Orchestrators", "controller_options", "shared_store_url"]

log = logging.getLogger("arco.server")

#: readers of workspaces without an orchestrator kept open at most
_MAX_READERS = 64


def controller_options(s: OrchestrationSettings) -> ControllerOptions:
    """The controller's timers and limits from the server's settings."""
    return ControllerOptions(
        max_concurrent_runs=s.max_concurrent_runs,
        start_timeout_s=s.start_timeout_s,
        heartbeat_timeout_s=s.heartbeat_timeout_s,
        heartbeat_interval_s=s.heartbeat_interval_s,
        cancel_grace_s=s.cancel_grace_s,
        pool_limits=dict(s.pool_limits),
    )


def shared_store_url(url: str) -> str:
    """``url`` as another process on this machine can open it (a relative ``file://``
    path made absolute)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() == "file" and not rest.startswith("/"):
        return f"file://{os.path.abspath(rest)}"
    return url


class Orchestrators:
    """The orchestrators of the workspaces of one server (see the module docstring)."""

    def __init__(
        self, store_url: str, root: ObjectStore, settings: OrchestrationSettings, signing_key: bytes
    ) -> None:
        self.store_url = shared_store_url(store_url)
        self.root = root
        self.settings = settings
        self.tokens = TaskTokens(
            task_token_key(signing_key), default_ttl_s=settings.task_token_ttl_s
        )
        self._running: dict[Scope, Orchestrator] = {}
        self._readers: OrderedDict[Scope, Runs] = OrderedDict()
        self._automations: OrderedDict[Scope, Automation] = OrderedDict()
        self._services: dict[Scope, AutomationService] = {}
        self._lock = threading.Lock()
        self._starting: dict[Scope, threading.Lock] = {}
        self._closed = False
        #: the task capacity the workspaces share fairly (not with http: each workspace
        #: has its own workers); sized by the first executor started
        self.capacity: SharedCapacity | None = None

    @property
    def executor_name(self) -> str:
        return self.settings.executor

    @property
    def http(self) -> bool:
        """Whether tasks go to ``arco worker`` processes."""
        return self.settings.executor == HttpExecutor.name

    def store(self, scope: Scope) -> ObjectStore:
        """The store scoped to ``scope``."""
        return ScopedStore(self.root, scope.prefix)

    def runs(self, scope: Scope) -> Runs:
        """The runs of ``scope`` for reading (the orchestrator's, if it runs)."""
        with self._lock:
            running = self._running.get(scope)
            if running is not None:
                return running.runs
            reader = self._readers.get(scope)
            if reader is None:
                reader = self._readers[scope] = Runs(self.root, scope, fold="inline")
                evicted = []
                while len(self._readers) > _MAX_READERS:
                    evicted.append(self._readers.popitem(last=False)[1])
            else:
                evicted = []
            self._readers.move_to_end(scope)
        for old in evicted:
            old.close()
        return reader

    def automation(self, scope: Scope) -> Automation:
        """The automation state of ``scope``, for reading and appending (inline folds)."""
        with self._lock:
            found = self._automations.get(scope)
            evicted = []
            if found is None:
                found = self._automations[scope] = Automation(self.root, scope, fold="inline")
                while len(self._automations) > _MAX_READERS:
                    evicted.append(self._automations.popitem(last=False)[1])
            self._automations.move_to_end(scope)
        for old in evicted:
            old.close()
        return found

    def running(self, scope: Scope) -> bool:
        """Whether the orchestrator of ``scope`` runs."""
        with self._lock:
            return scope in self._running

    def get(self, scope: Scope) -> Orchestrator:
        """The running orchestrator of ``scope``, started if needed."""
        with self._lock:
            found = self._running.get(scope)
            if found is not None:
                return found
            if self._closed:
                raise RuntimeError("the server is shutting down")
            starting = self._starting.setdefault(scope, threading.Lock())
        with starting:  # one start per workspace; others wait for it
            with self._lock:
                found = self._running.get(scope)
                if found is not None:
                    return found
            orchestrator = self._start(scope)
            service = AutomationService(orchestrator).start() if self.settings.automation else None
            with self._lock:
                self._running[scope] = orchestrator
                if service is not None:
                    self._services[scope] = service
                reader = self._readers.pop(scope, None)
        if reader is not None:
            reader.close()
        return orchestrator

    def http_executor(self, scope: Scope) -> HttpExecutor:
        """The HTTP executor of ``scope``'s orchestrator (the server's executor is http)."""
        executor = self.get(scope).executor
        assert isinstance(executor, HttpExecutor)
        return executor

    def _start(self, scope: Scope) -> Orchestrator:
        s = self.settings
        code_location = s.code_location
        if code_location is None:
            deployed = current(self.store(scope))
            code_location = None if deployed is None else deployed[0].code_location
        factory = self._http_factory(scope) if self.http else None
        orchestrator = Orchestrator(
            self.store_url,
            scope,
            executor=s.executor,
            code_location=code_location,
            capacity=s.capacity,
            options=controller_options(s),
            executor_factory=factory,
        )
        if not self.http:
            with self._lock:
                if self.capacity is None:
                    self.capacity = SharedCapacity(max(1, orchestrator.executor.capacity))
                shared = self.capacity
            orchestrator.controller.share(shared)
        orchestrator.start()
        log.info(
            "orchestrator started",
            extra={"tenant": scope.tenant, "workspace": scope.workspace, "executor": s.executor},
        )
        return orchestrator

    def _http_factory(self, scope: Scope) -> Callable[[LedgerReporter, AssetRunner], Executor]:
        """Builds the HTTP executor of ``scope``: its envelopes carry task tokens."""

        def factory(_reporter: LedgerReporter, _runner: AssetRunner) -> Executor:
            return HttpExecutor(lambda envelope: self.tokens.issue(scope, envelope))

        return factory

    def close(self) -> None:
        with self._lock:
            self._closed = True
            services = list(self._services.values())
            self._services.clear()
            running = list(self._running.values())
            readers: list[Runs | Automation] = [
                *self._readers.values(),
                *self._automations.values(),
            ]
            self._running.clear()
            self._readers.clear()
            self._automations.clear()
        for service in services:  # first: it triggers runs on the orchestrators
            try:
                service.close()
            except Exception:
                log.exception("closing an automation controller failed")
        for orchestrator in running:
            try:
                orchestrator.close()
            except Exception:
                log.exception("closing an orchestrator failed")
        for reader in readers:
            reader.close()
