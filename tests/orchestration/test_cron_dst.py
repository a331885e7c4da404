"""Cron ticks in a time zone: exact instants across both clock changes, and catch-up."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from arco.errors import ValidationError
from arco.orchestration.automation.cron import CronSchedule

NY = "America/New_York"
BERLIN = "Europe/Berlin"


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


def utc(ticks: list[int]) -> list[str]:
    return [dt.datetime.fromtimestamp(t / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%MZ") for t in ticks]


def local(ticks: list[int], zone: str) -> list[str]:
    from zoneinfo import ZoneInfo

    return [
        dt.datetime.fromtimestamp(t / 1000, ZoneInfo(zone)).strftime("%m-%d %H:%M%z") for t in ticks
    ]


def between(expr: str, zone: str, after: str, until: str) -> list[int]:
    return CronSchedule(expr, zone).ticks_between(ms(after), ms(until))


# --- America/New_York: spring 2026-03-08 02:00 EST -> 03:00 EDT; fall 2026-11-01 02:00 EDT
# -> 01:00 EST (01:00-02:00 happens twice)


def test_new_york_daily_0230_spring_forward_fires_at_the_end_of_the_gap() -> None:
    ticks = between("30 2 * * *", NY, "2026-03-07T00:00Z", "2026-03-10T00:00Z")
    assert utc(ticks) == ["2026-03-07T07:30Z", "2026-03-08T07:00Z", "2026-03-09T06:30Z"]
    assert local(ticks, NY) == ["03-07 02:30-0500", "03-08 03:00-0400", "03-09 02:30-0400"]


def test_new_york_daily_0130_fall_back_fires_once_at_the_first_occurrence() -> None:
    ticks = between("30 1 * * *", NY, "2026-10-31T00:00Z", "2026-11-03T00:00Z")
    assert local(ticks, NY) == ["10-31 01:30-0400", "11-01 01:30-0400", "11-02 01:30-0500"]
    assert utc(ticks)[1] == "2026-11-01T05:30Z"


def test_new_york_daily_0230_is_unaffected_by_fall_back() -> None:
    ticks = between("30 2 * * *", NY, "2026-10-31T00:00Z", "2026-11-03T00:00Z")
    assert local(ticks, NY) == ["10-31 02:30-0400", "11-01 02:30-0500", "11-02 02:30-0500"]


def test_new_york_hourly_spring_forward_fires_once_per_real_hour() -> None:
    ticks = between("30 * * * *", NY, "2026-03-08T04:00Z", "2026-03-08T09:00Z")
    assert utc(ticks) == [
        "2026-03-08T04:30Z",
        "2026-03-08T05:30Z",
        "2026-03-08T06:30Z",
        "2026-03-08T07:30Z",
        "2026-03-08T08:30Z",
    ]
    assert local(ticks, NY)[2:4] == ["03-08 01:30-0500", "03-08 03:30-0400"]


def test_new_york_hourly_on_the_hour_across_both_changes() -> None:
    spring = between("0 * * * *", NY, "2026-03-08T05:00Z", "2026-03-08T08:00Z")
    assert utc(spring) == ["2026-03-08T06:00Z", "2026-03-08T07:00Z", "2026-03-08T08:00Z"]
    assert local(spring, NY) == ["03-08 01:00-0500", "03-08 03:00-0400", "03-08 04:00-0400"]
    fall = between("0 * * * *", NY, "2026-11-01T04:00Z", "2026-11-01T08:00Z")
    assert utc(fall) == [
        "2026-11-01T05:00Z",
        "2026-11-01T06:00Z",
        "2026-11-01T07:00Z",
        "2026-11-01T08:00Z",
    ]
    assert local(fall, NY) == [
        "11-01 01:00-0400",
        "11-01 01:00-0500",
        "11-01 02:00-0500",
        "11-01 03:00-0500",
    ]


def test_new_york_hourly_fall_back_fires_in_both_occurrences_of_the_repeated_hour() -> None:
    ticks = between("30 * * * *", NY, "2026-11-01T04:00Z", "2026-11-01T08:00Z")
    assert utc(ticks) == [
        "2026-11-01T04:30Z",
        "2026-11-01T05:30Z",
        "2026-11-01T06:30Z",
        "2026-11-01T07:30Z",
    ]
    assert local(ticks, NY) == [
        "11-01 00:30-0400",
        "11-01 01:30-0400",
        "11-01 01:30-0500",
        "11-01 02:30-0500",
    ]


def test_new_york_every_15_minutes_follows_real_time() -> None:
    spring = between("*/15 * * * *", NY, "2026-03-08T06:00Z", "2026-03-08T07:30Z")
    assert utc(spring) == [
        "2026-03-08T06:15Z",
        "2026-03-08T06:30Z",
        "2026-03-08T06:45Z",
        "2026-03-08T07:00Z",
        "2026-03-08T07:15Z",
        "2026-03-08T07:30Z",
    ]
    fall = between("*/15 * * * *", NY, "2026-11-01T05:00Z", "2026-11-01T07:00Z")
    assert len(fall) == 8 and all(b - a == 15 * 60_000 for a, b in itertools.pairwise(fall))
    assert local(fall, NY)[2:4] == ["11-01 01:45-0400", "11-01 01:00-0500"]


def test_new_york_a_whole_day_has_23_and_25_hourly_ticks() -> None:
    assert len(between("0 * * * *", NY, "2026-03-08T05:00Z", "2026-03-09T04:00Z")) == 23
    assert len(between("0 * * * *", NY, "2026-11-01T04:00Z", "2026-11-02T05:00Z")) == 25


def test_fixed_hours_inside_the_repeated_hour_fire_only_at_the_first_occurrence() -> None:
    ticks = between("*/20 1 * * *", NY, "2026-11-01T04:00Z", "2026-11-01T08:00Z")
    assert local(ticks, NY) == ["11-01 01:00-0400", "11-01 01:20-0400", "11-01 01:40-0400"]


def test_several_wall_times_of_one_gap_are_one_tick() -> None:
    ticks = between("0,30 2,3 * * *", NY, "2026-03-08T05:00Z", "2026-03-08T09:00Z")
    assert local(ticks, NY) == ["03-08 03:00-0400", "03-08 03:30-0400"]


# --- Europe/Berlin: spring 2026-03-29 02:00 CET -> 03:00 CEST; fall 2026-10-25 03:00 CEST
# -> 02:00 CET (02:00-03:00 happens twice)


def test_berlin_daily_0230_spring_forward_and_fall_back() -> None:
    spring = between("30 2 * * *", BERLIN, "2026-03-28T00:00Z", "2026-03-31T00:00Z")
    assert utc(spring) == ["2026-03-28T01:30Z", "2026-03-29T01:00Z", "2026-03-30T00:30Z"]
    assert local(spring, BERLIN)[1] == "03-29 03:00+0200"
    fall = between("30 2 * * *", BERLIN, "2026-10-24T00:00Z", "2026-10-27T00:00Z")
    assert utc(fall) == ["2026-10-24T00:30Z", "2026-10-25T00:30Z", "2026-10-26T01:30Z"]
    assert local(fall, BERLIN) == ["10-24 02:30+0200", "10-25 02:30+0200", "10-26 02:30+0100"]


def test_berlin_daily_0600_is_unaffected() -> None:
    ticks = between("0 6 * * *", BERLIN, "2026-03-28T00:00Z", "2026-03-31T00:00Z")
    assert local(ticks, BERLIN) == ["03-28 06:00+0100", "03-29 06:00+0200", "03-30 06:00+0200"]


def test_berlin_hourly_across_both_changes() -> None:
    spring = between("30 * * * *", BERLIN, "2026-03-28T23:00Z", "2026-03-29T03:00Z")
    assert local(spring, BERLIN) == [
        "03-29 00:30+0100",
        "03-29 01:30+0100",
        "03-29 03:30+0200",
        "03-29 04:30+0200",
    ]
    assert utc(spring) == [
        "2026-03-28T23:30Z",
        "2026-03-29T00:30Z",
        "2026-03-29T01:30Z",
        "2026-03-29T02:30Z",
    ]
    fall = between("30 * * * *", BERLIN, "2026-10-24T23:00Z", "2026-10-25T03:00Z")
    assert local(fall, BERLIN) == [
        "10-25 01:30+0200",
        "10-25 02:30+0200",
        "10-25 02:30+0100",
        "10-25 03:30+0100",
    ]


def test_berlin_every_15_minutes_is_regular_in_real_time() -> None:
    for after, until in (
        ("2026-03-28T22:00Z", "2026-03-29T04:00Z"),
        ("2026-10-24T22:00Z", "2026-10-25T04:00Z"),
    ):
        ticks = between("*/15 * * * *", BERLIN, after, until)
        assert len(ticks) == 24
        assert {b - a for a, b in itertools.pairwise(ticks)} == {15 * 60_000}


def test_utc_daily_and_hourly() -> None:
    daily = between("0 6 * * *", "UTC", "2026-01-01T06:00Z", "2026-01-04T06:00Z")
    assert utc(daily) == ["2026-01-02T06:00Z", "2026-01-03T06:00Z", "2026-01-04T06:00Z"]
    hourly = CronSchedule("0 * * * *")
    assert hourly.timezone == "UTC"
    assert hourly.next_tick(ms("2026-01-01T00:00Z")) == ms("2026-01-01T01:00Z")
    assert hourly.next_tick(ms("2026-01-01T00:59:59.999+00:00")) == ms("2026-01-01T01:00Z")


def test_ticks_are_strictly_after_and_up_to_including() -> None:
    c = CronSchedule("0 * * * *")
    a, b = ms("2026-01-01T00:00Z"), ms("2026-01-01T03:00Z")
    assert utc(c.ticks_between(a, b)) == [
        "2026-01-01T01:00Z",
        "2026-01-01T02:00Z",
        "2026-01-01T03:00Z",
    ]
    assert c.ticks_between(b, a) == [] and c.ticks_between(a, a) == []


def test_weekday_and_month_fields_use_the_local_date() -> None:
    # 23:30 on Mondays in New York is already Tuesday in UTC
    ticks = between("30 23 * * 1", NY, "2026-01-01T00:00Z", "2026-01-20T00:00Z")
    assert utc(ticks) == ["2026-01-06T04:30Z", "2026-01-13T04:30Z"]


# --- catch-up -------------------------------------------------------------------------------


def test_three_hours_down_with_a_one_hour_window_runs_only_the_window() -> None:
    c = CronSchedule("0 * * * *", BERLIN)
    last = ms("2026-06-01T10:00Z")
    now = ms("2026-06-01T13:20Z")
    due = c.catchup(last, now, 3600)
    assert utc(list(due.ticks)) == ["2026-06-01T13:00Z"]
    assert due.missed == 2 and due.last_missed_ms == ms("2026-06-01T12:00Z")
    assert due.first_missed_ms == ms("2026-06-01T11:00Z")
    # a tick exactly window_s old still runs
    exact = c.catchup(last, ms("2026-06-01T13:00Z"), 3600)
    assert utc(list(exact.ticks)) == ["2026-06-01T12:00Z", "2026-06-01T13:00Z"]
    assert exact.missed == 1


def test_three_hours_down_across_fall_back_in_new_york() -> None:
    c = CronSchedule("0 * * * *", NY)
    due = c.catchup(ms("2026-11-01T04:00Z"), ms("2026-11-01T07:00Z"), 3600)
    assert local(list(due.ticks), NY) == ["11-01 01:00-0500", "11-01 02:00-0500"]
    assert due.missed == 1 and due.first_missed_ms == due.last_missed_ms == ms("2026-11-01T05:00Z")
    daily = CronSchedule("30 2 * * *", NY).catchup(
        ms("2026-03-08T05:00Z"), ms("2026-03-08T08:00Z"), 3600
    )
    assert local(list(daily.ticks), NY) == ["03-08 03:00-0400"] and daily.missed == 0


def test_catchup_every_15_minutes_and_nothing_owed() -> None:
    c = CronSchedule("*/15 * * * *")
    last = ms("2026-06-01T00:00Z")
    due = c.catchup(last, last + 3 * 3_600_000, 3600)
    assert len(due.ticks) == 5 and due.missed == 7
    assert c.catchup(last, last + 60_000, 3600) == ((), 0, None, None)
    ticks, missed, _, _ = c.catchup(last, last + 15 * 60_000, 0)
    assert ticks == (last + 15 * 60_000,) and missed == 0


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "zone", "message"),
    [
        ("0 6 * * * *", "UTC", r"^cron: must be a 5-field cron expression"),
        ("61 * * * *", "UTC", r"^cron: must be a 5-field"),
        ("", "UTC", r"^cron: must be a 5-field"),
        ("H * * * *", "UTC", r"^cron: must be a 5-field"),
        ("0 0 30 2 *", "UTC", r"^cron: '0 0 30 2 \*' never fires"),
        ("0 6 * * *", "Mars/Base", r"^timezone: unknown IANA time zone 'Mars/Base'$"),
        ("0 6 * * *", "", r"^timezone: must be an IANA time zone name"),
        (6, "UTC", r"^cron: must be a cron expression string"),
    ],
)
def test_bad_expressions_and_zones_are_one_line_errors(
    expr: object, zone: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        CronSchedule(expr, zone)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_expression_is_normalized_and_instants_are_checked() -> None:
    c = CronSchedule("  0   6 * *  * ")
    assert c.expression == "0 6 * * *"
    assert c == CronSchedule("0 6 * * *")
    with pytest.raises(ValidationError, match=r"^after_ms: "):
        c.ticks_between(-1, 10)
    with pytest.raises(ValidationError, match=r"^catchup_window_s: "):
        c.catchup(0, 10, -5)
