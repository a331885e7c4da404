import dataclasses

import pytest

from arco.core.assets import AssetKey
from arco.errors import ValidationError


def test_str_and_parse_round_trip() -> None:
    key = AssetKey("sales", "orders")
    assert str(key) == "sales/orders"
    assert AssetKey.parse("sales/orders") == key
    assert AssetKey.parse(str(AssetKey("売上", "Продажи"))) == AssetKey("売上", "Продажи")


def test_segments_are_nfc_normalized() -> None:
    key = AssetKey("ventes_e\u0301te\u0301", "x")
    assert key.namespace == "ventes_été"
    assert key == AssetKey("ventes_été", "x")
    assert hash(key) == hash(AssetKey("ventes_été", "x"))


@pytest.mark.parametrize(
    ("namespace", "name", "message"),
    [
        ("", "orders", "asset_key.namespace: must not be empty"),
        ("sales", "", "asset_key.name: must not be empty"),
        ("sales", "a/b", "asset_key.name: must not contain '/' (got 'a/b')"),
        (
            " sales",
            "x",
            "asset_key.namespace: must not start or end with whitespace (got ' sales')",
        ),
    ],
)
def test_segments_are_validated(namespace: str, name: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        AssetKey(namespace, name)
    assert str(info.value) == message


@pytest.mark.parametrize("text", ["sales", "a/b/c", "", "//", "sales/orders/"])
def test_parse_requires_exactly_one_slash(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        AssetKey.parse(text)
    assert str(info.value) == (
        f"asset_key: must be 'namespace/name' with exactly one '/' (got {text!r})"
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("/orders", "asset_key.namespace"),
        ("/", "asset_key.namespace"),
        ("sales/", "asset_key.name"),
        ("a/b\n", "asset_key.name"),
    ],
)
def test_parse_validates_segments(text: str, field: str) -> None:
    with pytest.raises(ValidationError, match=rf"^{field}: "):
        AssetKey.parse(text)


def test_parse_rejects_non_string() -> None:
    with pytest.raises(ValidationError, match=r"^asset_key: must be a string"):
        AssetKey.parse(None)  # type: ignore[arg-type]


def test_ordering_is_by_namespace_then_name() -> None:
    keys = [AssetKey("b", "a"), AssetKey("a", "z"), AssetKey("a", "b")]
    assert sorted(keys) == [AssetKey("a", "b"), AssetKey("a", "z"), AssetKey("b", "a")]


def test_frozen() -> None:
    key = AssetKey("a", "b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.name = "c"  # type: ignore[misc]
