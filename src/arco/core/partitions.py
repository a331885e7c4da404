"""Typed partition keys and their canonical string.

A partition key maps dimension names to scalars. Its canonical string is
``dim=tag:value`` items joined by ``,`` with dimensions sorted; the unpartitioned key is
``""``. Tags and value encodings:

====  ==================  =============================================
tag   Python type         value
====  ==================  =============================================
s     str                 base64url of the UTF-8 bytes, no padding
i     int (int64)         decimal, no ``+``, no leading zeros, no ``-0``
b     bool                ``true`` / ``false``
d     datetime.date       ``YYYY-MM-DD``
t     datetime.datetime   UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
n     None                empty
====  ==================  =============================================

:meth:`PartitionKey.parse` accepts exactly the strings :meth:`PartitionKey.canonical`
produces, so each key has one string and each string one key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from arco.errors import ValidationError

PartitionValue = str | int | bool | dt.date | dt.datetime | None

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_DIM_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ITEM_RE = re.compile(r"([a-z][a-z0-9_]{0,63})=([a-z]):(.*)", re.DOTALL)
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")
_INT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{6})Z"
)

_Item = tuple[str, PartitionValue]


class _FrozenValues(Mapping[str, PartitionValue]):
    """A read-only mapping backed by a tuple of items sorted by dimension."""

    __slots__ = ("_items",)

    def __init__(self, items: tuple[_Item, ...]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> PartitionValue:
        for dim, value in self._items:
            if dim == key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (dim for dim, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return repr(dict(self._items))


@dataclass(frozen=True, eq=False)
class PartitionKey:
    """A typed partition key; equal and hashed by its canonical string."""

    values: Mapping[str, PartitionValue]
    _canonical: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.values, Mapping):
            raise ValidationError(
                f"partition_key: must be a mapping of dimension to value "
                f"(got {type(self.values).__name__})"
            )
        items: list[_Item] = []
        for dim, value in self.values.items():
            _check_dim(dim)
            items.append((dim, _normalize_value(dim, value)))
        items.sort(key=lambda item: item[0])
        object.__setattr__(self, "values", _FrozenValues(tuple(items)))
        object.__setattr__(
            self, "_canonical", ",".join(_encode_item(dim, value) for dim, value in items)
        )

    def canonical(self) -> str:
        """Return the canonical string ``dim=tag:value,...`` (``""`` when unpartitioned)."""
        return self._canonical

    @classmethod
    def parse(cls, s: str) -> PartitionKey:
        """Parse a canonical string; anything :meth:`canonical` would not produce is rejected."""
        if not isinstance(s, str):
            raise ValidationError(f"partition_key: must be a string (got {type(s).__name__})")
        if s == "":
            return cls({})
        values: dict[str, PartitionValue] = {}
        previous = ""
        for part in s.split(","):
            match = _ITEM_RE.fullmatch(part)
            if match is None:
                raise ValidationError(
                    f"partition_key: items must be 'dim=tag:value' with dim of [a-z0-9_] "
                    f"starting with a letter (got {part!r} in {s!r})"
                )
            dim, tag, text = match.groups()
            if dim <= previous:
                raise ValidationError(
                    f"partition_key: dimensions must be sorted and unique (got {dim!r} after "
                    f"{previous!r} in {s!r})"
                )
            previous = dim
            values[dim] = _decode_value(dim, tag, text)
        key = cls(values)
        if key.canonical() != s:  # defensive: parse must be the exact inverse of canonical
            raise ValidationError(f"partition_key: not in canonical form (got {s!r})")
        return key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PartitionKey):
            return NotImplemented
        return self._canonical == other._canonical

    def __hash__(self) -> int:
        return hash(self._canonical)

    def __str__(self) -> str:
        return self._canonical


def partition_id(asset_id: str, key: PartitionKey) -> str:
    """Return the partition id: first 16 hex chars of sha256(f"{asset_id}\\n{canonical}")."""
    if not isinstance(asset_id, str) or not asset_id or "\n" in asset_id:
        raise ValidationError(
            f"asset_id: must be a non-empty string without newlines (got {asset_id!r})"
        )
    digest = hashlib.sha256(f"{asset_id}\n{key.canonical()}".encode()).hexdigest()
    return digest[:16]


def _check_dim(dim: object) -> None:
    if not isinstance(dim, str) or _DIM_RE.fullmatch(dim) is None:
        raise ValidationError(
            f"partition_key: dimension names must be 1-64 characters of [a-z0-9_] starting "
            f"with a letter (got {dim!r})"
        )


def _normalize_value(dim: str, value: object) -> PartitionValue:
    where = f"partition_key.{dim}"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValidationError(f"{where}: integers must fit in int64 (got {value})")
        return int(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(
                f"{where}: strings must be valid Unicode (lone surrogate in {value!r})"
            ) from None
        return str.__str__(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(
                f"{where}: datetimes must be timezone-aware (got naive {value.isoformat()})"
            )
        try:
            utc = value.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationError(
                f"{where}: datetime is out of range in UTC (got {value.isoformat()})"
            ) from None
        return dt.datetime(
            utc.year,
            utc.month,
            utc.day,
            utc.hour,
            utc.minute,
            utc.second,
            utc.microsecond,
            tzinfo=dt.UTC,
        )
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    raise ValidationError(
        f"{where}: values must be str, int, bool, date, timezone-aware datetime or None "
        f"(got {type(value).__name__})"
    )


def _encode_item(dim: str, value: PartitionValue) -> str:
    if value is None:
        return f"{dim}=n:"
    if isinstance(value, bool):
        return f"{dim}=b:{'true' if value else 'false'}"
    if isinstance(value, int):
        return f"{dim}=i:{value}"
    if isinstance(value, str):
        encoded = base64.urlsafe_b64encode(value.encode("utf-8")).rstrip(b"=").decode("ascii")
        return f"{dim}=s:{encoded}"
    if isinstance(value, dt.datetime):
        return (
            f"{dim}=t:{value.year:04d}-{value.month:02d}-{value.day:02d}"
            f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}Z"
        )
    return f"{dim}=d:{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _decode_value(dim: str, tag: str, text: str) -> PartitionValue:
    where = f"partition_key.{dim}"
    if tag == "n":
        if text:
            raise ValidationError(f"{where}: null values must be empty (got {text!r})")
        return None
    if tag == "b":
        if text not in ("true", "false"):
            raise ValidationError(f"{where}: booleans must be 'true' or 'false' (got {text!r})")
        return text == "true"
    if tag == "i":
        if _INT_RE.fullmatch(text) is None or text == "-0":
            raise ValidationError(
                f"{where}: integers must be canonical decimal without '+', leading zeros "
                f"or '-0' (got {text!r})"
            )
        value = int(text) if len(text) <= 20 else _INT64_MAX + 1
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValidationError(f"{where}: integers must fit in int64 (got {text!r})")
        return value
    if tag == "s":
        return _decode_string(where, text)
    if tag == "d":
        match = _DATE_RE.fullmatch(text)
        if match is None:
            raise ValidationError(f"{where}: dates must be YYYY-MM-DD (got {text!r})")
        try:
            return dt.date(*(int(g) for g in match.groups()))
        except ValueError as exc:
            raise ValidationError(f"{where}: invalid date {text!r} ({exc})") from None
    if tag == "t":
        match = _TIMESTAMP_RE.fullmatch(text)
        if match is None:
            raise ValidationError(
                f"{where}: timestamps must be YYYY-MM-DDTHH:MM:SS.ffffffZ (got {text!r})"
            )
        try:
            year, month, day, hour, minute, second, micro = (int(g) for g in match.groups())
            return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=dt.UTC)
        except ValueError as exc:
            raise ValidationError(f"{where}: invalid timestamp {text!r} ({exc})") from None
    raise ValidationError(f"{where}: unknown tag {tag!r} (expected one of s, i, b, d, t, n)")


def _decode_string(where: str, text: str) -> str:
    if _B64URL_RE.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValidationError(f"{where}: strings must be unpadded base64url (got {text!r})")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValidationError(
            f"{where}: strings must be unpadded base64url (got {text!r})"
        ) from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        raise ValidationError(
            f"{where}: strings must be canonical base64url (non-zero padding bits in {text!r})"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{where}: strings must be UTF-8 (got {text!r})") from None
