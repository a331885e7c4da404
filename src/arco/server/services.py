"""What one server process holds: settings, the root store, workspaces, auth and limits."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field

from arco.core.scope import Scope
from arco.errors import ArcoError
from arco.query.engine import QueryEngine, QueryLimits
from arco.query.runner import InProcessRunner, QueryRunner
from arco.query.workers import WorkerPool
from arco.server.auth import Authenticator, DevAuthenticator
from arco.server.iceberg_tokens import IssuedTokens, TokenIssuer, token_key
from arco.server.orchestration import Orchestrators
from arco.server.ratelimit import RateLimiter
from arco.server.settings import ServerSettings
from arco.server.workspaces import WorkspaceRegistry
from arco.storage import open_store
from arco.storage.port import ObjectStore

log = logging.getLogger("arco.server")


@dataclass
class Services:
    settings: ServerSettings
    root: ObjectStore
    workspaces: WorkspaceRegistry
    authenticator: Authenticator
    rate_limiter: RateLimiter
    signing_key: bytes
    query_runner: QueryRunner
    #: issues the Iceberg endpoint's OAuth2 tokens (production mode with configured clients)
    iceberg_tokens: TokenIssuer | None = None
    #: the orchestrator of each workspace that runs pipelines (started on demand)
    orchestrators: Orchestrators | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _compactor: threading.Thread | None = None
    #: monotonic time of the compactor loop's last pass without failure, and its worst lag
    _last_pass: float = field(default_factory=time.monotonic)
    _last_lag_s: float = 0.0

    @classmethod
    def start(cls, settings: ServerSettings, *, root: ObjectStore | None = None) -> Services:
        """Check ``settings`` and open everything; ``root`` replaces the store named by
        ``settings.store_url`` (tests wrap stores to count or fail requests; queries then
        run in this process, as they do on a ``memory://`` store: worker processes can
        only open a store by its URL)."""
        settings.check()
        own_store = root is None and not settings.store_url.startswith("memory://")
        root = root if root is not None else open_store(settings.store_url)
        authenticator: Authenticator
        if settings.dev:
            authenticator = DevAuthenticator()
        else:
            from arco.server.jwt_auth import JwtAuthenticator

            assert settings.auth is not None  # checked above
            authenticator = JwtAuthenticator(settings.auth)
        signing_key = settings.signing_key or secrets.token_bytes(32)
        iceberg_tokens: TokenIssuer | None = None
        if not settings.dev and settings.iceberg_clients:
            iceberg_tokens = TokenIssuer(
                settings.iceberg_clients, token_key(signing_key), settings.iceberg_token_ttl_s
            )
            authenticator = IssuedTokens(iceberg_tokens, authenticator)
        return cls(
            settings=settings,
            root=root,
            workspaces=WorkspaceRegistry(root, settings.max_open_workspaces),
            authenticator=authenticator,
            rate_limiter=RateLimiter(settings.limits),
            signing_key=signing_key,
            query_runner=_query_runner(settings, root, pooled=own_store),
            iceberg_tokens=iceberg_tokens,
            orchestrators=Orchestrators(
                settings.store_url, root, settings.orchestration, signing_key
            ),
        )

    def start_compactor(self) -> None:
        """Fold every open workspace's ledger every ``compactor_interval_s`` (anti-entropy)."""
        if not self.settings.compactor or self._compactor is not None:
            return
        self._compactor = threading.Thread(
            target=self._compact_loop, name="arco-compactor-loop", daemon=True
        )
        self._compactor.start()

    def _compact_loop(self) -> None:
        while not self._stop.wait(self.settings.compactor_interval_s):
            worst, failed = 0.0, False
            for ws in self.workspaces.held():
                try:
                    result = ws.executions.compact_periodic()
                    self._resume_runs(ws.scope)
                except ArcoError as exc:
                    failed = True
                    log.warning("compaction of %s failed: %s", ws.scope.prefix, exc)
                    continue
                worst = max([worst, *(ms / 1000 for ms in result.lag_ms)])
            if not failed:
                self._last_pass = time.monotonic()
                self._last_lag_s = worst

    def _resume_runs(self, scope: Scope) -> None:
        """Fold the workspace's run ledger and start its controller when a run there needs
        this server's executor (a run triggered straight on the store, or left by a server
        that stopped), so no such run waits for someone to read it through the API."""
        orchestrators = self.orchestrators
        if orchestrators is None or orchestrators.running(scope):
            return  # none here, or its controller lists the ledger itself
        runs = orchestrators.runs(scope)
        runs.compact_periodic()
        name = orchestrators.executor_name
        if any(r.executor == name for r in runs.state().active_runs()):
            orchestrators.get(scope)

    def max_lag_s(self) -> float:
        """How far folding is behind: the worst lag of the last pass, or, if passes keep
        failing (or no loop runs), the time since the last good one beyond one interval."""
        if not self.settings.compactor:
            return 0.0
        stalled = time.monotonic() - self._last_pass - 2 * self.settings.compactor_interval_s
        return max(self._last_lag_s, stalled, 0.0)

    def close(self) -> None:
        self._stop.set()
        if self._compactor is not None:
            self._compactor.join(timeout=30)
        if self.orchestrators is not None:
            self.orchestrators.close()
        self.workspaces.close()
        self.query_runner.close()


def _query_runner(settings: ServerSettings, root: ObjectStore, *, pooled: bool) -> QueryRunner:
    limits = settings.limits
    query_limits = QueryLimits(
        max_sql_bytes=limits.query_max_sql_bytes,
        max_rows=limits.query_max_rows,
        timeout_s=limits.query_timeout_s,
        max_result_bytes=limits.query_max_result_bytes,
        memory_bytes=limits.query_memory_bytes,
    )
    if pooled and limits.query_workers > 0:
        return WorkerPool(settings.store_url, query_limits, size=limits.query_workers)
    return InProcessRunner(root, QueryEngine(query_limits))
