"""Schedules, sensors and asset conditions in the deployed manifest: validated, canonical,
fingerprinted; a manifest without them keeps the bytes (and fingerprint) it always had."""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic
import pytest

from arco.errors import ValidationError
from arco.orchestration.manifest import AssetSpec, DefinitionsManifest

DAILY = {"kind": "daily", "start": "2026-01-01", "timezone": "Europe/Berlin"}
#: the fingerprint of :func:`base` computed by the manifest code before automation existed
BASE_FINGERPRINT = "0e5e268edb89bf04c1607a4df194978ee446ec50e766e6d16618a0056c6902cc"


def spec(key: str, *deps: str, **extra: object) -> AssetSpec:
    return AssetSpec.model_validate({"key": key, "deps": deps, "entry_point": "m:f", **extra})


def base_assets() -> tuple[AssetSpec, ...]:
    return (
        spec("shop/orders", partitions=DAILY),
        spec(
            "shop/revenue",
            "shop/orders",
            partitions=DAILY,
            retry={"max_attempts": 3, "backoff_s": 0.5},
            timeout_s=30,
            tags={"pool": "warehouse"},
            checks=[{"name": "rows", "kind": "row_count", "params": {"min": 1}}],
        ),
        spec("shop/summary", "shop/revenue", description="Daily summary", group="reports"),
    )


def base() -> DefinitionsManifest:
    return DefinitionsManifest(assets=base_assets())


def schedule(**extra: Any) -> dict[str, Any]:
    return {"name": "nightly", "cron": "0 6 * * *", "target": ["shop/summary"], **extra}


def with_automation(**extra: Any) -> DefinitionsManifest:
    return DefinitionsManifest.model_validate(
        {"assets": [a.model_dump() for a in base_assets()], **extra}
    )


def one_line_error(build: Any) -> str:
    """The first error of a refused model, as ``from_bytes`` words it (without a prefix)."""
    with pytest.raises(pydantic.ValidationError) as info:
        build()
    first = info.value.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = str(first["msg"]).removeprefix("Value error, ")
    message = f"{loc}: {msg}" if loc else msg
    assert "\n" not in message
    return message


def test_without_automation_the_bytes_and_fingerprint_are_unchanged() -> None:
    m = base()
    assert m.fingerprint == BASE_FINGERPRINT
    raw = json.loads(m.canonical_bytes())
    assert set(raw) == {"assets", "format"}
    assert all("automation" not in a for a in raw["assets"])
    # what a client posts (model_dump, with the empty fields) deploys the same bytes
    posted = DefinitionsManifest.model_validate(m.model_dump(mode="json"))
    assert posted.canonical_bytes() == m.canonical_bytes()


def test_automation_round_trips_and_is_covered_by_the_fingerprint() -> None:
    m = with_automation(
        schedules=[schedule(timezone="Europe/Berlin")],
        sensors=[
            {"name": "files", "kind": "poll", "target": ["shop/orders+"], "entry_point": "m:s"},
            {"name": "hook", "kind": "push", "target": ["shop/summary"]},
            {"name": "raw", "kind": "asset", "target": ["*"], "assets": ["raw/b", "raw/a"]},
        ],
    )
    again = DefinitionsManifest.from_bytes(m.canonical_bytes())
    assert again == m and again.fingerprint == m.fingerprint != BASE_FINGERPRINT
    assert m.sensor("files").minimum_interval_s == 30
    assert m.sensor("raw").assets == ("raw/a", "raw/b")
    assert m.schedule("nightly").catchup_window_s == 3600
    raw = json.loads(m.canonical_bytes())
    assert raw["schedules"][0]["timezone"] == "Europe/Berlin"
    for changed in (
        schedule(timezone="UTC"),
        schedule(cron="0 7 * * *"),
        schedule(target=["shop/revenue"], partitions={"kind": "last_window"}),
        schedule(catchup_window_s=60),
        schedule(default_status="paused"),
    ):
        other = with_automation(schedules=[changed], sensors=[s.model_dump() for s in m.sensors])
        assert other.fingerprint != m.fingerprint


def test_conditions_are_stored_per_asset_with_only_their_fields() -> None:
    assets = list(base_assets())
    assets[2] = spec(
        "shop/summary",
        "shop/revenue",
        automation={
            "kind": "any",
            "conditions": [{"kind": "eager"}, {"kind": "on_cron", "cron": "0  7 * * *"}],
        },
    )
    m = DefinitionsManifest(assets=tuple(assets))
    raw = json.loads(m.canonical_bytes())
    assert raw["assets"][2]["automation"] == {
        "conditions": [
            {"kind": "eager"},
            {"cron": "0 7 * * *", "kind": "on_cron", "timezone": "UTC"},
        ],
        "kind": "any",
    }
    assert DefinitionsManifest.from_bytes(m.canonical_bytes()) == m
    assert DefinitionsManifest.model_validate(m.model_dump(mode="json")) == m
    assert m.fingerprint != BASE_FINGERPRINT


