"""The Unicode-aware tokenizer shared by indexing and querying.

The same function tokenizes names, descriptions and queries, so every rule below only has
to be *consistent*, not linguistically perfect: a query matches when its tokens are
prefixes of indexed tokens.

Rules, in order:

1. The text is NFKC-normalized (composed and decomposed accents, full-width forms,
   ligatures and circled digits all become one form).
2. Format characters (Cf: zero-width joiners, bidi marks, soft hyphens), enclosing marks
   (Me: keycaps) and variation selectors are ignored: removed without splitting.
3. Any character that is not a letter, mark or number (L*, M*, N*) separates tokens:
   spaces, punctuation (``_ - . /``), symbols and emoji.
4. Combining marks (M*) stay attached to the preceding base character (Devanagari vowel
   signs, Hebrew niqqud, Arabic harakat, Thai tone marks). A mark with no base is dropped.
   Marks are significant: ``café`` and ``cafe`` are different tokens.
5. Letter/number boundaries always split, in both directions: ``order2Ship`` → ``order``,
   ``2``, ``ship`` and ``items-v2`` → ``items``, ``v``, ``2``. Queries are split the same
   way, so the query ``v2`` still finds ``items_v2`` (AND of ``v`` and ``2``).
6. Case boundaries split cased words: ``customerID`` → ``customer``, ``id``;
   ``HTTPServerLog`` → ``http``, ``server``, ``log``; ``ПродажиПоРегионам`` →
   ``продажи``, ``по``, ``регионам``. Scripts without case are not affected.
7. Scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar)
   form runs emitted as overlapping bigrams of characters (``売上高`` → ``売上``, ``上高``),
   or the single character for a one-character run, so prefix search finds partial words.
   Kana and kanji mix in one run. Hangul is *not* in this group: Korean separates words
   with spaces, so Hangul words are ordinary tokens (``매출액`` is found by ``매출``).
8. Every token is case-folded (``Straße`` → ``strasse``), NFKC-normalized again, and a
   dotted capital I (``İ``) folds to plain ``i``; tokens longer than :data:`TOKEN_MAX`
   code points are truncated.

Tokens come in order of appearance, duplicates kept (callers dedupe).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from itertools import pairwise

#: Longest token kept, in code points; longer tokens are truncated.
TOKEN_MAX = 64

_WORD, _NUMBER, _SPACELESS = 0, 1, 2

# Letters of scripts written without spaces between words (code point ranges, inclusive).
_SPACELESS_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x2E80, 0x2FDF),  # CJK and Kangxi radicals
    (0x3005, 0x3007),  # iteration mark, closing mark, ideographic zero
    (0x3021, 0x303F),  # Hangzhou numerals, CJK marks
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x1AFF0, 0x1B2FF),  # Kana supplements and extensions
    (0x20000, 0x3FFFF),  # CJK extensions B onwards
)

_VARIATION_SELECTORS = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF), (0x180B, 0x180F))


def _in_ranges(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in ranges)


@lru_cache(maxsize=4096)
def _kind(char: str) -> str:
    """Classify one character: ``L``/``N`` token start, ``M`` mark, ``I`` ignored, ``S`` separator."""
    category = unicodedata.category(char)
    if category in ("Cf", "Me") or _in_ranges(ord(char), _VARIATION_SELECTORS):
        return "I"
    head = category[0]
    return head if head in "LMN" else "S"


def _run_class(char: str) -> int:
    if unicodedata.category(char)[0] == "N":
        return _NUMBER
    return _SPACELESS if _in_ranges(ord(char), _SPACELESS_RANGES) else _WORD


def _runs(text: str) -> list[tuple[int, list[str]]]:
    """Split ``text`` into runs of clusters (a base character plus its marks) of one class."""
    runs: list[tuple[int, list[str]]] = []
    current: list[str] = []
    current_class = -1
    for char in text:
        kind = _kind(char)
        if kind == "I":
            continue
        if kind == "M":
            if current:  # an orphan mark (no base character) is dropped
                current[-1] += char
            continue
        if kind == "S":
            if current:
                runs.append((current_class, current))
            current, current_class = [], -1
            continue
        run_class = _run_class(char)
        if run_class != current_class and current:
            runs.append((current_class, current))
            current = []
        current_class = run_class
        current.append(char)
    if current:
        runs.append((current_class, current))
    return runs


def _case(cluster: str) -> str:
    """``U`` upper, ``L`` lower, ``O`` other; an upper letter that case folding keeps as
    it is (Cherokee folds to capitals) counts as ``O`` so re-tokenizing tokens is stable."""
    base = cluster[0]
    category = unicodedata.category(base)
    if category in ("Lu", "Lt"):
        return "U" if base.casefold() != base else "O"
    return "L" if category == "Ll" else "O"


def _split_case(clusters: list[str]) -> list[str]:
    """Split a run of letters at camelCase and acronym boundaries."""
    cases = [_case(cluster) for cluster in clusters]
    words: list[str] = []
    start = 0
    for i in range(1, len(clusters)):
        lower_to_upper = cases[i - 1] == "L" and cases[i] == "U"
        acronym_end = (
            cases[i - 1] == "U" and cases[i] == "U" and i + 1 < len(cases) and cases[i + 1] == "L"
        )
        if lower_to_upper or acronym_end:
            words.append("".join(clusters[start:i]))
            start = i
    words.append("".join(clusters[start:]))
    return words


def _fold(token: str) -> str:
    folded = unicodedata.normalize("NFKC", token.casefold()).replace("i\u0307", "i")
    return folded[:TOKEN_MAX]


def tokenize(text: str) -> list[str]:
    """Split ``text`` into normalized, case-folded search tokens (see the module docstring)."""
    tokens: list[str] = []
    # U+0345 is the one mark that case-folds to a letter (iota): make it that letter up front.
    normalized = unicodedata.normalize("NFKC", text).replace("\u0345", "\u03b9")
    for run_class, clusters in _runs(normalized):
        if run_class == _NUMBER:
            pieces = ["".join(clusters)]
        elif run_class == _SPACELESS:
            pieces = clusters if len(clusters) == 1 else [a + b for a, b in pairwise(clusters)]
        else:
            pieces = _split_case(clusters)
        for piece in pieces:
            token = _fold(piece)
            if token:
                tokens.append(token)
    return tokens
