"""Identifiers and their one textual form per kind.

* Entities (namespaces, tables, columns) get a **UUIDv7**, always written as the canonical
  lowercase hyphenated string (``0190f2a4-...``).
* Events, commits and runs get a **ULID**, always written as 26 uppercase Crockford base32
  characters. For canonical ULIDs, string order equals numeric (and so time) order.
"""

from __future__ import annotations

import os
import re
import time

import uuid_utils
from ulid import ULID

from arco.errors import ValidationError

_ENTITY_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# 26 Crockford base32 characters (no I, L, O, U); the first one carries only 3 bits.
_ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_ULID_MAX = (1 << 128) - 1


def new_entity_id() -> str:
    """Return a fresh UUIDv7 in canonical lowercase hyphenated form."""
    return str(uuid_utils.uuid7())


def new_ulid() -> str:
    """Return a fresh ULID as 26 uppercase Crockford base32 characters: the current
    millisecond and 80 random bits.

    Not python-ulid's ``ULID()``: its process-wide monotonic generator hands out consecutive
    values within a millisecond (and reads the clock outside its lock, so its "previous
    millisecond" can step back between threads); :func:`next_ulid_after`'s ``prev + 1``
    then repeated an id another thread had already received (two events of one ledger
    writer with one key: a valid append refused with 409).
    """
    ms = time.time_ns() // 1_000_000
    return str(ULID.from_bytes(ms.to_bytes(6, "big") + os.urandom(10)))


def next_ulid_after(prev: str | None) -> str:
    """Return a new ULID strictly greater than ``prev``.

    A fresh ULID is used when it sorts after ``prev``; otherwise (same millisecond, or a
    clock behind the writer of ``prev``) the result is ``prev + 1`` as a 128-bit integer.
    """
    fresh = new_ulid()
    if prev is None:
        return fresh
    if not is_ulid(prev):
        raise ValidationError(
            f"ulid: must be 26 uppercase Crockford base32 characters (got {prev!r})"
        )
    if fresh > prev:
        return fresh
    value = int(ULID.from_str(prev))
    if value >= _ULID_MAX:
        raise ValidationError(f"ulid: no ULID exists after the maximum value (got {prev!r})")
    return str(ULID.from_int(value + 1))


def ulid_floor(ms: int) -> str:
    """The smallest ULID of millisecond ``ms``: every ULID minted at ``ms`` or later sorts
    at or after it, every earlier one before it."""
    if not 0 <= ms < 1 << 48:
        raise ValidationError(f"ms: must be a 48-bit Unix time in milliseconds (got {ms})")
    return str(ULID.from_bytes(ms.to_bytes(6, "big") + bytes(10)))


def is_entity_id(s: str) -> bool:
    """Whether ``s`` is a UUIDv7 in canonical lowercase hyphenated form."""
    return isinstance(s, str) and _ENTITY_ID_RE.fullmatch(s) is not None


def is_ulid(s: str) -> bool:
    """Whether ``s`` is a ULID in canonical (uppercase, 26-character) form."""
    return isinstance(s, str) and _ULID_RE.fullmatch(s) is not None


def ulid_time_ms(s: str) -> int:
    """Return the Unix time in milliseconds encoded in the ULID ``s``."""
    if not is_ulid(s):
        raise ValidationError(f"ulid: must be 26 uppercase Crockford base32 characters (got {s!r})")
    return int(ULID.from_str(s).milliseconds)
