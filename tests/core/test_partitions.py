import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arco.core.partitions import PartitionKey, PartitionValue, partition_id
from arco.errors import ValidationError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
ASSET_ID = "0190f2a4-5b6c-7d8e-9f01-23456789abcd"


def typed(key: PartitionKey) -> list[tuple[str, type, Any]]:
    """The items with their exact types, so True and 1 (or date and datetime) differ."""
    return [(dim, type(value), value) for dim, value in key.values.items()]


# -- canonical encoding, checked against hand-computed strings -----------------------------


@pytest.mark.parametrize(
    ("values", "canonical"),
    [
        ({}, ""),
        ({"region": "eu"}, "region=s:ZXU"),  # 'eu' = 0x65 0x75 -> ZXU
        ({"region": ""}, "region=s:"),
        ({"city": "été"}, "city=s:w6l0w6k"),  # c3 a9 74 c3 a9
        ({"a": "\xff\xfe"}, "a=s:w7_Dvg"),  # c3 bf c3 be: uses '_' of base64url
        ({"n": 0}, "n=i:0"),
        ({"n": -42}, "n=i:-42"),
        ({"n": INT64_MAX}, "n=i:9223372036854775807"),
        ({"n": INT64_MIN}, "n=i:-9223372036854775808"),
        ({"flag": True}, "flag=b:true"),
        ({"flag": False}, "flag=b:false"),
        ({"day": dt.date(2024, 3, 1)}, "day=d:2024-03-01"),
        ({"day": dt.date(1, 1, 1)}, "day=d:0001-01-01"),
        (
            {"ts": dt.datetime(2024, 3, 1, 7, 5, 9, tzinfo=dt.UTC)},
            "ts=t:2024-03-01T07:05:09.000000Z",
        ),
        (
            {
                "ts": dt.datetime(
                    2024, 3, 1, 0, 30, 0, 123, tzinfo=dt.timezone(dt.timedelta(hours=2))
                )
            },
            "ts=t:2024-02-29T22:30:00.000123Z",
        ),
        ({"x": None}, "x=n:"),
        (
            {"region": "eu", "day": dt.date(2024, 3, 1), "hour": 7},
            "day=d:2024-03-01,hour=i:7,region=s:ZXU",
        ),
        ({"b_": 1, "b": 2, "b0": 3, "a_b": 4}, "a_b=i:4,b=i:2,b0=i:3,b_=i:1"),
    ],
)
def test_canonical(values: dict[str, PartitionValue], canonical: str) -> None:
    key = PartitionKey(values)
    assert key.canonical() == canonical
    assert str(key) == canonical
    parsed = PartitionKey.parse(canonical)
    assert parsed == key
    assert typed(parsed) == typed(key)


def test_datetimes_are_stored_in_utc() -> None:
    paris_summer = dt.timezone(dt.timedelta(hours=2))
    key = PartitionKey({"ts": dt.datetime(2024, 6, 1, 12, 0, tzinfo=paris_summer)})
    assert key.values["ts"] == dt.datetime(2024, 6, 1, 10, 0, tzinfo=dt.UTC)
    assert key.values["ts"].tzinfo is dt.UTC  # type: ignore[union-attr]
    assert key == PartitionKey({"ts": dt.datetime(2024, 6, 1, 10, 0, tzinfo=dt.UTC)})


def test_bool_int_date_datetime_are_distinct() -> None:
    assert PartitionKey({"a": True}) != PartitionKey({"a": 1})
    assert PartitionKey({"a": False}) != PartitionKey({"a": 0})
    assert PartitionKey({"a": "1"}) != PartitionKey({"a": 1})
    assert PartitionKey({"a": None}) != PartitionKey({"a": ""})
    midnight = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert PartitionKey({"a": dt.date(2024, 1, 1)}) != PartitionKey({"a": midnight})
    assert len({PartitionKey({"a": True}), PartitionKey({"a": 1})}) == 2


