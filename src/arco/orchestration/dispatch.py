"""What a controller hands an executor, and what comes back: the dispatch envelope and the
task result (the wire models of the worker contract, spec §3).

One envelope names one *attempt*: whatever runs it reports ``started``, ``heartbeat`` and
``completed`` for that ``attempt_id`` only, so a late report of an older attempt is
recognised and rejected by the run state machine (a zombie cannot overwrite a newer
attempt's result). Over HTTP the envelope also carries the callback URL and a short-lived
token scoped to the attempt; in-process executors leave both empty.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ERROR_CATEGORIES", "TaskEnvelope", "TaskFailure", "TaskResult"]

#: why an attempt failed: the asset raised, its output or a blocking check was refused,
#: the process running it died, it overran its timeout, it was cancelled, or an input
#: could not be read
ErrorCategory = Literal["error", "output", "check", "crash", "timeout", "cancelled", "input"]
ERROR_CATEGORIES: tuple[str, ...] = get_args(ErrorCategory)

_MODEL = ConfigDict(extra="forbid", frozen=True)


class TaskEnvelope(BaseModel):
    """One attempt of one task, as dispatched."""

    model_config = _MODEL

    run_id: str
    task_key: str
    attempt: int = Field(ge=1)
    attempt_id: str
    asset_key: str
    partition_key: str = ""
    #: ``module:qualname`` of the asset function, and where its code is loaded from
    entry_point: str
    code_location: str | None = None
    code_version: str | None = None
    #: fingerprint of the deployed definitions the run was planned from
    deployment: str | None = None
    #: upstream asset key -> the outputs of its tasks in this run (None: not in this run,
    #: the newest materialization is read)
    inputs: dict[str, list[dict[str, Any]] | None] = Field(default_factory=dict)
    #: the attempt must report ``started`` before this instant (ms since the epoch)
    start_deadline_ms: int
    timeout_s: float | None = None
    heartbeat_interval_s: float = 10.0
    #: HTTP workers only: where to report, and the attempt's bearer token
    callback_url: str | None = None
    token: str | None = None


class TaskResult(BaseModel):
    """How an attempt ended: ``succeeded`` with its output, or ``failed`` with a category and
    whether another attempt may succeed."""

    model_config = _MODEL

    status: Literal["succeeded", "failed"]
    error: str | None = None
    error_category: ErrorCategory | None = None
    retryable: bool = False
    #: the task output (``arco.orchestration.io.TaskOutput`` as JSON) and check results
    output: dict[str, Any] | None = None

    @classmethod
    def success(cls, output: dict[str, Any] | None) -> TaskResult:
        return cls(status="succeeded", output=output)

    @classmethod
    def failure(cls, error: str, category: ErrorCategory, *, retryable: bool) -> TaskResult:
        return cls(
            status="failed", error=error[:2000], error_category=category, retryable=retryable
        )


class TaskFailure(Exception):
    """Raise from an asset to fail its task with a message; ``retryable=False`` fails it for
    good (no further attempt, descendants skipped) whatever its retry policy allows."""

    def __init__(
        self, message: str, *, retryable: bool = True, category: ErrorCategory = "error"
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.category: ErrorCategory = category
