"""Properties of cron ticks in any zone: increasing, matching the fields, additive."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from arco.orchestration.automation.cron import CronSchedule

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",  # a 30-minute change
    "America/Santiago",  # changes at midnight
    "Asia/Kolkata",
]
EXPRESSIONS = [
    "0 * * * *",
    "30 * * * *",
    "*/15 * * * *",
    "30 2 * * *",
    "0 0 * * *",
    "15 1,2,3 * * *",
    "0 */2 * * 1-5",
    "45 23 L * *",
    "*/7 1 * * *",
    "0,30 0-3 1 * *",
]
# around the changes of 2026 in the zones above, plus ordinary stretches
START = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
YEAR_MS = 365 * 86_400_000
DAYS_3 = 3 * 86_400_000

instants = st.integers(min_value=START, max_value=START + YEAR_MS)
spans = st.integers(min_value=0, max_value=DAYS_3)


def _is_change(zone: ZoneInfo, tick: int) -> bool:
    at = dt.datetime.fromtimestamp(tick / 1000, zone)
    before = dt.datetime.fromtimestamp(tick / 1000 - 1, zone)
    return at.utcoffset() != before.utcoffset()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(EXPRESSIONS), st.sampled_from(ZONES), instants, spans, spans)
def test_ticks_increase_match_the_fields_and_add_up(
    expr: str, zone_name: str, a: int, ab: int, bc: int
) -> None:
    cron = CronSchedule(expr, zone_name)
    zone = ZoneInfo(zone_name)
    b, c = a + ab, a + ab + bc
    first, second, whole = (
        cron.ticks_between(a, b),
        cron.ticks_between(b, c),
        cron.ticks_between(a, c),
    )
    assert first + second == whole
    assert all(x < y for x, y in itertools.pairwise(whole))
    assert all(a < t <= c for t in whole)
    for tick in whole:
        wall = dt.datetime.fromtimestamp(tick / 1000, zone).replace(tzinfo=None)
        if not croniter.match(cron.expression, wall):
            # the documented gap rule: a skipped wall time fires when the clock changes
            assert not cron.every_hour and _is_change(zone, tick), (expr, zone_name, wall)
    if whole:
        assert cron.next_tick(a) == whole[0]


MINUTES = {"0 * * * *": {0}, "*/15 * * * *": {0, 15, 30, 45}, "30 * * * *": {30}}


@pytest.mark.parametrize("expr", sorted(MINUTES))
@pytest.mark.parametrize("zone_name", ZONES)
def test_every_hour_expressions_fire_at_every_matching_instant(expr: str, zone_name: str) -> None:
    """In real time: each UTC minute whose local wall time matches is a tick, and no other
    (checked minute by minute over both changes of the year)."""
    cron = CronSchedule(expr, zone_name)
    zone = ZoneInfo(zone_name)
    for day in _change_days(zone):
        a = int(day.timestamp() * 1000)
        ticks = set(cron.ticks_between(a, a + 2 * 86_400_000))
        expected = {
            t
            for t in range(a + 60_000, a + 2 * 86_400_000 + 1, 60_000)
            if dt.datetime.fromtimestamp(t / 1000, zone).minute in MINUTES[expr]
        }
        assert ticks == expected


def _change_days(zone: ZoneInfo) -> list[dt.datetime]:
    """The UTC midnight before each offset change of 2026 in ``zone``."""
    out = []
    day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    while day.year == 2026:
        nxt = day + dt.timedelta(days=1)
        if day.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
            out.append(day - dt.timedelta(days=1))
        day = nxt
    return out


CHANGES = {
    name: [
        int(t.timestamp() * 1000)
        for day in _change_days(ZoneInfo(name))
        for t in [day + dt.timedelta(hours=h) for h in range(48)]
        if t.astimezone(ZoneInfo(name)).utcoffset()
        != (t - dt.timedelta(hours=1)).astimezone(ZoneInfo(name)).utcoffset()
    ]
    for name in ("America/New_York", "Europe/Berlin", "Australia/Lord_Howe")
}


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(MINUTES)),
    st.sampled_from(sorted(CHANGES)),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=-5 * 60, max_value=5 * 60),
    st.integers(min_value=0, max_value=59_999),
)
def test_every_hour_ticks_near_a_change_start_anywhere(
    expr: str, zone_name: str, which: int, minutes: int, millis: int
) -> None:
    """Starting at any minute around a change (inside a repeated hour too), the ticks of the
    next six hours are exactly the matching minutes of real time."""
    changes = CHANGES[zone_name]
    zone = ZoneInfo(zone_name)
    a = changes[which % len(changes)] + minutes * 60_000 + millis
    until = a + 6 * 3_600_000
    expected = [
        t
        for t in range(a - a % 60_000 + 60_000, until + 1, 60_000)
        if dt.datetime.fromtimestamp(t / 1000, zone).minute in MINUTES[expr]
    ]
    assert CronSchedule(expr, zone_name).ticks_between(a, until) == expected
