# ruff: noqa: RUF001  (the cases are deliberately in many scripts, incl. look-alike letters)

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arco.search import TOKEN_MAX, tokenize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ASCII: snake, kebab, dots, camel, Pascal, acronyms, digits
        ("order_items", ["order", "items"]),
        ("sales.order_items-v2", ["sales", "order", "items", "v", "2"]),
        ("customerID", ["customer", "id"]),
        ("CustomerId", ["customer", "id"]),
        ("HTTPServerLog", ["http", "server", "log"]),
        ("getHTTP2Response", ["get", "http", "2", "response"]),
        ("order2Ship", ["order", "2", "ship"]),
        ("2024Q1", ["2024", "q", "1"]),
        ("ABC", ["abc"]),
        ("  a  ", ["a"]),
        ("x86_64", ["x", "86", "64"]),
        ("a//b::c", ["a", "b", "c"]),
        # NFKC: full-width, ligatures, circled digits
        ("ｆｕｌｌＷｉｄｔｈ", ["full", "width"]),
        ("ﬁle", ["file"]),
        ("①②", ["12"]),
        # case folding
        ("Straße", ["strasse"]),
        ("STRASSE", ["strasse"]),
        ("İstanbul", ["istanbul"]),
        ("ISTANBUL", ["istanbul"]),
        ("ılık", ["ılık"]),  # dotless i is its own letter
        # Cyrillic, Greek
        ("ПродажиПоРегионам", ["продажи", "по", "регионам"]),
        ("продажи_2024", ["продажи", "2024"]),
        ("ΠωλήσειςΑνάΠεριοχή", ["πωλήσεισ", "ανά", "περιοχή"]),
        # right-to-left scripts, marks kept with their letters
        ("مبيعات_الربع", ["مبيعات", "الربع"]),
        ("مَبِيعَات", ["مَبِيعَات"]),
        ("שָׁלוֹם עולם", ["שָׁלוֹם", "עולם"]),
        ("बिक्री रिपोर्ट", ["बिक्री", "रिपोर्ट"]),
        # Japanese, Chinese: bigrams, single character runs, digits split off
        ("売上高", ["売上", "上高"]),
        ("売上_2024年", ["売上", "2024", "年"]),
        ("年", ["年"]),
        ("売上データ", ["売上", "上デ", "デー", "ータ"]),
        ("顧客ID", ["顧客", "id"]),
        ("销售额", ["销售", "售额"]),
        ("ｳﾘｱｹﾞ", ["ウリ", "リア", "アゲ"]),  # half-width kana → NFKC full width
        # Korean: spaced words, not bigrams
        ("매출액 보고서", ["매출액", "보고서"]),
        ("고객_ID", ["고객", "id"]),
        # Thai: bigrams of clusters (base + marks)
        ("ขายสินค้า", ["ขา", "าย", "ยสิ", "สิน", "นค้", "ค้า"]),
        # emoji, symbols, format characters
        ("🙂data", ["data"]),
        ("sales 📈 2024", ["sales", "2024"]),
        ("1️⃣", ["1"]),
        ("👨‍👩‍👧", []),
        ("a\u200bb", ["ab"]),
        ("می\u200cخواهم", ["میخواهم"]),
        ("", []),
        ("  _-./  ", []),
        ("\u0301abc", ["abc"]),  # a mark without a base is dropped
    ],
)
def test_tokenize(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


@pytest.mark.parametrize(
    ("composed", "decomposed"),
    [
        ("café_été", "cafe\u0301_e\u0301te\u0301"),
        ("Ångström", "A\u030angstro\u0308m"),
        ("가나", "\u1100\u1161\u1102\u1161"),
        ("が", "\u304b\u3099"),
    ],
)
def test_composed_and_decomposed_are_identical(composed: str, decomposed: str) -> None:
    assert composed != decomposed
    assert tokenize(composed) == tokenize(decomposed)


def test_marks_are_significant() -> None:
    assert tokenize("café") != tokenize("cafe")


def test_tokens_are_truncated() -> None:
    assert tokenize("a" * 100) == ["a" * TOKEN_MAX]
    assert tokenize("x" * 70 + " y") == ["x" * TOKEN_MAX, "y"]


def test_duplicates_kept_in_order() -> None:
    assert tokenize("b a b") == ["b", "a", "b"]


def test_tokens_are_nfc() -> None:
    for token in tokenize("CAFE\u0301 Ρω\u0301μη ΐ"):
        assert unicodedata.is_normalized("NFC", token)


_any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=300)
@given(_any_text)
def test_tokens_are_non_empty_and_bounded(text: str) -> None:
    for token in tokenize(text):
        assert token
        assert len(token) <= TOKEN_MAX
        assert not token.isspace()


@settings(max_examples=300)
@given(_any_text)
def test_retokenizing_joined_tokens_is_stable(text: str) -> None:
    # Holds for any text, CJK included: each bigram is a run of two characters again.
    tokens = tokenize(text)
    assert tokenize(" ".join(tokens)) == tokens


@settings(max_examples=300)
@given(st.text(alphabet="aZ_-. 9é売上高ßİ", max_size=120))
def test_retokenizing_is_stable_with_truncation(text: str) -> None:
    tokens = tokenize(text)
    assert tokenize(" ".join(tokens)) == tokens


# Lower-case words (Latin, accented Latin, Greek, Cyrillic) with digits and separators:
# upper-casing them makes whole words upper case, which never adds a camelCase boundary.
_lower_words = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzàéîõüçñßαβγδεζηθλμπσςωабвгдежзийклмнопрстя0123456789 _-.",
    max_size=60,
)


@settings(max_examples=300)
@given(_lower_words)
def test_case_insensitive(text: str) -> None:
    assert tokenize(text.upper()) == tokenize(text)
    assert tokenize(text.title().replace(" ", "_")) == tokenize(text.replace(" ", "_"))


def test_case_insensitive_without_camel_boundaries() -> None:
    for text in ["sales", "ПРОДАЖИ", "straße", "ΣΟΦΊΑ", "İSTANBUL"]:
        assert tokenize(text.upper()) == tokenize(text.lower()) == tokenize(text.casefold())
