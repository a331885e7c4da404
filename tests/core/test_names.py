import unicodedata

import pytest

from arco.core.names import name_key, validate_name
from arco.errors import ValidationError


@pytest.mark.parametrize(
    "value",
    [
        "sales",
        "Sales",
        "ventes_été",
        "売上",
        "Продажи",
        "a b",
        "x-1.2",
        "\u03b1",
        "a" * 128,
        "🙂data",
    ],
)
def test_accepts_names_in_any_script(value: str) -> None:
    assert validate_name("table", value) == value


def test_returns_nfc_form() -> None:
    decomposed = "ventes_e\u0301te\u0301"
    assert validate_name("table", decomposed) == "ventes_été"
    assert unicodedata.is_normalized("NFC", validate_name("table", decomposed))


def test_length_is_counted_after_nfc() -> None:
    decomposed = "e\u0301" * 100  # 200 code points, 100 after NFC
    assert validate_name("column", decomposed) == "é" * 100


def test_max_length() -> None:
    assert validate_name("column", "abc", max_length=3) == "abc"
    with pytest.raises(ValidationError) as info:
        validate_name("column", "abcd", max_length=3)
    assert str(info.value) == "column: must be at most 3 characters (got 4)"
    with pytest.raises(ValidationError, match="at most 128 characters"):
        validate_name("column", "a" * 129)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "namespace: must not be empty"),
        ("a/b", "namespace: must not contain '/' (got 'a/b')"),
        (" a", "namespace: must not start or end with whitespace (got ' a')"),
        ("a ", "namespace: must not start or end with whitespace (got 'a ')"),
        ("\u00a0a", "namespace: must not start or end with whitespace (got '\\xa0a')"),
        ("a\u3000", "namespace: must not start or end with whitespace (got 'a\\u3000')"),
        (".", "namespace: must not be '.' (a URL path segment clients remove)"),
        ("..", "namespace: must not be '..' (a URL path segment clients remove)"),
    ],
)
def test_rejects_with_message(value: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_name("namespace", value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("value", "code_point", "index"),
    [
        ("a\x00b", 0x00, 1),
        ("a\nb", 0x0A, 1),
        ("\tab", 0x09, 0),
        ("ab\x7f", 0x7F, 2),
        ("a\u200bb", 0x200B, 1),  # zero width space (Cf)
        ("\ufeffab", 0xFEFF, 0),  # BOM (Cf)
        ("a\u2028b", 0x2028, 1),  # line separator (Zl)
        ("a\u2029b", 0x2029, 1),  # paragraph separator (Zp)
        ("a\ud800", 0xD800, 1),  # lone surrogate (Cs)
        ("a\u0378", 0x0378, 1),  # unassigned (Cn)
        ("a\U000e0041", 0xE0041, 1),  # tag character (Cf)
    ],
)
def test_rejects_control_and_format_characters(value: str, code_point: int, index: int) -> None:
    with pytest.raises(ValidationError) as info:
        validate_name("column", value)
    message = str(info.value)
    assert message.startswith("column: must not contain control, format")
    assert f"U+{code_point:04X} at index {index}" in message
    assert "\n" not in message


def test_rejects_non_strings() -> None:
    with pytest.raises(ValidationError, match=r"^table: must be a string"):
        validate_name("table", None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^table: must be a string"):
        validate_name("table", b"sales")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Sales", "SALES"),
        ("sales", "sAlEs"),
        ("Straße", "STRASSE"),
        ("e\u0301te\u0301", "ÉTÉ"),
        ("Продажи", "ПРОДАЖИ"),
        ("ΣΊΣΥΦΟΣ", "σίσυφος"),
    ],
)
def test_name_key_is_case_insensitive(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)


@pytest.mark.parametrize(("a", "b"), [("sales", "sale"), ("a_b", "a-b"), ("été", "ete")])
def test_name_key_distinguishes(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


@pytest.mark.parametrize("value", ["Sales", "Straße", "ÉTÉ", "İstanbul", "ǅ"])
def test_name_key_is_idempotent_and_nfc(value: str) -> None:
    key = name_key(value)
    assert name_key(key) == key
    assert unicodedata.is_normalized("NFC", key)


def test_dot_names_are_refused_everywhere_but_dots_inside_names_are_fine() -> None:
    """Issue 10, defect 7: ``.`` and ``..`` were accepted for namespaces and lineage assets,
    reachable only through percent-encoded URLs that clients normalise away."""
    from arco.core.assets import AssetKey

    for bad in ("./orders", "../orders", "sales/.", "sales/.."):
        with pytest.raises(ValidationError, match=r"must not be '\.\.?'"):
            AssetKey.parse(bad)
    assert validate_name("table", "...") == "..."
    assert validate_name("table", ".hidden") == ".hidden"
    assert str(AssetKey.parse("v1.2/a.b")) == "v1.2/a.b"
