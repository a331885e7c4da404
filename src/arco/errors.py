"""The one error hierarchy of Arco.

Every error a user can see derives from :class:`ArcoError` and carries a stable ``code``
(used later as the REST error code) and a one-line message that names the field and the
rule. Storage errors are separate from catalog outcomes so that a failed read is never
mistaken for "not found" or "empty".
"""

from __future__ import annotations


class ArcoError(Exception):
    """Base of every error Arco raises on purpose."""

    code = "INTERNAL"
    #: Whether retrying the same request (same idempotency key) may succeed.
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def preview(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- user-facing request outcomes -------------------------------------------------------


class ValidationError(ArcoError):
    """The request is malformed: a field breaks a rule. Nothing was written."""

    code = "VALIDATION_FAILED"


class NotFoundError(ArcoError):
    """The named object does not exist (or is outside the caller's scope)."""

    code = "NOT_FOUND"


class AlreadyExistsError(ArcoError):
    """An object with that name already exists."""

    code = "ALREADY_EXISTS"


class ConflictError(ArcoError):
    """The request conflicts with the current state (e.g. non-empty namespace)."""

    code = "CONFLICT"


class PreconditionFailedError(ArcoError):
    """An ``if_match`` expectation did not hold."""

    code = "PRECONDITION_FAILED"


class IdempotencyConflictError(ArcoError):
    """The idempotency key was already used with a different request body."""

    code = "IDEMPOTENCY_KEY_REUSED"


# --- commit protocol outcomes -----------------------------------------------------------


class LockTimeoutError(ArcoError):
    """The domain lock could not be acquired in time. Safe to retry."""

    code = "LOCK_TIMEOUT"
    retryable = True


class FencedError(ArcoError):
    """This writer's lease was taken over; its commit was not published. Safe to retry."""

    code = "FENCED"
    retryable = True


class CommitConflictError(ArcoError):
    """Another writer published first; the commit was not published. Safe to retry."""

    code = "COMMIT_CONFLICT"
    retryable = True


class CommitStateUnknownError(ArcoError):
    """The outcome could not be determined even after reading back."""

    code = "COMMIT_STATE_UNKNOWN"
    retryable = True


class CorruptStateError(ArcoError):
    """Stored metadata is unreadable or violates an invariant. Needs an operator."""

    code = "CORRUPT_STATE"


# --- storage ------------------------------------------------------------------------------


class StorageError(ArcoError):
    """A storage operation failed for a reason other than the ones below."""

    code = "STORAGE_ERROR"


class ObjectNotFoundError(StorageError):
    """The object does not exist. Distinct from every other read failure."""

    code = "OBJECT_NOT_FOUND"


class ObjectExistsError(StorageError):
    """A create-only put found an object already present."""

    code = "OBJECT_EXISTS"


class VersionMismatchError(StorageError):
    """A version-matched put found a different current version."""

    code = "VERSION_MISMATCH"


class TransientStorageError(StorageError):
    """Throttling, 5xx, timeouts: the operation may succeed if retried."""

    code = "STORAGE_UNAVAILABLE"
    retryable = True


class StorageBusyError(TransientStorageError):
    """Another process has held the object's lock past the backend's bound (the local store:
    a stopped or hung writer); nothing was written. The retrying store passes it on at once:
    callers with a deadline of their own (the lease lock) decide whether to try again."""


class OutcomeUnknownError(TransientStorageError):
    """A write was sent but its outcome is unknown (e.g. timeout after the write applied)."""

    code = "STORAGE_OUTCOME_UNKNOWN"


class UnsupportedOperationError(StorageError):
    """The backend cannot do this (e.g. signing on the memory store)."""

    code = "UNSUPPORTED"


class InvalidKeyError(ValidationError):
    """A storage key is malformed or tries to leave its scope."""

    code = "INVALID_KEY"
