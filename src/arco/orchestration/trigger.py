"""From a run request to the ``run_triggered`` event: plan the selection against a deployed
manifest and freeze what the run will do (tasks, dependencies, retry policies, pools).
:func:`run_triggered` builds the payload of the whole run; :meth:`Runs.trigger
<arco.orchestration.runs.Runs.trigger>` appends it as one event, or as several parts
when it is too large for one (a 10,000-task plan is two).

A request is identified by :func:`request_hash` over its canonical JSON (selection,
partitions, executor, priority, tags, deployment, parent run): the run state machine and
``run_key`` idempotency compare those hashes, so the same key with another request is
refused rather than guessed at.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from arco.core import canonical_json
from arco.core.ids import new_ulid
from arco.orchestration.manifest import AssetSpec, DefinitionsManifest
from arco.orchestration.planner import DEFAULT_MAX_TASKS, plan
from arco.orchestration.runs.payloads import RetryV1, RunTriggeredV1, TaskSpecV1

__all__ = ["POOL_TAG", "RunRequest", "request_hash", "run_triggered"]

#: an asset tag naming the concurrency pools its tasks count against (comma-separated)
POOL_TAG = "pool"


@dataclass(frozen=True)
class RunRequest:
    """What a caller asks to run."""

    selection: tuple[str, ...]
    partitions: tuple[str, ...] | None = None
    executor: str = "inprocess"
    priority: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)
    run_key: str | None = None
    #: re-execution: the run this one repeats, the tasks that stay done and their outputs
    parent_run_id: str | None = None
    done: tuple[str, ...] = ()
    outputs: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    max_tasks: int = DEFAULT_MAX_TASKS


def request_hash(request: RunRequest, deployment: str | None) -> str:
    """sha256 of the canonical JSON of everything that makes two requests the same."""
    body = {
        "deployment": deployment,
        "executor": request.executor,
        "parent_run_id": request.parent_run_id,
        "partitions": None if request.partitions is None else list(request.partitions),
        "priority": request.priority,
        "selection": list(request.selection),
        "tags": dict(sorted(request.tags.items())),
        "done": sorted(request.done),
    }
    return hashlib.sha256(canonical_json.canonical_dumps(body)).hexdigest()


def _pools(spec: AssetSpec) -> list[str]:
    raw = spec.tags.get(POOL_TAG, "")
    return sorted({p.strip() for p in raw.split(",") if p.strip()})


def _task(
    spec: AssetSpec, key: str, partition: str, stage: int, upstream: Sequence[str]
) -> TaskSpecV1:
    retry = spec.retry
    return TaskSpecV1(
        task_key=key,
        asset_key=spec.key,
        partition_key=partition,
        stage=stage,
        upstream=list(upstream),
        max_attempts=retry.max_attempts,
        retry=RetryV1(
            backoff_s=retry.backoff_s,
            factor=retry.factor,
            max_backoff_s=retry.max_backoff_s,
            jitter=retry.jitter,
        ),
        timeout_s=spec.timeout_s,
        pools=_pools(spec),
    )


def run_triggered(
    manifest: DefinitionsManifest,
    deployment: str | None,
    request: RunRequest,
    *,
    run_id: str | None = None,
) -> RunTriggeredV1:
    """Plan ``request`` against ``manifest`` (ValidationError naming the problem) and build
    the payload of its ``run_triggered`` event."""
    planned = plan(manifest, request.selection, request.partitions, max_tasks=request.max_tasks)
    specs = {a.key: a for a in manifest.assets}
    tasks = [
        _task(specs[t.asset_key], t.key, t.partition, t.stage, t.upstream) for t in planned.tasks
    ]
    keys = {t.task_key for t in tasks}
    done = [k for k in request.done if k in keys]
    return RunTriggeredV1(
        run_id=run_id or new_ulid(),
        run_key=request.run_key,
        request_hash=request_hash(request, deployment),
        deployment=deployment,
        plan_fingerprint=planned.fingerprint,
        selection=list(request.selection),
        executor=request.executor,
        priority=request.priority,
        tags=dict(request.tags),
        parent_run_id=request.parent_run_id,
        tasks=tasks,
        done=done,
        outputs={k: dict(v) for k, v in request.outputs.items() if k in set(done)},
    )
