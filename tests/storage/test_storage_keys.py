"""Key validation, traversal rejection on every backend, and ScopedStore isolation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arco.errors import InvalidKeyError, ObjectNotFoundError, ValidationError
from arco.storage import IfVersion, ObjectStore, ScopedStore, open_store, validate_key
from arco.storage.keys import validate_prefix

BAD_KEYS = [
    "",
    "/",
    "/abs",
    "/etc/passwd",
    "..",
    ".",
    "../x",
    "a/../../b",
    "a/..",
    "a/./b",
    "./a",
    "a//b",
    "a/",
    "//a",
    "a\\b",
    "..\\x",
    "%2e%2e/x",
    "a%2fb",
    "%00",
    "a\x00b",
    "a\nb",
    "a\rb",
    "a\tb",
    "\x1f",
    "a\x7fb",
    ".hidden",
    "a/.tmp-123",
    "a/.locks/x",
    "...",
    "a/.../b",
    "a" * 1025,
]

GOOD_KEYS = [
    "a",
    "a/b/c.json",
    "tenant=t/workspace=w/manifests/catalog.manifest.json",
    "ledger/catalog/01J0000000000000000000000.json",
    "snapshots/catalog/v3-01J00/part-0.parquet",
    "a b/c d",
    "ünïcode/ключ/鍵",
    "a..b",
    "a.",
    "x/y.",
    "~user",
    "a" * 1024,
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_rejected(key: str) -> None:
    with pytest.raises(InvalidKeyError) as info:
        validate_key(key)
    assert isinstance(info.value, ValidationError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_good_keys_accepted(key: str) -> None:
    assert validate_key(key) == key


def test_lone_surrogate_rejected() -> None:
    with pytest.raises(InvalidKeyError):
        validate_key("a\udc80b")


def test_non_string_rejected() -> None:
    with pytest.raises(InvalidKeyError):
        validate_key(b"abc")  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["", "a", "a/", "a/b", "a/b/", "tenant=t/work"])
def test_good_prefixes(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "/a", "a//", "../", "a/./", ".x", "a\\", "%"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidKeyError):
        validate_prefix(prefix)


# hypothesis types the categories as Literals (its alias for them, CategoryName, is internal)
_SURROGATES: tuple[Literal["Cs"], ...] = ("Cs",)

_segment = st.text(
    alphabet=st.characters(blacklist_categories=_SURROGATES, blacklist_characters="/"),
    min_size=1,
    max_size=12,
)


@given(st.lists(_segment, min_size=1, max_size=5))
def test_validated_keys_never_escape(segments: list[str]) -> None:
    """Any key that passes validation stays inside a root when joined as a path."""
    key = "/".join(segments)
    try:
        validate_key(key)
    except InvalidKeyError:
        return
    root = Path("/srv/root")
    joined = os.path.normpath(root.joinpath(*key.split("/")))
    assert joined.startswith("/srv/root/")
    assert os.path.normpath(key) == key


@pytest.mark.parametrize("key", BAD_KEYS)
def test_backends_reject_bad_keys_and_write_nothing(
    any_store: ObjectStore, tmp_path: Path, key: str
) -> None:
    v = any_store.put("ok", b"ok")
    for op in (
        lambda: any_store.put(key, b"evil"),
        lambda: any_store.put(key, b"evil", "create"),
        lambda: any_store.put(key, b"evil", IfVersion(v)),
        lambda: any_store.get(key),
        lambda: any_store.head(key),
        lambda: any_store.get_range(key, 0, 1),
        lambda: any_store.delete(key),
    ):
        with pytest.raises(InvalidKeyError):
            op()
    assert [m.key for m in any_store.list()] == ["ok"]
    # Nothing written next to the local store's root either.
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["store"])


def test_local_rejects_traversal_on_disk(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = open_store(f"file://{root}", retry=False, fsync=False)
    for key in ("../escape", "a/../../escape", "/tmp/escape", "..\\escape", "%2e%2e/escape"):
        with pytest.raises(InvalidKeyError):
            store.put(key, b"evil")
    assert not (tmp_path / "escape").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["root"]


# --- ScopedStore -----------------------------------------------------------------------


def test_scoped_store_isolation(any_store: ObjectStore) -> None:
    a = ScopedStore(any_store, "tenant=a/workspace=w/")
    b = ScopedStore(any_store, "tenant=b/workspace=w/")
    a.put("manifests/catalog.json", b"A", "create")
    b.put("manifests/catalog.json", b"B", "create")
    assert a.get("manifests/catalog.json").data == b"A"
    assert b.get("manifests/catalog.json").data == b"B"
    assert [m.key for m in a.list()] == ["manifests/catalog.json"]
    assert [m.key for m in a.list("manifests/")] == ["manifests/catalog.json"]
    assert a.head("manifests/catalog.json").key == "manifests/catalog.json"
    assert sorted(m.key for m in any_store.list()) == [
        "tenant=a/workspace=w/manifests/catalog.json",
        "tenant=b/workspace=w/manifests/catalog.json",
    ]
    a.delete("manifests/catalog.json")
    with pytest.raises(ObjectNotFoundError):
        a.get("manifests/catalog.json")
    assert b.get("manifests/catalog.json").data == b"B"


def test_scoped_store_cannot_escape(any_store: ObjectStore) -> None:
    any_store.put("tenant=b/workspace=w/secret", b"s")
    a = ScopedStore(any_store, "tenant=a/workspace=w/")
    for key in (
        "../../tenant=b/workspace=w/secret",
        "../workspace=w/secret",
        "/tenant=b/workspace=w/secret",
        "..%2f..%2ftenant=b/workspace=w/secret",
        "..\\..\\tenant=b\\workspace=w\\secret",
    ):
        with pytest.raises(InvalidKeyError):
            a.get(key)
        with pytest.raises(InvalidKeyError):
            a.put(key, b"x")
    for prefix in ("../", "/", "..", "../tenant=b"):
        with pytest.raises(InvalidKeyError):
            list(a.list(prefix))
    assert list(a.list()) == []
    assert any_store.get("tenant=b/workspace=w/secret").data == b"s"


def test_scoped_prefix_sibling_not_visible(any_store: ObjectStore) -> None:
    """A prefix 'tenant=a/' must not see 'tenant=ab/...'."""
    any_store.put("tenant=ab/x", b"1")
    a = ScopedStore(any_store, "tenant=a/")
    assert list(a.list()) == []


@pytest.mark.parametrize("prefix", ["", "a", "/a/", "a//", "../a/", "a/../b/", ".x/", "a%/"])
def test_scoped_store_validates_prefix(prefix: str) -> None:
    inner = open_store("memory://", retry=False)
    with pytest.raises(InvalidKeyError):
        ScopedStore(inner, prefix)


def test_scoped_store_url_and_sign() -> None:
    inner = open_store("memory://scoped-url-test", retry=False)
    scoped = ScopedStore(inner, "tenant=t/workspace=w/")
    assert scoped.url == "memory://scoped-url-test/tenant=t/workspace=w"
    assert scoped.prefix == "tenant=t/workspace=w/"


def _reference_valid(key: str) -> bool:
    """The key rule, spelled out character by character (what validate_key's one-scan
    fast path must agree with)."""
    if not key or key.startswith("/") or len(key.encode("utf-8", "surrogatepass")) > 1024:
        return False
    for ch in key:
        if ch in "\\%" or ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF:
            return False
    return all(segment and not segment.startswith(".") for segment in key.split("/"))


@given(
    st.text(
        alphabet=st.sampled_from(["a", "/", ".", "\\", "%", "\x00", "\x1f", "\x7f", "é", "\ud800"]),
        max_size=12,
    )
)
def test_validate_key_agrees_with_the_rule_spelled_out(key: str) -> None:
    try:
        validate_key(key)
        valid = True
    except InvalidKeyError:
        valid = False
    assert valid == _reference_valid(key), key
