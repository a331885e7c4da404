"""Bad input (spec §1): a clear one-line error that names the field and the rule, and
nothing written.

Every case compares a full listing of the *root* store (keys and versions, lock included)
before and after the bad call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from arco.catalog import Catalog
from arco.core.scope import Scope
from arco.errors import ArcoError, InvalidKeyError, ValidationError
from arco.storage import ObjectStore, ScopedStore


@pytest.fixture
def seeded(root_store: ObjectStore) -> Iterator[Catalog]:
    """A catalog holding namespace ``ns`` with table ``t`` (columns ``a``, ``b``)."""
    cat = Catalog(root_store)
    cat.create_namespace("ns")
    cat.register_table("ns", "t", [{"name": "a", "type": "int64"}, {"name": "b", "type": "int64"}])
    yield cat
    cat.close()


def everything(store: ObjectStore) -> dict[str, str]:
    return {m.key: m.version for m in store.list("")}


def assert_rejected(
    store: ObjectStore,
    call: Callable[[], Any],
    field: str | tuple[str, ...],
    rule: str | tuple[str, ...],
    error: type[ArcoError] = ValidationError,
    before: dict[str, str] | None = None,
) -> str:
    """``call`` raises ``error`` whose one-line message names ``field`` and ``rule``
    (a tuple means: any one of them). ``before``: the listing, if the caller has it."""
    if before is None:
        before = everything(store)
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, f"multi-line message: {message!r}"
    fields = (field,) if isinstance(field, str) else field
    assert any(f in message for f in fields), f"field {fields!r} not named in {message!r}"
    rules = (rule,) if isinstance(rule, str) else rule
    assert any(r in message for r in rules), f"rule {rules!r} not described in {message!r}"
    assert len(message) < 500
    assert everything(store) == before, "a rejected request must write nothing"
    return message


# --- names ------------------------------------------------------------------------------------

BAD_NAMES = {
    "empty": ("", "empty"),
    "too-long": ("x" * 129, "at most 128"),
    "nul": ("a\x00b", "control"),
    "newline": ("a\nb", "control"),
    "tab": ("a\tb", "control"),
    "del": ("a\x7fb", "control"),
    "zero-width": ("a\u200bb", "format"),
    "line-separator": ("a\u2028b", "separator"),
    "slash": ("a/b", "'/'"),
    "leading-space": (" a", "whitespace"),
    "trailing-space": ("a ", "whitespace"),
    "ideographic-space": ("\u3000a", "whitespace"),
    "traversal": ("../x", "'/'"),
    "deep-traversal": ("a/../../b", "'/'"),
    "absolute": ("/etc/passwd", "'/'"),
}


@pytest.mark.parametrize("case", sorted(BAD_NAMES))
def test_bad_names_everywhere(seeded: Catalog, root_store: ObjectStore, case: str) -> None:
    bad, rule = BAD_NAMES[case]
    c = seeded
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("name", lambda: c.create_namespace(bad)),
        ("name", lambda: c.update_namespace(bad, description="x")),
        ("name", lambda: c.drop_namespace(bad)),
        ("name", lambda: c.get_namespace(bad)),
        ("namespace", lambda: c.register_table(bad, "t2")),
        ("name", lambda: c.register_table("ns", bad)),
        ("namespace", lambda: c.get_table(bad, "t")),
        ("name", lambda: c.get_table("ns", bad)),
        ("namespace", lambda: c.list_tables(bad)),
        ("name", lambda: c.update_table("ns", bad, description="x")),
        ("new_name", lambda: c.rename_table("ns", "t", bad)),
        ("new_namespace", lambda: c.rename_table("ns", "t", "t2", new_namespace=bad)),
        ("name", lambda: c.drop_table("ns", bad)),
        ("columns[1].name", lambda: c.register_table("ns", "t2", [_col("ok"), _col(bad)])),
        ("add_columns[0].name", lambda: c.update_table("ns", "t", add_columns=[_col(bad)])),
        ("drop_columns[0]", lambda: c.update_table("ns", "t", drop_columns=[bad])),
        ("rename_columns", lambda: c.update_table("ns", "t", rename_columns={"a": bad})),
        ("rename_columns", lambda: c.update_table("ns", "t", rename_columns={bad: "z"})),
    ]
    before = everything(root_store)
    for field, call in calls:
        assert_rejected(root_store, call, field, rule, before=before)


def _col(name: str, type_: str = "int64") -> dict[str, Any]:
    return {"name": name, "type": type_}


def test_name_length_boundary(seeded: Catalog) -> None:
    ok = "é" * 128
    assert seeded.create_namespace(ok).name == ok
    assert seeded.register_table(ok, "x" * 128, [_col("c" * 128)]).columns[0].name == "c" * 128


@pytest.mark.parametrize("name", ["...", ".a", "%2e%2e", "a\\b", "..\\..\\etc", "~root", "*"])
def test_odd_but_legal_names_never_leave_the_scope(root_store: ObjectStore, name: str) -> None:
    """Names never become storage keys, so these are just names. (``.`` and ``..`` are
    refused: they cannot travel in a URL path; see tests/core/test_names.py.)"""
    cat = Catalog(root_store, Scope("acme", "prod"))
    ns = cat.create_namespace(name)
    table = cat.register_table(name, name, [_col(name)])
    assert ns.name == table.name == table.columns[0].name == name
    assert cat.get_table(name, name) == table
    keys = list(everything(root_store))
    assert keys
    assert all(k.startswith("tenant=acme/workspace=prod/") for k in keys)
    if name != ".a":  # ".a" might be part of a file name
        assert not any(name in k for k in keys)


# --- scopes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    ["Bad!", "Acme", "x" * 64, "-lead", "_lead", "", "a b", "a/b", "a.b", "..", "é", "a\n"],
)
def test_bad_scope(root_store: ObjectStore, bad: str) -> None:
    assert_rejected(root_store, lambda: Scope(bad, "x"), "tenant", "1-63 characters")
    assert_rejected(root_store, lambda: Scope("x", bad), "workspace", "1-63 characters")
    assert_rejected(
        root_store, lambda: Catalog(root_store, Scope(bad, "x")), "tenant", "1-63 characters"
    )


def test_scope_boundaries(root_store: ObjectStore) -> None:
    ok = "a" * 63
    scope = Scope(ok, "0-w_9")
    assert scope.prefix == f"tenant={ok}/workspace=0-w_9/"
    Catalog(root_store, scope).create_namespace("ns")
    assert all(k.startswith(scope.prefix) for k in everything(root_store))


# --- column types -----------------------------------------------------------------------------

BAD_TYPES: dict[str, tuple[str, str | tuple[str, ...]]] = {
    "int65": ("int65", "unknown"),
    "decimal-precision": ("decimal128(99, 2)", "precision"),
    "decimal-scale": ("decimal128(10, 11)", "scale"),
    "timestamp-unit": ("timestamp[xs]", "unit"),
    "empty": ("", ("expected", "empty")),
    "blank": ("   ", ("expected", "empty")),
    "bad-zone": ("timestamp[us, tz=Mars/Olympus]", "time zone"),
    "trailing": ("int64 int64", "unexpected"),
    "unclosed": ("list<int64", "expected"),
    "newline": ("int64\nstring", "unexpected"),
    "no-params": ("decimal128", "parameters"),
}


@pytest.mark.parametrize("case", sorted(BAD_TYPES))
def test_bad_column_types(seeded: Catalog, root_store: ObjectStore, case: str) -> None:
    bad, rule = BAD_TYPES[case]
    assert_rejected(
        root_store,
        lambda: seeded.register_table("ns", "t2", [_col("ok"), _col("x", bad)]),
        "columns[1].type",
        rule,
    )
    assert_rejected(
        root_store,
        lambda: seeded.update_table("ns", "t", add_columns=[_col("x", bad)]),
        "add_columns[0].type",
        rule,
    )


@pytest.mark.parametrize(
    "columns",
    [
        [_col("a"), _col("a")],
        [_col("a"), _col("A")],
        [_col("Straße"), _col("STRASSE")],
        [_col("x"), _col("é"), _col("É")],
    ],
    ids=["exact", "case", "casefold", "accented"],
)
def test_duplicate_column_names(
    seeded: Catalog, root_store: ObjectStore, columns: list[Any]
) -> None:
    assert_rejected(
        root_store,
        lambda: seeded.register_table("ns", "t2", columns),
        "columns",
        "duplicate",
    )
    assert_rejected(
        root_store,
        lambda: seeded.update_table("ns", "t", add_columns=columns),
        "add_columns",
        "duplicate",
    )


# --- other fields -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["", "par-quet", "1parquet", "x" * 33, "par quet", "délta", "_x"])
def test_bad_format(seeded: Catalog, root_store: ObjectStore, fmt: str) -> None:
    assert_rejected(
        root_store, lambda: seeded.register_table("ns", "t2", format=fmt), "format", "1-32"
    )
    assert_rejected(
        root_store, lambda: seeded.update_table("ns", "t", format=fmt), "format", "1-32"
    )


def test_properties_limits(seeded: Catalog, root_store: ObjectStore) -> None:
    too_many = {f"k{i}": "v" for i in range(257)}
    c = seeded
    assert_rejected(
        root_store, lambda: c.create_namespace("n", properties=too_many), "properties", "256"
    )
    assert_rejected(
        root_store,
        lambda: c.register_table("ns", "t2", properties=too_many),
        "properties",
        "256",
    )
    assert_rejected(
        root_store,
        lambda: c.update_namespace("ns", set_properties=too_many),
        "set_properties",
        "256",
    )
    assert_rejected(
        root_store,
        lambda: c.update_table("ns", "t", set_properties=too_many),
        "set_properties",
        "256",
    )
    for key in ("", "k" * 256, "a\nb"):
        assert_rejected(
            root_store,
            partial(c.create_namespace, "n", properties={key: "v"}),
            "properties",
            "1-255",
        )
    assert_rejected(
        root_store,
        lambda: c.create_namespace("n", properties={"k": "v" * 4097}),
        "properties",
        "at most 4096",
    )
    assert_rejected(
        root_store,
        lambda: c.create_namespace("n", properties={"k": "a\x00b"}),
        "properties",
        "control",
    )
    ok = {f"k{i}": "v" for i in range(256)}
    assert c.create_namespace("n", properties=ok).properties == ok


def test_text_limits(seeded: Catalog, root_store: ObjectStore) -> None:
    long = "d" * 4097
    c = seeded
    cases: list[tuple[str, str, Callable[[], Any]]] = [
        ("description", "at most 4096", lambda: c.create_namespace("n", description=long)),
        ("description", "at most 4096", lambda: c.update_namespace("ns", description=long)),
        ("description", "at most 4096", lambda: c.register_table("ns", "t2", description=long)),
        ("description", "at most 4096", lambda: c.update_table("ns", "t", description=long)),
        ("description", "control", lambda: c.create_namespace("n", description="a\x00b")),
        (
            "columns[0].description",
            "at most 4096",
            lambda: c.register_table("ns", "t2", [{**_col("x"), "description": long}]),
        ),
        ("location", "at most 2048", lambda: c.register_table("ns", "t2", location="l" * 2049)),
        ("location", "at most 2048", lambda: c.update_table("ns", "t", location="l" * 2049)),
        ("location", "control", lambda: c.register_table("ns", "t2", location="s3://a\x00")),
    ]
    for field, rule, call in cases:
        assert_rejected(root_store, call, field, rule)
    # newlines and tabs are fine in descriptions; the limits are inclusive
    ns = c.create_namespace("n", description="line 1\nline 2\t" + "d" * 4082)
    assert ns.description is not None
    assert len(ns.description) == 4096


@pytest.mark.parametrize("key", ["", "k" * 256, "a\nb", "tab\there", "nul\x00"])
def test_bad_idempotency_key(seeded: Catalog, root_store: ObjectStore, key: str) -> None:
    c = seeded
    for call in (
        lambda: c.create_namespace("n", idempotency_key=key),
        lambda: c.register_table("ns", "t2", idempotency_key=key),
        lambda: c.update_table("ns", "t", description="x", idempotency_key=key),
        lambda: c.drop_table("ns", "t", idempotency_key=key),
    ):
        assert_rejected(root_store, call, "idempotency_key", "1-255")


def test_idempotency_key_boundary(seeded: Catalog) -> None:
    key = "k" * 255
    ns = seeded.create_namespace("n", idempotency_key=key)
    assert seeded.create_namespace("n", idempotency_key=key) == ns


def test_bad_request_in_a_valid_looking_call_writes_nothing(
    seeded: Catalog, root_store: ObjectStore
) -> None:
    """One bad column among many good ones rejects the whole request."""
    columns = [_col(f"c{i}") for i in range(50)] + [_col("bad", "int65")]
    assert_rejected(
        root_store,
        lambda: seeded.register_table("ns", "big", columns),
        "columns[50].type",
        "unknown",
    )
    assert_rejected(
        root_store,
        lambda: seeded.update_table(
            "ns", "t", description="fine", add_columns=[_col("new")], drop_columns=["a/"]
        ),
        "drop_columns[0]",
        "'/'",
    )


def test_malformed_request_shapes(seeded: Catalog, root_store: ObjectStore) -> None:
    """Missing or unknown fields are bad input too: one line, an Arco ValidationError."""
    c = seeded
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("type", lambda: c.register_table("ns", "t2", [{"name": "x"}])),
        ("colour", lambda: c.register_table("ns", "t2", [{**_col("x"), "colour": "red"}])),
        ("colour", lambda: c.update_table("ns", "t", colour="red")),
        ("colour", lambda: c.update_namespace("ns", colour="red")),
        ("add_columns", lambda: c.update_table("ns", "t", add_columns=[{"nam": "x"}])),
    ]
    problems: list[str] = []
    for field, call in cases:
        before = everything(root_store)
        try:
            call()
        except ValidationError as exc:
            message = str(exc)
            if "\n" in message or field not in message:
                problems.append(f"{field}: unclear message {message!r}")
        except Exception as exc:
            problems.append(
                f"{field}: raised {type(exc).__module__}.{type(exc).__name__} instead of "
                f"arco.errors.ValidationError: {str(exc)[:120]!r}"
            )
        else:
            problems.append(f"{field}: accepted")
        assert everything(root_store) == before
    assert not problems, "\n".join(problems)


# --- storage keys -----------------------------------------------------------------------------

BAD_KEYS = {
    "parent": ("../x", "'..'"),
    "deep-parent": ("a/../../b", "'..'"),
    "absolute": ("/etc/passwd", "relative"),
    "percent": ("%2e%2e", "'%'"),
    "percent-segment": ("a/%2e%2e/b", "'%'"),
    "backslash": ("a\\b", "'\\'"),
    "backslash-parent": ("..\\x", "'\\'"),
    "dot": ("./x", "'.'"),
    "hidden": ("a/.tmp", "'.'"),
    "empty": ("", "empty"),
    "empty-segment": ("a//b", "empty segment"),
    "trailing-slash": ("a/", "empty segment"),
    "newline": ("a\nb", "control"),
}


@pytest.mark.parametrize("case", sorted(BAD_KEYS))
def test_scoped_store_rejects_traversal(root_store: ObjectStore, case: str) -> None:
    bad, rule = BAD_KEYS[case]
    Catalog(root_store).create_namespace("ns")  # something to protect
    root_store.put("outside.txt", b"secret", "create")
    scoped = ScopedStore(root_store, Scope("acme", "prod").prefix)
    calls: list[Callable[[], Any]] = [
        lambda: scoped.get(bad),
        lambda: scoped.get_range(bad, 0, 1),
        lambda: scoped.head(bad),
        lambda: scoped.put(bad, b"x", "overwrite"),
        lambda: scoped.put(bad, b"x", "create"),
        lambda: scoped.delete(bad),
    ]
    for call in calls:
        assert_rejected(root_store, call, "key", rule, InvalidKeyError)
    if bad and not bad.endswith("/"):  # "" and "a/" are valid list prefixes
        assert_rejected(root_store, lambda: list(scoped.list(bad)), "key", rule, InvalidKeyError)
    assert root_store.get("outside.txt").data == b"secret"


@pytest.mark.parametrize("prefix", ["../", "a/../", "/abs/", "%2e/", "a\\b/", "no-slash"])
def test_scoped_store_rejects_bad_prefix(root_store: ObjectStore, prefix: str) -> None:
    assert_rejected(root_store, lambda: ScopedStore(root_store, prefix), ("prefix", "key"), "must")


# --- limits that depend on the state, and message size ------------------------------------------


def test_column_count_limit(seeded: Catalog, root_store: ObjectStore) -> None:
    many = [_col(f"c{i}") for i in range(4097)]
    assert_rejected(
        root_store, lambda: seeded.register_table("ns", "wide", many), "columns", "4096"
    )
    wide = seeded.register_table("ns", "wide", many[:4095])
    grown = seeded.update_table("ns", "wide", add_columns=[_col("last")])
    assert len(grown.columns) == 4096

    # the limit on the merged column list can only be checked under the lock: the lease
    # object may change, nothing else may
    def without_lock() -> dict[str, str]:
        return {k: v for k, v in everything(root_store).items() if "/locks/" not in k}

    before = without_lock()
    with pytest.raises(ValidationError) as info:
        seeded.update_table("ns", "wide", add_columns=[_col("one-too-many")])
    assert "add_columns" in str(info.value)
    assert "4096" in str(info.value)
    assert "\n" not in str(info.value)
    assert without_lock() == before
    assert seeded.get_table("ns", "wide").version == grown.version > wide.version


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("tenant", lambda c: Scope("x" * 10_000, "w")),
        ("workspace", lambda c: Scope("t", "Y" * 10_000)),
        ("format", lambda c: c.register_table("ns", "u", format="x" * 10_000)),
        ("properties", lambda c: c.create_namespace("n", properties={"k" * 10_000: "v"})),
        ("columns[0].type", lambda c: c.register_table("ns", "u", [_col("a", "y" * 4096)])),
        ("name", lambda c: c.create_namespace("n" * 10_000)),
        ("description", lambda c: c.create_namespace("n", description="d" * 10_000)),
        ("idempotency_key", lambda c: c.create_namespace("n", idempotency_key="k" * 10_000)),
    ],
    ids=["tenant", "workspace", "format", "property-key", "type", "name", "description", "key"],
)
def test_messages_stay_short_for_huge_input(
    memory_root: ObjectStore, field: str, call: Callable[[Catalog], Any]
) -> None:
    """A clear message quotes at most a bounded excerpt of the offending value."""
    cat = Catalog(memory_root)
    cat.create_namespace("ns")
    before = everything(memory_root)
    with pytest.raises(ValidationError) as info:
        call(cat)
    message = str(info.value)
    assert everything(memory_root) == before
    assert field in message
    assert "\n" not in message
    assert len(message) <= 300, f"{len(message)}-character message: {message[:120]!r}..."
