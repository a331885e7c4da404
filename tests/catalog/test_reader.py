"""The read side (spec §8): paging, read-your-writes across instances, the snapshot cache,
cold reads of checkpoint + deltas, and "a storage error is never read as empty" (spec §5).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from arco.catalog import Catalog
from arco.errors import (
    ArcoError,
    ObjectNotFoundError,
    StorageError,
    TransientStorageError,
    ValidationError,
)
from arco.metadata.layout import manifest_key
from arco.storage import CountingStore, FaultyStore, ObjectStore
from catalog_support import inline_options

MANIFEST = manifest_key("catalog")


@pytest.fixture
def plain(root_store: ObjectStore) -> Iterator[Catalog]:
    """A writer that never checkpoints, so every commit adds only delta files."""
    cat = Catalog(root_store, options=inline_options(checkpoint_every=10_000))
    yield cat
    cat.close()


def objects(store: ObjectStore, *, with_locks: bool = False) -> dict[str, str]:
    return {
        m.key: m.version
        for m in store.list("")
        if with_locks or ("/locks/" not in m.key and not m.key.startswith("locks/"))
    }


def names(items: list[Any]) -> list[str]:
    return [item.name for item in items]


def walk(list_page: Callable[..., Any], limit: int) -> list[list[str]]:
    """Follow the page tokens to the end; the names on each page."""
    pages: list[list[str]] = []
    token = None
    while True:
        page = list_page(page_token=token, limit=limit)
        pages.append(names(page.items))
        token = page.next_page_token
        if token is None:
            return pages
        assert len(pages) < 100, "page tokens do not terminate"


# --- paging ---------------------------------------------------------------------------------

NS_NAMES = ["delta", "Alpha", "echo", "Charlie", "bravo", "Foxtrot", "golf"]


def test_namespace_pages_cover_every_item_once_in_name_order(plain: Catalog) -> None:
    for name in NS_NAMES:
        plain.create_namespace(name)
    expected = sorted(NS_NAMES, key=str.casefold)
    assert names(plain.list_namespaces().items) == expected

    for limit in range(1, len(NS_NAMES) + 2):
        pages = walk(plain.list_namespaces, limit)
        assert [n for page in pages for n in page] == expected, f"limit {limit}"
        assert len(pages) == max(1, math.ceil(len(NS_NAMES) / limit))
        assert all(len(p) == limit for p in pages[:-1])
        assert 1 <= len(pages[-1]) <= limit


def test_table_pages_cover_every_item_once(plain: Catalog) -> None:
    plain.create_namespace("ns")
    plain.create_namespace("other")
    tables = ["t3", "T1", "t2", "T5", "t4"]
    for name in tables:
        plain.register_table("ns", name)
    plain.register_table("other", "t0")
    expected = sorted(tables, key=str.casefold)
    for limit in range(1, len(tables) + 2):
        pages = walk(lambda **kw: plain.list_tables("ns", **kw), limit)
        assert [n for page in pages for n in page] == expected, f"limit {limit}"
        assert len(pages) == max(1, math.ceil(len(tables) / limit))


def test_empty_lists_have_one_empty_page(plain: Catalog) -> None:
    namespaces = plain.list_namespaces(limit=1)
    assert namespaces.items == []
    assert namespaces.next_page_token is None
    plain.create_namespace("ns")
    tables = plain.list_tables("ns", limit=1)
    assert tables.items == []
    assert tables.next_page_token is None


def test_paging_continues_after_concurrent_writes(plain: Catalog) -> None:
    for name in ("b", "d", "f"):
        plain.create_namespace(name)
    first = plain.list_namespaces(limit=2)
    assert names(first.items) == ["b", "d"]
    assert first.next_page_token is not None
    plain.create_namespace("a")  # before the cursor: not repeated, not shown
    plain.create_namespace("e")  # after the cursor: shown
    plain.drop_namespace("f")
    rest = plain.list_namespaces(page_token=first.next_page_token, limit=2)
    assert names(rest.items) == ["e"]
    assert rest.next_page_token is None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage!!",
        "not-a-token",
        _b64(b"not json"),
        _b64(b'{"x":"a"}'),
        _b64(b'{"after":5}'),
        _b64(b'{"after":null}'),
        _b64(b"[]"),
        _b64(b"\xff\xfe\x00"),
    ],
)
def test_invalid_page_token(plain: Catalog, token: str) -> None:
    plain.create_namespace("ns")
    for call in (
        lambda: plain.list_namespaces(page_token=token),
        lambda: plain.list_tables("ns", page_token=token),
    ):
        with pytest.raises(ValidationError) as info:
            call()
        message = str(info.value)
        assert "page_token" in message
        assert "\n" not in message


@pytest.mark.parametrize("limit", [0, -1, 1001, 10**6])
def test_invalid_limit(plain: Catalog, limit: int) -> None:
    plain.create_namespace("ns")
    for call in (
        lambda: plain.list_namespaces(limit=limit),
        lambda: plain.list_tables("ns", limit=limit),
    ):
        with pytest.raises(ValidationError) as info:
            call()
        assert "limit" in str(info.value)
        assert "\n" not in str(info.value)


def test_limit_bounds_are_inclusive(plain: Catalog) -> None:
    plain.create_namespace("ns")
    assert names(plain.list_namespaces(limit=1).items) == ["ns"]
    assert names(plain.list_namespaces(limit=1000).items) == ["ns"]


# --- read-your-writes across instances ----------------------------------------------------


def test_second_instance_sees_writes_immediately(root_store: ObjectStore) -> None:
    a = Catalog(root_store, options=inline_options())
    b = Catalog(root_store, options=inline_options())
    assert b.list_namespaces().items == []  # warm b's cache at version 0

    ns = a.create_namespace("ns", description="from a")
    assert b.get_namespace("ns") == ns
    table = a.register_table("ns", "t", [{"name": "x", "type": "int64"}])
    assert b.get_table("ns", "t") == table
    assert b.list_columns("ns", "t") == table.columns

    # b writes on top of a's state; a sees it
    updated = b.update_table("ns", "t", add_columns=[{"name": "y", "type": "string"}])
    assert a.get_table("ns", "t") == updated
    renamed = a.rename_table("ns", "t", "u")
    assert b.get_table("ns", "u") == renamed
    b.drop_table("ns", "u")
    assert a.list_tables("ns").items == []
    a.update_namespace("ns", description="from a again")
    assert b.get_namespace("ns").description == "from a again"
    b.drop_namespace("ns")
    assert a.list_namespaces().items == []
    assert a.snapshot_version() == b.snapshot_version()


# --- the snapshot cache -----------------------------------------------------------------------


def test_reads_at_an_unchanged_version_read_no_parquet(
    plain: Catalog, root_store: ObjectStore
) -> None:
    plain.create_namespace("ns")
    plain.register_table("ns", "t", [{"name": "x", "type": "int64"}, {"name": "y", "type": "int8"}])
    counting = CountingStore(root_store)
    reader = Catalog(counting)

    # cold: version 1 wrote delta-namespaces, version 2 delta-tables and delta-columns, and
    # each wrote delta-search_postings (derived: readers never load it)
    assert names(reader.list_namespaces().items) == ["ns"]
    head = reader.reader.head()
    assert head is not None
    assert len(head.manifest.files) == 5
    assert reader.loader.files_read == 3

    counting.reset()
    for _ in range(5):
        reader.get_namespace("ns")
        reader.list_namespaces()
        reader.get_table("ns", "t")
        reader.list_tables("ns")
        reader.list_columns("ns", "t")
        reader.snapshot_version()
    assert reader.loader.files_read == 3
    # each call is exactly one small GET of the manifest
    assert counting.counts == {"get": 30}

    # the writer's own reads after its commit come from the state it just built
    files = plain.loader.files_read
    plain.update_namespace("ns", description="d")
    assert plain.get_namespace("ns").description == "d"
    assert plain.loader.files_read == files


@pytest.mark.parametrize(
    ("change", "new_files"),
    [
        # what each commit writes: one delta file per catalog table it touches, and every
        # change to indexed text also writes search postings
        (lambda c: c.create_namespace("other"), 2),
        (lambda c: c.update_namespace("ns", description="x"), 2),
        (lambda c: c.register_table("ns", "u", [{"name": "a", "type": "int64"}]), 3),
        (lambda c: c.register_table("ns", "u"), 2),
        (lambda c: c.update_table("ns", "t", add_columns=[{"name": "z", "type": "int8"}]), 3),
        (lambda c: c.rename_table("ns", "t", "t2"), 2),
        (lambda c: c.drop_table("ns", "t"), 3),
        (lambda c: c.create_namespace("keyed", idempotency_key="k"), 3),
    ],
    ids=[
        "create-ns",
        "update-ns",
        "register",
        "register-empty",
        "add-col",
        "rename",
        "drop",
        "key",
    ],
)
def test_new_commit_makes_the_next_read_fetch_only_its_delta_files(
    plain: Catalog, root_store: ObjectStore, change: Callable[[Catalog], Any], new_files: int
) -> None:
    plain.create_namespace("ns")
    plain.register_table("ns", "t", [{"name": "x", "type": "int64"}])
    reader = Catalog(root_store)
    reader.list_namespaces()
    warm = reader.loader.files_read
    assert warm == 3  # namespaces, tables, columns (search postings are never loaded)

    change(plain)

    head = reader.reader.head()
    assert head is not None
    version = head.manifest.snapshot_version
    written = [f for f in head.manifest.files if f.version == version]
    assert len(written) == new_files
    state = reader.reader.state()
    loaded = [f for f in written if f.table != "search_postings"]
    assert reader.loader.files_read - warm == len(loaded)
    # and the incrementally built state equals a cold read of the same version
    cold = Catalog(root_store)
    cold_state = cold.reader.state()
    assert cold.loader.files_read == len(
        [f for f in head.manifest.files if f.table != "search_postings"]
    )
    for table in ("namespaces", "tables", "columns", "idempotency"):
        assert getattr(state, table) == getattr(cold_state, table), table


def test_cold_reader_after_checkpoints_matches(root_store: ObjectStore) -> None:
    writer = Catalog(root_store, options=inline_options())  # checkpoint every 4 versions
    follower = Catalog(root_store)
    writer.create_namespace("a")
    writer.create_namespace("b", properties={"k": "v"})
    writer.register_table("a", "t1", [{"name": "x", "type": "int64"}])
    follower.list_namespaces()
    writer.register_table("a", "t2", [{"name": "y", "type": "string"}])
    writer.update_table("a", "t1", add_columns=[{"name": "z", "type": "double"}])
    writer.rename_table("a", "t2", "T2", new_namespace="b")
    follower.list_namespaces()
    writer.drop_table("a", "t1")
    writer.drop_namespace("a")
    writer.update_namespace("b", description="bee")
    writer.create_namespace("c", idempotency_key="c-key")
    writer.register_table("c", "t3", [{"name": "w", "type": "bool"}])

    head = writer.reader.head()
    assert head is not None
    m = head.manifest
    assert m.checkpoint_version > 0
    checkpoints = [f for f in m.files if f.kind == "checkpoint"]
    deltas = [f for f in m.files if f.kind == "delta"]
    assert checkpoints
    assert all(f.version == m.checkpoint_version for f in checkpoints)
    assert all(f.version > m.checkpoint_version for f in deltas)

    cold = Catalog(root_store)
    cold_namespaces = cold.list_namespaces().items
    assert cold.loader.files_read == len([f for f in m.files if f.table != "search_postings"])
    all_parquet = [k for k in objects(root_store) if k.endswith(".parquet")]
    assert len(all_parquet) > len(m.files), "older deltas are not read"

    for cat in (writer, follower):
        assert cat.list_namespaces().items == cold_namespaces
        for ns in cold_namespaces:
            assert cat.list_tables(ns.name).items == cold.list_tables(ns.name).items
    assert names(cold_namespaces) == ["b", "c"]
    assert names(cold.list_tables("b").items) == ["T2"]
    assert cold.get_namespace("b").description == "bee"
    assert cold.create_namespace("c", idempotency_key="c-key") == writer.get_namespace("c")


# --- storage errors are never read as empty ---------------------------------------------------

ERRORS: list[Callable[[], Exception]] = [
    lambda: StorageError("injected: permission denied"),
    lambda: TransientStorageError("injected: 503 slow down"),
]


class Switch:
    """A FaultyStore ``fault`` hook that fails matching operations while armed."""

    def __init__(self, match: Callable[[str, str], bool], error: Callable[[], Exception]):
        self.match = match
        self.error = error
        self.armed = False
        self.hits = 0

    def __call__(self, index: int, op: str, key: str) -> BaseException | None:
        if self.armed and self.match(op, key):
            self.hits += 1
            return self.error()
        return None


def manifest_get(op: str, key: str) -> bool:
    return op == "get" and key.endswith(MANIFEST)


def parquet_get(op: str, key: str) -> bool:
    return op in ("get", "get_range") and key.endswith(".parquet")


def reads(cat: Catalog) -> list[Callable[[], Any]]:
    return [
        cat.list_namespaces,
        lambda: cat.get_namespace("ns"),
        lambda: cat.list_tables("ns"),
        lambda: cat.get_table("ns", "t"),
        lambda: cat.list_columns("ns", "t"),
        cat.snapshot_version,
    ]


@pytest.mark.parametrize("error", ERRORS, ids=["storage", "transient"])
@pytest.mark.parametrize("populated", [False, True], ids=["fresh", "populated"])
def test_failed_manifest_read_is_an_error_not_empty(
    root_store: ObjectStore, error: Callable[[], Exception], populated: bool
) -> None:
    if populated:
        seed = Catalog(root_store)
        seed.create_namespace("ns")
        seed.register_table("ns", "t", [{"name": "x", "type": "int64"}])
    switch = Switch(manifest_get, error)
    cat = Catalog(FaultyStore(root_store, fault=switch))
    if populated:
        cat.list_namespaces()  # warm cache: it must not be served without the manifest
    switch.armed = True
    for read in reads(cat):
        with pytest.raises(StorageError):
            read()
    assert switch.hits == len(reads(cat))
    switch.armed = False
    assert names(cat.list_namespaces().items) == (["ns"] if populated else [])


@pytest.mark.parametrize("error", ERRORS, ids=["storage", "transient"])
def test_failed_parquet_read_is_an_error_not_empty(
    root_store: ObjectStore, error: Callable[[], Exception]
) -> None:
    writer = Catalog(root_store, options=inline_options(checkpoint_every=10_000))
    writer.create_namespace("ns")
    writer.register_table("ns", "t", [{"name": "x", "type": "int64"}])
    switch = Switch(parquet_get, error)
    cat = Catalog(FaultyStore(root_store, fault=switch))

    # cold reader: every read needs the Parquet files
    switch.armed = True
    for read in reads(cat)[:-1]:
        with pytest.raises(StorageError):
            read()
    assert switch.hits > 0
    switch.armed = False
    assert names(cat.list_namespaces().items) == ["ns"]

    # warm reader: the next version's delta file fails
    writer.register_table("ns", "u", [{"name": "y", "type": "int64"}])
    switch.armed = True
    with pytest.raises(StorageError):
        cat.list_tables("ns")
    with pytest.raises(StorageError):
        cat.get_table("ns", "t")
    switch.armed = False
    assert names(cat.list_tables("ns").items) == ["t", "u"]


def test_missing_parquet_file_is_an_error_not_empty(root_store: ObjectStore) -> None:
    writer = Catalog(root_store)
    writer.create_namespace("ns")
    head = writer.reader.head()
    assert head is not None
    entry = next(f for f in head.manifest.files if f.table == "namespaces")
    writer.store.delete(entry.path)
    cold = Catalog(root_store)
    with pytest.raises(ObjectNotFoundError):
        cold.list_namespaces()
    with pytest.raises(ArcoError):
        cold.get_namespace("ns")


def test_corrupt_parquet_file_is_an_error_not_empty(root_store: ObjectStore) -> None:
    writer = Catalog(root_store)
    writer.create_namespace("ns")
    head = writer.reader.head()
    assert head is not None
    entry = next(f for f in head.manifest.files if f.table == "namespaces")
    writer.store.put(entry.path, b"PAR1 not really", "overwrite")
    cold = Catalog(root_store)
    with pytest.raises(ArcoError):
        cold.list_namespaces()


@pytest.mark.parametrize("error", ERRORS, ids=["storage", "transient"])
@pytest.mark.parametrize("populated", [False, True], ids=["fresh", "populated"])
@pytest.mark.parametrize("target", ["manifest", "lock"])
def test_write_whose_reads_fail_aborts_without_publishing(
    root_store: ObjectStore, error: Callable[[], Exception], populated: bool, target: str
) -> None:
    if populated:
        Catalog(root_store).create_namespace("existing")
    if target == "manifest":
        switch = Switch(manifest_get, error)
    else:
        switch = Switch(lambda op, key: op == "get" and key.endswith("catalog.lock.json"), error)
    cat = Catalog(FaultyStore(root_store, fault=switch), options=inline_options())
    before = objects(root_store)
    manifest_before = [o.data for o in _maybe_get(root_store, cat)]

    switch.armed = True
    with pytest.raises(StorageError):
        cat.create_namespace("failed", idempotency_key="k")
    assert switch.hits >= 1
    switch.armed = False

    assert objects(root_store) == before, "nothing but the lock may change"
    assert [o.data for o in _maybe_get(root_store, cat)] == manifest_before
    expected = ["existing"] if populated else []
    assert names(cat.list_namespaces().items) == expected

    # the failed request is never applied later, e.g. by the next commit
    cat.create_namespace("next")
    assert names(cat.list_namespaces().items) == sorted([*expected, "next"])
    # and its idempotency key was not consumed
    ok = cat.create_namespace("failed", idempotency_key="k")
    assert cat.create_namespace("failed", idempotency_key="k") == ok


def _maybe_get(root: ObjectStore, cat: Catalog) -> list[Any]:
    try:
        return [root.get(cat.scope.prefix + MANIFEST)]
    except ObjectNotFoundError:
        return []
