"""Typed exceptions of the HTTP client: one class per error code of the REST API.

Every error the server reports as ``{"error": {"code", "message", "request_id"}}`` becomes a
:class:`RemoteError` that is *also* an instance of the matching :mod:`arco.errors` class, so
code written against the library (``except NotFoundError``) works unchanged against a
server. Codes only the web layer produces (``UNAUTHENTICATED``, ``RATE_LIMITED``,
``QUERY_TIMEOUT`` ...) get client-only classes below. Every instance carries ``status``
(HTTP status, 0 when no response arrived), ``code`` and ``request_id``.
"""

from __future__ import annotations

from arco import errors

__all__ = [
    "BadRequestError",
    "ConnectionFailedError",
    "ForbiddenError",
    "MethodNotAllowedError",
    "NotAcceptableError",
    "PayloadTooLargeError",
    "QueryTimeoutError",
    "RangeNotSatisfiableError",
    "RateLimitedError",
    "RemoteAlreadyExistsError",
    "RemoteCommitConflictError",
    "RemoteCommitStateUnknownError",
    "RemoteConflictError",
    "RemoteCorruptStateError",
    "RemoteError",
    "RemoteFencedError",
    "RemoteIdempotencyConflictError",
    "RemoteInvalidKeyError",
    "RemoteLockTimeoutError",
    "RemoteNotFoundError",
    "RemoteOutcomeUnknownError",
    "RemotePreconditionFailedError",
    "RemoteStorageError",
    "RemoteTransientStorageError",
    "RemoteValidationError",
    "RequestTimeoutError",
    "ServerError",
    "UnauthenticatedError",
    "UnsupportedMediaTypeError",
    "error_class",
]


class RemoteError(errors.ArcoError):
    """An error reported by (or while talking to) an Arco server."""

    code = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        if code is not None:
            self.code = code
        self.request_id = request_id
        #: seconds the server asked to wait (``Retry-After``), if it said
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


# --- client-only codes (the web layer's own) ----------------------------------------------


class BadRequestError(RemoteError, errors.ValidationError):
    """The request was malformed (``BAD_REQUEST``)."""

    code = "BAD_REQUEST"


class UnauthenticatedError(RemoteError):
    """No valid credentials (``UNAUTHENTICATED``, 401)."""

    code = "UNAUTHENTICATED"


class ForbiddenError(RemoteError):
    """The caller may see the object but not do this (``FORBIDDEN``, 403)."""

    code = "FORBIDDEN"


class MethodNotAllowedError(RemoteError):
    code = "METHOD_NOT_ALLOWED"


class NotAcceptableError(RemoteError):
    code = "NOT_ACCEPTABLE"


