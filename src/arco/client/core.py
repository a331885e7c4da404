"""``Client``: the REST API of an Arco server over httpx, with typed errors and safe retries."""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin

import httpx
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from arco.client.errors import (
    ConnectionFailedError,
    RemoteError,
    RequestTimeoutError,
    error_class,
)
from arco.client.remote import RemoteCatalog, RemoteExecutions, segment
from arco.client.transport import Method
from arco.core.clock import SYSTEM_CLOCK
from arco.core.paging import DEFAULT_PAGE, Page
from arco.metadata.manifest import Manifest
from arco.orchestration.automation.domain.model import Backfill, Tick
from arco.orchestration.automation.operations import ScheduleInfo, SensorInfo
from arco.orchestration.logs import LOG_CURSOR_HEADER
from arco.orchestration.manifest import AssetSpec, DefinitionsManifest
from arco.orchestration.runs import Attempt, Run, Task
from arco.orchestration.status import PartitionStatus
from arco.tier2.envelope import EventEnvelope, increasing_ids, parse_event

__all__ = [
    "API_PREFIX",
    "Client",
    "CommitInfo",
    "DeployResult",
    "QueryColumn",
    "QueryResult",
    "RunDetail",
    "RunLogs",
    "SignedFile",
    "SignedUrls",
    "was_truncated",
]

#: the most assets one GET /assets/status names (the server's MAX_STATUS_ASSETS)
_MAX_STATUS_ASSETS = 16

API_PREFIX = "/api/v1"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
TENANT_HEADER = "X-Tenant-Id"
WORKSPACE_HEADER = "X-Workspace-Id"
REQUEST_ID_HEADER = "X-Request-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TRUNCATED_HEADER = "X-Arco-Truncated"
#: schema metadata key of :meth:`Client.query` results: ``b"true"`` if limits cut rows
TRUNCATED_METADATA = b"arco.truncated"

#: the longest ``Retry-After`` the client waits for before giving up on a retry
MAX_RETRY_AFTER = 60.0
#: status codes worth retrying even when the error code does not say so
_RETRY_STATUSES = frozenset({429, 502, 503})
_MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _Open(BaseModel):
    # server-side additions must not break an older client
    model_config = ConfigDict(frozen=True, extra="allow")


class CommitInfo(_Open):
    """One entry of a domain's commit history (``GET /commits/{domain}``)."""

    commit_id: str
    kind: str | None = None
    snapshot_version: int
    holder: str | None = None
    committed_at: datetime | None = None
    operations: list[Any] = []


class SignedFile(_Open):
    path: str
    table: str
    kind: str
    from_version: int
    version: int
    rows: int
    bytes: int
    sha256: str
    url: str


class SignedUrls(_Open):
    """Signed URLs for the files of a domain's current manifest (``POST /browser/urls``)."""

    domain: str
    snapshot_version: int
    expires_at: datetime
    files: list[SignedFile]


class QueryColumn(_Open):
    name: str
    type: str


class QueryResult(_Open):
    """A query result in the JSON format (``truncated``: the row limit cut it)."""

    columns: list[QueryColumn]
    rows: list[list[Any]]
    row_count: int
    truncated: bool = False


class DeployResult(_Open):
    """What ``POST /deployments`` did (``status``: created, activated or unchanged)."""

    fingerprint: str
    version: int
    status: str
    previous: str | None = None
    assets: int


class RunLogs(str):
    """The text of :meth:`Client.run_logs`, with the ``cursor`` to follow it from."""

    cursor: str

    def __new__(cls, text: str, cursor: str) -> RunLogs:
        logs = super().__new__(cls, text)
        logs.cursor = cursor
        return logs


class RunDetail(Run):
    """A run with its tasks (``GET /runs/{id}``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    tasks: list[Task] = []


def was_truncated(table: pa.Table) -> bool:
    """Whether the server's limits left rows out of a :meth:`Client.query` result."""
    return (table.schema.metadata or {}).get(TRUNCATED_METADATA) == b"true"


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_response(response: httpx.Response) -> RemoteError:
    """The typed exception for an error response (one JSON shape; anything else tolerated)."""
    code: str | None = None
    message = ""
    request_id = response.headers.get(REQUEST_ID_HEADER)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = err.get("code") if isinstance(err.get("code"), str) else None
        message = str(err.get("message") or "")
        request_id = str(err.get("request_id") or "") or request_id
    if not message:
        text = response.text.strip().replace("\n", " ")[:200] if response.content else ""
        message = f"HTTP {response.status_code}" + (f": {text}" if text else "")
    cls = error_class(code, response.status_code)
    return cls(
        message,
        status=response.status_code,
        code=code or cls.code,
        request_id=request_id,
        retry_after=_retry_after(response.headers.get("Retry-After")),
    )


