"""Cron instants in an IANA time zone: which UTC instants a schedule fires at (ADR 017).

Pure functions over ``croniter`` (which only enumerates naive wall-clock times matching the
five fields) and ``zoneinfo`` (which maps a wall time to instants). Instants are Unix
milliseconds (UTC). The rules at clock changes:

* **fall back** (a wall time occurs twice): the expression fires once, at the first
  occurrence;
* **spring forward** (a wall time does not exist): it fires at the first instant after the
  gap (the instant of the change: ``30 2 * * *`` in New York fires at 03:00 EDT on the day
  the clocks skip 02:00-03:00); several wall times of one gap give one tick;
* **every-hour expressions** (the hour field matches all 24 hours: ``0 * * * *``,
  ``*/15 * * * *``) follow real time instead, as Dagster's hourly schedules do: they fire
  at every instant whose local wall time matches, so in both occurrences of a repeated
  hour and not at all in a skipped one. An hourly schedule thus fires exactly once per
  real hour through both changes, and ``*/15`` every 15 real minutes.

Invariants: ticks are strictly increasing; ``ticks_between(a, b) + ticks_between(b, c) ==
ticks_between(a, c)`` for ``a <= b <= c``; a tick's local wall time matches the five
fields, except a gap tick (which is the instant the clock changes).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from arco.errors import ValidationError

__all__ = ["MAX_TICKS", "Catchup", "CronSchedule", "validate_cron", "validate_timezone"]

#: the most ticks one :meth:`CronSchedule.ticks_between` returns (it fails instead)
MAX_TICKS = 1_000_000
#: more than any clock change's size (the largest in tzdata is two hours)
_SHIFT_MARGIN = dt.timedelta(hours=3)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MIN_MS = 0
_MAX_MS = 253_402_300_799_000 - 2 * 86_400_000  # before 9999-12-30


def validate_cron(field_name: str, expression: object) -> str:
    """The expression with single spaces between its five fields (ValidationError naming
    ``field_name`` otherwise: six-field, hashed ``H`` and unparsable expressions are
    refused)."""
    if not isinstance(expression, str):
        raise ValidationError(
            f"{field_name}: must be a cron expression string (got {type(expression).__name__})"
        )
    text = " ".join(expression.split())
    rule = "must be a 5-field cron expression (minute hour day-of-month month day-of-week)"
    if not text:
        raise ValidationError(f"{field_name}: {rule} (got {expression!r})")
    try:
        valid = croniter.is_valid(text)
        fields = croniter.expand(text)[0] if valid else []
    except Exception:  # croniter raises several unrelated types for odd input
        valid, fields = False, []
    if not valid or len(fields) != 5:
        raise ValidationError(f"{field_name}: {rule} (got {expression!r})")
    try:
        croniter(text, dt.datetime(2000, 1, 1)).get_next(dt.datetime)
    except CroniterBadDateError:
        raise ValidationError(f"{field_name}: {text!r} never fires (no such date)") from None
    except Exception:  # anything else croniter cannot iterate
        raise ValidationError(f"{field_name}: {rule} (got {expression!r})") from None
    return text


def validate_timezone(field_name: str, timezone: object) -> str:
    """``timezone`` if it names an IANA zone (ValidationError naming ``field_name``)."""
    if not isinstance(timezone, str) or not timezone:
        raise ValidationError(f"{field_name}: must be an IANA time zone name (got {timezone!r})")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: 'America' is a folder
        raise ValidationError(f"{field_name}: unknown IANA time zone {timezone!r}") from None
    return timezone


def _check_ms(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not _MIN_MS <= value <= _MAX_MS:
        raise ValidationError(f"{name}: must be Unix milliseconds >= 0 (got {value!r})")
    return value


def _to_ms(instant: dt.datetime) -> int:
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _from_ms(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)


class Catchup(NamedTuple):
    """What a schedule owes after a pause of its controller: the ticks to run (within the
    catch-up window, oldest first), how many older ticks were missed, and the oldest and
    newest of those (None when none was missed): one skipped tick record at
    ``last_missed_ms`` covering ``missed`` ticks from ``first_missed_ms``."""

    ticks: tuple[int, ...]
    missed: int
    first_missed_ms: int | None
    last_missed_ms: int | None


@dataclass(frozen=True)
class CronSchedule:
    """A cron expression evaluated in an IANA time zone (see the module for the rules).

    ``expression`` is stored with single spaces; a bad expression or an unknown zone is a
    one-line ValidationError naming ``cron`` or ``timezone``.
    """

    expression: str
    timezone: str = "UTC"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _every_hour: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = validate_cron("cron", self.expression)
        zone = validate_timezone("timezone", self.timezone)
        hours = croniter.expand(text)[0][1]
        every_hour = hours == ["*"] or set(hours) >= set(range(24))
        object.__setattr__(self, "expression", text)
        object.__setattr__(self, "_zone", ZoneInfo(zone))
        object.__setattr__(self, "_every_hour", every_hour)

    @property
    def every_hour(self) -> bool:
        """True when the hour field matches every hour (real-time rule at clock changes)."""
        return self._every_hour

    # --- wall time -> instants ---------------------------------------------------------

    def _gap_end(self, low: dt.datetime, high: dt.datetime) -> dt.datetime:
        """The instant the clock changes, between UTC instants ``low`` (old offset) and
        ``high`` (new offset), to the second."""
        zone = self._zone
        target = high.astimezone(zone).utcoffset()
        lo, hi = int(low.timestamp()), int(high.timestamp())
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if dt.datetime.fromtimestamp(mid, zone).utcoffset() == target:
                hi = mid
            else:
                lo = mid
        return dt.datetime.fromtimestamp(hi, dt.UTC)

    def _instants(self, wall: dt.datetime) -> tuple[int, tuple[int, ...]]:
        """For a naive wall time: the monotone bound ``M`` (its first occurrence, or the
        gap's end when it does not exist) and the instants it fires at."""
        zone = self._zone
        early = wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
        late = wall.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
        exists = early.astimezone(zone).replace(tzinfo=None) == wall
        if not exists:
            low, high = min(early, late), max(early, late)
            bound = _to_ms(self._gap_end(low, high))
            return bound, (() if self._every_hour else (bound,))
        first = _to_ms(min(early, late))
        if self._every_hour and early != late:
            return first, (first, _to_ms(max(early, late)))
        return first, (first,)

    def _changes_near(self, moment: dt.datetime) -> bool:
        """Whether the zone's offset changes within the margin around ``moment``."""
        offsets = {
            (moment + delta).astimezone(self._zone).utcoffset()
            for delta in (-_SHIFT_MARGIN, dt.timedelta(0), _SHIFT_MARGIN)
        }
        return len(offsets) > 1

    # --- enumeration ---------------------------------------------------------------------

    def iter_ticks(self, after_ms: int) -> Iterator[int]:
        """Every tick strictly after ``after_ms``, in increasing order (unbounded)."""
        after_ms = _check_ms("after_ms", after_ms)
        moment = _from_ms(after_ms)
        local = moment.astimezone(self._zone).replace(tzinfo=None)
        start = local
        if self._every_hour and self._changes_near(moment):
            # a wall time before ``local`` may occur again after ``after_ms``
            start = local - _SHIFT_MARGIN
        walls = croniter(self.expression, start)
        pending: list[int] = []
        last = after_ms
        while True:
            wall = walls.get_next(dt.datetime)
            bound, instants = self._instants(wall)
            for instant in instants:
                if instant > last:
                    heapq.heappush(pending, instant)
            # every later wall time fires at or after ``bound``: what is below is final
            while pending and pending[0] <= bound:
                instant = heapq.heappop(pending)
                if instant > last:
                    last = instant
                    yield instant

    def ticks_between(self, after_ms: int, until_ms: int) -> list[int]:
        """The ticks ``t`` with ``after_ms < t <= until_ms``, in increasing order (empty when
        ``until_ms <= after_ms``; more than :data:`MAX_TICKS` is a ValidationError)."""
        after_ms = _check_ms("after_ms", after_ms)
        until_ms = _check_ms("until_ms", until_ms)
        out: list[int] = []
        if until_ms <= after_ms:
            return out
        for tick in self.iter_ticks(after_ms):
            if tick > until_ms:
                break
            if len(out) == MAX_TICKS:
                raise ValidationError(
                    f"cron: {self.expression!r} fires more than {MAX_TICKS} times in the range"
                )
            out.append(tick)
        return out

    def next_tick(self, after_ms: int) -> int:
        """The first tick strictly after ``after_ms``."""
        return next(self.iter_ticks(after_ms))

    def catchup(self, last_tick_ms: int, now_ms: int, window_s: int) -> Catchup:
        """The ticks owed at ``now_ms`` since ``last_tick_ms`` (the last tick handled, or
        when the schedule started): those at most ``window_s`` seconds old run; older ones
        are counted as missed."""
        if isinstance(window_s, bool) or not isinstance(window_s, int) or window_s < 0:
            raise ValidationError(f"catchup_window_s: must be an integer >= 0 (got {window_s!r})")
        horizon = now_ms - window_s * 1000
        due = self.ticks_between(last_tick_ms, now_ms)
        split = 0
        while split < len(due) and due[split] < horizon:
            split += 1
        if not split:
            return Catchup(tuple(due), 0, None, None)
        return Catchup(tuple(due[split:]), split, due[0], due[split - 1])
