"""Payloads of the event types the ``runs`` domain applies, one strict model per version.

Every payload names its ``run_id``. Canonical JSON (the only form an event payload has) has
no floats, so the few fractional numbers of a payload (the retry policy, ``timeout_s``) are
written as decimal strings such as ``"1.5"`` (or as integers); :func:`number_text` makes
that form and the models accept it back.

A payload that does not validate is quarantined by the compactor with a reason naming the
field (``payload.<field>``); a payload that validates but is not a legal transition from
the state it meets folds to ``stale`` (see :mod:`arco.orchestration.runs.folds`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, NoReturn, TypeVar

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator, model_validator

from arco.core.assets import AssetKey
from arco.core.canonical_json import canonical_dumps
from arco.core.partitions import PartitionKey
from arco.errors import ValidationError, preview
from arco.tier2.envelope import MAX_PAYLOAD_BYTES, rule_error, shape_error

__all__ = [
    "AttemptCompletedV1",
    "AttemptHeartbeatV1",
    "AttemptStartedV1",
    "AttemptTimedOutV1",
    "RetryV1",
    "RunCancelRequestedV1",
    "RunTriggeredV1",
    "TaskDispatchedV1",
    "TaskSpecV1",
    "number_text",
    "split_trigger",
]

_MAX_INT64 = (1 << 63) - 1
#: longest id (run, attempt, request hash, fingerprint) and longest task key
MAX_ID = 128
MAX_TASK_KEY = 1024
MAX_ATTEMPTS = 100
#: most parts one run's ``run_triggered`` may be split into
MAX_PARTS = 10_000

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)


def number_text(value: float) -> str | int:
    """How a fractional number is written in a payload: an int as itself, else its repr."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return repr(float(value))


def _number(value: object) -> object:
    """Accept an int, a float (built in Python) or a decimal string as a finite float."""
    if isinstance(value, bool):
        return value  # the strict float check rejects it
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            rule_error(f"must be a number or a decimal string (got {preview(value)})")
        if not math.isfinite(parsed):
            rule_error(f"must be a finite number (got {preview(value)})")
        return parsed
    if isinstance(value, float) and not math.isfinite(value):
        rule_error(f"must be a finite number (got {preview(value)})")
    return value


Number = Annotated[float, BeforeValidator(_number)]


def _text(value: str, lo: int, hi: int) -> str:
    if not lo <= len(value) <= hi or not value.isprintable():
        rule_error(f"must be {lo}-{hi} printable characters (got {preview(value)})")
    return value


def _id(value: str) -> str:
    return _text(value, 1, MAX_ID)


def _run_id(value: str) -> str:
    """A run id: an id without spaces (task rows are keyed ``"{run_id} {task_key}"``)."""
    if " " in value:
        rule_error(f"must not contain a space (got {preview(value)})")
    return _id(value)


def _optional_id(value: str | None) -> str | None:
    return None if value is None else _id(value)


def _task_key(value: str) -> str:
    return _text(value, 1, MAX_TASK_KEY)


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], payload: Mapping[str, Any], nullable: frozenset[str], what: str) -> M:
    try:
        return model.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise shape_error(exc, "payload.", nullable, what) from None


class RetryV1(BaseModel):
    """Backoff of a task's retries: attempt ``n + 1`` waits ``min(max_backoff_s, backoff_s *
    factor**(n - 1))`` seconds after attempt ``n`` failed, spread by up to ``jitter`` of
    itself (see :func:`arco.orchestration.runs.folds.retry_delay_ms`)."""

    model_config = _STRICT

    backoff_s: Number = 1.0
    factor: Number = 2.0
    max_backoff_s: Number = 300.0
    jitter: Number = 0.1

    @field_validator("backoff_s", "max_backoff_s")
    @classmethod
    def _non_negative(cls, v: float) -> float:
        if v < 0:
            rule_error(f"must be at least 0 (got {preview(v)})")
        return v

    @field_validator("factor")
    @classmethod
    def _factor(cls, v: float) -> float:
        if v < 1:
            rule_error(f"must be at least 1 (got {preview(v)})")
        return v

    @field_validator("jitter")
    @classmethod
    def _jitter(cls, v: float) -> float:
        if not 0 <= v <= 1:
            rule_error(f"must be from 0 to 1 (got {preview(v)})")
        return v

    def to_json(self) -> dict[str, str | int]:
        """The payload form (fractions as decimal strings)."""
        return {
            "backoff_s": number_text(self.backoff_s),
            "factor": number_text(self.factor),
            "jitter": number_text(self.jitter),
            "max_backoff_s": number_text(self.max_backoff_s),
        }


