"""Where asset outputs live: ``data/{namespace}/{name}/{dim=value/...}{id}.parquet``, every
segment a valid object key, different names and partitions in different directories."""

from __future__ import annotations

import datetime as dt

import pytest

from arco.core.partitions import PartitionKey
from arco.metadata.layout import (
    NULL_PARTITION,
    asset_data_dir,
    asset_data_file,
    key_segment,
    partition_path,
)
from arco.storage.keys import validate_key


def test_names_are_case_folded_safe_segments() -> None:
    assert asset_data_dir("Shop", "Orders") == "data/shop/orders/"
    assert asset_data_dir("売上", "order-v1.2") == "data/売上/order-v1.2/"
    assert key_segment("a b%c") == "a~20b~25c"
    assert key_segment(".hidden") == "~2ehidden"
    assert key_segment("a~b") == "a~7eb"
    assert key_segment("") == "~"


@pytest.mark.parametrize(
    "texts",
    [("a b", "a~20b"), ("~", ""), ("x.y", "x~2ey"), ("A", "a~")],
)
def test_segments_never_collide(texts: tuple[str, str]) -> None:
    assert key_segment(texts[0]) != key_segment(texts[1])


def test_partition_paths_are_hive_style() -> None:
    assert partition_path("") == ""
    key = PartitionKey(
        {
            "date": dt.date(2026, 12, 7),
            "hour": dt.datetime(2026, 12, 7, 13, tzinfo=dt.UTC),
            "region": "eu/west 1",
            "shard": 3,
            "flag": True,
            "none": None,
        }
    )
    assert partition_path(key.canonical()) == (
        "date=2026-12-07/flag=true/hour=2026-12-07T130000Z/"
        f"none={NULL_PARTITION}/region=eu~2fwest~201/shard=3/"
    )
    odd = PartitionKey({"t": dt.datetime(2026, 1, 1, 0, 0, 1, 5, tzinfo=dt.UTC)}).canonical()
    assert partition_path(odd) == "t=2026-01-01T000001.000005Z/"


def test_data_files_are_valid_keys() -> None:
    key = PartitionKey({"k": "../.x\\%"}).canonical()
    file = asset_data_file(".ns", "a%b", key, "0190-id")
    assert file == "data/~2ens/a~25b/k=~2e.~2f.x~5c~25/0190-id.parquet"
    assert validate_key(file) == file
