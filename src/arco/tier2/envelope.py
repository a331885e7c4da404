"""The tier-2 event envelope: validation, parsing and the registry of known event types.

An event is one JSON object (snake_case, canonical JSON when stored)::

    {"event_id": "01J...", "event_type": "materialization", "event_version": 1,
     "idempotency_key": null, "occurred_at": "2026-11-26T13:07:46.123Z",
     "source": "...", "trace_id": null, "payload": {...}}

Every invalid input raises :class:`arco.errors.ValidationError` with one line that names the
field and the rule. Unknown event types still parse: each tier-2 domain knows which types
it applies (:meth:`arco.tier2.compactor.Tier2Domain.check`), and its compactor quarantines the rest.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NoReturn

import pydantic
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError
from ulid import ULID

from arco.core.canonical_json import canonical_dumps
from arco.core.clock import rfc3339_ms
from arco.core.ids import is_ulid, next_ulid_after
from arco.errors import ValidationError, preview

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "EventEnvelope",
    "increasing_ids",
    "normalize_occurred_at",
    "parse_event",
    "rfc3339_to_ms",
    "rule_error",
    "shape_error",
    "ulid_at",
]

#: Bound on one event's payload as canonical JSON (one ledger object per event).
MAX_PAYLOAD_BYTES = 1 << 20

MAX_EVENT_VERSION = (1 << 31) - 1

_EVENT_TYPE_RE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
# RFC 3339 date-time (``T``/``t``/space separator, any fraction digits, ``Z`` or ``±hh:mm``).
_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))?"
)
_RULE = "arco_rule"


def rule_error(message: str) -> NoReturn:
    """Fail a field validator with ``message`` (the field name is added from the location)."""
    raise PydanticCustomError(_RULE, "{message}", {"message": message})


def _text(value: str, lo: int, hi: int) -> str:
    if not lo <= len(value) <= hi or not value.isprintable():
        rule_error(f"must be {lo}-{hi} printable characters (got {preview(value)})")
    return value


def normalize_occurred_at(value: str | datetime) -> str:
    """RFC 3339 text or an aware datetime as UTC text with milliseconds (``...T..:..:...mmmZ``).

    Fractions beyond milliseconds are truncated. Raises ValueError for naive or invalid input.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"must carry a UTC offset (got naive {preview(value.isoformat())})")
        moment = value
    else:
        m = _RFC3339_RE.fullmatch(value)
        if m is None:
            raise ValueError(
                "must be an RFC 3339 date-time such as 2026-11-26T13:07:46.123Z "
                f"(got {preview(value)})"
            )
        year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = m.groups()
        if zulu is None and sign is None:
            raise ValueError(
                f"must carry a UTC offset ('Z' or '+hh:mm'), naive time given (got {preview(value)})"
            )
        if sign is None:
            tz = UTC
        else:
            if int(off_h) > 23 or int(off_m) > 59:
                raise ValueError(f"has an invalid UTC offset (got {preview(value)})")
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            tz = timezone(-offset if sign == "-" else offset)
        micros = int((frac or "0")[:3].ljust(3, "0")) * 1000
        try:
            moment = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tz
            )
        except ValueError:
            raise ValueError(f"is not a valid date-time (got {preview(value)})") from None
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"is out of range in UTC (got {preview(str(value))})") from None
    # not strftime: "%Y" does not zero-pad years before 1000 on every platform
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


