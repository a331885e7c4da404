"""Partition definitions of the SDK and the partition keys they produce.

A definition (:class:`DailyPartitions`, :class:`HourlyPartitions`,
:class:`MonthlyPartitions`, :class:`StaticPartitions`, :class:`MultiPartitions`) is a thin
wrapper over the manifest's :data:`~arco.orchestration.manifest.PartitionsSpec`; every
question about keys is answered from the spec, so the SDK, the planner and the server agree.

Invariants:

* keys are always :class:`arco.core.partitions.PartitionKey` canonical strings (never
  formatted here): daily ``date=d:2026-01-05``, monthly ``date=d:2026-01-01`` (the month's
  first day), hourly ``date=t:2026-01-05T02:00:00.000000Z`` (the UTC instant at which the
  hour starts in the definition's timezone), static ``key=s:<base64url>``, multi the sorted
  ``,``-joined items of its dimensions;
* a time window is ``[start, end)`` of local wall-clock time in ``timezone`` (zoneinfo, so a
  daylight-saving day has 23 or 25 hourly partitions); windows are aligned (midnight, the
  hour, the first of the month) and the first is the first aligned window at or after
  ``start``;
* a set of keys is the windows that end at or before ``end`` when ``end`` is set, else at or
  before ``now`` (only complete windows); static values keep their declared order, time
  windows are chronological, multi keys are the cross product in declaration order;
* no enumeration returns more than :data:`MAX_PARTITION_KEYS` keys: it fails instead.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias
from zoneinfo import ZoneInfo

import pydantic

from arco.core.partitions import PartitionKey, PartitionValue
from arco.errors import ValidationError
from arco.orchestration.manifest import (
    MultiPartitionsSpec,
    PartitionsSpec,
    StaticPartitionsSpec,
    TimeWindowPartitionsSpec,
)

__all__ = [
    "MAX_PARTITION_KEYS",
    "DailyPartitions",
    "HourlyPartitions",
    "MonthlyPartitions",
    "MultiPartitions",
    "PartitionsDefinition",
    "StaticPartitions",
    "from_spec",
    "parse_partition",
    "partition_keys",
]

#: the most keys one enumeration may produce
MAX_PARTITION_KEYS = 100_000

SingleSpec: TypeAlias = TimeWindowPartitionsSpec | StaticPartitionsSpec
TimeInput: TypeAlias = str | dt.date | dt.datetime
_ONE_HOUR = dt.timedelta(hours=1)


# --- windows ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Window:
    """One time window: UTC instants ``[start, end)`` and the value its key carries."""

    start: dt.datetime
    end: dt.datetime
    value: dt.date | dt.datetime


def _instant(zone: ZoneInfo, wall: dt.datetime, fold: int = 0) -> dt.datetime:
    """The UTC instant of a naive local wall-clock time (a time in a gap maps to the gap)."""
    return wall.replace(tzinfo=zone, fold=fold).astimezone(dt.UTC)


def _exists(zone: ZoneInfo, wall: dt.datetime, instant: dt.datetime) -> bool:
    return instant.astimezone(zone).replace(tzinfo=None) == wall


def _add_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _first_day(spec: TimeWindowPartitionsSpec) -> dt.date:
    """The first aligned day (or month start) at or after ``spec.start``."""
    start = dt.datetime.fromisoformat(spec.start)
    day = start.date()
    if start.time() != dt.time():
        day += dt.timedelta(days=1)
    if spec.kind == "monthly" and day.day != 1:
        day = _add_month(day.replace(day=1))
    return day


def _first_hour(spec: TimeWindowPartitionsSpec) -> dt.datetime:
    """The first whole local hour at or after ``spec.start`` (naive wall time)."""
    start = dt.datetime.fromisoformat(spec.start)
    hour = start.replace(minute=0, second=0, microsecond=0)
    return hour if hour == start else hour + _ONE_HOUR


def _hour_starts(zone: ZoneInfo, wall: dt.datetime) -> Iterator[dt.datetime]:
    """Every UTC instant from wall-clock hour ``wall`` on at which a local hour starts:
    a skipped wall hour yields nothing, a repeated one yields both instants."""
    last: dt.datetime | None = None
    while True:
        for fold in (0, 1):
            instant = _instant(zone, wall, fold)
            if _exists(zone, wall, instant) and (last is None or instant > last):
                last = instant
                yield instant
        wall += _ONE_HOUR


def _windows(spec: TimeWindowPartitionsSpec) -> Iterator[_Window]:
    """Every window of ``spec`` from its first, in order (unbounded)."""
    zone = ZoneInfo(spec.timezone)
    if spec.kind == "hourly":
        starts = _hour_starts(zone, _first_hour(spec))
        hour = next(starts)
        for next_hour in starts:
            yield _Window(hour, next_hour, hour)
            hour = next_hour
        return
    day = _first_day(spec)
    start = _instant(zone, dt.datetime.combine(day, dt.time()))
    while True:
        following = _add_month(day) if spec.kind == "monthly" else day + dt.timedelta(days=1)
        end = _instant(zone, dt.datetime.combine(following, dt.time()))
        yield _Window(start, end, day)
        day, start = following, end


def _end_instant(spec: TimeWindowPartitionsSpec) -> dt.datetime | None:
    if spec.end is None:
        return None
    return _instant(ZoneInfo(spec.timezone), dt.datetime.fromisoformat(spec.end))


def _check_now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if not isinstance(now, dt.datetime) or now.utcoffset() is None:
        raise ValidationError(f"now: must be a timezone-aware datetime (got {now!r})")
    return now


def _too_many(what: str) -> ValidationError:
    return ValidationError(
        f"partitions: {what} has more than {MAX_PARTITION_KEYS} partition keys "
        "(set a later start or an end)"
    )


def _single_values(spec: SingleSpec, now: dt.datetime) -> list[PartitionValue]:
    if isinstance(spec, StaticPartitionsSpec):
        return list(spec.values)
    bound = _end_instant(spec)
    if bound is None:
        bound = now
    values: list[PartitionValue] = []
    for window in _windows(spec):
        if window.end > bound:
            break
        if len(values) == MAX_PARTITION_KEYS:
            raise _too_many(f"{spec.kind} from {spec.start}")
        values.append(window.value)
    return values


def partition_keys(spec: PartitionsSpec | None, now: dt.datetime | None = None) -> list[str]:
    """Every partition key of ``spec`` as canonical strings, in order (see the module).

    ``now`` (timezone-aware; default: the current time) bounds time windows without an
    ``end``: only windows complete at ``now`` count. ``None`` (unpartitioned) gives ``[""]``.
    More than :data:`MAX_PARTITION_KEYS` keys is a ValidationError.
    """
    moment = _check_now(now)
    if spec is None:
        return [""]
    if isinstance(spec, MultiPartitionsSpec):
        columns = [_single_values(d, moment) for d in spec.dimensions]
        total = 1
        for column in columns:
            total *= len(column)
        if total > MAX_PARTITION_KEYS:
            raise _too_many(f"multi ({' x '.join(str(len(c)) for c in columns)} keys)")
        names = [d.dimension for d in spec.dimensions]
        return [
            PartitionKey(dict(zip(names, combo, strict=True))).canonical()
            for combo in itertools.product(*columns)
        ]
    return [PartitionKey({spec.dimension: v}).canonical() for v in _single_values(spec, moment)]


# --- parsing a user-given partition ------------------------------------------------------


def _check_window(spec: TimeWindowPartitionsSpec, value: PartitionValue, text: str) -> None:
    """``value`` (a key's value) is the value of a window of ``spec`` within its range."""
    where = f"partition.{spec.dimension}"
    zone = ZoneInfo(spec.timezone)
    if spec.kind == "hourly":
        if not isinstance(value, dt.datetime):
            raise ValidationError(f"{where}: an hourly partition is a timestamp (got {text!r})")
        local = value.astimezone(zone)
        if (local.minute, local.second, local.microsecond) != (0, 0, 0):
            raise ValidationError(
                f"{where}: {text!r} is not the start of an hour in {spec.timezone}"
            )
        first = next(_hour_starts(zone, _first_hour(spec)))
        ends = (t for t in _hour_starts(zone, local.replace(tzinfo=None)) if t > value)
        start, end = value, next(ends)
    else:
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise ValidationError(f"{where}: a {spec.kind} partition is a date (got {text!r})")
        if spec.kind == "monthly" and value.day != 1:
            raise ValidationError(
                f"{where}: a monthly partition is the first day of a month (got {text!r})"
            )
        first = next(_windows(spec)).start
        step = _add_month(value) if spec.kind == "monthly" else value + dt.timedelta(days=1)
        start = _instant(zone, dt.datetime.combine(value, dt.time()))
        end = _instant(zone, dt.datetime.combine(step, dt.time()))
    if start < first:
        raise ValidationError(f"{where}: {text!r} is before the start {spec.start}")
    bound = _end_instant(spec)
    if bound is not None and end > bound:
        raise ValidationError(f"{where}: {text!r} is not before the end {spec.end}")


def _check_value(spec: SingleSpec, value: PartitionValue, text: str) -> None:
    if isinstance(spec, TimeWindowPartitionsSpec):
        _check_window(spec, value, text)
    elif not isinstance(value, str) or value not in spec.values:
        raise ValidationError(
            f"partition.{spec.dimension}: {value!r} is not one of the static values"
        )


_PLAIN_FORMS = {
    "daily": "YYYY-MM-DD",
    "monthly": "YYYY-MM or YYYY-MM-DD",
    "hourly": "YYYY-MM-DDTHH:MM",
}


def _plain_time(spec: TimeWindowPartitionsSpec, text: str) -> PartitionValue | None:
    """The value of a plain ``2026-01-05`` / ``2026-01`` / ``2026-01-05T03:00`` form (local
    to the timezone unless it carries an offset); None if ``text`` is not such a form."""
    if spec.kind == "monthly" and len(text) == 7:
        text += "-01"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if spec.kind != "hourly":
        if len(text) != 10:
            return None
        return parsed.date()
    if "T" not in text:
        return None
    if parsed.tzinfo is not None:
        return parsed
    zone = ZoneInfo(spec.timezone)
    early, late = _instant(zone, parsed, 0), _instant(zone, parsed, 1)
    if not _exists(zone, parsed, early):
        raise ValidationError(
            f"partition: {text!r} does not exist in {spec.timezone} (a clock change skips it)"
        )
    if early != late:
        raise ValidationError(
            f"partition: {text!r} happens twice in {spec.timezone}; give an offset "
            f"({early.astimezone(zone).isoformat()} or {late.astimezone(zone).isoformat()})"
        )
    return early


def parse_partition(spec: PartitionsSpec | None, text: str) -> str:
    """Validate a user-given partition of ``spec`` and return its canonical key.

    Accepts a canonical key (every dimension of ``spec``, each value of the right type,
    aligned and within ``[start, end)``) and, for a single time-window dimension, the plain
    forms ``2026-01-05`` (daily), ``2026-01`` or ``2026-01-01`` (monthly) and
    ``2026-01-05T03:00`` (hourly: local to the timezone, or with an explicit offset). An
    unpartitioned ``spec`` (None) accepts only ``""``. Whether the window is complete yet is
    not checked.
    """
    if not isinstance(text, str):
        raise ValidationError(f"partition: must be a string (got {type(text).__name__})")
    if spec is None:
        if text != "":
            raise ValidationError(f"partition: the asset is not partitioned (got {text!r})")
        return ""
    singles: Sequence[SingleSpec] = (
        spec.dimensions if isinstance(spec, MultiPartitionsSpec) else (spec,)
    )
    try:
        key = PartitionKey.parse(text)
    except ValidationError as exc:
        if not isinstance(spec, TimeWindowPartitionsSpec):
            raise ValidationError(f"partition: {exc.message}") from None
        plain = _plain_time(spec, text)
        if plain is None:
            raise ValidationError(
                f"partition: expected a canonical key ({spec.dimension}=...) or "
                f"{_PLAIN_FORMS[spec.kind]} (got {text!r})"
            ) from None
        key = PartitionKey({spec.dimension: plain})
    names = sorted(d.dimension for d in singles)
    if sorted(key.values) != names:
        raise ValidationError(
            f"partition: dimensions must be {names} (got {sorted(key.values)} in {text!r})"
        )
    for single in singles:
        _check_value(single, key.values[single.dimension], text)
    return key.canonical()


# --- the SDK definitions -----------------------------------------------------------------


def _validated(model: type[pydantic.BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ValidationError(f"partitions.{loc}: {msg}") from None


class PartitionsDefinition:
    """Base of the SDK's partition definitions: a wrapper over one manifest spec."""

    _spec: PartitionsSpec

    def to_spec(self) -> PartitionsSpec:
        """The manifest model of this definition."""
        return self._spec

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The dimension names of the keys, sorted."""
        spec = self._spec
        if isinstance(spec, MultiPartitionsSpec):
            return tuple(sorted(d.dimension for d in spec.dimensions))
        return (spec.dimension,)

    def keys(self, now: dt.datetime | None = None) -> list[str]:
        """The canonical keys (see :func:`partition_keys`)."""
        return partition_keys(self._spec, now)

    def parse(self, text: str) -> str:
        """The canonical key of a user-given partition (see :func:`parse_partition`)."""
        return parse_partition(self._spec, text)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PartitionsDefinition):
            return NotImplemented
        return bool(self._spec == other._spec)

    def __hash__(self) -> int:
        return hash(self._spec.model_dump_json())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._spec!r})"


def _time_text(kind: str, field: str, value: TimeInput) -> str:
    """A start/end as the manifest stores it: ``YYYY-MM-DD`` (daily, monthly) or
    ``YYYY-MM-DDTHH:MM`` (hourly), aligned to the window, local to the timezone."""
    where = f"partitions.{field}"
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                f"{where}: must be an ISO date or date-time (got {value!r})"
            ) from None
    else:
        raise ValidationError(
            f"{where}: must be a date, a datetime or an ISO string (got {type(value).__name__})"
        )
    if parsed.tzinfo is not None:
        raise ValidationError(
            f"{where}: must be local to the partitions' timezone, without an offset (got {value!r})"
        )
    if kind == "hourly":
        if (parsed.minute, parsed.second, parsed.microsecond) != (0, 0, 0):
            raise ValidationError(f"{where}: hourly windows start on the hour (got {value!r})")
        return parsed.strftime("%Y-%m-%dT%H:%M")
    if parsed.time() != dt.time():
        raise ValidationError(f"{where}: {kind} windows start at midnight (got {value!r})")
    if kind == "monthly" and parsed.day != 1:
        raise ValidationError(
            f"{where}: monthly windows start on the first of a month (got {value!r})"
        )
    return parsed.date().isoformat()


class _TimeWindowPartitions(PartitionsDefinition):
    kind: ClassVar[Literal["daily", "hourly", "monthly"]]
    _spec: TimeWindowPartitionsSpec

    def __init__(
        self,
        start: TimeInput,
        end: TimeInput | None = None,
        timezone: str = "UTC",
        dimension: str = "date",
    ) -> None:
        data: dict[str, Any] = {
            "kind": self.kind,
            "start": _time_text(self.kind, "start", start),
            "end": None if end is None else _time_text(self.kind, "end", end),
            "timezone": timezone,
            "dimension": dimension,
        }
        spec: TimeWindowPartitionsSpec = _validated(TimeWindowPartitionsSpec, data)
        if spec.end is not None and spec.end <= spec.start:
            raise ValidationError(
                f"partitions.end: must be after the start {spec.start} (got {spec.end})"
            )
        self._spec = spec

    @property
    def start(self) -> str:
        """The first window's start as stored (local to :attr:`timezone`)."""
        return self._spec.start

    @property
    def end(self) -> str | None:
        """The exclusive end as stored, or None (up to the last complete window)."""
        return self._spec.end

    @property
    def timezone(self) -> str:
        """The IANA time zone the windows are cut in."""
        return self._spec.timezone


class DailyPartitions(_TimeWindowPartitions):
    """One partition per local day from ``start`` (a date) to ``end`` (exclusive);
    keys ``date=d:YYYY-MM-DD``."""

    kind = "daily"


class HourlyPartitions(_TimeWindowPartitions):
    """One partition per local hour from ``start`` (a naive datetime on the hour, local to
    ``timezone``) to ``end``; keys carry the UTC instant of the hour's start."""

    kind = "hourly"


class MonthlyPartitions(_TimeWindowPartitions):
    """One partition per month from ``start`` (the first of a month) to ``end``; keys carry
    the month's first day."""

    kind = "monthly"


class StaticPartitions(PartitionsDefinition):
    """A fixed, ordered list of string partitions; keys ``{dimension}=s:<base64url>``."""

    _spec: StaticPartitionsSpec

    def __init__(self, values: Sequence[str], dimension: str = "key") -> None:
        if isinstance(values, str) or not all(isinstance(v, str) for v in values):
            raise ValidationError("partitions.values: must be a list of strings")
        self._spec = _validated(
            StaticPartitionsSpec, {"values": tuple(values), "dimension": dimension}
        )

    @property
    def values(self) -> tuple[str, ...]:
        """The partition values in declaration order."""
        return self._spec.values


class MultiPartitions(PartitionsDefinition):
    """The cross product of two or more single-dimension definitions (distinct names)."""

    _spec: MultiPartitionsSpec

    def __init__(self, *definitions: PartitionsDefinition) -> None:
        specs: list[dict[str, Any]] = []
        for d in definitions:
            if not isinstance(d, PartitionsDefinition) or isinstance(d, MultiPartitions):
                raise ValidationError(
                    "partitions.dimensions: each must be a single-dimension definition "
                    f"(got {type(d).__name__})"
                )
            specs.append(d.to_spec().model_dump())
        self._spec = _validated(MultiPartitionsSpec, {"dimensions": specs})


_TIME_CLASSES: dict[str, type[_TimeWindowPartitions]] = {
    "daily": DailyPartitions,
    "hourly": HourlyPartitions,
    "monthly": MonthlyPartitions,
}


def from_spec(spec: PartitionsSpec) -> PartitionsDefinition:
    """The SDK definition of a manifest spec (the spec is kept as it is)."""
    out: PartitionsDefinition
    if isinstance(spec, TimeWindowPartitionsSpec):
        out = _TIME_CLASSES[spec.kind].__new__(_TIME_CLASSES[spec.kind])
    elif isinstance(spec, StaticPartitionsSpec):
        out = StaticPartitions.__new__(StaticPartitions)
    elif isinstance(spec, MultiPartitionsSpec):
        out = MultiPartitions.__new__(MultiPartitions)
    else:
        raise ValidationError(f"partitions: not a partitions spec (got {type(spec).__name__})")
    out._spec = spec
    return out
