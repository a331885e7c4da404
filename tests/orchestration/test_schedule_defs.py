"""``@schedule`` and ``ScheduleDef``: declared next to assets, validated when declared,
collected by discovery into the manifest, and what a tick requests."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

import arco
from arco import DailyPartitions, HourlyPartitions, MonthlyPartitions, StaticPartitions, asset
from arco.errors import ValidationError
from arco.orchestration.automation.definitions import (
    RequestedRun,
    ScheduleContext,
    ScheduleDef,
    SkipReason,
    canonical_partitions,
    evaluate_schedule,
    load_automation,
    schedule,
    tick_partitions,
)
from arco.orchestration.discovery import Definitions, build_manifest, load_definitions
from arco.orchestration.manifest import (
    DefinitionsManifest,
    LastWindowSpec,
    PartitionKeysSpec,
    ScheduleSpec,
)

BERLIN_DAYS = DailyPartitions("2026-01-01", timezone="Europe/Berlin")


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


@asset(namespace="shop", partitions=BERLIN_DAYS)
def orders(context: object) -> None:
    return None


@asset(namespace="shop")
def summary(context: object, orders: object) -> None:
    return None


@schedule(
    cron="0  6 * * *",
    timezone="Europe/Berlin",
    target=[orders],
    partitions="last_window",
    tags={"team": "shop"},
)
def nightly(context: ScheduleContext) -> object:
    """Yesterday's orders.

    More text."""
    return None


@schedule(cron="*/30 * * * *", target="shop/summary", name="half_hourly")
def fanout(context: ScheduleContext) -> object:
    if context.scheduled_time.minute == 30:
        return SkipReason("only on the hour")
    return [RequestedRun(run_key="a"), RequestedRun(run_key="b", tags={"x": "1"})]


plain = ScheduleDef(name="plain", cron="0 * * * *", target=["shop/summary"], catchup_window_s=0)


def manifest() -> DefinitionsManifest:
    return build_manifest([orders, summary, nightly, fanout, plain])


def test_the_decorator_records_the_schedule() -> None:
    spec = nightly.spec
    assert isinstance(nightly, ScheduleDef) and nightly.name == "nightly"
    assert spec.cron == "0 6 * * *" and spec.timezone == "Europe/Berlin"
    assert spec.target == ("shop/orders",)
    assert spec.partitions == LastWindowSpec()
    assert spec.catchup_window_s == 3600 and spec.default_status == "running"
    assert spec.tags == {"team": "shop"}
    assert spec.description == "Yesterday's orders."
    assert spec.entry_point == f"{__name__}:nightly"
    assert nightly.cron_schedule.next_tick(ms("2026-03-29T00:00Z")) == ms("2026-03-29T04:00Z")
    assert nightly(ScheduleContext("nightly", 0)) is None  # still a callable function
    assert plain.spec.entry_point is None and plain.fn is None
    assert fanout.name == "half_hourly"


def test_targets_partition_keys_and_status() -> None:
    s = ScheduleDef(
        name="keys",
        cron="0 0 * * *",
        target=[orders, "shop/summary", "shop/summary"],
        partitions=["date=d:2026-01-02"],
        default_status="paused",
    )
    assert s.spec.target == ("shop/orders", "shop/summary")
    assert s.spec.partitions == PartitionKeysSpec(keys=("date=d:2026-01-02",))
    assert s.spec.default_status == "paused"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cron": "0 6 * *"}, r"^schedule 's'\.cron: must be a 5-field cron expression"),
        ({"timezone": "Mars/Base"}, r"^schedule 's'\.timezone: unknown IANA time zone"),
        ({"target": None}, r"^schedule 's'\.target: name the assets"),
        ({"target": [3]}, r"^schedule 's'\.target: each must be a selection string"),
        ({"target": []}, r"^schedule 's'\.target: must select at least one asset"),
        ({"partitions": "latest"}, r"^schedule 's'\.partitions: must be 'last_window' or a list"),
        ({"partitions": ["bad"]}, r"^schedule 's'\.partitions\.keys: partition_key"),
        ({"catchup_window_s": -1}, r"^schedule 's'\.catchup_window_s: Input should be"),
        ({"catchup_window_s": 1.5}, r"^schedule 's'\.catchup_window_s: must be an integer"),
        ({"default_status": "on"}, r"^schedule 's'\.default_status: Input should be"),
        ({"tags": {"a": 1}}, r"^schedule 's'\.tags: must map strings to strings"),
        ({"name": "a/b"}, r"^schedule 'a/b'\.name: must not contain '/'"),
    ],
)
def test_bad_options_are_one_line_errors(options: dict[str, object], message: str) -> None:
    given: dict[str, object] = {"name": "s", "cron": "0 6 * * *", "target": "shop/orders"}
    given.update(options)
    with pytest.raises(ValidationError, match=message) as info:
        ScheduleDef(**given)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_the_decorated_function_takes_at_most_the_context() -> None:
    with pytest.raises(ValidationError, match=r"^schedule 'two'.*at most the context"):

        @schedule(cron="0 6 * * *", target="shop/orders")
        def two(a: object, b: object) -> None: ...


def test_manifest_validation_applies_to_declared_schedules() -> None:
    with pytest.raises(ValidationError, match=r"^definitions: schedules\.bad\.target: unknown"):
        build_manifest([orders, ScheduleDef(name="bad", cron="0 * * * *", target="shop/gone")])
    unpartitioned = ScheduleDef(name="nopart", cron="0 * * * *", target=[orders])
    with pytest.raises(ValidationError, match=r"nopart\.partitions: the target shop/orders is"):
        build_manifest([orders, unpartitioned])
    with pytest.raises(ValidationError, match=r"name 'PLAIN' is defined twice"):
        build_manifest(
            [summary, orders, plain, ScheduleDef(name="PLAIN", cron="0 * * * *", target="*")]
        )


# --- what a tick requests ---------------------------------------------------------------------


def test_a_plain_schedule_requests_its_target() -> None:
    m = manifest()
    result = evaluate_schedule(plain, m, ms("2026-05-01T10:00Z"))
    assert result.skip_reason is None
    assert result.run_requests == (RequestedRun("0", ("shop/summary",), None),)
    assert evaluate_schedule(m.schedule("plain"), m, ms("2026-05-01T10:00Z")) == result


def test_last_window_is_the_day_that_just_closed_in_the_schedules_zone() -> None:
    m = manifest()
    # 06:00 in Berlin on the day clocks go forward: yesterday (local) is the window
    result = evaluate_schedule(nightly, m, ms("2026-03-29T04:00Z"))
    assert result.run_requests == (RequestedRun("0", ("shop/orders",), ("date=d:2026-03-28",)),)
    # loaded through its entry point, as the controller does
    by_spec = evaluate_schedule(m.schedule("nightly"), m, ms("2026-03-29T04:00Z"))
    assert by_spec == result
    assert load_automation(nightly.spec.entry_point or "") is nightly


def test_a_function_decides_and_its_requests_are_completed() -> None:
    m = manifest()
    skipped = evaluate_schedule(fanout, m, ms("2026-05-01T10:30Z"))
    assert skipped.run_requests == () and skipped.skip_reason == "only on the hour"
    done = evaluate_schedule(fanout, m, ms("2026-05-01T11:00Z"))
    assert [r.run_key for r in done.run_requests] == ["a", "b"]
    assert all(r.selection == ("shop/summary",) for r in done.run_requests)
    assert done.run_requests[1].tags == {"x": "1"}
    assert done.run_requests[1].to_payload() == {
        "key": "b",
        "selection": ["shop/summary"],
        "partitions": [],
        "tags": {"x": "1"},
    }


def test_wrong_return_values_and_duplicate_keys_are_refused() -> None:
    @schedule(cron="0 * * * *", target="shop/summary")
    def returns_int(context: ScheduleContext) -> object:
        return 3

    @schedule(cron="0 * * * *", target="shop/summary")
    def duplicate(context: ScheduleContext) -> object:
        yield RequestedRun(run_key="k")
        yield RequestedRun(run_key="k")

    @schedule(cron="0 * * * *", target="shop/summary")
    def nothing(context: ScheduleContext) -> object:
        return []

    m = build_manifest([orders, summary, returns_int, duplicate, nothing])
    with pytest.raises(ValidationError, match=r"^schedule 'returns_int': returned int"):
        evaluate_schedule(returns_int, m, 0)
    with pytest.raises(ValidationError, match=r"^schedule 'duplicate': run_key 'k' is requested"):
        evaluate_schedule(duplicate, m, 0)
    assert evaluate_schedule(nothing, m, 0).skip_reason == "the schedule requested no run"


def _window_manifest(partitions: object) -> tuple[DefinitionsManifest, ScheduleSpec]:
    @asset(namespace="w", name="t", partitions=partitions)  # type: ignore[call-overload]
    def t(context: object) -> None: ...

    s = ScheduleDef(name="w", cron="0 * * * *", target=[t], partitions="last_window")
    return build_manifest([t, s]), s.spec


@pytest.mark.parametrize(
    ("partitions", "tick", "offset", "expected"),
    [
        (BERLIN_DAYS, "2026-03-29T04:00Z", 0, ("date=d:2026-03-28",)),
        (BERLIN_DAYS, "2026-03-28T23:00Z", 0, ("date=d:2026-03-28",)),  # Berlin midnight
        (BERLIN_DAYS, "2026-03-28T22:59Z", 0, ("date=d:2026-03-27",)),
        (BERLIN_DAYS, "2026-03-29T04:00Z", 2, ("date=d:2026-03-26",)),
        (BERLIN_DAYS, "2026-01-01T12:00Z", 0, ()),  # before the start: nothing yet
        (
            HourlyPartitions("2026-01-01T00:00", timezone="America/New_York"),
            "2026-11-01T06:10Z",  # 01:10 EST, the second 01:00 hour
            0,
            ("date=t:2026-11-01T05:00:00.000000Z",),  # the first 01:00 (EDT) hour
        ),
        (
            HourlyPartitions("2026-01-01T00:00", timezone="America/New_York"),
            "2026-03-08T07:00Z",  # 03:00 EDT, just after the gap
            0,
            ("date=t:2026-03-08T06:00:00.000000Z",),  # 01:00 EST
        ),
        (MonthlyPartitions("2026-01-01"), "2026-03-01T00:00Z", 0, ("date=d:2026-02-01",)),
        (MonthlyPartitions("2026-01-01"), "2026-03-15T00:00Z", 1, ("date=d:2026-01-01",)),
        (DailyPartitions("2026-01-01", "2026-02-01"), "2026-06-01T00:00Z", 0, ()),  # past the end
    ],
)
def test_tick_partitions_of_last_window(
    partitions: object, tick: str, offset: int, expected: tuple[str, ...]
) -> None:
    m, spec = _window_manifest(partitions)
    spec = spec.model_copy(update={"partitions": LastWindowSpec(offset=offset)})
    assert tick_partitions(m, spec, ms(tick)) == expected


def test_a_tick_before_the_first_window_is_skipped() -> None:
    m = manifest()
    result = evaluate_schedule(nightly, m, ms("2026-01-01T05:00Z"))
    assert result.run_requests == () and "no complete partition window" in (
        result.skip_reason or ""
    )


def test_last_window_needs_one_time_window_definition() -> None:
    with pytest.raises(ValidationError, match=r"last_window needs every partitioned asset"):
        _window_manifest(StaticPartitions(["a", "b"]))


# --- discovery ------------------------------------------------------------------------------


def test_discovery_collects_schedules_next_to_assets(tmp_path: Path) -> None:
    folder = tmp_path / "sched_loc"
    folder.mkdir()
    (folder / "sched_assets.py").write_text(
        textwrap.dedent(
            """
            from arco import asset
            ARCO_NAMESPACE = "loc"

            @asset
            def a(context): ...
            """
        )
    )
    (folder / "sched_jobs.py").write_text(
        textwrap.dedent(
            """
            from arco import ScheduleDef, schedule
            from sched_assets import a

            @schedule(cron="0 6 * * *", timezone="Europe/Berlin", target=[a])
            def morning(context): ...

            every_hour = ScheduleDef(name="every_hour", cron="0 * * * *", target="loc/a")
            """
        )
    )
    defs = load_definitions(str(folder))
    assert isinstance(defs, Definitions) and isinstance(defs, list)
    assert [d.entry_point for d in defs] == ["sched_assets:a"]
    assert [s.name for s in defs.schedules] == ["morning", "every_hour"]
    m = build_manifest(defs)
    assert [s.name for s in m.schedules] == ["every_hour", "morning"]
    assert m.schedule("morning").entry_point == "sched_jobs:morning"
    assert m.sensors == ()
    # deploying the same definitions again gives the same fingerprint
    assert build_manifest(load_definitions(str(folder))).fingerprint == m.fingerprint


def test_public_names() -> None:
    for name in (
        "schedule",
        "ScheduleDef",
        "ScheduleContext",
        "RequestedRun",
        "SkipReason",
        "sensor",
        "SensorDef",
        "SensorContext",
        "SensorResult",
        "push_sensor",
        "asset_sensor",
        "AutomationCondition",
    ):
        assert name in arco.__all__ and getattr(arco, name) is not None, name


def test_deployed_automation_is_read_back_from_the_store() -> None:
    from arco.orchestration.deploy import current, deploy
    from arco.storage import open_store

    store = open_store("memory://")
    m = manifest()
    first = deploy(store, m)
    found = current(store)
    assert found is not None and found[1] == m
    assert found[1].schedule("nightly").timezone == "Europe/Berlin"
    assert deploy(store, build_manifest([orders, summary, nightly, fanout, plain])).unchanged
    # changing a schedule is a new deployment
    moved = ScheduleDef(name="plain", cron="5 * * * *", target=["shop/summary"])
    second = deploy(store, build_manifest([orders, summary, nightly, fanout, moved]))
    assert second.fingerprint != first.fingerprint and second.previous == first.fingerprint


def test_requested_partitions_come_out_canonical() -> None:
    @schedule(cron="0 6 * * *", target=[orders], partitions="last_window")
    def plain_forms(context: ScheduleContext) -> object:
        return RequestedRun(partitions=["2026-03-01", "date=d:2026-03-02"])

    @schedule(cron="0 6 * * *", target=[orders], partitions="last_window")
    def wrong(context: ScheduleContext) -> object:
        return RequestedRun(partitions=["yesterday"])

    @schedule(cron="0 6 * * *", target=[summary])
    def unpartitioned(context: ScheduleContext) -> object:
        return RequestedRun(partitions=["2026-03-01"])

    m = build_manifest([orders, summary, plain_forms, wrong, unpartitioned])
    tick = ms("2026-03-29T04:00Z")
    result = evaluate_schedule(plain_forms, m, tick)
    assert result.run_requests[0].partitions == ("date=d:2026-03-01", "date=d:2026-03-02")
    with pytest.raises(ValidationError, match=r"^schedule 'wrong': request 0: partition: "):
        evaluate_schedule(wrong, m, tick)
    with pytest.raises(ValidationError, match=r"request 0: partitions: no selected asset is"):
        evaluate_schedule(unpartitioned, m, tick)
    assert canonical_partitions(m, ["shop/orders"], ["2026-01-05"]) == ("date=d:2026-01-05",)