def test_values_mapping_is_sorted_and_read_only() -> None:
    key = PartitionKey({"z": 1, "a": 2})
    assert list(key.values) == ["a", "z"]
    assert dict(key.values) == {"a": 2, "z": 1}
    assert key.values["z"] == 1
    with pytest.raises(KeyError):
        key.values["missing"]
    with pytest.raises(TypeError):
        key.values["a"] = 3  # type: ignore[index]


def test_key_does_not_alias_the_input_dict() -> None:
    source: dict[str, PartitionValue] = {"a": 1}
    key = PartitionKey(source)
    source["a"] = 2
    assert key.values["a"] == 1
    assert key.canonical() == "a=i:1"


def test_hashable_and_usable_in_sets() -> None:
    keys = {PartitionKey({"a": 1, "b": "x"}), PartitionKey({"b": "x", "a": 1})}
    assert len(keys) == 1


def test_partition_id_golden_values() -> None:
    key = PartitionKey({"region": "eu", "day": dt.date(2024, 3, 1), "hour": 7})
    # printf '<asset id>\nday=d:2024-03-01,hour=i:7,region=s:ZXU' | sha256sum | cut -c1-16
    assert partition_id(ASSET_ID, key) == "5c8ba72a8e638c9a"
    # the unpartitioned key hashes "<asset id>\n"
    assert partition_id(ASSET_ID, PartitionKey({})) == "b5a213cf60904f73"


def test_partition_id_depends_on_asset_and_key() -> None:
    key = PartitionKey({"a": 1})
    other_asset = "0190f2a4-5b6c-7d8e-9f01-23456789abce"
    assert partition_id(ASSET_ID, key) != partition_id(other_asset, key)
    assert partition_id(ASSET_ID, key) != partition_id(ASSET_ID, PartitionKey({"a": 2}))


@pytest.mark.parametrize("asset_id", ["", "a\nb"])
def test_partition_id_rejects_bad_asset_id(asset_id: str) -> None:
    with pytest.raises(ValidationError, match=r"^asset_id: "):
        partition_id(asset_id, PartitionKey({}))