class PayloadTooLargeError(RemoteError, errors.ValidationError):
    """The request body is over the server's limit (``PAYLOAD_TOO_LARGE``, 413)."""

    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaTypeError(RemoteError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class RangeNotSatisfiableError(RemoteError):
    code = "RANGE_NOT_SATISFIABLE"


class RateLimitedError(RemoteError):
    """Too many requests for the tenant (``RATE_LIMITED``, 429 with ``Retry-After``)."""

    code = "RATE_LIMITED"
    retryable = True


class QueryTimeoutError(RemoteError):
    """The SQL query was interrupted at the server's time limit (``QUERY_TIMEOUT``)."""

    code = "QUERY_TIMEOUT"


class ServerError(RemoteError):
    """The server failed (``INTERNAL`` or an unknown 5xx)."""

    code = "INTERNAL"


class ConnectionFailedError(RemoteError):
    """No response: the connection failed or broke. Retried with the same idempotency key."""

    code = "CONNECTION_FAILED"
    retryable = True


class RequestTimeoutError(RemoteError):
    """No response within the client's timeout. Retried with the same idempotency key."""

    code = "TIMEOUT"
    retryable = True


# --- codes shared with the library: a RemoteError that is also the arco.errors class ------
# (``except arco.errors.NotFoundError`` catches RemoteNotFoundError)


class RemoteValidationError(RemoteError, errors.ValidationError):
    code = errors.ValidationError.code
    retryable = errors.ValidationError.retryable


class RemoteInvalidKeyError(RemoteError, errors.InvalidKeyError):
    code = errors.InvalidKeyError.code
    retryable = errors.InvalidKeyError.retryable


class RemoteNotFoundError(RemoteError, errors.NotFoundError):
    code = errors.NotFoundError.code
    retryable = errors.NotFoundError.retryable


class RemoteAlreadyExistsError(RemoteError, errors.AlreadyExistsError):
    code = errors.AlreadyExistsError.code
    retryable = errors.AlreadyExistsError.retryable


class RemoteConflictError(RemoteError, errors.ConflictError):
    code = errors.ConflictError.code
    retryable = errors.ConflictError.retryable


class RemotePreconditionFailedError(RemoteError, errors.PreconditionFailedError):
    code = errors.PreconditionFailedError.code
    retryable = errors.PreconditionFailedError.retryable


class RemoteIdempotencyConflictError(RemoteError, errors.IdempotencyConflictError):
    code = errors.IdempotencyConflictError.code
    retryable = errors.IdempotencyConflictError.retryable


class RemoteLockTimeoutError(RemoteError, errors.LockTimeoutError):
    code = errors.LockTimeoutError.code
    retryable = errors.LockTimeoutError.retryable


class RemoteFencedError(RemoteError, errors.FencedError):
    code = errors.FencedError.code
    retryable = errors.FencedError.retryable


class RemoteCommitConflictError(RemoteError, errors.CommitConflictError):
    code = errors.CommitConflictError.code
    retryable = errors.CommitConflictError.retryable


class RemoteCommitStateUnknownError(RemoteError, errors.CommitStateUnknownError):
    code = errors.CommitStateUnknownError.code
    retryable = errors.CommitStateUnknownError.retryable


class RemoteCorruptStateError(RemoteError, errors.CorruptStateError):
    code = errors.CorruptStateError.code
    retryable = errors.CorruptStateError.retryable


class RemoteStorageError(RemoteError, errors.StorageError):
    code = errors.StorageError.code
    retryable = errors.StorageError.retryable


class RemoteTransientStorageError(RemoteError, errors.TransientStorageError):
    code = errors.TransientStorageError.code
    retryable = errors.TransientStorageError.retryable


class RemoteOutcomeUnknownError(RemoteError, errors.OutcomeUnknownError):
    code = errors.OutcomeUnknownError.code
    retryable = errors.OutcomeUnknownError.retryable


_SHARED: tuple[type[RemoteError], ...] = (
    RemoteValidationError,
    RemoteInvalidKeyError,
    RemoteNotFoundError,
    RemoteAlreadyExistsError,
    RemoteConflictError,
    RemotePreconditionFailedError,
    RemoteIdempotencyConflictError,
    RemoteLockTimeoutError,
    RemoteFencedError,
    RemoteCommitConflictError,
    RemoteCommitStateUnknownError,
    RemoteCorruptStateError,
    RemoteStorageError,
    RemoteTransientStorageError,
    RemoteOutcomeUnknownError,
)

#: error code -> class raised by the client
ERROR_CLASSES: dict[str, type[RemoteError]] = {cls.code: cls for cls in _SHARED}
ERROR_CLASSES.update(
    {
        cls.code: cls
        for cls in (
            BadRequestError,
            UnauthenticatedError,
            ForbiddenError,
            MethodNotAllowedError,
            NotAcceptableError,
            PayloadTooLargeError,
            UnsupportedMediaTypeError,
            RangeNotSatisfiableError,
            RateLimitedError,
            QueryTimeoutError,
            ServerError,
        )
    }
)

#: when the body names no known code
_BY_STATUS: dict[int, type[RemoteError]] = {
    400: BadRequestError,
    401: UnauthenticatedError,
    403: ForbiddenError,
    404: ERROR_CLASSES["NOT_FOUND"],
    405: MethodNotAllowedError,
    406: NotAcceptableError,
    409: ERROR_CLASSES["CONFLICT"],
    412: ERROR_CLASSES["PRECONDITION_FAILED"],
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    416: RangeNotSatisfiableError,
    429: RateLimitedError,
    503: ERROR_CLASSES["STORAGE_UNAVAILABLE"],
    504: QueryTimeoutError,
}


def error_class(code: str | None, status: int) -> type[RemoteError]:
    """The class for an error ``code`` (or, for an unknown code, the HTTP ``status``)."""
    if code is not None and code in ERROR_CLASSES:
        return ERROR_CLASSES[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else RemoteError
