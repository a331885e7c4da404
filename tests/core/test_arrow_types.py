import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arco.core.arrow_types import canonical_type, parse_column_type
from arco.errors import ValidationError

ACCEPTED = [
    ("int8", "int8"),
    ("int16", "int16"),
    ("int32", "int32"),
    ("int64", "int64"),
    ("INT64", "int64"),
    ("uint8", "uint8"),
    ("uint64", "uint64"),
    ("float16", "halffloat"),
    ("float32", "float"),
    ("float64", "double"),
    ("double", "double"),
    ("bool", "bool"),
    ("boolean", "bool"),
    ("string", "string"),
    ("utf8", "string"),
    ("large_string", "large_string"),
    ("large_utf8", "large_string"),
    ("binary", "binary"),
    ("large_binary", "large_binary"),
    ("date32", "date32[day]"),
    ("date32[day]", "date32[day]"),
    ("date64", "date64[ms]"),
    ("null", "null"),
    ("  int64\t", "int64"),
    ("timestamp[us]", "timestamp[us]"),
    ("timestamp[ns]", "timestamp[ns]"),
    ("timestamp[us, tz=UTC]", "timestamp[us, tz=UTC]"),
    ("timestamp[ ms ,tz = UTC ]", "timestamp[ms, tz=UTC]"),
    ("timestamp[s, tz=+05:30]", "timestamp[s, tz=+05:30]"),
    ("timestamp[us, tz=-08:00]", "timestamp[us, tz=-08:00]"),
    ("timestamp[us, tz=Europe/Paris]", "timestamp[us, tz=Europe/Paris]"),
    ("time32[s]", "time32[s]"),
    ("time32[ms]", "time32[ms]"),
    ("time64[us]", "time64[us]"),
    ("time64[ns]", "time64[ns]"),
    ("duration[s]", "duration[s]"),
    ("duration[ns]", "duration[ns]"),
    ("fixed_size_binary[16]", "fixed_size_binary[16]"),
    ("decimal128(10, 2)", "decimal128(10, 2)"),
    ("decimal128( 10 ,2 )", "decimal128(10, 2)"),
    ("decimal128(38,0)", "decimal128(38, 0)"),
    ("decimal128(1, 1)", "decimal128(1, 1)"),
    ("decimal256(76, 10)", "decimal256(76, 10)"),
    ("list<int64>", "list<item: int64>"),
    ("list<item: int64>", "list<item: int64>"),
    ("list < item : string >", "list<item: string>"),
    ("list<element: int32>", "list<element: int32>"),
    ("large_list<utf8>", "large_list<item: string>"),
    ("list<list<int64>>", "list<item: list<item: int64>>"),
    ("list<timestamp[us, tz=+01:00]>", "list<item: timestamp[us, tz=+01:00]>"),
    ("struct<>", "struct<>"),
    ("struct<a: int64, b: string>", "struct<a: int64, b: string>"),
    ("struct< a :int64 ,b:utf8>", "struct<a: int64, b: string>"),
    ("struct<int64: int64, item: string>", "struct<int64: int64, item: string>"),
    (
        "struct<ventes été: int64, 売上: decimal128(12, 2)>",
        "struct<ventes été: int64, 売上: decimal128(12, 2)>",
    ),
    ("struct<a: struct<b: list<int64>>>", "struct<a: struct<b: list<item: int64>>>"),
    ("map<string, int64>", "map<string, int64>"),
    ("map<utf8, list<struct<x: double>>>", "map<string, list<item: struct<x: double>>>"),
    ("map<int32, map<string, bool>>", "map<int32, map<string, bool>>"),
]


@pytest.mark.parametrize(("text", "canonical"), ACCEPTED)
def test_accepts(text: str, canonical: str) -> None:
    parsed = parse_column_type(text)
    assert isinstance(parsed, pa.DataType)
    assert str(parsed) == canonical
    assert canonical_type(text) == canonical
    assert canonical_type(canonical) == canonical


