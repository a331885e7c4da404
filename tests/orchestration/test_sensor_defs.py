"""Sensors (poll, push, asset) and declarative conditions: declared, validated, evaluated."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import arco
from arco import asset
from arco.errors import ValidationError
from arco.orchestration.automation.definitions import (
    AutomationCondition,
    RequestedRun,
    SensorContext,
    SensorDef,
    SensorResult,
    SkipReason,
    asset_sensor,
    eager,
    evaluate_sensor,
    load_automation,
    missing,
    on_cron,
    push_sensor,
    sensor,
)
from arco.orchestration.discovery import build_manifest
from arco.orchestration.manifest import AutomationConditionSpec


@asset(namespace="feed")
def files(context: object) -> None:
    return None


@sensor(minimum_interval_s=60, target=[files])
def new_files(context: SensorContext) -> SensorResult:
    """Watch the landing folder."""
    seen = int(context.cursor or 0)
    if seen >= 2:
        return SensorResult(skip_reason=SkipReason("nothing new"))
    return SensorResult(
        run_requests=[RequestedRun(run_key=f"file-{seen}", partitions=None)],
        cursor=str(seen + 1),
    )


@sensor(target="feed/files")
def generator(context: SensorContext) -> Iterator[RequestedRun]:
    context.update_cursor("g")
    yield RequestedRun(tags={"source": "gen"})
    yield RequestedRun(selection=["feed/files+"])


def test_a_poll_sensor_is_declared_with_its_interval_and_function() -> None:
    spec = new_files.spec
    assert isinstance(new_files, SensorDef) and new_files.kind == "poll"
    assert spec.minimum_interval_s == 60 and spec.target == ("feed/files",)
    assert spec.entry_point == f"{__name__}:new_files"
    assert spec.description == "Watch the landing folder."
    assert generator.spec.minimum_interval_s == 30  # the default
    assert load_automation(spec.entry_point or "") is new_files


def test_evaluation_advances_the_cursor_and_fills_in_the_requests() -> None:
    first = evaluate_sensor(new_files, SensorContext("new_files", cursor=None, now_ms=1))
    assert first.cursor == "1" and first.skip_reason is None
    assert first.run_requests == (RequestedRun("file-0", ("feed/files",), None),)
    done = evaluate_sensor(new_files, SensorContext("new_files", cursor="2"))
    assert done.run_requests == () and done.skip_reason == "nothing new" and done.cursor is None
    gen = evaluate_sensor(generator, SensorContext("generator"))
    assert [r.run_key for r in gen.run_requests] == ["0", "1"]
    assert gen.run_requests[0].selection == ("feed/files",)
    assert gen.run_requests[1].selection == ("feed/files+",)
    assert gen.cursor == "g"  # set through the context
    # from the manifest spec, loading the function by entry point (as the controller does)
    m = build_manifest([files, new_files])
    spec = m.sensor("new_files")
    assert evaluate_sensor(spec, SensorContext("new_files", cursor=None)) == first
    # given the manifest, requests are checked against it
    assert evaluate_sensor(spec, SensorContext("new_files"), m) == first


def test_partitions_are_checked_against_the_manifest_when_given() -> None:
    @sensor(target="feed/files")
    def partitioned(context: SensorContext) -> object:
        return RequestedRun(partitions=["date=d:2026-01-01"])

    m = build_manifest([files, partitioned])
    unchecked = evaluate_sensor(partitioned, SensorContext("partitioned"))
    assert unchecked.run_requests[0].partitions == ("date=d:2026-01-01",)
    with pytest.raises(ValidationError, match=r"request 0: partitions: no selected asset"):
        evaluate_sensor(partitioned, SensorContext("partitioned"), m)


@pytest.mark.parametrize(
    ("returned", "requests", "skip"),
    [
        (None, 0, "the sensor requested no run"),
        (SkipReason("quiet"), 0, "quiet"),
        (RequestedRun(run_key="x"), 1, None),
        ([RequestedRun(), RequestedRun(run_key="y")], 2, None),
        (SensorResult(cursor="c"), 0, "the sensor requested no run"),
    ],
)
def test_every_return_shape(returned: object, requests: int, skip: str | None) -> None:
    @sensor(target="feed/files", name="shapes")
    def shapes(context: SensorContext) -> object:
        return returned

    result = evaluate_sensor(shapes, SensorContext("shapes", cursor="old"))
    assert len(result.run_requests) == requests and result.skip_reason == skip


def test_wrong_results_are_one_line_errors_and_exceptions_propagate() -> None:
    @sensor(target="feed/files")
    def bad(context: SensorContext) -> object:
        return {"run": True}

    @sensor(target="feed/files")
    def twice(context: SensorContext) -> object:
        return [RequestedRun(run_key="k"), RequestedRun(run_key="k")]

    @sensor(target="feed/files")
    def boom(context: SensorContext) -> object:
        raise RuntimeError("source unreachable")

    with pytest.raises(ValidationError, match=r"^sensor 'bad': returned dict"):
        evaluate_sensor(bad, SensorContext("bad"))
    with pytest.raises(ValidationError, match=r"^sensor 'twice': run_key 'k' is requested twice"):
        evaluate_sensor(twice, SensorContext("twice"))
    with pytest.raises(RuntimeError, match="source unreachable"):
        evaluate_sensor(boom, SensorContext("boom"))
    with pytest.raises(ValidationError, match=r"^sensor 'hook': only poll sensors are evaluated"):
        evaluate_sensor(push_sensor("hook", "feed/files"), SensorContext("hook"))


def test_push_and_asset_sensors() -> None:
    hook = push_sensor("hook", target=[files], tags={"via": "api"})
    assert hook.spec.kind == "push" and hook.spec.entry_point is None
    assert hook.spec.minimum_interval_s is None and hook.spec.tags == {"via": "api"}
    watch = asset_sensor(asset=["raw/orders", files], target="feed/files")
    assert watch.name == "on_raw_orders" and watch.kind == "asset"
    assert watch.spec.assets == ("feed/files", "raw/orders")
    m = build_manifest([files, new_files, generator, hook, watch])
    assert [s.name for s in m.sensors] == ["generator", "hook", "new_files", "on_raw_orders"]
    assert [s.kind for s in m.sensors] == ["poll", "push", "poll", "asset"]
    with pytest.raises(ValidationError, match="hook"):
        hook()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: push_sensor("a/b", "feed/files"), r"^sensor 'a/b'\.name: must not contain"),
        (lambda: push_sensor("hook", []), r"^sensor 'hook'\.target: must select at least"),
        (lambda: asset_sensor(asset="nope", target="*"), r"^asset_sensor\.asset: .*namespace/name"),
        (
            lambda: sensor(target="*", minimum_interval_s=0)(lambda c: None),
            r"^sensor '<lambda>'\.minimum_interval_s: Input should be greater",
        ),
        (
            lambda: sensor(target="*", minimum_interval_s=2.5)(lambda c: None),  # type: ignore[arg-type]
            r"^sensor '<lambda>'\.minimum_interval_s: must be an integer",
        ),
        (lambda: sensor(target="*")(3), r"^sensor '3': must decorate a function"),  # type: ignore[arg-type]
    ],
)
def test_bad_sensors_are_one_line_errors(build: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        build()  # type: ignore[operator]
    assert "\n" not in str(info.value)


def test_requested_run_json_round_trip_and_checks() -> None:
    r = RequestedRun("k", ("a/b",), ("date=d:2026-01-01",), {"z": "1", "a": "2"})
    assert RequestedRun.from_json(r.to_json()) == r
    assert r.canonical_bytes().startswith(b'{"partitions"')
    with pytest.raises(ValidationError, match=r"^run_key: "):
        RequestedRun(run_key="")
    with pytest.raises(ValidationError, match=r"^partitions: must be a list"):
        RequestedRun(partitions="date=d:2026-01-01")
    with pytest.raises(ValidationError, match=r"^run request: must be an object"):
        RequestedRun.from_json({"nope": 1})


# --- declarative conditions -------------------------------------------------------------------


def test_conditions_and_their_combination() -> None:
    assert eager() == AutomationCondition.eager()
    assert eager().to_spec() == AutomationConditionSpec(kind="eager")
    cron = on_cron("0  7 * * *", "Europe/Berlin")
    assert cron.to_spec().cron == "0 7 * * *" and cron.to_spec().timezone == "Europe/Berlin"
    assert on_cron("0 7 * * *").to_spec().timezone == "UTC"
    either = eager() | missing() | cron
    assert either.to_spec().kind == "any"
    assert [c.kind for c in either.to_spec().conditions] == ["eager", "missing", "on_cron"]
    assert len({eager(), AutomationCondition.eager(), missing()}) == 2
    assert eager() | eager() == eager()
    assert (eager() | missing()) | (missing() | cron) == either


def test_conditions_attach_to_assets() -> None:
    @asset(namespace="feed", automation=eager() | missing())
    def clean(context: object, files: object) -> None: ...

    @asset(namespace="feed", automation=on_cron("0 * * * *").to_spec())
    def report(context: object, clean: object) -> None: ...

    assert clean.spec.automation is not None and clean.spec.automation.kind == "any"
    assert report.spec.automation == AutomationConditionSpec(kind="on_cron", cron="0 * * * *")
    assert files.spec.automation is None
    m = build_manifest([files, clean, report])
    assert m.asset("feed/clean").automation == clean.spec.automation


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: on_cron("every day"), r"^automation\.on_cron\.cron: must be a 5-field"),
        (lambda: on_cron("0 7 * * *", "Mars/Base"), r"^automation\.on_cron\.timezone: unknown"),
        (lambda: eager() | "missing", r"unsupported operand"),
        (
            lambda: asset(namespace="feed", automation="eager")(lambda context: None),  # type: ignore[call-overload]
            r"^asset 'feed/<lambda>'\.automation: must be an automation condition",
        ),
    ],
)
def test_bad_conditions_are_refused(build: object, message: str) -> None:
    with pytest.raises((ValidationError, TypeError), match=message):
        build()  # type: ignore[operator]


def test_conditions_are_public() -> None:
    assert arco.AutomationCondition is AutomationCondition
    assert arco.sensor is sensor and arco.push_sensor is push_sensor
