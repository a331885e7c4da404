"""Partition definitions: canonical keys, DST-correct windows, parsing, the enumeration cap."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arco.core.partitions import PartitionKey
from arco.errors import ValidationError
from arco.orchestration.manifest import (
    AssetSpec,
    MultiPartitionsSpec,
    StaticPartitionsSpec,
    TimeWindowPartitionsSpec,
)
from arco.orchestration.partitions import (
    MAX_PARTITION_KEYS,
    DailyPartitions,
    HourlyPartitions,
    MonthlyPartitions,
    MultiPartitions,
    StaticPartitions,
    from_spec,
    parse_partition,
    partition_keys,
)

UTC = dt.UTC
NOW = dt.datetime(2026, 1, 4, 12, 30, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_daily_keys_are_canonical_dates_up_to_the_last_complete_day() -> None:
    daily = DailyPartitions("2026-01-01")
    assert daily.keys(NOW) == ["date=d:2026-01-01", "date=d:2026-01-02", "date=d:2026-01-03"]
    assert daily.keys(utc(2026, 1, 4)) == daily.keys(NOW)  # the 3rd ends exactly at midnight
    assert daily.keys(utc(2026, 1, 1, 23, 59)) == []
    for key in daily.keys(NOW):
        assert PartitionKey.parse(key).values["date"].__class__ is dt.date


def test_end_is_exclusive_and_bounds_the_set_whatever_now() -> None:
    daily = DailyPartitions(dt.date(2026, 1, 1), end=dt.date(2026, 1, 3))
    assert daily.keys(utc(2030, 1, 1)) == ["date=d:2026-01-01", "date=d:2026-01-02"]
    assert daily.keys(utc(2020, 1, 1)) == daily.keys(utc(2030, 1, 1))


def test_daily_in_a_timezone_completes_at_local_midnight() -> None:
    paris = DailyPartitions("2026-01-01", timezone="Europe/Paris")
    # 2026-01-02 00:00 in Paris is 2026-01-01 23:00 UTC
    assert paris.keys(utc(2026, 1, 1, 22, 59)) == []
    assert paris.keys(utc(2026, 1, 1, 23, 0)) == ["date=d:2026-01-01"]
    tokyo = DailyPartitions("2026-01-01", timezone="Asia/Tokyo")
    assert tokyo.keys(utc(2026, 1, 1, 15, 0)) == ["date=d:2026-01-01"]


@pytest.mark.parametrize(("day", "hours"), [("2026-03-29", 23), ("2026-10-25", 25)])
def test_hourly_on_dst_days_in_paris(day: str, hours: int) -> None:
    start = dt.date.fromisoformat(day)
    hourly = HourlyPartitions(start, end=start + dt.timedelta(days=1), timezone="Europe/Paris")
    keys = hourly.keys(utc(2030, 1, 1))
    assert len(keys) == hours
    values = [PartitionKey.parse(k).values["date"] for k in keys]
    instants = [t for t in values if isinstance(t, dt.datetime) and t.tzinfo is UTC]
    assert instants == values
    # consecutive UTC instants one hour apart, from local midnight to local midnight
    assert all(b - a == dt.timedelta(hours=1) for a, b in itertools.pairwise(instants))
    paris = ZoneInfo("Europe/Paris")
    assert instants[0] == dt.datetime.combine(start, dt.time(), paris).astimezone(UTC)
    assert instants[-1] + dt.timedelta(hours=1) == dt.datetime.combine(
        start + dt.timedelta(days=1), dt.time(), paris
    ).astimezone(UTC)


def test_daily_windows_on_dst_days_are_23_and_25_hours() -> None:
    daily = DailyPartitions("2026-03-28", timezone="Europe/Paris")
    # 2026-03-29 ends at 2026-03-30 00:00 CEST = 2026-03-29 22:00 UTC (23 hours long)
    assert daily.keys(utc(2026, 3, 29, 21, 59)) == ["date=d:2026-03-28"]
    assert daily.keys(utc(2026, 3, 29, 22)) == ["date=d:2026-03-28", "date=d:2026-03-29"]
    bounded = DailyPartitions("2026-03-28", end="2026-03-31", timezone="Europe/Paris")
    assert len(bounded.keys(utc(2026, 3, 29))) == 3  # end bounds the set, not now


def test_hourly_in_utc_and_a_half_hour_zone() -> None:
    hourly = HourlyPartitions("2026-01-01T00:00")
    assert hourly.keys(utc(2026, 1, 1, 2, 10)) == [
        "date=t:2026-01-01T00:00:00.000000Z",
        "date=t:2026-01-01T01:00:00.000000Z",
    ]
    india = HourlyPartitions(dt.datetime(2026, 1, 1, 5), timezone="Asia/Kolkata")
    assert india.keys(utc(2026, 1, 1, 0, 30)) == ["date=t:2025-12-31T23:30:00.000000Z"]


def test_monthly_keys_are_first_days() -> None:
    monthly = MonthlyPartitions("2025-11-01", timezone="America/New_York")
    assert monthly.keys(utc(2026, 2, 1, 5)) == [
        "date=d:2025-11-01",
        "date=d:2025-12-01",
        "date=d:2026-01-01",
    ]
    assert monthly.keys(utc(2026, 2, 1, 4, 59)) == monthly.keys(utc(2026, 2, 1, 5))[:2]


def test_static_and_multi_keys() -> None:
    static = StaticPartitions(["eu", "us"], dimension="region")
    assert static.keys() == [
        PartitionKey({"region": "eu"}).canonical(),
        PartitionKey({"region": "us"}).canonical(),
    ]
    multi = MultiPartitions(DailyPartitions("2026-01-01", end="2026-01-03"), static)
    keys = multi.keys()
    assert keys == [
        PartitionKey({"date": dt.date(2026, 1, d), "region": r}).canonical()
        for d in (1, 2)
        for r in ("eu", "us")
    ]
    assert multi.dimensions == ("date", "region")


def test_to_spec_and_from_spec_round_trip() -> None:
    defs = [
        DailyPartitions("2026-01-01", end="2026-02-01", timezone="Europe/Paris"),
        HourlyPartitions(dt.datetime(2026, 1, 1, 6), dimension="hour"),
        MonthlyPartitions(dt.date(2026, 1, 1)),
        StaticPartitions(["a", "b"]),
        MultiPartitions(DailyPartitions("2026-01-01"), StaticPartitions(["x"], "region")),
    ]
    for d in defs:
        spec = d.to_spec()
        assert from_spec(spec) == d
        assert type(from_spec(spec)) is type(d)
        # through the manifest's JSON form as well
        asset = AssetSpec.model_validate(
            {"key": "a/b", "entry_point": "m:f", "partitions": spec.model_dump(mode="json")}
        )
        assert asset.partitions == spec
    assert HourlyPartitions(dt.datetime(2026, 1, 1, 6)).start == "2026-01-01T06:00"
    assert DailyPartitions(dt.datetime(2026, 1, 1)).start == "2026-01-01"


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: DailyPartitions("2026-01-01T06:00"), "partitions.start: daily windows start"),
        (lambda: MonthlyPartitions("2026-01-02"), "partitions.start: monthly windows"),
        (lambda: HourlyPartitions("2026-01-01T06:30"), "partitions.start: hourly windows"),
        (lambda: DailyPartitions("yesterday"), "partitions.start: must be an ISO"),
        (lambda: DailyPartitions("2026-01-01T00:00+01:00"), "partitions.start: must be local"),
        (lambda: DailyPartitions("2026-01-05", end="2026-01-01"), "partitions.end: must be after"),
        (lambda: DailyPartitions("2026-01-01", timezone="Mars/Base"), "partitions.timezone"),
        (lambda: DailyPartitions("2026-01-01", dimension="Date"), "partitions.dimension"),
        (lambda: StaticPartitions(["a", "a"]), "partitions.values: must be unique"),
        (lambda: StaticPartitions("ab"), "partitions.values: must be a list"),
        (
            lambda: MultiPartitions(DailyPartitions("2026-01-01"), DailyPartitions("2026-01-01")),
            "names must be unique",
        ),
        (lambda: MultiPartitions(StaticPartitions(["a"])), "partitions.dimensions"),
    ],
)
def test_invalid_definitions_are_one_line_errors(make: object, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        make()  # type: ignore[operator]
    assert field in err.value.message and "\n" not in err.value.message


def test_enumeration_is_capped() -> None:
    with pytest.raises(ValidationError, match=f"more than {MAX_PARTITION_KEYS} partition keys"):
        HourlyPartitions("2000-01-01T00:00").keys(NOW)
    big = StaticPartitions([str(i) for i in range(400)], dimension="a")
    with pytest.raises(ValidationError, match="multi \\(400 x 400 keys\\)"):
        MultiPartitions(big, StaticPartitions([str(i) for i in range(400)], "b")).keys()
    assert len(DailyPartitions("2000-01-01").keys(NOW)) == (NOW.date() - dt.date(2000, 1, 1)).days


def test_now_must_be_aware() -> None:
    with pytest.raises(ValidationError, match="now: must be a timezone-aware"):
        DailyPartitions("2026-01-01").keys(dt.datetime(2026, 1, 5))


def test_unpartitioned() -> None:
    assert partition_keys(None, NOW) == [""]
    assert parse_partition(None, "") == ""
    with pytest.raises(ValidationError, match="not partitioned"):
        parse_partition(None, "2026-01-01")


def test_parse_accepts_canonical_and_plain_forms() -> None:
    daily = DailyPartitions("2026-01-01", end="2026-02-01")
    assert daily.parse("date=d:2026-01-05") == "date=d:2026-01-05"
    assert daily.parse("2026-01-05") == "date=d:2026-01-05"
    monthly = MonthlyPartitions("2026-01-01")
    assert monthly.parse("2026-03") == monthly.parse("2026-03-01") == "date=d:2026-03-01"
    hourly = HourlyPartitions("2026-01-01T00:00", timezone="Europe/Paris")
    # plain hourly forms are local to the timezone: 03:00 in Paris in winter is 02:00 UTC
    assert hourly.parse("2026-01-05T03:00") == "date=t:2026-01-05T02:00:00.000000Z"
    assert hourly.parse("2026-01-05T02:00Z") == "date=t:2026-01-05T02:00:00.000000Z"
    assert hourly.parse("date=t:2026-01-05T02:00:00.000000Z") == hourly.parse("2026-01-05T03:00")


def test_parse_on_dst_days() -> None:
    hourly = HourlyPartitions("2026-01-01T00:00", timezone="Europe/Paris")
    with pytest.raises(ValidationError, match="happens twice"):
        hourly.parse("2026-10-25T02:00")
    assert hourly.parse("2026-10-25T02:00+02:00") == "date=t:2026-10-25T00:00:00.000000Z"
    assert hourly.parse("2026-10-25T02:00+01:00") == "date=t:2026-10-25T01:00:00.000000Z"
    with pytest.raises(ValidationError, match="does not exist"):
        hourly.parse("2026-03-29T02:00")
    every = hourly.keys(utc(2026, 10, 26))
    assert all(hourly.parse(k) == k for k in every[-100:])


@pytest.mark.parametrize(
    ("definition", "text", "message"),
    [
        (DailyPartitions("2026-01-01"), "2025-12-31", "before the start"),
        (DailyPartitions("2026-01-01", end="2026-01-10"), "2026-01-10", "not before the end"),
        (
            DailyPartitions("2026-01-01"),
            "2026-1-5",
            "partition: expected a canonical key (date=...) or YYYY-MM-DD (got '2026-1-5')",
        ),
        (DailyPartitions("2026-01-01"), "date=t:2026-01-05T00:00:00.000000Z", "is a date"),
        (DailyPartitions("2026-01-01"), "day=d:2026-01-05", "dimensions must be ['date']"),
        (MonthlyPartitions("2026-01-01"), "2026-01-05", "first day of a month"),
        (HourlyPartitions("2026-01-01T00:00"), "2026-01-05", "or YYYY-MM-DDTHH:MM (got"),
        (HourlyPartitions("2026-01-01T00:00"), "2026-01-05T03:30", "not the start of an hour"),
        (HourlyPartitions("2026-01-01T00:00"), "date=d:2026-01-05", "is a timestamp"),
        (StaticPartitions(["eu"], "region"), "region=s:dXM", "not one of the static values"),
        (StaticPartitions(["eu"], "region"), "eu", "partition: "),
        (
            MultiPartitions(DailyPartitions("2026-01-01"), StaticPartitions(["eu"], "region")),
            "2026-01-05",
            "partition: ",
        ),
        (
            MultiPartitions(DailyPartitions("2026-01-01"), StaticPartitions(["eu"], "region")),
            "date=d:2026-01-05",
            "dimensions must be ['date', 'region']",
        ),
    ],
)
def test_parse_refuses(definition: object, text: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        definition.parse(text)  # type: ignore[attr-defined]
    assert message in err.value.message and "\n" not in err.value.message


def test_functions_work_on_specs_from_elsewhere() -> None:
    # a manifest may carry unaligned bounds: the first window is the first aligned one
    spec = TimeWindowPartitionsSpec(kind="daily", start="2026-01-01T06:00", end="2026-01-04")
    assert partition_keys(spec, NOW) == ["date=d:2026-01-02", "date=d:2026-01-03"]
    with pytest.raises(ValidationError, match="before the start"):
        parse_partition(spec, "2026-01-01")
    monthly = TimeWindowPartitionsSpec(kind="monthly", start="2026-01-15")
    assert partition_keys(monthly, utc(2026, 4, 1)) == ["date=d:2026-02-01", "date=d:2026-03-01"]
    multi = MultiPartitionsSpec(
        dimensions=(
            StaticPartitionsSpec(values=("x",), dimension="b"),
            StaticPartitionsSpec(values=("y",), dimension="a"),
        )
    )
    assert partition_keys(multi, NOW) == ["a=s:eQ,b=s:eA"]


ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 1, 1)),
    days=st.integers(min_value=1, max_value=3),
)
def test_hourly_keys_round_trip_and_tile_the_days(zone: str, start: dt.date, days: int) -> None:
    hourly = HourlyPartitions(start, end=start + dt.timedelta(days=days), timezone=zone)
    keys = hourly.keys(utc(2100, 1, 1))
    assert 20 * days <= len(keys) <= 26 * days
    assert len(set(keys)) == len(keys)
    instants = [PartitionKey.parse(k).values["date"] for k in keys]
    assert instants == sorted(instants)  # type: ignore[type-var]
    for key in keys:
        assert PartitionKey.parse(key).canonical() == key
        assert hourly.parse(key) == key


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from([DailyPartitions, MonthlyPartitions]),
    zone=st.sampled_from(ZONES),
    day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 1, 1)),
)
def test_date_keys_round_trip_through_both_forms(kind: type, zone: str, day: dt.date) -> None:
    definition = kind("2000-01-01", timezone=zone)
    if kind is MonthlyPartitions:
        day = day.replace(day=1)
    key = PartitionKey({"date": day}).canonical()
    assert definition.parse(key) == key
    assert definition.parse(day.isoformat()) == key
    assert PartitionKey.parse(key).values["date"] == day


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=8),
        min_size=1,
        max_size=5,
        unique=True,
    )
)
def test_static_keys_round_trip(values: list[str]) -> None:
    static = StaticPartitions(values, dimension="k")
    keys = static.keys()
    assert [PartitionKey.parse(k).values["k"] for k in keys] == values
    assert [static.parse(k) for k in keys] == keys