# a run's keys are validated when it is planned, appended and folded: parse each once
@functools.lru_cache(maxsize=1 << 16)
def _canonical_asset_key(value: str) -> str:
    return str(AssetKey.parse(value))


@functools.lru_cache(maxsize=1 << 16)
def _canonical_partition_key(value: str) -> str:
    return PartitionKey.parse(value).canonical()


class TaskSpecV1(BaseModel):
    """One task of a triggered run, as planned."""

    model_config = _STRICT

    task_key: str
    asset_key: str
    #: ``""`` when the asset is unpartitioned, else a canonical partition key
    partition_key: str = ""
    stage: int = 0
    #: task keys of the same run this task depends on
    upstream: list[str] = []
    max_attempts: int = 1
    retry: RetryV1 = RetryV1()
    timeout_s: Number | None = None
    pools: list[str] = []

    @field_validator("task_key")
    @classmethod
    def _key(cls, v: str) -> str:
        return _task_key(v)

    @field_validator("asset_key")
    @classmethod
    def _asset_key(cls, v: str) -> str:
        try:
            return _canonical_asset_key(v)
        except ValidationError as exc:
            rule_error(exc.message.partition(": ")[2])

    @field_validator("partition_key")
    @classmethod
    def _partition_key(cls, v: str) -> str:
        if v == "":
            return v
        try:
            return _canonical_partition_key(v)
        except ValidationError as exc:
            rule_error(exc.message.partition(": ")[2])

    @field_validator("stage")
    @classmethod
    def _stage(cls, v: int) -> int:
        if not 0 <= v <= _MAX_INT64:
            rule_error(f"must be an integer from 0 to {_MAX_INT64} (got {preview(v)})")
        return v

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, v: list[str]) -> list[str]:
        for key in v:
            _task_key(key)
        if len(set(v)) != len(v):
            rule_error("must not name a task twice")
        return v

    @field_validator("max_attempts")
    @classmethod
    def _max_attempts(cls, v: int) -> int:
        if not 1 <= v <= MAX_ATTEMPTS:
            rule_error(f"must be an integer from 1 to {MAX_ATTEMPTS} (got {preview(v)})")
        return v

    @field_validator("timeout_s")
    @classmethod
    def _timeout(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            rule_error(f"must be greater than 0 (got {preview(v)})")
        return v

    @field_validator("pools")
    @classmethod
    def _pools(cls, v: list[str]) -> list[str]:
        for pool in v:
            _text(pool, 1, MAX_ID)
        return v

    @property
    def retry_is_default(self) -> bool:
        r = self.retry
        return (r.backoff_s, r.factor, r.max_backoff_s, r.jitter) == _DEFAULT_RETRY

    def to_json(self) -> dict[str, Any]:
        """The payload form of this task; fields at their default are left out (a typical
        task is ``task_key``, ``asset_key``, ``stage`` and ``upstream``)."""
        out: dict[str, Any] = {"asset_key": self.asset_key, "task_key": self.task_key}
        if self.max_attempts != 1:
            out["max_attempts"] = self.max_attempts
        if self.partition_key:
            out["partition_key"] = self.partition_key
        if self.pools:
            out["pools"] = list(self.pools)
        if not self.retry_is_default:
            out["retry"] = self.retry.to_json()
        if self.stage:
            out["stage"] = self.stage
        if self.timeout_s is not None:
            out["timeout_s"] = number_text(self.timeout_s)
        if self.upstream:
            out["upstream"] = list(self.upstream)
        return out


_DEFAULT_RETRY = (1.0, 2.0, 300.0, 0.1)


class RunTriggeredV1(BaseModel):
    """``run_triggered`` v1: a run and every task of its plan — or, for a plan too large for
    one event, part ``part`` of ``parts`` of it.

    ``done`` names tasks that start SUCCEEDED (re-execution from a failure), with the
    output each reported in ``outputs``. Task keys are unique, upstream keys name tasks of
    the run, and the dependencies have no cycle (a cycle would leave tasks blocked forever).

    **Parts** (:func:`split_trigger`): every part carries the whole run header (the same in
    each) and ``task_count``, the number of tasks of the whole run; its ``tasks`` are a
    slice of the plan in topological order, and its ``done`` / ``outputs`` name only tasks
    of that slice. An upstream key may name a task of another part, so within a part only
    its own edges are checked; the whole plan is checked when its last part is folded.
    """

    model_config = _STRICT

    run_id: str
    run_key: str | None = None
    request_hash: str
    deployment: str | None = None
    plan_fingerprint: str
    selection: list[str] = []
    executor: str
    priority: int = 0
    tags: dict[str, str] = {}
    parent_run_id: str | None = None
    tasks: list[TaskSpecV1]
    done: list[str] = []
    outputs: dict[str, dict[str, Any]] = {}
    #: this part's number (from 0) and how many parts the run's trigger has
    part: int = 0
    parts: int = 1
    #: the number of tasks of the whole run (required when ``parts`` > 1)
    task_count: int | None = None

    @property
    def total_tasks(self) -> int:
        """The number of tasks of the whole run (of every part)."""
        return len(self.tasks) if self.task_count is None else self.task_count

    @field_validator("run_id")
    @classmethod
    def _run(cls, v: str) -> str:
        return _run_id(v)

    @field_validator("request_hash", "plan_fingerprint", "executor")
    @classmethod
    def _ids(cls, v: str) -> str:
        return _id(v)

    @field_validator("deployment", "parent_run_id")
    @classmethod
    def _optional(cls, v: str | None) -> str | None:
        return _optional_id(v)

    @field_validator("run_key")
    @classmethod
    def _run_key(cls, v: str | None) -> str | None:
        return None if v is None else _text(v, 1, 255)

    @field_validator("selection")
    @classmethod
    def _selection(cls, v: list[str]) -> list[str]:
        for item in v:
            _text(item, 1, MAX_TASK_KEY)
        return v

    @field_validator("priority")
    @classmethod
    def _priority(cls, v: int) -> int:
        if not -(1 << 31) <= v < 1 << 31:
            rule_error(f"must be a 32-bit integer (got {preview(v)})")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            _text(key, 1, 255)
            if len(value) > 1024:
                rule_error(f"tag {preview(key)}: values are at most 1024 characters")
        return v

    @model_validator(mode="after")
    def _graph(self) -> RunTriggeredV1:
        if not 1 <= self.parts <= MAX_PARTS:
            _fail("parts", f"must be an integer from 1 to {MAX_PARTS} (got {self.parts})")
        if not 0 <= self.part < self.parts:
            _fail("part", f"must be an integer from 0 to {self.parts - 1} (got {self.part})")
        whole = self.parts == 1
        if whole and self.task_count not in (None, len(self.tasks)):
            _fail("task_count", f"must be the number of tasks, {len(self.tasks)}, for one part")
        if not whole and self.task_count is None:
            _fail("task_count", "is required when the trigger has several parts")
        if not whole and not self.tasks:
            _fail("tasks", "a part of a trigger must have tasks")
        if self.task_count is not None and not len(self.tasks) <= self.task_count <= _MAX_INT64:
            _fail("task_count", f"must be at least the part's {len(self.tasks)} tasks")
        keys: dict[str, TaskSpecV1] = {}
        for i, task in enumerate(self.tasks):
            if task.task_key in keys:
                _fail(f"tasks.{i}.task_key", f"{preview(task.task_key)} is named twice")
            keys[task.task_key] = task
        for i, task in enumerate(self.tasks):
            for key in task.upstream:
                if whole and key not in keys:
                    _fail(f"tasks.{i}.upstream", f"{preview(key)} is not a task of the run")
                if key == task.task_key:
                    _fail(f"tasks.{i}.upstream", "a task cannot depend on itself")
        cycle = _find_cycle(self.tasks)
        if cycle is not None:
            _fail("tasks", f"the dependencies have a cycle through {preview(cycle)}")
        for key in self.done:
            if key not in keys:
                _fail("done", f"{preview(key)} is not a task of the run (of this part)")
        if len(set(self.done)) != len(self.done):
            _fail("done", "must not name a task twice")
        done = set(self.done)
        for key in self.outputs:
            if key not in done:
                _fail("outputs", f"{preview(key)} is not a task named in done")
        return self

    def to_payload(self) -> dict[str, Any]:
        """The payload form (fractional numbers as decimal strings; ``part``, ``parts`` and
        ``task_count`` only for a trigger in several parts)."""
        payload = self._header()
        payload["tasks"] = [t.to_json() for t in self.tasks]
        payload["done"] = list(self.done)
        payload["outputs"] = {k: dict(v) for k, v in self.outputs.items()}
        return payload

    def _header(self) -> dict[str, Any]:
        header: dict[str, Any] = {
            "deployment": self.deployment,
            "executor": self.executor,
            "parent_run_id": self.parent_run_id,
            "plan_fingerprint": self.plan_fingerprint,
            "priority": self.priority,
            "request_hash": self.request_hash,
            "run_id": self.run_id,
            "run_key": self.run_key,
            "selection": list(self.selection),
            "tags": dict(self.tags),
        }
        if self.parts > 1:
            header.update(part=self.part, parts=self.parts, task_count=self.task_count)
        return header

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> RunTriggeredV1:
        return _parse(
            cls,
            payload,
            frozenset({"run_key", "deployment", "parent_run_id", "timeout_s", "task_count"}),
            "a run_triggered payload",
        )


#: what a part of a trigger may hold, leaving room under the event payload bound
PART_BYTES = MAX_PAYLOAD_BYTES - 64 * 1024


def _size(value: object) -> int:
    return len(canonical_dumps(value))


def split_trigger(payload: RunTriggeredV1, max_bytes: int = PART_BYTES) -> list[RunTriggeredV1]:
    """The parts of a (whole, validated) trigger whose payloads are at most about
    ``max_bytes`` of canonical JSON each: the tasks in plan order, cut greedily, each part
    with the run header, ``task_count`` and the ``done`` / ``outputs`` of its own tasks.
    One part (the payload itself) when it fits."""
    if payload.parts != 1:
        raise ValidationError("payload: already a part of a trigger (split the whole run)")
    header = _size(
        {
            **payload._header(),
            "part": MAX_PARTS,
            "parts": MAX_PARTS,
            "task_count": _MAX_INT64,
            "tasks": [],
            "done": [],
            "outputs": {},
        }
    )
    budget = max(1, max_bytes - header)
    done = set(payload.done)
    slices: list[list[TaskSpecV1]] = [[]]
    used = 0
    total = 0
    for task in payload.tasks:
        size = _size(task.to_json()) + 1
        if task.task_key in done:
            size += len(task.task_key) + 4
            output = payload.outputs.get(task.task_key)
            if output is not None:
                size += _size(output) + len(task.task_key) + 4
        total += size
        if used + size > budget and slices[-1]:
            slices.append([])
            used = 0
        slices[-1].append(task)
        used += size
    if len(slices) == 1 and header + total <= max_bytes:
        return [payload]
    if len(slices) > MAX_PARTS:
        raise ValidationError(f"payload: the run needs more than {MAX_PARTS} parts")
    parts: list[RunTriggeredV1] = []
    for i, tasks in enumerate(slices):
        keys = {t.task_key for t in tasks}
        part_done = [k for k in payload.done if k in keys]
        parts.append(
            payload.model_copy(
                update={
                    "tasks": tasks,
                    "done": part_done,
                    "outputs": {k: v for k, v in payload.outputs.items() if k in keys},
                    "part": i,
                    "parts": len(slices),
                    "task_count": len(payload.tasks),
                }
            )
        )
    return parts


def _fail(path: str, message: str) -> NoReturn:
    raise ValidationError(f"payload.{path}: {message}")


def _find_cycle(tasks: Sequence[TaskSpecV1]) -> str | None:
    """A task on a dependency cycle, if any (Kahn's algorithm over the upstream edges
    between ``tasks``; edges to other tasks are left out)."""
    downstream: dict[str, list[str]] = {t.task_key: [] for t in tasks}
    pending = dict.fromkeys(downstream, 0)
    for t in tasks:
        for up in t.upstream:
            if up in downstream:
                downstream[up].append(t.task_key)
                pending[t.task_key] += 1
    ready = [k for k, n in pending.items() if n == 0]
    seen = 0
    while ready:
        key = ready.pop()
        seen += 1
        for child in downstream[key]:
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
    if seen == len(tasks):
        return None
    return min(k for k, n in pending.items() if n > 0)


class _TaskEvent(BaseModel):
    model_config = _STRICT

    run_id: str
    task_key: str

    @field_validator("run_id")
    @classmethod
    def _run(cls, v: str) -> str:
        return _run_id(v)

    @field_validator("task_key")
    @classmethod
    def _task(cls, v: str) -> str:
        return _task_key(v)


class TaskDispatchedV1(_TaskEvent):
    """``task_dispatched`` v1: attempt ``attempt`` of a task was handed to an executor."""

    attempt: int
    attempt_id: str
    executor: str
    #: the attempt must have started by then (Unix ms), else it times out
    start_deadline_ms: int

    @field_validator("attempt_id", "executor")
    @classmethod
    def _ids(cls, v: str) -> str:
        return _id(v)

    @field_validator("attempt")
    @classmethod
    def _attempt(cls, v: int) -> int:
        if not 1 <= v <= MAX_ATTEMPTS:
            rule_error(f"must be an integer from 1 to {MAX_ATTEMPTS} (got {preview(v)})")
        return v

    @field_validator("start_deadline_ms")
    @classmethod
    def _deadline(cls, v: int) -> int:
        if not 0 <= v <= _MAX_INT64:
            rule_error(f"must be an integer from 0 to {_MAX_INT64} (got {preview(v)})")
        return v

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> TaskDispatchedV1:
        return _parse(cls, payload, frozenset(), "a task_dispatched payload")


class _AttemptEvent(_TaskEvent):
    attempt_id: str

    @field_validator("attempt_id")
    @classmethod
    def _attempt_id(cls, v: str) -> str:
        return _id(v)


class AttemptStartedV1(_AttemptEvent):
    """``attempt_started`` v1: the worker began running the attempt."""

    worker: str | None = None

    @field_validator("worker")
    @classmethod
    def _worker(cls, v: str | None) -> str | None:
        return None if v is None else _text(v, 1, 255)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> AttemptStartedV1:
        return _parse(cls, payload, frozenset({"worker"}), "an attempt_started payload")


class AttemptHeartbeatV1(_AttemptEvent):
    """``attempt_heartbeat`` v1: the attempt is still alive."""

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> AttemptHeartbeatV1:
        return _parse(cls, payload, frozenset(), "an attempt_heartbeat payload")


class AttemptCompletedV1(_AttemptEvent):
    """``attempt_completed`` v1: the attempt ended, with its output or its error."""

    status: Literal["succeeded", "failed"]
    error: str | None = None
    error_category: str | None = None
    retryable: bool = False
    output: dict[str, Any] | None = None

    @field_validator("error")
    @classmethod
    def _error(cls, v: str | None) -> str | None:
        if v is not None and len(v) > 65536:
            rule_error(f"must be at most 65536 characters (got {len(v)})")
        return v

    @field_validator("error_category")
    @classmethod
    def _category(cls, v: str | None) -> str | None:
        return None if v is None else _text(v, 1, MAX_ID)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> AttemptCompletedV1:
        return _parse(
            cls,
            payload,
            frozenset({"error", "error_category", "output"}),
            "an attempt_completed payload",
        )


class AttemptTimedOutV1(_AttemptEvent):
    """``attempt_timed_out`` v1 (from the controller): a deadline of the attempt passed."""

    reason: Literal["start_deadline", "heartbeat", "timeout"]

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> AttemptTimedOutV1:
        return _parse(cls, payload, frozenset(), "an attempt_timed_out payload")


class RunCancelRequestedV1(BaseModel):
    """``run_cancel_requested`` v1: stop the run (running attempts are asked to stop)."""

    model_config = _STRICT

    run_id: str
    reason: str | None = None

    @field_validator("run_id")
    @classmethod
    def _run(cls, v: str) -> str:
        return _run_id(v)

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        if v is not None and len(v) > 4096:
            rule_error(f"must be at most 4096 characters (got {len(v)})")
        return v

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> RunCancelRequestedV1:
        return _parse(cls, payload, frozenset({"reason"}), "a run_cancel_requested payload")
