"""Iceberg-flavoured errors: each carries the REST spec's exception type and HTTP status.

The route layer maps them 1:1 onto the spec's ``ErrorModel`` (``{"error": {"message",
"type", "code"}}``): ``type`` is :attr:`IcebergError.iceberg_type`, ``code`` is
:attr:`IcebergError.status`. They derive from :class:`arco.errors.ArcoError` (and from the
matching Arco class where there is one), so code that handles Arco errors handles these.

Storage errors (:class:`~arco.errors.TransientStorageError` and friends) are not wrapped:
:func:`as_iceberg_error` maps any other :class:`~arco.errors.ArcoError` for the routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from arco.errors import (
    AlreadyExistsError,
    ArcoError,
    CommitConflictError,
    CommitStateUnknownError,
    ConflictError,
    CorruptStateError,
    FencedError,
    IdempotencyConflictError,
    LockTimeoutError,
    NotFoundError,
    PreconditionFailedError,
    TransientStorageError,
    ValidationError,
)

__all__ = [
    "AlreadyExists",
    "BadRequest",
    "CommitFailed",
    "CommitStateUnknown",
    "IcebergError",
    "IdempotencyKeyReused",
    "NamespaceNotEmpty",
    "NoSuchNamespace",
    "NoSuchTable",
    "NoSuchView",
    "ServiceUnavailable",
    "UnsupportedOperation",
    "as_iceberg_error",
    "translated",
]


class IcebergError(ArcoError):
    """Base of the errors :mod:`arco.iceberg` raises on purpose."""

    code = "ICEBERG_ERROR"
    #: the REST spec's exception type name (``ErrorModel.type``)
    iceberg_type: ClassVar[str] = "RuntimeException"
    #: the HTTP status (``ErrorModel.code``)
    status: ClassVar[int] = 500


class BadRequest(IcebergError, ValidationError):
    """The request is malformed or breaks a rule (a location outside the store, ...)."""

    code = ValidationError.code
    iceberg_type = "BadRequestException"
    status = 400


class NoSuchNamespace(IcebergError, NotFoundError):
    code = NotFoundError.code
    iceberg_type = "NoSuchNamespaceException"
    status = 404


class NoSuchTable(IcebergError, NotFoundError):
    code = NotFoundError.code
    iceberg_type = "NoSuchTableException"
    status = 404


class NoSuchView(IcebergError, NotFoundError):
    code = NotFoundError.code
    iceberg_type = "NoSuchViewException"
    status = 404


class AlreadyExists(IcebergError, AlreadyExistsError):
    """A namespace, table or view of that name exists (tables and views share names)."""

    code = AlreadyExistsError.code
    iceberg_type = "AlreadyExistsException"
    status = 409


class NamespaceNotEmpty(IcebergError, ConflictError):
    code = ConflictError.code
    iceberg_type = "NamespaceNotEmptyException"
    status = 409


class CommitFailed(IcebergError, ConflictError):
    """A requirement does not hold (or contention outlasted the retries): nothing was applied.
    The client refreshes the table and tries again."""

    code = "COMMIT_FAILED"
    iceberg_type = "CommitFailedException"
    status = 409


class IdempotencyKeyReused(CommitFailed, IdempotencyConflictError):
    """The idempotency key was used before with another request; nothing was applied."""

    code = IdempotencyConflictError.code


class CommitStateUnknown(IcebergError, CommitStateUnknownError):
    """The commit may or may not have landed, and reading back could not tell."""

    code = CommitStateUnknownError.code
    iceberg_type = "CommitStateUnknownException"
    status = 503
    retryable = True


class ServiceUnavailable(IcebergError, TransientStorageError):
    """Storage failed; the outcome is known (nothing was applied) and a retry may succeed."""

    code = TransientStorageError.code
    iceberg_type = "ServiceUnavailableException"
    status = 503
    retryable = True


class UnsupportedOperation(IcebergError):
    code = "UNSUPPORTED"
    iceberg_type = "UnsupportedOperationException"
    status = 406


def as_iceberg_error(exc: ArcoError) -> IcebergError:
    """The Iceberg error a route answers for any Arco error (itself if it is one)."""
    if isinstance(exc, IcebergError):
        return exc
    mapped: type[IcebergError]
    if isinstance(exc, ValidationError):
        mapped = BadRequest
    elif isinstance(exc, NotFoundError):
        mapped = NoSuchNamespace if exc.message.startswith("namespace") else NoSuchTable
    elif isinstance(exc, AlreadyExistsError):
        mapped = AlreadyExists
    elif isinstance(exc, IdempotencyConflictError):
        mapped = IdempotencyKeyReused
    elif isinstance(exc, PreconditionFailedError | CommitConflictError | FencedError):
        mapped = CommitFailed
    elif isinstance(exc, ConflictError):
        mapped = NamespaceNotEmpty if "not empty" in exc.message else CommitFailed
    elif isinstance(exc, CommitStateUnknownError):
        mapped = CommitStateUnknown
    elif isinstance(exc, TransientStorageError | LockTimeoutError):
        mapped = ServiceUnavailable
    elif isinstance(exc, CorruptStateError):
        mapped = IcebergError
    else:
        mapped = IcebergError
    out = mapped(exc.message)
    out.__cause__ = exc
    return out


@contextmanager
def translated(not_found: type[IcebergError] | None = None) -> Iterator[None]:
    """Raise catalog outcomes inside the block as Iceberg errors (``not_found`` replaces the
    table-or-namespace guess for NotFoundError: e.g. NoSuchView)."""
    try:
        yield
    except IcebergError:
        raise
    except (TransientStorageError, CorruptStateError):
        raise  # storage and corruption keep their own (5xx) classes
    except NotFoundError as exc:
        if not_found is not None and not exc.message.startswith("namespace"):
            raise not_found(exc.message) from exc
        raise as_iceberg_error(exc) from exc
    except ArcoError as exc:
        raise as_iceberg_error(exc) from exc