# -- construction rejections ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"": 1}, "dimension names must be 1-64"),
        ({"A": 1}, "dimension names must be 1-64"),
        ({"1a": 1}, "dimension names must be 1-64"),
        ({"_a": 1}, "dimension names must be 1-64"),
        ({"a-b": 1}, "dimension names must be 1-64"),
        ({"a" * 65: 1}, "dimension names must be 1-64"),
        ({"é": 1}, "dimension names must be 1-64"),
        ({1: 1}, "dimension names must be 1-64"),
        ({"n": INT64_MAX + 1}, r"^partition_key\.n: integers must fit in int64"),
        ({"n": INT64_MIN - 1}, r"^partition_key\.n: integers must fit in int64"),
        ({"f": 1.5}, r"^partition_key\.f: values must be str, int, bool"),
        ({"f": b"x"}, r"^partition_key\.f: values must be str, int, bool"),
        ({"t": dt.datetime(2024, 1, 1)}, r"^partition_key\.t: datetimes must be timezone-aware"),
        ({"s": "\ud800"}, r"^partition_key\.s: strings must be valid Unicode"),
        (
            {"t": dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))},
            r"^partition_key\.t: datetime is out of range in UTC",
        ),
    ],
)
def test_construction_rejects(values: dict[Any, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        PartitionKey(values)


def test_construction_rejects_non_mapping() -> None:
    with pytest.raises(ValidationError, match=r"^partition_key: must be a mapping"):
        PartitionKey([("a", 1)])  # type: ignore[arg-type]


def test_dimension_name_boundary() -> None:
    assert PartitionKey({"a" * 64: 1}).canonical() == "a" * 64 + "=i:1"


# -- parse rejections -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "b=i:1,a=i:2",  # unsorted
        "a=i:1,a=i:1",  # duplicate
        "a=i:1,",  # trailing comma
        ",a=i:1",
        "a=i:1,,b=i:2",
        "a=x:1",  # unknown tag
        "a=I:1",
        "a=i1",  # missing ':'
        "a:i:1",
        "=i:1",
        "A=i:1",
        "_a=i:1",
        "a=i:",
        "a=i:01",  # leading zero
        "a=i:+1",
        "a=i:-0",
        "a=i: 1",
        "a=i:1 ",
        "a=i:1.0",
        "a=i:9223372036854775808",  # int64 overflow
        "a=i:-9223372036854775809",
        "a=i:99999999999999999999999999",
        "a=b:True",
        "a=b:1",
        "a=b:",
        "a=n:x",
        "a=n:null",
        "a=s:ZXU=",  # padding
        "a=s:ZXU==",
        "a=s:ZXV",  # non-zero padding bits (also decodes to 'eu')
        "a=s:Z",  # impossible length
        "a=s:ZX+",  # standard, not url-safe, alphabet
        "a=s:ZX/",
        "a=s:_w",  # 0xff is not UTF-8
        "a=d:2024-3-01",
        "a=d:2024-02-30",
        "a=d:0000-01-01",
        "a=d:20240301",
        "a=d:2024-03-01T00:00:00.000000Z",
        "a=t:2024-03-01T07:05:09Z",  # no fraction
        "a=t:2024-03-01T07:05:09.123Z",  # 3 digits
        "a=t:2024-03-01T07:05:09.000000z",  # lowercase z
        "a=t:2024-03-01T07:05:09.000000+00:00",
        "a=t:2024-03-01 07:05:09.000000Z",
        "a=t:2024-03-01T24:00:00.000000Z",
        "a=t:2024-03-01T07:05:60.000000Z",
        "a=t:2024-03-01",
        " a=i:1",
        "a=i:1\n",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValidationError, match=r"^partition_key"):
        PartitionKey.parse(text)


def test_parse_rejects_non_string() -> None:
    with pytest.raises(ValidationError, match=r"^partition_key: must be a string"):
        PartitionKey.parse(None)  # type: ignore[arg-type]


def test_parse_empty_is_unpartitioned() -> None:
    key = PartitionKey.parse("")
    assert key == PartitionKey({})
    assert len(key.values) == 0


# -- properties -----------------------------------------------------------------------------

dims = st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True)
offsets = st.sampled_from(
    [
        dt.UTC,
        dt.timezone(dt.timedelta(hours=5, minutes=30)),
        dt.timezone(dt.timedelta(hours=-8)),
        dt.timezone(dt.timedelta(hours=14)),
        dt.timezone(dt.timedelta(hours=-12, minutes=-45)),
    ]
)
scalars: st.SearchStrategy[PartitionValue] = st.one_of(
    st.text(),
    st.integers(min_value=INT64_MIN, max_value=INT64_MAX),
    st.sampled_from([INT64_MIN, INT64_MAX, 0, -1]),
    st.booleans(),
    st.dates(),
    st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=offsets
    ),
    st.none(),
)
keys = st.dictionaries(dims, scalars, max_size=6).map(PartitionKey)


@given(keys)
def test_parse_inverts_canonical(key: PartitionKey) -> None:
    canonical = key.canonical()
    parsed = PartitionKey.parse(canonical)
    assert parsed == key
    assert typed(parsed) == typed(key)
    assert parsed.canonical() == canonical


@given(st.dictionaries(dims, scalars, max_size=6))
def test_values_survive_construction(values: dict[str, PartitionValue]) -> None:
    key = PartitionKey(values)
    assert set(key.values) == set(values)
    for dim, value in values.items():
        stored = key.values[dim]
        assert type(stored) is type(value)
        assert stored == value  # aware datetimes compare by instant
        if isinstance(value, dt.datetime):
            assert stored.utcoffset() == dt.timedelta(0)  # type: ignore[union-attr]


@given(keys)
def test_canonical_dims_are_sorted(key: PartitionKey) -> None:
    canonical = key.canonical()
    found = [item.split("=", 1)[0] for item in canonical.split(",")] if canonical else []
    assert found == sorted(found)
    assert len(found) == len(set(found)) == len(key.values)


@given(st.text(alphabet="abisdtn=:,0123456789-_ZXUTw", max_size=30))
def test_accepted_strings_are_canonical(text: str) -> None:
    try:
        key = PartitionKey.parse(text)
    except ValidationError:
        return
    assert key.canonical() == text
