"""Routes: orchestration — deployments, assets, runs, their logs, and the HTTP workers'
poll and callbacks (ADR 015; docs/api.md).

Users (a user token, or the development scope headers) deploy definitions, list assets
and trigger, read and cancel runs of their workspace. ``arco worker`` processes poll with
the same credentials and call back with the task token of their attempt
(:mod:`arco.server.task_tokens`), which alone authorizes the ``/attempts/{id}/...`` routes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

import jwt
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from arco.core.clock import SYSTEM_CLOCK
from arco.core.paging import Page, Sorted, paginate
from arco.errors import NotFoundError, ValidationError
from arco.orchestration.deploy import current, deploy
from arco.orchestration.dispatch import TaskEnvelope, TaskResult
from arco.orchestration.executors.http import HttpExecutor
from arco.orchestration.logs import LOG_CURSOR_HEADER, render_logs
from arco.orchestration.manifest import AssetSpec, DefinitionsManifest
from arco.orchestration.runs import (
    ATTEMPT_ACTIVE,
    CANCELLED,
    FAILED,
    RUN_STATES,
    RUN_TERMINAL,
    SUCCEEDED,
    Attempt,
    Run,
    Runs,
    Task,
    attempt_completed,
    attempt_heartbeat,
    attempt_started,
)
from arco.orchestration.status import PartitionStatus, Status, workspace_statuses
from arco.orchestration.trigger import RunRequest, run_triggered
from arco.orchestration.worker import WorkerConfig
from arco.server.auth import unauthenticated
from arco.server.deps import Caller, CallerWorkspace, services
from arco.server.errors import ApiError
from arco.server.jwt_auth import bearer_token
from arco.server.orchestration import Orchestrators
from arco.server.task_tokens import TaskClaims
from arco.server.wire import (
    API_DEPENDENCIES,
    ASSET_KEY_SCHEMA,
    DEFAULT_LIMIT,
    IdempotencyKey,
    Limit,
    PageToken,
    error_responses,
)

__all__ = ["MAX_STATUS_ASSETS", "callbacks", "router"]

#: the most assets one ``GET /assets/status`` names (their keys at most MAX_ASSET_KEY
#: characters): the request line of a longer list may exceed what the HTTP server reads
MAX_STATUS_ASSETS = 16
MAX_ASSET_KEY = 255

log = logging.getLogger("arco.server.orchestration")

router = APIRouter(tags=["orchestration"], dependencies=API_DEPENDENCIES)
#: the worker callbacks: authenticated by the task token alone (no scope headers)
callbacks = APIRouter(tags=["workers"])

_ID = r"^[0-9A-Za-z]{1,64}$"


def _orchestrators(request: Request) -> Orchestrators:
    found = services(request).orchestrators
    if found is None:  # pragma: no cover - Services.start always makes one
        raise ApiError(404, "NOT_FOUND", "this server does not run pipelines")
    return found


# --- models -------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeploymentResult(BaseModel):
    """What ``POST /deployments`` did."""

    fingerprint: str = Field(description="sha256 of the manifest's canonical JSON")
    version: int = Field(description="the deployment pointer's version (1 for the first)")
    status: Literal["created", "activated", "unchanged"] = Field(
        description="created: new definitions; activated: known definitions made current "
        "again; unchanged: already current (nothing written)"
    )
    previous: str | None = Field(description="the fingerprint it replaced")
    assets: int


class CurrentDeployment(BaseModel):
    """The current deployment of the workspace."""

    fingerprint: str
    version: int
    deployed_at: str
    code_location: str | None = None
    manifest: DefinitionsManifest


class TriggerBody(_Body):
    """``POST /runs``: what to run."""

    selection: list[str] = Field(
        min_length=1,
        max_length=1000,
        description="asset keys, `+key` (with its upstream), `key+` (with its downstream), "
        "`tag:k=v`, `group:g`",
        examples=[["+sales/report"]],
    )
    partitions: list[str] | None = Field(
        default=None, max_length=10_000, description="partition keys (absent: all / none)"
    )
    run_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="idempotency: the same key and request return the same run (200); the "
        "same key with another request is 409",
    )
    executor: str | None = Field(
        default=None, description="must be the server's executor (`arco serve --executor`)"
    )
    priority: int = Field(default=0, ge=-1000, le=1000)
    tags: dict[str, str] = Field(default_factory=dict)


class RunDetail(Run):
    """A run with its tasks (by task key)."""

    tasks: list[Task]


class CancelBody(_Body):
    reason: str | None = Field(default=None, max_length=500)


class AttemptList(BaseModel):
    items: list[Attempt]


class PollBody(_Body):
    """``POST /workers/poll``: who polls, and how long it waits."""

    worker: str = Field(min_length=1, max_length=200, description="the worker's id")
    slots: int = Field(default=1, ge=1, le=1024, description="attempts the worker runs at once")
    wait_s: float = Field(
        default=20.0, ge=0, le=60, description="longest wait (capped by the server's)"
    )


class PollResult(BaseModel):
    """An attempt for the worker: its envelope (with ``callback_url`` and ``token``)."""

    envelope: TaskEnvelope


class StartedBody(_Body):
    worker: str | None = Field(default=None, min_length=1, max_length=200)


class HeartbeatBody(_Body):
    seq: int = Field(ge=1, le=1 << 40, description="1, 2, ... per attempt (retries repeat it)")
    worker: str | None = Field(default=None, min_length=1, max_length=200)
    slots: int = Field(default=1, ge=1, le=1024)


class HeartbeatReply(BaseModel):
    cancel: bool = Field(
        description="stop the attempt: its run is cancelling, or it is no longer the "
        "task's current attempt (it was timed out)"
    )
    token: str = Field(description="a renewed task token for the next callbacks")


class CallbackReply(BaseModel):
    accepted: bool = Field(
        description="false: the attempt is no longer the task's current one (timed out, "
        "superseded, already ended differently); the report changed nothing"
    )
    reason: str | None = None


# --- deployments and assets -------------------------------------------------------------


@router.post(
    "/deployments",
    status_code=201,
    response_model=DeploymentResult,
    summary="Deploy a definitions manifest (idempotent)",
    description="The body is the manifest `arco deploy` builds (canonical JSON of the "
    "asset definitions). 201 when it became current, 200 when it already was. Asset code "
    "is not uploaded: workers and the server load it from their code location.",
    responses={
        **error_responses(400, 409, 413),
        200: {"model": DeploymentResult, "description": "already current: nothing changed"},
    },
)
def deploy_manifest(
    body: DefinitionsManifest, caller: Caller, request: Request, response: Response
) -> DeploymentResult:
    svc = _orchestrators(request)
    result = deploy(svc.store(caller.scope), body)
    status: Literal["created", "activated", "unchanged"] = (
        "created" if result.created else "unchanged" if result.unchanged else "activated"
    )
    if result.unchanged:
        response.status_code = 200
    return DeploymentResult(
        fingerprint=result.fingerprint,
        version=result.version,
        status=status,
        previous=result.previous,
        assets=len(body.assets),
    )


def _current(svc: Orchestrators, caller: Caller) -> CurrentDeployment:
    found = current(svc.store(caller.scope))
    if found is None:
        raise NotFoundError("deployment: nothing is deployed to this workspace")
    pointer, manifest = found
    return CurrentDeployment(
        fingerprint=pointer.fingerprint,
        version=pointer.version,
        deployed_at=pointer.deployed_at,
        code_location=pointer.code_location,
        manifest=manifest,
    )


@router.get(
    "/deployments/current",
    response_model=CurrentDeployment,
    summary="The current deployment and its manifest",
    responses=error_responses(404),
)
def current_deployment(caller: Caller, request: Request) -> CurrentDeployment:
    return _current(_orchestrators(request), caller)


@router.get(
    "/assets",
    response_model=Page[AssetSpec],
    summary="The assets of the current deployment, by key",
    description="An empty page when nothing is deployed.",
    responses=error_responses(400),
)
def list_assets(
    caller: Caller,
    request: Request,
    page_token: PageToken = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AssetSpec]:
    found = current(_orchestrators(request).store(caller.scope))
    assets = [] if found is None else list(found[1].assets)
    rows, token = paginate(Sorted([a.key for a in assets], assets), page_token, limit)
    return Page[AssetSpec](items=rows, next_page_token=token)


@router.get(
    "/assets/status",
    response_model=Page[PartitionStatus],
    summary="The status of each partition of the deployed assets",
    description="One item per asset partition (`partition_key` empty for an unpartitioned "
    "asset), by asset then partition: `missing`, `materialized`, `stale` (the reason: code "
    "version changed, an upstream partition materialized later, freshness exceeded) or "
    "`failed` (its last task failed after its newest materialization). Derived from the "
    "current deployment, the materializations and the runs' tasks. An empty page when "
    "nothing is deployed.",
    responses=error_responses(400, 404),
)
def asset_status(
    caller: Caller,
    ws: CallerWorkspace,
    request: Request,
    asset: Annotated[
        list[Annotated[str, StringConstraints(max_length=MAX_ASSET_KEY)]] | None,
        Query(
            description="only these assets (`namespace/name`, repeatable, at most "
            f"{MAX_STATUS_ASSETS})",
            max_length=MAX_STATUS_ASSETS,
        ),
    ] = None,
    status: Annotated[Status | None, Query(description="only partitions in this status")] = None,
    page_token: PageToken = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[PartitionStatus]:
    svc = _orchestrators(request)
    items = workspace_statuses(
        svc.store(caller.scope),
        ws.executions.state(),
        svc.runs(caller.scope).state(),
        now_ms=SYSTEM_CLOCK.now_ms(),
        assets=asset,
        status=status,
    )
    keys = [f"{s.asset_key}\x00{s.partition_key}" for s in items]
    rows, token = paginate(Sorted(keys, items), page_token, limit)
    return Page[PartitionStatus](items=rows, next_page_token=token)


@router.get(
    "/assets/{asset:path}",
    response_model=AssetSpec,
    summary="One asset of the current deployment (`namespace/name`)",
    responses=error_responses(400, 404),
)
def get_asset(
    asset: Annotated[str, Path(json_schema_extra=ASSET_KEY_SCHEMA)],
    caller: Caller,
    request: Request,
) -> AssetSpec:
    found = current(_orchestrators(request).store(caller.scope))
    if found is not None:
        for spec in found[1].assets:
            if spec.key == asset:
                return spec
    raise NotFoundError(f"asset {asset!r} is not in the current deployment")


# --- runs ---------------------------------------------------------------------------------


def _as_json(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """Error responses of a route whose success is not JSON: their media type stated
    (FastAPI would document them as the route's)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status, given in responses.items():
        response = dict(given)
        if response.pop("model", None) is not None:
            schema = {"$ref": "#/components/schemas/ErrorResponse"}
            response["content"] = {"application/json": {"schema": schema}}
        out[status] = response
    return out


def _detail(runs: Runs, run_id: str) -> RunDetail:
    run = runs.get_run(run_id)
    return RunDetail(**run.model_dump(), tasks=runs.tasks(run_id))


RunId = Annotated[str, Path(pattern=_ID, description="the run's id (a ULID)")]


@router.post(
    "/runs",
    status_code=201,
    response_model=RunDetail,
    summary="Trigger a run of a selection of the current deployment",
    description="Plans the selection (with upstream/downstream expansion) against the "
    "current deployment and queues the run; the server's controller runs it. With "
    "`run_key`: the same key and request again answer 200 with the same run; the same key "
    "with a different request (or deployment) is 409 `IDEMPOTENCY_KEY_REUSED`. Without "
    "`run_key`, an `Idempotency-Key` header does the same (the run's `run_key` is then "
    "`idempotency-key:{key}`).",
    responses={
        **error_responses(400, 409, 413, location=201),
        200: {
            "model": RunDetail,
            "description": "the run recorded for this `run_key` and request",
            "headers": {"Location": {"description": "the run's URL", "schema": {"type": "string"}}},
        },
    },
)
def trigger_run(
    body: TriggerBody,
    caller: Caller,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RunDetail:
    svc = _orchestrators(request)
    executor = body.executor or svc.executor_name
    if executor != svc.executor_name:
        raise ValidationError(
            f"executor: this server runs tasks with {svc.executor_name!r} "
            f"(arco serve --executor; got {executor!r})"
        )
    found = current(svc.store(caller.scope))
    if found is None:
        raise ValidationError(
            "deployment: nothing is deployed to this workspace (POST /deployments)"
        )
    pointer, manifest = found
    # a retried POST without a run_key is made safe by its Idempotency-Key header
    run_key = body.run_key
    if run_key is None and idempotency_key is not None:
        run_key = f"idempotency-key:{idempotency_key}"
    run_request = RunRequest(
        selection=tuple(body.selection),
        partitions=None if body.partitions is None else tuple(body.partitions),
        executor=executor,
        priority=body.priority,
        tags=dict(body.tags),
        run_key=run_key,
    )
    payload = run_triggered(manifest, pointer.fingerprint, run_request)
    orchestrator = svc.get(caller.scope)
    run_id = orchestrator.runs.trigger(payload, run_key=run_key)
    orchestrator.controller.wake()
    if run_id != payload.run_id:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/runs/{run_id}"
    return _detail(orchestrator.runs, run_id)


@router.get(
    "/runs",
    response_model=Page[Run],
    summary="Runs, newest first",
    responses=error_responses(400),
)
def list_runs(
    caller: Caller,
    request: Request,
    state: Annotated[
        str | None,
        Query(description="only runs in this state", json_schema_extra={"enum": list(RUN_STATES)}),
    ] = None,
    page_token: PageToken = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[Run]:
    runs = _orchestrators(request).runs(caller.scope)
    return runs.list_runs(state=state, page_token=page_token, limit=limit)


@router.get(
    "/runs/{run_id}",
    response_model=RunDetail,
    summary="A run with its tasks",
    description="Reading an unfinished run starts the workspace's controller on this "
    "server if it does not run yet (after a restart, say).",
    responses=error_responses(400, 404),
)
def get_run(run_id: RunId, caller: Caller, request: Request) -> RunDetail:
    svc = _orchestrators(request)
    detail = _detail(svc.runs(caller.scope), run_id)
    if detail.state not in RUN_TERMINAL and not svc.running(caller.scope):
        # an unfinished run of a workspace this server does not drive yet (it restarted):
        # start its controller, so that watching a run is enough to see it finish
        svc.get(caller.scope)
    return detail


@router.post(
    "/runs/{run_id}/cancel",
    response_model=RunDetail,
    summary="Cancel a run",
    description="Waiting tasks are cancelled at once; running attempts are told by their "
    "next heartbeat and the run ends CANCELLED once they stopped (or their grace period "
    "passed). Cancelling a finished run changes nothing.",
    responses=error_responses(400, 404, 413),
)
def cancel_run(
    run_id: RunId, caller: Caller, request: Request, body: CancelBody | None = None
) -> RunDetail:
    svc = _orchestrators(request)
    runs = svc.runs(caller.scope)
    if runs.get_run(run_id).state in RUN_TERMINAL:  # (404 before starting anything)
        return _detail(runs, run_id)
    orchestrator = svc.get(caller.scope)
    orchestrator.cancel(run_id, None if body is None else body.reason)
    return _detail(orchestrator.runs, run_id)


@router.get(
    "/runs/{run_id}/attempts",
    response_model=AttemptList,
    summary="The attempts of a run (or of one task), oldest first per task",
    responses=error_responses(400, 404),
)
def list_attempts(
    run_id: RunId,
    caller: Caller,
    request: Request,
    task: Annotated[str | None, Query(max_length=1000, description="a task key")] = None,
) -> AttemptList:
    runs = _orchestrators(request).runs(caller.scope)
    return AttemptList(items=runs.attempts(run_id, task))


@router.get(
    "/runs/{run_id}/logs",
    response_class=PlainTextResponse,
    summary="The captured output of a run's attempts",
    description="Text: each attempt's captured stdout, stderr and log records (stored in "
    "chunks under `logs/{run_id}/{attempt_id}/`) under a `==> task attempt n (id) <==` "
    "line, in task and attempt order; with `attempt_id`, that attempt's log alone. "
    "Attempts without output are left out; a header always starts a line. The answer's "
    f"`{LOG_CURSOR_HEADER}` header is a cursor: passed back as `after` (with the same "
    "`task` and `attempt_id`), the answer holds only the chunks stored since (those of "
    "the attempt printed last first), with a header only where the attempt differs from "
    "the one printed last, so a follower prints each answer as it comes. The cursor is "
    "opaque (comma-separated keys under `logs/{run_id}/`); a value of another form is "
    "refused with 400.",
    responses={
        **_as_json(error_responses(400, 404)),
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "headers": {
                LOG_CURSOR_HEADER: {
                    "description": "pass as `after` to get only what is stored since",
                    "schema": {"type": "string"},
                }
            },
        },
    },
)
def run_logs(
    run_id: RunId,
    caller: Caller,
    request: Request,
    task: Annotated[str | None, Query(max_length=1000, description="a task key")] = None,
    attempt_id: Annotated[str | None, Query(pattern=_ID, description="one attempt")] = None,
    after: Annotated[
        str | None,
        Query(
            # a longer one (percent-encoded) would exceed what the HTTP server reads of a
            # request line, and answer its own text/plain 400
            max_length=4096,
            description=f"a cursor from the `{LOG_CURSOR_HEADER}` header of a previous answer",
        ),
    ] = None,
) -> PlainTextResponse:
    svc = _orchestrators(request)
    attempts = svc.runs(caller.scope).attempts(run_id, task)  # before the chunks are listed
    if attempt_id is not None:
        attempts = [a for a in attempts if a.attempt_id == attempt_id]
        if not attempts:
            raise NotFoundError(f"run {run_id!r} has no attempt {attempt_id!r}")
    page = render_logs(
        svc.store(caller.scope),
        run_id,
        attempts,
        after=after,
        headers=attempt_id is None,
        others=task is None and attempt_id is None,
    )
    return PlainTextResponse(page.text, headers={LOG_CURSOR_HEADER: page.cursor})


# --- workers ------------------------------------------------------------------------------


@router.get(
    "/workers/config",
    response_model=WorkerConfig,
    summary="What an `arco worker` of the caller's workspace needs",
    description="The store URL the worker reads and writes data in directly, the scope, "
    "the server's executor (workers only get attempts when it is `http`), the code "
    "location and the longest poll wait.",
    responses=error_responses(),
)
def worker_config(caller: Caller, request: Request) -> WorkerConfig:
    svc = _orchestrators(request)
    code = svc.settings.code_location
    if code is None:
        found = current(svc.store(caller.scope))
        code = None if found is None else found[0].code_location
    return WorkerConfig(
        store_url=svc.store_url,
        tenant=caller.tenant,
        workspace=caller.workspace,
        executor=svc.executor_name,
        code_location=code,
        poll_wait_s=svc.settings.poll_wait_s,
    )


_POLL_STEP_S = 0.02


@router.post(
    "/workers/poll",
    response_model=PollResult,
    summary="Take one attempt (long poll)",
    description="Waits up to `wait_s` (at most the server's limit, 20 s by default) for an "
    "attempt of the caller's workspace: 200 with its envelope, or 204. The envelope's "
    "`token` authorizes the attempt's callbacks. 409 when the server does not dispatch to "
    "HTTP workers (`arco serve --executor http`).",
    responses={**error_responses(400, 409, 413), 204: {"description": "no attempt to run"}},
)
async def poll(body: PollBody, caller: Caller, request: Request) -> Any:
    svc = _orchestrators(request)
    if not svc.http:
        raise ApiError(
            409,
            "CONFLICT",
            f"this server runs tasks with the {svc.executor_name!r} executor; "
            "HTTP workers need `arco serve --executor http`",
        )
    executor: HttpExecutor = await run_in_threadpool(svc.http_executor, caller.scope)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(body.wait_s, svc.settings.poll_wait_s)
    while True:
        if await request.is_disconnected():
            return Response(status_code=204)
        envelope = executor.take(body.worker, body.slots, 0.0)
        if envelope is not None:
            return PollResult(envelope=envelope)
        if loop.time() >= deadline:
            return Response(status_code=204)
        await asyncio.sleep(_POLL_STEP_S)


# --- callbacks ----------------------------------------------------------------------------


def _task_claims(
    request: Request,
    attempt_id: Annotated[str, Path(pattern=_ID, description="the attempt's id")],
) -> TaskClaims:
    """The claims of the request's task token, which must be for ``attempt_id``: 401 when
    it is missing, forged or expired, 403 when it is another attempt's."""
    svc = _orchestrators(request)
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise unauthenticated("a task token for this attempt is required")
    try:
        claims = svc.tokens.verify(token)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        log.info("rejected task token: %s", type(exc).__name__)
        raise unauthenticated("the task token is invalid or expired") from None
    if claims.attempt_id != attempt_id:
        raise ApiError(403, "FORBIDDEN", "the task token is for another attempt")
    services(request).rate_limiter.charge(claims.scope.tenant, "request")
    request.state.principal = claims.scope
    return claims


Claims = Annotated[TaskClaims, Depends(_task_claims)]


def _known(svc: Orchestrators, claims: TaskClaims) -> Runs:
    """The runs of the token's workspace (its orchestrator started) holding the attempt."""
    runs = svc.get(claims.scope).runs
    row = runs.state().attempts.get(claims.attempt_id)
    if row is None or row.run_id != claims.run_id or row.task_key != claims.task_key:
        raise NotFoundError(f"attempt {claims.attempt_id!r} does not exist")
    return runs


def _current_attempt(runs: Runs, claims: TaskClaims) -> tuple[str | None, str | None]:
    """The attempt's state, and the task's current attempt id."""
    state = runs.state()
    row = state.attempts.get(claims.attempt_id)
    task = state.task(claims.run_id, claims.task_key)
    return (None if row is None else row.state), (None if task is None else task.attempt_id)


_CALLBACK_ERRORS = error_responses(400, 403, 404, 413)


@callbacks.post(
    "/attempts/{attempt_id}/started",
    response_model=CallbackReply,
    summary="Worker callback: the attempt started",
    description="Authorized by the attempt's task token only. `accepted: false` when the "
    "attempt is no longer the task's current one (the worker should not run it).",
    responses=_CALLBACK_ERRORS,
)
def attempt_started_callback(
    claims: Claims, request: Request, body: StartedBody | None = None
) -> CallbackReply:
    svc = _orchestrators(request)
    runs = _known(svc, claims)
    worker = None if body is None else body.worker
    event = attempt_started(claims.run_id, claims.task_key, claims.attempt_id, worker)
    runs.append([event])
    svc.get(claims.scope).controller.wake()
    state, current_id = _current_attempt(runs, claims)
    if state in ATTEMPT_ACTIVE and current_id == claims.attempt_id:
        return CallbackReply(accepted=True)
    return CallbackReply(accepted=False, reason=f"attempt {claims.attempt_id} is {state}")


@callbacks.post(
    "/attempts/{attempt_id}/heartbeat",
    response_model=HeartbeatReply,
    summary="Worker callback: the attempt is alive (the reply may say cancel)",
    description="Authorized by the attempt's task token only. The reply carries a renewed "
    "token; `cancel: true` asks the worker to stop the attempt.",
    responses=_CALLBACK_ERRORS,
)
def attempt_heartbeat_callback(
    body: HeartbeatBody, claims: Claims, request: Request
) -> HeartbeatReply:
    svc = _orchestrators(request)
    runs = _known(svc, claims)
    executor = svc.get(claims.scope).executor
    if isinstance(executor, HttpExecutor) and body.worker is not None:
        executor.seen(body.worker, body.slots)
    event = attempt_heartbeat(claims.run_id, claims.task_key, claims.attempt_id, body.seq)
    runs.append([event])
    row = runs.state().attempts.get(claims.attempt_id)
    cancel = row is None or row.cancel_requested or row.state not in ATTEMPT_ACTIVE
    if isinstance(executor, HttpExecutor) and executor.is_cancelled(claims.attempt_id):
        cancel = True
    return HeartbeatReply(cancel=cancel, token=svc.tokens.renew(claims))


@callbacks.post(
    "/attempts/{attempt_id}/completed",
    response_model=CallbackReply,
    summary="Worker callback: the attempt ended (success or failure)",
    description="Authorized by the attempt's task token only. The body is the task "
    "result. A repeated report (a retry) answers as the first did. `accepted: false` "
    "(still 200: the report is well-formed, there is nothing to retry) when the attempt is "
    "no longer the task's current one, e.g. the late report of an attempt the heartbeat "
    "timeout already failed: it changes nothing.",
    responses=_CALLBACK_ERRORS,
)
def attempt_completed_callback(body: TaskResult, claims: Claims, request: Request) -> CallbackReply:
    svc = _orchestrators(request)
    runs = _known(svc, claims)
    event = attempt_completed(
        claims.run_id,
        claims.task_key,
        claims.attempt_id,
        body.status,
        error=body.error,
        error_category=body.error_category,
        retryable=body.retryable,
        output=body.output,
    )
    runs.append([event])
    svc.get(claims.scope).controller.wake()
    state, _ = _current_attempt(runs, claims)
    # a failure of an attempt its run asked to stop is recorded CANCELLED
    expected = (SUCCEEDED,) if body.status == "succeeded" else (FAILED, CANCELLED)
    if state in expected:
        return CallbackReply(accepted=True)
    return CallbackReply(
        accepted=False,
        reason=f"attempt {claims.attempt_id} is {state}: a late or repeated report",
    )