class Client:
    """A client of an Arco server's REST API (``/api/v1``).

    ``url`` is the server's base URL (``http://127.0.0.1:8181``; a trailing ``/api/v1`` is
    accepted). Authentication: ``token`` (a bearer JWT) in production, or ``tenant`` /
    ``workspace`` sent as the development-mode scope headers. ``transport`` replaces httpx's
    (tests, ASGI apps, proxies).

    Catalog routes are on :attr:`catalog` (the method names and signatures of
    :class:`arco.catalog.Catalog`), materializations on :attr:`executions`; the rest are
    methods of the client itself. Entities come back as the library's own models.

    Failed requests raise :class:`arco.client.errors.RemoteError` subclasses that are also
    the matching :mod:`arco.errors` classes. Retryable failures (429 and 503 with their
    ``Retry-After``, other retryable codes, connection errors, timeouts) are retried up to
    ``retries`` times with exponential backoff; every attempt of a write carries the same
    ``Idempotency-Key`` (one generated per call unless given), so a retried write is applied
    once.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        tenant: str | None = None,
        workspace: str | None = None,
        timeout: float = 30,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        base = url.rstrip("/")
        if base.endswith(API_PREFIX):
            base = base[: -len(API_PREFIX)]
        self.base_url = base
        # what error messages show: never credentials embedded in the URL
        self._shown_url = str(httpx.URL(base).copy_with(username=None, password=None))
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        default_headers: dict[str, str] = {"User-Agent": "arco-client", **(headers or {})}
        if token:
            default_headers["Authorization"] = f"Bearer {token}"
        if tenant:
            default_headers[TENANT_HEADER] = tenant
        if workspace:
            default_headers[WORKSPACE_HEADER] = workspace
        self._http = httpx.Client(
            base_url=base,
            headers=default_headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )
        self.catalog = RemoteCatalog(self)
        self.executions = RemoteExecutions(self)

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    # --- the one request path -----------------------------------------------------------

    def request(
        self,
        method: Method,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        if_match: int | str | None = None,
        api: bool = True,
    ) -> httpx.Response:
        """Send one request (retried as described on the class); the successful response.

        ``path`` is relative to ``/api/v1`` (``api=False``: to the server root). A write
        (POST/PATCH/DELETE) always carries an ``Idempotency-Key``: ``idempotency_key`` or a
        new one, the same on every attempt.
        """
        sent: dict[str, str] = {REQUEST_ID_HEADER: uuid.uuid4().hex, **(headers or {})}
        if method in _MUTATIONS:
            sent[IDEMPOTENCY_HEADER] = idempotency_key or uuid.uuid4().hex
        if if_match is not None:
            sent["If-Match"] = f'"{if_match}"'
        query = {k: v for k, v in (params or {}).items() if v is not None}
        target = f"{API_PREFIX}{path}" if api else path
        attempt = 0
        while True:
            error: RemoteError
            try:
                response = self._http.request(
                    method, target, params=query or None, json=json, headers=sent
                )
            except httpx.TimeoutException as exc:
                error = RequestTimeoutError(
                    f"{method} {target}: no response within the timeout ({type(exc).__name__})"
                )
            except httpx.TransportError as exc:
                error = ConnectionFailedError(
                    f"{method} {target}: cannot reach {self._shown_url} ({type(exc).__name__}: {exc})"
                )
            else:
                if response.status_code < 400:
                    return response
                error = error_from_response(response)
            if attempt >= self.retries or not self._retryable(error):
                raise error
            time.sleep(self._delay(attempt, error.retry_after))
            attempt += 1

    @staticmethod
    def _retryable(error: RemoteError) -> bool:
        if error.code == "QUERY_TIMEOUT":
            return False
        return error.retryable or error.status in _RETRY_STATUSES

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        ceiling = min(self.max_backoff, self.backoff * 2.0**attempt)
        jitter: float = random.uniform(0.5, 1.0)
        return ceiling * jitter

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    # --- service --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /health`` (liveness)."""
        data: dict[str, Any] = self.request("GET", "/health", api=False).json()
        return data

    def ready(self) -> dict[str, Any]:
        """``GET /ready`` (storage reachable, compaction lag bounded); raises when not ready."""
        data: dict[str, Any] = self.request("GET", "/ready", api=False).json()
        return data

    # --- manifests and commits ----------------------------------------------------------

    def manifest(self, domain: str) -> Manifest:
        """The current manifest of ``domain`` (catalog, lineage, executions)."""
        return Manifest.model_validate(self.get_json(f"/manifests/{segment(domain)}"))

    def list_commits(
        self, domain: str, *, page_token: str | None = None, limit: int = DEFAULT_PAGE
    ) -> Page[CommitInfo]:
        """The commit history of ``domain``, newest first."""
        data = self.get_json(
            f"/commits/{segment(domain)}", {"page_token": page_token, "limit": limit}
        )
        return Page[CommitInfo].model_validate(data)

    # --- events -------------------------------------------------------------------------

    def append_events(
        self,
        events: Iterable[EventEnvelope | Mapping[str, Any]],
        *,
        source: str = "arco-client",
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Append events (envelopes, or bare payloads with an ``event_type``); their ids.

        Mappings are parsed here like ``arco events append`` lines, so every event has its
        ``event_id`` before the first attempt: a retried batch is deduplicated by id.
        """
        now_ms = SYSTEM_CLOCK.now_ms()
        new_id = increasing_ids()

        body = []
        for item in events:
            event = (
                item
                if isinstance(item, EventEnvelope)
                else parse_event(dict(item), source=source, now_ms=now_ms, new_id=new_id)
            )
            body.append(event.model_dump(mode="json"))
        response = self.request(
            "POST", "/events", json={"events": body}, idempotency_key=idempotency_key
        )
        ids = response.json().get("event_ids", [])
        return [str(i) for i in ids]

    # --- query --------------------------------------------------------------------------

    def query(self, sql: str) -> pa.Table:
        """Run read-only SQL on the server; the result as a ``pyarrow.Table`` (Arrow IPC).

        The server's row/byte limits may cut the result: :func:`was_truncated` tells (the
        schema metadata key ``arco.truncated``).
        """
        response = self.request(
            "POST",
            "/query",
            params={"format": "arrow"},
            json={"sql": sql},
            headers={"Accept": ARROW_STREAM},
        )
        with pa.ipc.open_stream(response.content) as reader:
            table = reader.read_all()
        truncated = response.headers.get(TRUNCATED_HEADER, "false").strip().lower() == "true"
        metadata = dict(table.schema.metadata or {})
        metadata[TRUNCATED_METADATA] = b"true" if truncated else b"false"
        return table.replace_schema_metadata(metadata)

    def query_json(self, sql: str) -> QueryResult:
        """Run read-only SQL; the JSON result (column types, rows, ``truncated``)."""
        response = self.request(
            "POST",
            "/query",
            params={"format": "json"},
            json={"sql": sql},
            headers={"Accept": "application/json"},
        )
        return QueryResult.model_validate(response.json())

    def query_csv(self, sql: str) -> str:
        """Run read-only SQL; the result as CSV text."""
        response = self.request(
            "POST",
            "/query",
            params={"format": "csv"},
            json={"sql": sql},
            headers={"Accept": "text/csv"},
        )
        return response.text

    # --- signed URLs and files ----------------------------------------------------------

    def mint_urls(
        self, domain: str, paths: Sequence[str] | None = None, ttl_seconds: int | None = None
    ) -> SignedUrls:
        """Signed URLs for the files of ``domain``'s current manifest (all, or ``paths``)."""
        body: dict[str, Any] = {"domain": domain}
        if paths is not None:
            body["paths"] = list(paths)
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        return SignedUrls.model_validate(self.request("POST", "/browser/urls", json=body).json())

    def fetch(self, url: str, *, start: int | None = None, end: int | None = None) -> bytes:
        """The bytes of a signed URL (absolute, or relative to the server); a range with
        ``start``/``end`` (inclusive)."""
        headers: dict[str, str] = {}
        if start is not None or end is not None:
            headers["Range"] = f"bytes={start or 0}-{'' if end is None else end}"
        absolute = urljoin(self.base_url + "/", url)
        if absolute.startswith(self.base_url + "/"):
            path = absolute[len(self.base_url) :]
            return self.request("GET", path, headers=headers, api=False).content
        # a native presigned URL (S3 ...): no credentials of ours go there
        with httpx.Client(timeout=self._http.timeout) as plain:
            response = plain.get(absolute, headers=headers)
        if response.status_code >= 400:
            raise error_from_response(response)
        return response.content

    # --- orchestration ------------------------------------------------------------------

    def deploy(self, manifest: DefinitionsManifest | Mapping[str, Any]) -> DeployResult:
        """Deploy a definitions manifest (``arco.orchestration.discovery.build_manifest``)
        to the workspace; deploying the current one again changes nothing."""
        body = (
            manifest.model_dump(mode="json")
            if isinstance(manifest, DefinitionsManifest)
            else dict(manifest)
        )
        return DeployResult.model_validate(self.request("POST", "/deployments", json=body).json())

    def deployment(self) -> DefinitionsManifest:
        """The manifest of the current deployment (NotFoundError if none)."""
        data = self.get_json("/deployments/current")
        return DefinitionsManifest.model_validate(data["manifest"])

    def assets(self) -> list[AssetSpec]:
        """Every asset of the current deployment, by key (empty if nothing is deployed)."""
        out: list[AssetSpec] = []
        token: str | None = None
        while True:
            data = self.get_json("/assets", {"page_token": token, "limit": 1000})
            out.extend(AssetSpec.model_validate(item) for item in data["items"])
            token = data.get("next_page_token")
            if not token:
                return out

    def asset_status(
        self, assets: Sequence[str] | None = None, *, status: str | None = None
    ) -> list[PartitionStatus]:
        """The status of every partition of the deployed assets (of ``assets`` only), by
        asset then partition: missing, materialized, stale (with the reason) or failed."""
        wanted = list(dict.fromkeys(assets or ()))
        if len(wanted) > _MAX_STATUS_ASSETS:  # more than a request names: filter here
            for key in wanted:  # NotFoundError as the server would say it
                self._asset_status([key], status, limit=1)
            keep = set(wanted)
            return [s for s in self._asset_status(None, status) if s.asset_key in keep]
        return self._asset_status(wanted or None, status)

    def _asset_status(
        self, assets: list[str] | None, status: str | None, limit: int = 1000
    ) -> list[PartitionStatus]:
        out: list[PartitionStatus] = []
        token: str | None = None
        while True:
            params = {"page_token": token, "limit": limit, "status": status, "asset": assets}
            data = self.get_json("/assets/status", params)
            out.extend(PartitionStatus.model_validate(item) for item in data["items"])
            token = data.get("next_page_token")
            if not token or limit == 1:
                return out

    def asset(self, key: str) -> AssetSpec:
        """One asset of the current deployment (``namespace/name``)."""
        path = "/assets/" + "/".join(segment(part) for part in key.split("/"))
        return AssetSpec.model_validate(self.get_json(path))

    def trigger_run(
        self,
        selection: str | Sequence[str],
        *,
        partitions: Sequence[str] | None = None,
        run_key: str | None = None,
        executor: str | None = None,
        priority: int = 0,
        tags: Mapping[str, str] | None = None,
    ) -> RunDetail:
        """Trigger a run of ``selection`` (``key``, ``+key``, ``key+``, ``tag:k=v``,
        ``group:g``). With ``run_key`` it is idempotent: the same key and request return
        the same run; the same key with another request raises IdempotencyConflictError.
        Without one, a retried request may trigger a second run."""
        body: dict[str, Any] = {
            "selection": [selection] if isinstance(selection, str) else list(selection),
            "priority": priority,
            "tags": dict(tags or {}),
        }
        if partitions is not None:
            body["partitions"] = list(partitions)
        if run_key is not None:
            body["run_key"] = run_key
        if executor is not None:
            body["executor"] = executor
        return RunDetail.model_validate(self.request("POST", "/runs", json=body).json())

    def list_runs(
        self,
        *,
        state: str | None = None,
        page_token: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page[Run]:
        """Runs, newest first (optionally only those in ``state``)."""
        data = self.get_json("/runs", {"state": state, "page_token": page_token, "limit": limit})
        return Page[Run].model_validate(data)

    def get_run(self, run_id: str) -> RunDetail:
        """A run with its tasks."""
        return RunDetail.model_validate(self.get_json(f"/runs/{segment(run_id)}"))

    def cancel_run(self, run_id: str, reason: str | None = None) -> RunDetail:
        """Ask a run to stop (its running attempts stop at their next heartbeat)."""
        body = {} if reason is None else {"reason": reason}
        response = self.request("POST", f"/runs/{segment(run_id)}/cancel", json=body)
        return RunDetail.model_validate(response.json())

    # --- automation -----------------------------------------------------------------------

    def schedules(self) -> list[ScheduleInfo]:
        """The schedules of the current deployment with their status, last and next tick."""
        return [ScheduleInfo.model_validate(i) for i in self.get_json("/schedules")["items"]]

    def schedule_ticks(self, name: str, limit: int = 100) -> list[Tick]:
        """A schedule's ticks, newest first."""
        data = self.get_json(f"/schedules/{segment(name)}/ticks", {"limit": limit})
        return [Tick.model_validate(i) for i in data["items"]]

    def set_schedule_status(self, name: str, status: Literal["running", "paused"]) -> None:
        """Pause (``paused``) or resume (``running``) a schedule."""
        action = "pause" if status == "paused" else "resume"
        self.request("POST", f"/schedules/{segment(name)}/{action}")

    def sensors(self) -> list[SensorInfo]:
        """The sensors of the current deployment with their status, cursor and last error."""
        return [SensorInfo.model_validate(i) for i in self.get_json("/sensors")["items"]]

    def set_sensor_status(self, name: str, status: Literal["running", "paused"]) -> None:
        """Pause (``paused``) or resume (``running``) a sensor."""
        action = "pause" if status == "paused" else "resume"
        self.request("POST", f"/sensors/{segment(name)}/{action}")

    def push(self, sensor: str, message_id: str, payload: Mapping[str, Any] | None = None) -> None:
        """Push a message to a push sensor (a message id pushed again is ignored)."""
        body = {"message_id": message_id, "payload": dict(payload or {})}
        self.request("POST", f"/sensors/{segment(sensor)}/messages", json=body)

    def backfills(self, state: str | None = None) -> list[Backfill]:
        """Backfills, newest first."""
        data = self.get_json("/backfills", {"state": state})
        return [Backfill.model_validate(i) for i in data["items"]]

    def create_backfill(
        self,
        assets: Sequence[str],
        *,
        partitions: Sequence[str] | None = None,
        first: str | None = None,
        last: str | None = None,
        chunk_size: int = 1,
        max_in_flight: int = 1,
        backfill_id: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Backfill:
        """Backfill ``partitions`` of ``assets`` (or the range ``first``..``last``)."""
        body: dict[str, Any] = {
            "assets": list(assets),
            "chunk_size": chunk_size,
            "max_in_flight": max_in_flight,
            "tags": dict(tags or {}),
        }
        for name, value in (
            ("partitions", None if partitions is None else list(partitions)),
            ("from", first),
            ("to", last),
            ("backfill_id", backfill_id),
        ):
            if value is not None:
                body[name] = value
        return Backfill.model_validate(self.request("POST", "/backfills", json=body).json())

    def backfill(self, backfill_id: str) -> Backfill:
        """One backfill with its chunks."""
        return Backfill.model_validate(self.get_json(f"/backfills/{segment(backfill_id)}"))

    def control_backfill(
        self, backfill_id: str, action: Literal["pause", "resume", "cancel", "retry"]
    ) -> Backfill:
        """Pause, resume, cancel or retry (a FAILED one) a backfill; the backfill after."""
        response = self.request("POST", f"/backfills/{segment(backfill_id)}/{action}")
        return Backfill.model_validate(response.json())

    def run_attempts(self, run_id: str, task: str | None = None) -> list[Attempt]:
        """The attempts of a run (or of one of its tasks)."""
        data = self.get_json(f"/runs/{segment(run_id)}/attempts", {"task": task})
        return [Attempt.model_validate(item) for item in data["items"]]

    def run_logs(
        self,
        run_id: str,
        *,
        task: str | None = None,
        attempt_id: str | None = None,
        after: str | None = None,
    ) -> RunLogs:
        """The captured output of a run's attempts, as text (a ``str``) whose ``cursor``,
        passed back as ``after`` with the same ``task`` and ``attempt_id``, gets only what
        was stored since: follow a run by printing each answer as it is."""
        params = {"task": task, "attempt_id": attempt_id, "after": after}
        response = self.request("GET", f"/runs/{segment(run_id)}/logs", params=params)
        return RunLogs(response.text, response.headers.get(LOG_CURSOR_HEADER, ""))
