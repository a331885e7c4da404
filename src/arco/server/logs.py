"""Structured JSON logs: one object per line with the request id and scope, never secrets.

The access log (``arco.server.access``) carries ``request_id``, ``tenant``, ``workspace``,
the route *template* and the status; raw paths and query strings are never logged (signed
URLs). As a second line of defence the formatter redacts anything shaped like a secret in
every message and string field: bearer tokens, JWTs, and the signature/credential
parameters of signed URLs (ours, S3, GCS, Azure SAS).

Code running inside a request can :func:`bind` the request id and scope; the formatter
adds the bound values to every line that does not carry its own.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn: the same text with terminal colours
    "taskName",
}

REDACTED = "[redacted]"

_SECRETS = (
    # Authorization: Bearer <token> (any scheme-like token after "bearer")
    (re.compile(r"(?i)\b(bearer)(\s+|%20|\+)[A-Za-z0-9._~+/=-]{16,}"), r"\1 " + REDACTED),
    # a JWT / JWS anywhere (base64url JSON header "eyJ" + two more parts)
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # signed-URL and credential query parameters
    (
        re.compile(
            r"(?i)([?&;]|\b)((?:x-amz-|x-goog-)?(?:signature|credential|security-token)"
            r"|sig|token|access_token|id_token|refresh_token|api_key|apikey|password|secret)"
            r"(=|%3D)[^&\s\"'#;]*"
        ),
        r"\1\2\3" + REDACTED,
    ),
)

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "arco_log_context", default=None
)


def redact(text: str) -> str:
    """``text`` with bearer tokens, JWTs and signed-URL signatures replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (request_id, tenant, workspace, ...) to every log line of this
    context (thread or task) until the block ends."""
    current = _context.get() or {}
    token = _context.set({**current, **fields})
    try:
        yield
    finally:
        _context.reset(token)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, the bound context and the
    record's extra fields, with secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in (_context.get() or {}).items():
            out[key] = _clean(value)
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = _clean(value)
            elif key in ("request_id", "tenant", "workspace") and value is not None:
                out[key] = _clean(value)  # the record's own value wins over the context
        if record.exc_info:
            out["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


def configure(level: int = logging.INFO) -> None:
    """Send Arco's and uvicorn's logs to stderr as JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own access log repeats ours, with raw paths (signed URLs): keep it off
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
