"""The storage-port contract, run against every backend (memory, local, S3 on moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from arco.errors import (
    InvalidKeyError,
    ObjectExistsError,
    ObjectNotFoundError,
    StorageError,
    ValidationError,
    VersionMismatchError,
)
from arco.storage import IfVersion, ObjectStore


def test_put_get_roundtrip(any_store: ObjectStore) -> None:
    version = any_store.put("a/b/c.json", b'{"x": 1}')
    data = any_store.get("a/b/c.json")
    assert data.data == b'{"x": 1}'
    assert data.version == version
    assert data.size == 8
    assert data.last_modified.tzinfo is not None
    assert abs(data.last_modified - datetime.now(UTC)) < timedelta(minutes=5)


def test_empty_object(any_store: ObjectStore) -> None:
    any_store.put("empty", b"")
    assert any_store.get("empty").data == b""
    assert any_store.head("empty").size == 0


def test_unicode_and_punctuation_keys(any_store: ObjectStore) -> None:
    key = "tenant=t1/workspace=w_1/naïve ünïcode/ledger-01:x+y.json"
    any_store.put(key, b"u")
    assert any_store.get(key).data == b"u"
    assert [m.key for m in any_store.list("tenant=t1/")] == [key]


def test_head(any_store: ObjectStore) -> None:
    version = any_store.put("h", b"12345")
    meta = any_store.head("h")
    assert meta.key == "h"
    assert meta.size == 5
    assert meta.version == version
    assert meta.last_modified.tzinfo is not None


def test_overwrite_changes_version(any_store: ObjectStore) -> None:
    v1 = any_store.put("k", b"one")
    v2 = any_store.put("k", b"two", "overwrite")
    assert v1 != v2
    assert any_store.get("k").data == b"two"
    assert any_store.get("k").version == v2


def test_get_range(any_store: ObjectStore) -> None:
    any_store.put("r", b"0123456789")
    assert any_store.get_range("r", 0, 4) == b"0123"
    assert any_store.get_range("r", 3, 7) == b"3456"
    assert any_store.get_range("r", 8, 100) == b"89"
    assert any_store.get_range("r", 5, 5) == b""
    assert any_store.get_range("r", 10, 12) == b""
    assert any_store.get_range("r", 20, 30) == b""
    with pytest.raises(ValidationError):
        any_store.get_range("r", 5, 2)
    with pytest.raises(ValidationError):
        any_store.get_range("r", -1, 2)
    with pytest.raises(ObjectNotFoundError):
        any_store.get_range("missing", 0, 2)
    with pytest.raises(ObjectNotFoundError):
        any_store.get_range("missing", 0, 0)


def test_not_found_is_distinct(any_store: ObjectStore) -> None:
    for op in (
        lambda: any_store.get("nope"),
        lambda: any_store.head("nope"),
        lambda: any_store.get_range("nope", 0, 1),
        lambda: any_store.get("dir/nope"),
    ):
        with pytest.raises(ObjectNotFoundError) as info:
            op()
        assert type(info.value) is ObjectNotFoundError
        assert not isinstance(info.value, (ObjectExistsError, VersionMismatchError))
    # A prefix of an existing key is not an object.
    any_store.put("dir/file", b"x")
    with pytest.raises(ObjectNotFoundError):
        any_store.get("dir")


def test_create_only(any_store: ObjectStore) -> None:
    v1 = any_store.put("once", b"first", "create")
    with pytest.raises(ObjectExistsError):
        any_store.put("once", b"second", "create")
    with pytest.raises(ObjectExistsError):
        any_store.put("once", b"first", "create")  # same bytes still conflicts
    data = any_store.get("once")
    assert data.data == b"first"
    assert data.version == v1


def test_if_version_cas(any_store: ObjectStore) -> None:
    v1 = any_store.put("m", b"v1", "create")
    v2 = any_store.put("m", b"v2", IfVersion(v1))
    assert v2 != v1
    assert any_store.get("m").data == b"v2"
    with pytest.raises(VersionMismatchError):
        any_store.put("m", b"v3", IfVersion(v1))  # stale
    assert any_store.get("m").data == b"v2"
    v3 = any_store.put("m", b"v3", IfVersion(v2))
    assert any_store.get("m").version == v3


def test_if_version_on_missing_is_not_found(any_store: ObjectStore) -> None:
    v = any_store.put("other", b"x")
    with pytest.raises(ObjectNotFoundError):
        any_store.put("missing", b"x", IfVersion(v))
    with pytest.raises(ObjectNotFoundError):
        any_store.get("missing")


def test_if_version_with_garbage_token(any_store: ObjectStore) -> None:
    any_store.put("g", b"x")
    with pytest.raises(VersionMismatchError):
        any_store.put("g", b"y", IfVersion("not-a-real-version"))
    assert any_store.get("g").data == b"x"


def test_cas_after_delete_and_recreate(any_store: ObjectStore) -> None:
    v1 = any_store.put("d", b"same")
    any_store.delete("d")
    with pytest.raises(ObjectNotFoundError):
        any_store.put("d", b"new", IfVersion(v1))
    any_store.put("d", b"other", "create")
    with pytest.raises(VersionMismatchError):
        any_store.put("d", b"new", IfVersion(v1))


def test_delete(any_store: ObjectStore) -> None:
    any_store.put("x/y", b"1")
    any_store.delete("x/y")
    with pytest.raises(ObjectNotFoundError):
        any_store.get("x/y")
    any_store.delete("x/y")  # deleting a missing object is fine
    any_store.delete("never/existed")
    any_store.put("x/y", b"2", "create")  # can be created again
    assert any_store.get("x/y").data == b"2"


def test_list(any_store: ObjectStore) -> None:
    keys = ["a/b/c", "a/bc", "a/b.x", "ab", "a/b/d/e", "z"]
    for k in keys:
        any_store.put(k, k.encode())
    listed = list(any_store.list())
    assert [m.key for m in listed] == sorted(keys)
    for m in listed:
        assert m.size == len(m.key)
    # A plain string prefix, not a path-segment prefix.
    assert [m.key for m in any_store.list("a/b")] == ["a/b.x", "a/b/c", "a/b/d/e", "a/bc"]
    assert [m.key for m in any_store.list("a/b/")] == ["a/b/c", "a/b/d/e"]
    assert [m.key for m in any_store.list("a")] == ["a/b.x", "a/b/c", "a/b/d/e", "a/bc", "ab"]
    assert [m.key for m in any_store.list("nothing/")] == []
    assert [m.key for m in any_store.list("q")] == []


def test_list_start_after(any_store: ObjectStore) -> None:
    keys = ["l/01", "l/02", "l/02x", "l/03/a", "l/10", "m/00"]
    for k in keys:
        any_store.put(k, k.encode())

    def listed(prefix: str, after: str | None) -> list[str]:
        return [m.key for m in any_store.list(prefix, start_after=after)]

    assert listed("l/", None) == keys[:-1]
    assert listed("l/", "l/02") == ["l/02x", "l/03/a", "l/10"]  # exclusive
    assert listed("l/", "l/02y") == ["l/03/a", "l/10"]  # need not be a key
    assert listed("l/", "l/") == keys[:-1]
    assert listed("l/", "a") == keys[:-1]  # before the prefix: everything under it
    assert listed("l/", "l/99") == []
    assert listed("l/", "z") == []  # past the prefix: nothing
    assert listed("", "l/10") == ["m/00"]
    (meta,) = any_store.list("l/1", start_after="l/")
    assert meta.key == "l/10" and meta.size == 4 and meta.version == any_store.head("l/10").version


def test_list_versions_match_head(any_store: ObjectStore) -> None:
    v = any_store.put("p/one", b"1")
    (meta,) = list(any_store.list("p/"))
    assert meta.version == v == any_store.head("p/one").version


def test_list_rejects_bad_prefix(any_store: ObjectStore) -> None:
    for bad in ("/abs", "../x", "a//", "a/../b/", ".hidden", "a\\b"):
        with pytest.raises(InvalidKeyError):
            list(any_store.list(bad))


def test_put_mode_validated(any_store: ObjectStore) -> None:
    with pytest.raises(ValidationError):
        any_store.put("k", b"x", "upsert")  # type: ignore[arg-type]
    with pytest.raises(ObjectNotFoundError):
        any_store.get("k")


def test_errors_are_storage_errors(any_store: ObjectStore) -> None:
    with pytest.raises(StorageError):
        any_store.get("missing")


def test_url_has_no_credentials(any_store: ObjectStore) -> None:
    assert "secret" not in any_store.url
    assert "://" in any_store.url


def test_large_object(any_store: ObjectStore) -> None:
    data = bytes(range(256)) * 4096 * 7  # 7 MiB: above obstore's multipart threshold
    v = any_store.put("big", data)
    got = any_store.get("big")
    assert got.data == data and got.version == v
    assert any_store.get_range("big", 1_000_000, 1_000_016) == data[1_000_000:1_000_016]
    v2 = any_store.put("big", data[::-1], IfVersion(v))
    assert any_store.get("big").version == v2