class EventEnvelope(BaseModel):
    """One tier-2 event.

    ``EventEnvelope(...)``, :meth:`from_object` and :meth:`from_bytes` raise arco's
    ValidationError (one line naming the field); prefer them to pydantic's ``model_validate``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    event_id: str
    event_type: str
    event_version: int
    idempotency_key: str | None = None
    occurred_at: str
    source: str
    trace_id: str | None = None
    payload: dict[str, Any]

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise shape_error(exc) from None

    @classmethod
    def from_object(cls, data: object) -> EventEnvelope:
        """Validate a decoded JSON object as a complete envelope."""
        if not isinstance(data, dict):
            raise ValidationError(f"event: must be a JSON object (got {type(data).__name__})")
        try:
            return cls.model_validate(data)
        except pydantic.ValidationError as exc:
            raise shape_error(exc) from None

    @classmethod
    def from_bytes(cls, data: bytes) -> EventEnvelope:
        """Parse the stored form (a complete envelope as JSON)."""
        return cls.from_object(_decode(data))

    def to_bytes(self) -> bytes:
        """The stored form: canonical JSON of every field."""
        return canonical_dumps(self.model_dump())

    @field_validator("event_id")
    @classmethod
    def _event_id(cls, v: str) -> str:
        if not is_ulid(v):
            rule_error(
                f"must be a ULID of 26 uppercase Crockford base32 characters (got {preview(v)})"
            )
        return v

    @field_validator("event_type")
    @classmethod
    def _event_type(cls, v: str) -> str:
        if _EVENT_TYPE_RE.fullmatch(v) is None:
            rule_error(
                f"must be 1-64 characters of [a-z0-9_.] starting with a letter (got {preview(v)})"
            )
        return v

    @field_validator("event_version")
    @classmethod
    def _event_version(cls, v: int) -> int:
        if not 1 <= v <= MAX_EVENT_VERSION:
            rule_error(f"must be an integer from 1 to {MAX_EVENT_VERSION} (got {preview(v)})")
        return v

    @field_validator("idempotency_key")
    @classmethod
    def _idempotency_key(cls, v: str | None) -> str | None:
        return None if v is None else _text(v, 1, 255)

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _occurred_at(cls, v: object) -> object:
        if not isinstance(v, str | datetime):
            return v  # the strict str check reports the type
        try:
            return normalize_occurred_at(v)
        except ValueError as exc:
            rule_error(str(exc))

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        return _text(v, 1, 255)

    @field_validator("trace_id")
    @classmethod
    def _trace_id(cls, v: str | None) -> str | None:
        return None if v is None else _text(v, 1, 128)

    @field_validator("payload")
    @classmethod
    def _payload(cls, v: dict[str, Any]) -> dict[str, Any]:
        try:
            data = canonical_dumps(v)
        except ValidationError as exc:
            # canonical_json names the offending value by JSON path from "$"
            path, _, rule = exc.message.partition(": ")
            raise PydanticCustomError(
                _RULE, "{message}", {"message": rule, "path": "payload" + path[1:]}
            ) from None
        if len(data) > MAX_PAYLOAD_BYTES:
            rule_error(
                f"must be at most {MAX_PAYLOAD_BYTES} bytes as canonical JSON (got {len(data)})"
            )
        # a private deep copy in plain JSON types: the frozen envelope shares nothing
        copy: dict[str, Any] = json.loads(data)
        return copy


def rfc3339_to_ms(value: str | datetime) -> int:
    """Unix milliseconds of an RFC 3339 date-time with offset (see :func:`normalize_occurred_at`)."""
    if isinstance(value, str) and _NORMAL_RE.fullmatch(value):
        # stored times are already normalized: fromisoformat parses them in C
        try:
            return _ms_since_epoch(datetime.fromisoformat(value[:-1] + "+00:00"))
        except ValueError:
            pass  # e.g. February 30th: the general parser words the error
    text = normalize_occurred_at(value)
    return _ms_since_epoch(datetime.fromisoformat(text[:-1] + "+00:00"))


def _ms_since_epoch(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NORMAL_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z")


def increasing_ids() -> Callable[[], str]:
    """A source of fresh ULIDs, each greater than the last: generated ids of one batch keep
    the batch's order (pass it as ``parse_event``'s ``new_id``)."""
    last: str | None = None

    def new_id() -> str:
        nonlocal last
        last = next_ulid_after(last)
        return last

    return new_id


def ulid_at(ms: int) -> str:
    """A fresh ULID whose timestamp is ``ms`` (Unix milliseconds)."""
    return str(ULID.from_bytes(ms.to_bytes(6, "big") + os.urandom(10)))


def parse_event(
    line: dict[str, Any] | str | bytes,
    *,
    source: str,
    now_ms: int,
    new_id: Callable[[], str] | None = None,
) -> EventEnvelope:
    """Parse one event: a complete envelope, or a bare payload object.

    An object with a ``payload`` key is an envelope; absent ``event_id``, ``event_version``
    (1), ``occurred_at`` (``now_ms``) and ``source`` are filled in. Any other object is a bare
    payload: ``event_type`` (required) and ``event_version`` (default 1) are taken out and
    the rest becomes the payload (wrap a payload with its own ``payload`` key in an
    envelope). Generated ids come from ``new_id`` (default: a ULID at ``now_ms``).
    """
    data = line if isinstance(line, dict) else _decode(line)
    if not isinstance(data, dict):
        raise ValidationError(f"event: must be a JSON object (got {type(data).__name__})")
    if "payload" in data:
        fields = dict(data)
    else:
        payload = dict(data)
        if "event_type" not in payload:
            raise ValidationError(
                "event_type: is required (a bare payload must name its event_type)"
            )
        fields = {"event_type": payload.pop("event_type"), "payload": payload}
        if "event_version" in payload:
            fields["event_version"] = payload.pop("event_version")
    if "event_id" not in fields:
        fields["event_id"] = new_id() if new_id is not None else ulid_at(now_ms)
    fields.setdefault("event_version", 1)
    fields.setdefault("occurred_at", rfc3339_ms(now_ms))
    fields.setdefault("source", source)
    return EventEnvelope.from_object(fields)


# --- helpers ----------------------------------------------------------------------------


def _decode(data: str | bytes) -> Any:
    """Parse JSON text; floats survive so that the payload check can name their path."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"event: not valid UTF-8 (at byte {exc.start})") from None
    elif isinstance(data, str):
        text = data
    else:
        raise ValidationError(f"event: expected JSON text (got {type(data).__name__})")
    try:
        return json.loads(text, object_pairs_hook=_unique_object)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"event: invalid JSON at column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"event: cannot parse JSON ({preview(str(exc), 80)})") from None


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, val in pairs:
        if key in obj:
            raise ValueError(f"duplicate object key {preview(key)}")
        obj[key] = val
    return obj


_NULLABLE = frozenset({"idempotency_key", "trace_id"})

_TYPE_RULES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "dict_type": "must be a JSON object",
}


def shape_error(
    exc: pydantic.ValidationError,
    prefix: str = "",
    nullable: frozenset[str] = _NULLABLE,
    container: str = "an envelope",
) -> ValidationError:
    """The first problem of a pydantic error as one ``field: rule`` line.

    ``prefix`` names the enclosing object (e.g. ``"payload."``) in front of the field;
    type errors of the ``nullable`` fields say that null is allowed too.
    """
    err = exc.errors()[0]
    ctx = err.get("ctx") or {}
    loc = [str(part) for part in err["loc"]]
    field = ctx.get("path") or prefix + ".".join(loc) or "event"
    kind = err["type"]
    if kind == _RULE:
        message = str(ctx["message"])
    elif kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = f"is not a field of {container}"
    elif kind in _TYPE_RULES:
        given = err.get("input")
        message = f"{_TYPE_RULES[kind]} (got {type(given).__name__} {preview(given)})"
        if loc and loc[0] in nullable:
            message = f"{_TYPE_RULES[kind]} or null (got {preview(given)})"
    else:
        message = f"{err['msg'].lower()} (got {preview(err.get('input'))})"
    return ValidationError(f"{field}: {message}")
