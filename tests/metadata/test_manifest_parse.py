"""Parsing manifests: cached by their exact bytes, never past a change or a corruption."""

from __future__ import annotations

import pytest

from arco.errors import CorruptStateError
from arco.metadata.manifest import Manifest, parse_manifest


def manifest(version: int) -> Manifest:
    return Manifest(
        domain="catalog",
        snapshot_version=version,
        checkpoint_version=0,
        files=(),
        watermark=None,
        fencing_token=1,
        commit_id=f"01J{version:023d}",
        parent_hash=None,
        updated_at="2026-12-07T00:00:00.000Z",
    )


def test_the_same_bytes_parse_once_and_other_bytes_parse_anew() -> None:
    one, two = manifest(1).to_bytes(), manifest(2).to_bytes()
    first = parse_manifest(one, "m")
    assert parse_manifest(bytes(one), "m") is first  # equal bytes: the cached object
    assert parse_manifest(two, "m").snapshot_version == 2
    assert parse_manifest(one, "m").snapshot_version == 1


def test_corrupt_bytes_are_refused_every_time() -> None:
    good = manifest(3).to_bytes()
    parse_manifest(good, "m")
    bad = good.replace(b'"snapshot_version":3', b'"snapshot_version":"x"')
    assert bad != good
    for _ in range(2):
        with pytest.raises(CorruptStateError, match="manifest m is unreadable"):
            parse_manifest(bad, "m")