def test_parsed_types_are_the_real_arrow_types() -> None:
    assert parse_column_type("timestamp[us, tz=UTC]") == pa.timestamp("us", tz="UTC")
    assert parse_column_type("decimal128(10, 2)") == pa.decimal128(10, 2)
    assert parse_column_type("map<string, int64>") == pa.map_(pa.string(), pa.int64())
    assert parse_column_type("struct<a: int64, b: list<utf8>>") == pa.struct(
        [("a", pa.int64()), ("b", pa.list_(pa.string()))]
    )
    named = parse_column_type("list<element: int32>")
    assert named.value_field.name == "element"
    assert named.value_field.nullable


REJECTED = [
    ("int65", "unknown Arrow type 'int65'"),
    ("", "expected a type name"),
    ("   ", "expected a type name"),
    ("integer", "unknown Arrow type 'integer'"),
    ("varchar(10)", "unknown Arrow type 'varchar'"),
    ("int64[3]", "int64 does not take '[' parameters"),
    ("list", "list needs parameters"),
    ("struct", "struct needs parameters"),
    ("timestamp", "timestamp needs parameters"),
    ("decimal128", "decimal128 needs parameters"),
    ("timestamp[]", "expected a time unit"),
    ("timestamp[ps]", "timestamp unit must be one of s, ms, us, ns"),
    ("timestamp[us, tz=]", "expected a time zone"),
    ("timestamp[us, tz=Mars/Olympus]", "unknown time zone 'Mars/Olympus'"),
    ("timestamp[us, tz=utc]", "unknown time zone 'utc'"),
    ("timestamp[us, tz=../../etc/passwd]", "expected a time zone"),
    ("timestamp[us, tz=etc/passwd]", "unknown time zone 'etc/passwd'"),
    ("timestamp[us, zone=UTC]", "expected 'tz='"),
    ("timestamp[us, tz=+25:00]", "unknown time zone"),
    ("time32[us]", "time32 unit must be one of s, ms"),
    ("time64[s]", "time64 unit must be one of us, ns"),
    ("date32[ms]", "date32 unit must be day"),
    ("fixed_size_binary[0]", "width must be at least 1"),
    ("decimal128(0, 0)", "decimal128 precision must be 1-38"),
    ("decimal128(39, 2)", "decimal128 precision must be 1-38"),
    ("decimal256(77, 2)", "decimal256 precision must be 1-76"),
    ("decimal128(10, 11)", "decimal128 scale must be 0-10"),
    ("decimal128(10, -1)", "decimal128 scale must be 0-10"),
    ("decimal128(10)", "expected ','"),
    ("decimal128(a, 2)", "expected a precision"),
    ("decimal64(10, 2)", "unknown Arrow type 'decimal64'"),
    ("list<>", "expected a type name"),
    ("list<int64", "expected '>'"),
    ("list<int64>>", "unexpected '>' after the type"),
    ("list<int64, string>", "expected '>'"),
    ("struct<int64>", "expected 'name: type'"),
    ("struct<a: int64,>", "expected 'name: type'"),
    ("struct<a: int64, a: string>", "duplicate struct field 'a'"),
    ("struct<a b>", "expected 'name: type'"),
    ("map<string>", "expected ','"),
    ("map<null, int64>", "invalid map"),
    ("int64 string", "unexpected 'string' after the type"),
    ("list<" * 40 + "int64" + ">" * 40, "nest deeper than 32"),
]


@pytest.mark.parametrize(("text", "fragment"), REJECTED)
def test_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_column_type(text)
    message = str(info.value)
    assert message.startswith("column type: ")
    assert fragment in message
    assert "\n" not in message


def test_unknown_type_message() -> None:
    with pytest.raises(ValidationError) as info:
        canonical_type("int65")
    assert str(info.value) == (
        "column type: unknown Arrow type 'int65' "
        "(expected e.g. int64, string, timestamp[us, tz=UTC], decimal128(10, 2))"
    )


