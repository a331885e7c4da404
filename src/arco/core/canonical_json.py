"""Canonical JSON: the one byte form of anything Arco hashes.

Rules: object keys sorted by Unicode code point (equivalently by UTF-8 bytes; this differs
from RFC 8785, which sorts by UTF-16 code units), no whitespace, UTF-8 output with
non-ASCII characters written raw, only the escapes JSON requires (``\\"``, ``\\\\``, ``\\b``,
``\\f``, ``\\n``, ``\\r``, ``\\t`` and ``\\u00XX`` for other control characters; ``/`` is not
escaped). Values are limited to dict (str keys), list/tuple, str, int, bool and None:
floats, NaN and infinities are rejected so that hashing never depends on float formatting.
Strings are not Unicode-normalized.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, NoReturn

from arco.errors import ValidationError

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# For values made only of the exact built-in types, the standard library's C encoder with
# these settings produces exactly the canonical form; anything else takes the checking path.
_FAST = json.JSONEncoder(
    ensure_ascii=False,
    allow_nan=False,
    sort_keys=True,
    separators=(",", ":"),
    check_circular=False,
)
_MAX_FAST_DEPTH = 200


def _plain(value: object) -> bool:
    """True if ``value`` holds only exact str/int/bool/None/list/tuple/str-keyed dict."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if depth >= _MAX_FAST_DEPTH:
            return False
        if kind is dict:
            for key, child in item.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    return False
                stack.append((child, depth + 1))
        elif kind is list or kind is tuple:
            stack.extend((child, depth + 1) for child in item)  # type: ignore[attr-defined]
        else:
            return False
    return True


def canonical_dumps(value: object) -> bytes:
    """Serialize ``value`` to canonical JSON bytes; reject unsupported values by JSON path."""
    if _plain(value):
        try:
            return _FAST.encode(value).encode("utf-8")
        except (UnicodeEncodeError, ValueError):
            pass  # lone surrogates or oversized ints: the checking path names the problem
    parts: list[str] = []
    try:
        _emit(value, "$", parts)
    except RecursionError:
        raise ValidationError("$: value is nested too deeply for canonical JSON") from None
    return "".join(parts).encode("utf-8")


def canonical_hash(value: object) -> str:
    """Return the lowercase hex SHA-256 of :func:`canonical_dumps`."""
    return hashlib.sha256(canonical_dumps(value)).hexdigest()


def loads(data: bytes | str) -> Any:
    """Parse JSON (UTF-8 when given bytes), rejecting floats, NaN, infinities and duplicate keys."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"json: not valid UTF-8 ({exc.reason} at byte {exc.start})"
            ) from None
    elif isinstance(data, str):
        text = data
    else:
        raise ValidationError(f"json: expected bytes or str (got {type(data).__name__})")
    try:
        return json.loads(
            text,
            parse_float=_reject_float,
            parse_constant=_reject_float,
            object_pairs_hook=_unique_object,
        )
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"json: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:
        # e.g. an integer beyond the interpreter's digit limit, or absurd nesting.
        raise ValidationError(f"json: cannot parse ({exc})") from None


def _emit(value: object, path: str, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value, path))
    elif isinstance(value, int):
        try:
            out.append(int.__repr__(value))
        except ValueError:
            raise ValidationError(f"{path}: integer has too many digits") from None
    elif isinstance(value, float):
        raise ValidationError(f"{path}: floats are not allowed in canonical JSON (got {value!r})")
    elif isinstance(value, dict):
        keys = list(value)
        for key in keys:
            if not isinstance(key, str):
                raise ValidationError(
                    f"{path}: object keys must be strings in canonical JSON "
                    f"(got {type(key).__name__} {key!r})"
                )
        out.append("{")
        for i, key in enumerate(sorted(keys)):
            child = _child_path(path, key)
            if i:
                out.append(",")
            out.append(_string(key, child))
            out.append(":")
            _emit(value[key], child, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _emit(item, f"{path}[{i}]", out)
        out.append("]")
    else:
        raise ValidationError(
            f"{path}: type {type(value).__name__} is not allowed in canonical JSON"
        )


def _string(s: str, path: str) -> str:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            f"{path}: strings must be valid Unicode (lone surrogate in {s!r})"
        ) from None
    return json.dumps(str.__str__(s), ensure_ascii=False)


def _child_path(path: str, key: str) -> str:
    if _IDENT_RE.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _reject_float(token: str) -> NoReturn:
    raise ValidationError(f"json: floats are not allowed in canonical JSON (got {token!r})")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, val in pairs:
        if key in obj:
            raise ValidationError(f"json: duplicate object key {key!r}")
        obj[key] = val
    return obj
