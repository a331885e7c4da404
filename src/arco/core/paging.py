"""Paging of sorted lists by opaque tokens (the position after the last row served)."""

from __future__ import annotations

import base64
import binascii
import bisect
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from arco.core import canonical_json
from arco.errors import ArcoError, ValidationError

__all__ = ["DEFAULT_PAGE", "MAX_PAGE", "Page", "Sorted", "paginate"]

DEFAULT_PAGE = 100
MAX_PAGE = 1000

T = TypeVar("T")
R = TypeVar("R")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_page_token`` back to get the next one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    items: list[T]
    next_page_token: str | None = None


@dataclass(frozen=True)
class Sorted(Generic[T]):
    """Rows with their ascending sort keys, for bisecting page tokens."""

    keys: list[str]
    rows: list[T]


def _encode_token(after: str) -> str:
    raw = canonical_json.canonical_dumps({"after": after})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> str:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = canonical_json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = data["after"]
        if not isinstance(after, str):
            raise TypeError
        return after
    except (ArcoError, binascii.Error, KeyError, TypeError, ValueError, UnicodeError) as exc:
        raise ValidationError("page_token: not a token returned by a previous page") from exc


def paginate(
    sorted_rows: Sorted[R], page_token: str | None, limit: int
) -> tuple[list[R], str | None]:
    """At most ``limit`` rows after the token's position (rows in ``sorted_rows.keys`` order)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: must be between 1 and {MAX_PAGE} (got {limit})")
    keys = sorted_rows.keys
    start = bisect.bisect_right(keys, _decode_token(page_token)) if page_token is not None else 0
    end = start + limit
    token = _encode_token(keys[end - 1]) if end < len(keys) else None
    return sorted_rows.rows[start:end], token