def test_rejects_non_string_and_huge_input() -> None:
    with pytest.raises(ValidationError, match=r"^column type: must be a string"):
        parse_column_type(pa.int64())
    with pytest.raises(ValidationError, match=r"^column type: must be at most"):
        parse_column_type("struct<" + ", ".join(f"c{i}: int64" for i in range(1000)) + ">")


# -- properties -----------------------------------------------------------------------------

primitive_types = st.sampled_from(
    [
        pa.null(), pa.bool_(), pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(),
        pa.uint16(), pa.uint32(), pa.uint64(), pa.float16(), pa.float32(), pa.float64(),
        pa.string(), pa.large_string(), pa.binary(), pa.large_binary(), pa.date32(),
        pa.date64(), pa.time32("s"), pa.time32("ms"), pa.time64("us"), pa.time64("ns"),
        pa.month_day_nano_interval(), pa.binary(16),
    ]
)  # fmt: skip
units = st.sampled_from(["s", "ms", "us", "ns"])
zones = st.sampled_from([None, "UTC", "+01:00", "-05:30", "Europe/Paris", "America/New_York"])
timestamps = st.builds(pa.timestamp, units, tz=zones)
durations = st.builds(pa.duration, units)
decimals = st.integers(1, 38).flatmap(
    lambda p: st.integers(0, p).map(lambda s: pa.decimal128(p, s))
) | st.integers(1, 76).flatmap(lambda p: st.integers(0, p).map(lambda s: pa.decimal256(p, s)))
field_names = (
    st.text(
        alphabet=st.characters(
            categories=["L", "N"], include_characters="_- =.'\"/", exclude_characters="\x85"
        ),
        min_size=1,
        max_size=8,
    )
    .map(str.strip)
    .filter(bool)
)
leaf_types = primitive_types | timestamps | durations | decimals


def _struct(fields: list[tuple[str, pa.DataType]]) -> pa.DataType:
    unique = dict(fields)
    return pa.struct(list(unique.items()))


arrow_types = st.recursive(
    leaf_types,
    lambda inner: (
        st.builds(pa.list_, inner)
        | st.builds(lambda n, t: pa.list_(pa.field(n, t)), field_names, inner)
        | st.builds(pa.large_list, inner)
        | st.lists(st.tuples(field_names, inner), max_size=4).map(_struct)
        | st.builds(pa.map_, primitive_types.filter(lambda t: t != pa.null()), inner)
    ),
    max_leaves=8,
)


@given(arrow_types)
def test_str_of_any_supported_type_parses_back(arrow_type: pa.DataType) -> None:
    text = str(arrow_type)
    assert canonical_type(text) == text
    assert parse_column_type(text) == arrow_type


def _respace(text: str, draw_space: st.DrawFn) -> str:
    """Vary the whitespace around delimiters (not inside a time zone such as +01:00)."""
    out = []
    for i, char in enumerate(text):
        if (
            char in "<>,[]()"
            or text.startswith(": ", i)
            or (i >= 2 and text[i - 2 : i + 1] == "tz=")
        ):
            out.append(draw_space(st.sampled_from(["", " ", "  ", "\t"])) + char)
            out.append(draw_space(st.sampled_from(["", " ", "\n"])))
        else:
            out.append(char)
    return "".join(out)


@st.composite
def respaced(draw: st.DrawFn) -> tuple[str, str]:
    arrow_type = draw(arrow_types)
    text = str(arrow_type)
    return text, _respace(text, draw)


@given(respaced())
def test_whitespace_variants_are_idempotent(pair: tuple[str, str]) -> None:
    canonical, variant = pair
    assert canonical_type(variant) == canonical
    assert canonical_type(canonical_type(variant)) == canonical_type(variant)
