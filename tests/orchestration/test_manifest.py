"""The definitions manifest: validated on construction, one canonical form, one fingerprint."""

from __future__ import annotations

import subprocess
import sys

import pytest

from arco.errors import ValidationError
from arco.orchestration.manifest import AssetSpec, DefinitionsManifest


def spec(key: str, *deps: str, **extra: object) -> AssetSpec:
    return AssetSpec.model_validate({"key": key, "deps": deps, "entry_point": "m:f", **extra})


def manifest() -> DefinitionsManifest:
    return DefinitionsManifest(
        assets=(
            spec("sales/orders", "raw/orders", partitions={"kind": "daily", "start": "2026-01-01"}),
            spec("raw/orders", retry={"max_attempts": 3, "backoff_s": 0.5}, timeout_s=30),
            spec(
                "sales/by_region",
                "sales/orders",
                partitions={
                    "kind": "multi",
                    "dimensions": [
                        {"kind": "daily", "start": "2026-01-01", "timezone": "Europe/Paris"},
                        {"kind": "static", "dimension": "region", "values": ["eu", "us"]},
                    ],
                },
                checks=[{"name": "rows", "kind": "row_count", "params": {"min": 1}}],
                tags={"pool": "warehouse"},
            ),
        )
    )


def test_sorted_by_key_and_round_trips_through_canonical_bytes() -> None:
    m = manifest()
    assert [a.key for a in m.assets] == ["raw/orders", "sales/by_region", "sales/orders"]
    again = DefinitionsManifest.from_bytes(m.canonical_bytes())
    assert again == m and again.fingerprint == m.fingerprint
    assert again.asset("raw/orders").retry.backoff_s == 0.5
    assert len(m.fingerprint) == 64


def test_fingerprint_is_the_same_in_another_process() -> None:
    code = (
        "import sys; sys.path.insert(0, 'tests/orchestration');"
        "from test_manifest import manifest; print(manifest().fingerprint)"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == manifest().fingerprint


def test_any_change_changes_the_fingerprint() -> None:
    base = manifest()
    changed = DefinitionsManifest(assets=(*base.assets[:2], spec("sales/orders", "raw/orders")))
    assert changed.fingerprint != base.fingerprint


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: spec("no-slash"), "namespace/name"),
        (lambda: spec("a/b/c"), "namespace/name"),
        (lambda: spec("a/b", "a/b"), "depends on itself"),
        (lambda: spec("a/b", "x/y", "x/y"), "repeat"),
        (lambda: spec("a/b", partitions={"kind": "daily", "start": "yesterday"}), "ISO"),
        (
            lambda: spec(
                "a/b", partitions={"kind": "daily", "start": "2026-01-01", "timezone": "Mars/Base"}
            ),
            "time zone",
        ),
        (
            lambda: spec("a/b", partitions={"kind": "static", "dimension": "Bad", "values": ["x"]}),
            "a-z",
        ),
        (lambda: spec("a/b", partitions={"kind": "static", "values": ["x", "x"]}), "unique"),
        (lambda: spec("a/b", retry={"max_attempts": 0}), "max_attempts"),
        (lambda: DefinitionsManifest(assets=(spec("a/b"), spec("a/b"))), "duplicate"),
    ],
)
def test_bad_definitions_are_refused(build: object, message: str) -> None:
    with pytest.raises((ValidationError, ValueError), match=message):
        build()  # type: ignore[operator]


def test_stored_bytes_that_disagree_with_the_formats_are_refused() -> None:
    good = manifest().canonical_bytes()
    bad_key = good.replace(b'"key":"raw/orders"', b'"key":"raw.orders"')
    with pytest.raises(ValidationError, match=r"stored\.assets\.0\.key"):
        DefinitionsManifest.from_bytes(bad_key, "stored")
    with pytest.raises(ValidationError, match="not canonical JSON"):
        DefinitionsManifest.from_bytes(b'{"format": 1.5}', "stored")
