import hashlib
import json
import math
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arco.core.canonical_json import canonical_dumps, canonical_hash, loads
from arco.errors import ValidationError

FIXTURE = Path(__file__).parent.parent / "fixtures" / "canonical_json" / "vectors.json"
_DATA = json.loads(FIXTURE.read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = _DATA["vectors"]
REJECTED_VALUES: list[dict[str, Any]] = _DATA["rejected_values"]
REJECTED_TEXTS: list[dict[str, Any]] = _DATA["rejected_texts"]


def test_fixture_is_substantial() -> None:
    assert len(VECTORS) >= 12
    assert len({v["name"] for v in VECTORS}) == len(VECTORS)


def test_fixture_hashes_are_consistent() -> None:
    for vector in VECTORS:
        expected = hashlib.sha256(vector["canonical"].encode("utf-8")).hexdigest()
        assert vector["sha256"] == expected, vector["name"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_golden_vector(vector: dict[str, Any]) -> None:
    assert canonical_dumps(vector["input"]) == vector["canonical"].encode("utf-8")
    assert canonical_hash(vector["input"]) == vector["sha256"]
    assert loads(vector["canonical"].encode("utf-8")) == vector["input"]


@pytest.mark.parametrize("case", REJECTED_VALUES, ids=[c["name"] for c in REJECTED_VALUES])
def test_rejected_value_names_path(case: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        canonical_dumps(case["input"])
    assert str(info.value).startswith(case["path"] + ": ")


@pytest.mark.parametrize("case", REJECTED_TEXTS, ids=[c["name"] for c in REJECTED_TEXTS])
def test_rejected_text(case: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"^json: "):
        loads(case["text"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, "$: floats are not allowed in canonical JSON (got nan)"),
        ({"a": [1, 2, math.inf]}, "$.a[2]: floats are not allowed in canonical JSON (got inf)"),
        ([-math.inf], "$[0]: floats are not allowed in canonical JSON (got -inf)"),
        ({"a": {1: "x"}}, "$.a: object keys must be strings in canonical JSON (got int 1)"),
        ({None: 1}, "$: object keys must be strings in canonical JSON (got NoneType None)"),
        ({True: 1}, "$: object keys must be strings in canonical JSON (got bool True)"),
        ({"b": b"x"}, "$.b: type bytes is not allowed in canonical JSON"),
        ([{1, 2}], "$[0]: type set is not allowed in canonical JSON"),
        ({"d": Decimal("1.5")}, "$.d: type Decimal is not allowed in canonical JSON"),
    ],
)
def test_python_only_rejections(value: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        canonical_dumps(value)
    assert str(info.value) == message


def test_lone_surrogate_in_key_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"lone surrogate"):
        canonical_dumps({"ok": 1, "\udfff": 2})


def test_cycle_is_rejected() -> None:
    value: list[object] = []
    value.append(value)
    with pytest.raises(ValidationError, match="nested too deeply"):
        canonical_dumps(value)


def test_tuples_serialize_as_arrays() -> None:
    assert canonical_dumps({"t": (1, "a", (None,))}) == b'{"t":[1,"a",[null]]}'


def test_bool_is_not_int() -> None:
    assert canonical_dumps([True, 1, False, 0]) == b"[true,1,false,0]"
    assert canonical_hash({"a": True}) != canonical_hash({"a": 1})


def test_hash_is_lowercase_hex_sha256() -> None:
    digest = canonical_hash({"b": 1, "a": [True]})
    assert digest == hashlib.sha256(b'{"a":[true],"b":1}').hexdigest()
    assert digest == digest.lower()
    assert len(digest) == 64


def test_loads_accepts_str_and_bytes_and_normalizes_minus_zero() -> None:
    assert loads('{"a": [1, -0, true, null]}') == {"a": [1, 0, True, None]}
    assert loads(b'{"a":"\xc3\xa9"}') == {"a": "é"}


def test_loads_rejects_invalid_utf8() -> None:
    with pytest.raises(ValidationError, match=r"^json: not valid UTF-8"):
        loads(b'"\xff"')


def test_loads_rejects_non_text() -> None:
    with pytest.raises(ValidationError, match=r"^json: expected bytes or str"):
        loads(12)  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@given(json_values)
def test_round_trip(value: object) -> None:
    data = canonical_dumps(value)
    assert loads(data) == value
    assert canonical_dumps(loads(data)) == data


@given(json_values)
def test_output_matches_stdlib_canonical_settings(value: object) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_dumps(value) == expected.encode("utf-8")


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=8), st.randoms())
def test_key_order_does_not_matter(value: dict[str, object], rnd: random.Random) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    assert canonical_dumps(dict(items)) == canonical_dumps(value)
    assert canonical_hash(dict(items)) == canonical_hash(value)


def test_integer_beyond_digit_limit_is_rejected() -> None:
    huge = 10**5000
    with pytest.raises(ValidationError, match=r"^\$\.n: integer has too many digits"):
        canonical_dumps({"n": huge})
    with pytest.raises(ValidationError, match=r"^json: cannot parse"):
        loads("1" * 5000)


def test_fast_path_matches_the_checking_emitter() -> None:
    """The C-encoder fast path and the per-node emitter agree byte for byte."""
    from arco.core import canonical_json as cj

    vectors = json.loads(FIXTURE.read_text(encoding="utf-8"))["vectors"]
    for vector in vectors:
        value = vector["input"]
        assert cj._plain(value), vector["name"]
        parts: list[str] = []
        cj._emit(value, "$", parts)
        assert cj.canonical_dumps(value) == "".join(parts).encode("utf-8"), vector["name"]


@given(json_values)
def test_fast_path_matches_the_checking_emitter_on_generated_values(value: Any) -> None:
    from arco.core import canonical_json as cj

    parts: list[str] = []
    try:
        cj._emit(value, "$", parts)
    except ValidationError:
        with pytest.raises(ValidationError):  # e.g. lone surrogates: both paths refuse
            cj.canonical_dumps(value)
        return
    assert cj.canonical_dumps(value) == "".join(parts).encode("utf-8")
