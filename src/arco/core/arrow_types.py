"""Column types written as Arrow type strings.

Accepted forms (whitespace-tolerant, type names case-insensitive like
:func:`pyarrow.type_for_alias`):

* every alias :func:`pyarrow.type_for_alias` knows (``int64``, ``utf8``, ``double``, ...);
* ``timestamp[unit]`` and ``timestamp[unit, tz=ZONE]`` (unit ``s|ms|us|ns``; ZONE is
  ``UTC``, a fixed offset ``+HH:MM``/``-HH:MM`` or an IANA zone name);
* ``time32[s|ms]``, ``time64[us|ns]``, ``duration[unit]``, ``date32[day]``, ``date64[ms]``,
  ``fixed_size_binary[n]``;
* ``decimal128(p, s)`` (1 <= p <= 38) and ``decimal256(p, s)`` (1 <= p <= 76), 0 <= s <= p;
* ``list<T>``, ``list<name: T>``, ``large_list<T>``, ``large_list<name: T>``,
  ``struct<a: T, b: T>`` (unique field names) and ``map<K, V>``.

Field names may not contain ``< > , : [ ] ( )`` or control characters, so the canonical
form (pyarrow's ``str()``) always parses back to the same type.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import NoReturn

import pyarrow as pa

from arco.errors import ValidationError, preview

_EXAMPLES = "int64, string, timestamp[us, tz=UTC], decimal128(10, 2)"
_MAX_DEPTH = 32
_MAX_LENGTH = 4096

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT_RE = re.compile(r"[+-]?[0-9]{1,9}")
_FIELD_NAME_RE = re.compile(r"([^<>,:\[\]()\x00-\x1f\x7f]+?)\s*:")
_TZ_RE = re.compile(r"[A-Za-z0-9_+\-/:]+")
_OFFSET_RE = re.compile(r"[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]")

_UNITS = {
    "timestamp": ("s", "ms", "us", "ns"),
    "duration": ("s", "ms", "us", "ns"),
    "time32": ("s", "ms"),
    "time64": ("us", "ns"),
}
_DECIMALS = {"decimal128": (pa.decimal128, 38), "decimal256": (pa.decimal256, 76)}
_OPENERS = {
    "[": {*_UNITS, "date32", "date64", "fixed_size_binary"},
    "(": set(_DECIMALS),
    "<": {"list", "large_list", "struct", "map"},
}
_NEEDS_PARAMETERS = (_OPENERS["["] | _OPENERS["("] | _OPENERS["<"]) - {"date32", "date64"}


def parse_column_type(text: str) -> pa.DataType:
    """Parse an Arrow type string into a :class:`pyarrow.DataType`."""
    if not isinstance(text, str):
        raise ValidationError(f"column type: must be a string (got {type(text).__name__})")
    if len(text) > _MAX_LENGTH:
        raise ValidationError(f"column type: must be at most {_MAX_LENGTH} characters")
    return _Parser(text).parse()


def canonical_type(text: str) -> str:
    """Return the canonical spelling (pyarrow's ``str()``) of an Arrow type string."""
    return str(parse_column_type(text))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> pa.DataType:
        result = self.type(0)
        self.skip_ws()
        if self.pos != len(self.text):
            self.fail(f"unexpected {preview(self.text[self.pos :])} after the type")
        return result

    # -- errors ------------------------------------------------------------------------

    def fail(self, problem: str) -> NoReturn:
        raise ValidationError(f"column type: {problem} (got {preview(self.text)})")

    def unknown(self, name: str) -> NoReturn:
        raise ValidationError(
            f"column type: unknown Arrow type {preview(name)} (expected e.g. {_EXAMPLES})"
        )

    # -- lexing ------------------------------------------------------------------------

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of text"
            self.fail(f"expected {preview(char)} at position {self.pos} but found {found}")
        self.pos += 1

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        self.skip_ws()
        found = pattern.match(self.text, self.pos)
        if found is None:
            self.fail(f"expected {what} at position {self.pos}")
        self.pos = found.end()
        return found.group(0)

    def integer(self, what: str) -> int:
        return int(self.match(_INT_RE, what))

    # -- grammar -----------------------------------------------------------------------

    def type(self, depth: int) -> pa.DataType:
        if depth > _MAX_DEPTH:
            self.fail(f"types nest deeper than {_MAX_DEPTH} levels")
        self.skip_ws()
        if self.pos >= len(self.text):
            self.fail("expected a type name but found end of text")
        raw = self.match(_IDENT_RE, "a type name")
        name = raw.lower()
        opener = self.peek()
        if opener in _OPENERS and name not in _OPENERS[opener]:
            if name in _NEEDS_PARAMETERS or self.is_alias(name):
                self.fail(f"{name} does not take {preview(opener)} parameters")
            self.unknown(raw)
        if opener == "[":
            return self.bracketed(raw, name)
        if opener == "(":
            return self.decimal(raw, name)
        if opener == "<":
            return self.nested(raw, name, depth)
        if name in _NEEDS_PARAMETERS:
            self.fail(f"{name} needs parameters")
        if not self.is_alias(name):
            self.unknown(raw)
        return pa.type_for_alias(name)

    @staticmethod
    def is_alias(name: str) -> bool:
        try:
            pa.type_for_alias(name)
        except ValueError:
            return False
        return True

    def bracketed(self, raw: str, name: str) -> pa.DataType:
        self.expect("[")
        if name in _UNITS:
            unit = self.match(_IDENT_RE, "a time unit").lower()
            if unit not in _UNITS[name]:
                self.fail(
                    f"{name} unit must be one of {', '.join(_UNITS[name])} (got {preview(unit)})"
                )
            tz = None
            if name == "timestamp" and self.peek() == ",":
                self.pos += 1
                if self.match(_IDENT_RE, "'tz='").lower() != "tz":
                    self.fail("expected 'tz=' after the timestamp unit")
                self.expect("=")
                tz = self.timezone()
            self.expect("]")
            if name == "timestamp":
                return pa.timestamp(unit, tz=tz)
            if name == "duration":
                return pa.duration(unit)
            return pa.time32(unit) if name == "time32" else pa.time64(unit)
        if name in ("date32", "date64"):
            unit = self.match(_IDENT_RE, "a date unit").lower()
            expected = "day" if name == "date32" else "ms"
            if unit != expected:
                self.fail(f"{name} unit must be {expected} (got {preview(unit)})")
            self.expect("]")
            return pa.date32() if name == "date32" else pa.date64()
        if name == "fixed_size_binary":
            width = self.integer("a byte width")
            if width < 1:
                self.fail(f"fixed_size_binary width must be at least 1 (got {width})")
            self.expect("]")
            return pa.binary(width)
        self.unknown(raw)

    def timezone(self) -> str:
        tz = self.match(_TZ_RE, "a time zone")
        if tz == "UTC" or _OFFSET_RE.fullmatch(tz):
            return tz
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            self.fail(f"unknown time zone {preview(tz)} (use UTC, +HH:MM or an IANA name)")
        return tz

    def decimal(self, raw: str, name: str) -> pa.DataType:
        if name not in _DECIMALS:
            self.unknown(raw)
        factory, max_precision = _DECIMALS[name]
        self.expect("(")
        precision = self.integer("a precision")
        self.expect(",")
        scale = self.integer("a scale")
        self.expect(")")
        if not 1 <= precision <= max_precision:
            self.fail(f"{name} precision must be 1-{max_precision} (got {precision})")
        if not 0 <= scale <= precision:
            self.fail(f"{name} scale must be 0-{precision} (got {scale})")
        return factory(precision, scale)

    def nested(self, raw: str, name: str, depth: int) -> pa.DataType:
        self.expect("<")
        if name in ("list", "large_list"):
            field_name = self.optional_field_name()
            item = self.type(depth + 1)
            self.expect(">")
            value = item if field_name is None else pa.field(field_name, item)
            return pa.list_(value) if name == "list" else pa.large_list(value)
        if name == "struct":
            fields: list[pa.Field] = []
            seen: set[str] = set()
            if self.peek() != ">":
                while True:
                    field_name = self.field_name()
                    if field_name in seen:
                        self.fail(f"duplicate struct field {preview(field_name)}")
                    seen.add(field_name)
                    fields.append(pa.field(field_name, self.type(depth + 1)))
                    if self.peek() != ",":
                        break
                    self.pos += 1
            self.expect(">")
            return pa.struct(fields)
        if name == "map":
            key = self.type(depth + 1)
            self.expect(",")
            item = self.type(depth + 1)
            self.expect(">")
            try:
                return pa.map_(key, item)
            except (ValueError, TypeError, pa.ArrowException) as exc:
                self.fail(f"invalid map ({exc})")
        self.unknown(raw)

    def optional_field_name(self) -> str | None:
        self.skip_ws()
        found = _FIELD_NAME_RE.match(self.text, self.pos)
        if found is None:
            return None
        self.pos = found.end()
        return found.group(1)

    def field_name(self) -> str:
        name = self.optional_field_name()
        if name is None:
            self.fail(f"expected 'name: type' at position {self.pos}")
        return name
