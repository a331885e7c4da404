"""Names of namespaces, tables and columns.

Rules (one place, used by the catalog and flow alike):

* A name is a non-empty ``str`` of at most ``max_length`` code points (128 by default),
  in any script.
* Names are stored **NFC-normalized**: input is normalized, not rejected, so ``"é"`` typed
  precomposed or decomposed is the same name. Length is counted after normalization.
* Forbidden: control, format, surrogate and unassigned code points (Unicode categories
  Cc, Cf, Cs, Cn), line and paragraph separators (Zl, Zp), ``/``, leading or trailing
  whitespace, and the names ``.`` and ``..``: every other name round-trips through a
  percent-encoded URL path segment, while browsers and HTTP clients remove dot segments.
* Names are **case-preserving and unique case-insensitively**: the name is stored and
  shown as given, while uniqueness (namespaces in a workspace, tables in a namespace,
  columns in a table) is decided on :func:`name_key`, i.e. NFC + Unicode case folding.
"""

from __future__ import annotations

import unicodedata

from arco.errors import ValidationError

_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})

_NAME_CHAR = r"[^/\x00-\x1f\x7f-\x9f]"
_NAME_END = r"[^/\s\x00-\x1f\x7f-\x9f]"
#: What the OpenAPI document states about a name, as JSON Schema: not empty, no ``/``, no
#: C0 or C1 control character, no leading or trailing whitespace. Every valid name matches
#: it (the full rule, with NFC, the other Unicode categories and ``.``/``..``, is
#: :func:`validate_name`'s: the schema only states it, the catalog checks it).
NAME_JSON_SCHEMA: dict[str, str | int] = {
    "minLength": 1,
    "pattern": f"^{_NAME_END}(?:{_NAME_CHAR}*{_NAME_END})?$",
}


def validate_name(field: str, value: str, *, max_length: int = 128) -> str:
    """Validate a namespace/table/column name and return its NFC form."""
    if not isinstance(value, str):
        raise ValidationError(f"{field}: must be a string (got {type(value).__name__})")
    name = unicodedata.normalize("NFC", value)
    if not name:
        raise ValidationError(f"{field}: must not be empty")
    if len(name) > max_length:
        raise ValidationError(f"{field}: must be at most {max_length} characters (got {len(name)})")
    for index, char in enumerate(name):
        category = unicodedata.category(char)
        if category in _FORBIDDEN_CATEGORIES:
            raise ValidationError(
                f"{field}: must not contain control, format, separator or unassigned characters "
                f"(found U+{ord(char):04X} at index {index} in {name!r})"
            )
    if "/" in name:
        raise ValidationError(f"{field}: must not contain '/' (got {name!r})")
    if name != name.strip():
        raise ValidationError(f"{field}: must not start or end with whitespace (got {name!r})")
    if name in (".", ".."):
        raise ValidationError(f"{field}: must not be {name!r} (a URL path segment clients remove)")
    return name


def name_key(value: str) -> str:
    """Return the key names are compared on for uniqueness: NFC, case-folded, NFC again."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())