def test_schedules_and_sensors_are_sorted_by_name() -> None:
    a = with_automation(schedules=[schedule(name="b"), schedule(name="a")])
    b = with_automation(schedules=[schedule(name="a"), schedule(name="b")])
    assert [s.name for s in a.schedules] == ["a", "b"]
    assert a.canonical_bytes() == b.canonical_bytes()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"schedules": [schedule(cron="0 6 * *")]}, r"schedules\.0\.cron: must be a 5-field"),
        (
            {"schedules": [schedule(timezone="Mars/Base")]},
            r"schedules\.0\.timezone: unknown IANA time zone 'Mars/Base'",
        ),
        ({"schedules": [schedule(name="a/b")]}, r"schedules\.0\.name: must not contain '/'"),
        ({"schedules": [schedule(target=[])]}, r"schedules\.0\.target: must select at least"),
        (
            {"schedules": [schedule(target=["shop/nope"])]},
            r"schedules\.nightly\.target: unknown asset keys \(not in the manifest\): shop/nope",
        ),
        (
            {"schedules": [schedule(target=["a b c"])]},
            r"schedules\.nightly\.target: selection\[0\]: must be",
        ),
        (
            {"schedules": [schedule(), schedule(name="NIGHTLY")]},
            r"name 'NIGHTLY' is taken by the schedule 'nightly'",
        ),
        (
            {
                "schedules": [schedule()],
                "sensors": [{"name": "nightly", "kind": "push", "target": ["*"]}],
            },
            r"sensors: name 'nightly' is taken by the schedule 'nightly'",
        ),
        (
            {"schedules": [schedule(target=["shop/orders"])]},
            r"schedules\.nightly\.partitions: the target shop/orders is partitioned",
        ),
        (
            {"schedules": [schedule(partitions={"kind": "last_window"})]},
            r"schedules\.nightly\.partitions: no asset of the target is partitioned",
        ),
        (
            {
                "schedules": [
                    schedule(target=["shop/orders"], partitions={"kind": "keys", "keys": ["x"]})
                ]
            },
            r"schedules\.0\.partitions\.keys\.keys: partition_key",
        ),
        (
            {
                "schedules": [
                    schedule(
                        target=["shop/orders"],
                        partitions={"kind": "keys", "keys": ["date=d:2025-01-01"]},
                    )
                ]
            },
            r"schedules\.nightly\.partitions: shop/orders: partition\.date: .* before the start",
        ),
        ({"schedules": [schedule(catchup_window_s=-1)]}, r"catchup_window_s: Input should be"),
        ({"schedules": [schedule(default_status="off")]}, r"default_status: Input should be"),
        (
            {"sensors": [{"name": "s", "kind": "poll", "target": ["*"]}]},
            r"sensors\.0: .*entry_point: a poll sensor needs its function",
        ),
        (
            {"sensors": [{"name": "s", "kind": "push", "target": ["*"], "minimum_interval_s": 5}]},
            r"minimum_interval_s: only poll sensors have one",
        ),
        (
            {"sensors": [{"name": "s", "kind": "asset", "target": ["*"]}]},
            r"assets: an asset sensor must watch at least one asset",
        ),
        (
            {"sensors": [{"name": "s", "kind": "asset", "target": ["*"], "assets": ["x"]}]},
            r"sensors\.0\.assets: .*namespace/name",
        ),
    ],
)
def test_bad_automation_is_refused_in_one_line(extra: dict[str, Any], message: str) -> None:
    assert re.search(message, one_line_error(lambda: with_automation(**extra)))


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"kind": "on_cron"}, "on_cron needs a cron expression"),
        ({"kind": "on_cron", "cron": "bad"}, "cron: must be a 5-field"),
        ({"kind": "eager", "cron": "0 * * * *"}, "only on_cron has a cron"),
        ({"kind": "any", "conditions": [{"kind": "eager"}]}, "any needs at least two"),
        ({"kind": "missing", "conditions": [{"kind": "eager"}]}, "only any has conditions"),
        ({"kind": "sometimes"}, "kind: Input should be"),
        (
            {"kind": "any", "conditions": [{"kind": "eager"}, {"kind": "eager"}]},
            "must not repeat a condition",
        ),
        (
            {
                "kind": "any",
                "conditions": [
                    {"kind": "eager"},
                    {"kind": "any", "conditions": [{"kind": "missing"}, {"kind": "eager"}]},
                ],
            },
            "conditions.1.kind: Input should be",
        ),
    ],
)
def test_bad_conditions_are_refused(condition: dict[str, Any], message: str) -> None:
    assert message in one_line_error(lambda: spec("a/b", automation=condition))


def test_stored_bytes_with_bad_automation_name_the_field() -> None:
    good = with_automation(schedules=[schedule()]).canonical_bytes()
    bad = good.replace(b'"cron":"0 6 * * *"', b'"cron":"0 6 * * * *"')
    with pytest.raises(ValidationError, match=r"^stored\.schedules\.0\.cron: must be a 5-field"):
        DefinitionsManifest.from_bytes(bad, "stored")
    unknown = good.replace(b'"target":["shop/summary"]', b'"target":["shop/gone"]')
    with pytest.raises(ValidationError, match=r"^stored: schedules\.nightly\.target: unknown"):
        DefinitionsManifest.from_bytes(unknown, "stored")
