"""Semantics of every tier-1 catalog operation (spec §1 names, §5 DDL).

The ``catalog`` fixture runs each test on the memory and the local-filesystem backend with
inline checkpoints every 4 versions. A checkpoint is a commit of its own, so tests that
check exact snapshot versions use a catalog without checkpoints (``plain``).
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from arco.catalog import Catalog, Namespace, Table
from arco.core.scope import Scope
from arco.errors import (
    AlreadyExistsError,
    ConflictError,
    IdempotencyConflictError,
    NotFoundError,
    PreconditionFailedError,
)
from arco.storage import ObjectStore
from catalog_support import inline_options

COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "type": "Int64", "nullable": False, "description": "primary key"},
    {"name": "amount", "type": "decimal128(10,2)"},
    {"name": "ts", "type": "timestamp[us, tz=UTC]"},
    {"name": "label", "type": "utf8"},
    {"name": "score", "type": "Float64"},
]
# what pyarrow calls each of the types above
CANONICAL = ["int64", "decimal128(10, 2)", "timestamp[us, tz=UTC]", "string", "double"]


@pytest.fixture
def plain(root_store: ObjectStore) -> Iterator[Catalog]:
    """A catalog that never checkpoints: every DDL advances the snapshot version by one."""
    cat = Catalog(root_store, options=inline_options(checkpoint_every=10_000))
    yield cat
    cat.close()


def objects(cat: Catalog, *, with_locks: bool = False) -> dict[str, str]:
    """Every object of the catalog's scope, key -> version (the lock object optionally)."""
    return {
        m.key: m.version for m in cat.store.list("") if with_locks or not m.key.startswith("locks/")
    }


def is_uuid7(value: str) -> bool:
    parsed = uuid.UUID(value)
    return parsed.version == 7 and str(parsed) == value


def names(items: list[Any]) -> list[str]:
    return [item.name for item in items]


# --- namespaces -----------------------------------------------------------------------------


def test_create_and_get_namespace(catalog: Catalog) -> None:
    ns = catalog.create_namespace(
        "Sales", description="money in", properties={"owner": "finance", "tier": "gold"}
    )
    assert ns.name == "Sales"
    assert ns.description == "money in"
    assert ns.properties == {"owner": "finance", "tier": "gold"}
    assert is_uuid7(ns.namespace_id)
    assert ns.created_at == ns.updated_at
    assert ns.created_at.tzinfo is not None
    assert ns.version == catalog.snapshot_version() == 1

    assert catalog.get_namespace("Sales") == ns
    assert catalog.get_namespace("sales") == ns
    assert catalog.get_namespace("SALES").name == "Sales"


def test_namespace_names_are_unique_case_insensitively(catalog: Catalog) -> None:
    ns = catalog.create_namespace("Sales")
    version = catalog.snapshot_version()
    before = objects(catalog)
    for clash in ("Sales", "sales", "SALES", "sAlEs"):
        with pytest.raises(AlreadyExistsError):
            catalog.create_namespace(clash)
    assert catalog.snapshot_version() == version
    assert objects(catalog) == before
    assert names(catalog.list_namespaces().items) == ["Sales"]
    assert catalog.get_namespace("sales") == ns


def test_get_missing_namespace(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError):
        catalog.get_namespace("nope")
    catalog.create_namespace("yes")
    with pytest.raises(NotFoundError):
        catalog.get_namespace("nope")


def test_list_namespaces_in_case_insensitive_name_order(catalog: Catalog) -> None:
    for name in ("beta", "Alpha", "gamma", "Delta"):
        catalog.create_namespace(name)
    assert names(catalog.list_namespaces().items) == ["Alpha", "beta", "Delta", "gamma"]
    assert catalog.list_namespaces().next_page_token is None


def test_update_namespace_description_set_keep_and_clear(catalog: Catalog) -> None:
    ns = catalog.create_namespace("ns", description="first", properties={"a": "1"})

    kept = catalog.update_namespace("ns", set_properties={"b": "2"})
    assert kept.description == "first"

    changed = catalog.update_namespace("ns", description="second")
    assert changed.description == "second"
    assert changed.properties == {"a": "1", "b": "2"}

    cleared = catalog.update_namespace("ns", description=None)
    assert cleared.description is None
    assert catalog.get_namespace("ns").description is None

    assert cleared.namespace_id == ns.namespace_id
    assert cleared.name == "ns"
    assert cleared.created_at == ns.created_at
    assert cleared.updated_at >= ns.updated_at
    assert catalog.get_namespace("ns") == cleared


def test_update_namespace_set_and_remove_properties(catalog: Catalog) -> None:
    catalog.create_namespace("ns", properties={"a": "1", "b": "2", "c": "3"})
    updated = catalog.update_namespace(
        "ns",
        set_properties={"b": "20", "d": "4"},
        remove_properties=["a", "not-there"],
    )
    assert updated.properties == {"b": "20", "c": "3", "d": "4"}
    assert catalog.get_namespace("ns").properties == updated.properties
    # a key both removed and set ends up set
    both = catalog.update_namespace("ns", set_properties={"c": "30"}, remove_properties=["c"])
    assert both.properties == {"b": "20", "c": "30", "d": "4"}


def test_update_missing_namespace(catalog: Catalog) -> None:
    before = objects(catalog)
    with pytest.raises(NotFoundError):
        catalog.update_namespace("ghost", description="x")
    assert objects(catalog) == before


def test_drop_namespace(catalog: Catalog) -> None:
    old = catalog.create_namespace("Gone", description="d")
    catalog.create_namespace("kept")
    dropped = catalog.drop_namespace("gone")
    assert dropped.namespace_id == old.namespace_id
    assert dropped.name == "Gone"
    with pytest.raises(NotFoundError):
        catalog.get_namespace("Gone")
    assert names(catalog.list_namespaces().items) == ["kept"]
    with pytest.raises(NotFoundError):
        catalog.drop_namespace("Gone")
    # the name is free again and gets a new identity
    again = catalog.create_namespace("gone")
    assert again.namespace_id != old.namespace_id
    assert again.description is None
    assert again.name == "gone"


def test_drop_non_empty_namespace_is_a_conflict(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    table = catalog.register_table("ns", "t", [{"name": "x", "type": "int64"}])
    before = objects(catalog)
    with pytest.raises(ConflictError):
        catalog.drop_namespace("ns")
    assert objects(catalog) == before
    assert catalog.get_table("ns", "t") == table
    catalog.drop_table("ns", "t")
    catalog.drop_namespace("ns")
    assert catalog.list_namespaces().items == []


# --- tables -----------------------------------------------------------------------------


def test_register_table_with_columns_canonicalises_types(catalog: Catalog) -> None:
    ns = catalog.create_namespace("ns")
    table = catalog.register_table(
        "NS",
        "Orders",
        COLUMNS,
        description="all orders",
        location="s3://bucket/orders/",
        format="Iceberg",
        properties={"k": "v"},
    )
    assert table.name == "Orders"
    assert table.namespace == "ns"
    assert table.namespace_id == ns.namespace_id
    assert is_uuid7(table.table_id)
    assert table.description == "all orders"
    assert table.location == "s3://bucket/orders/"
    assert table.format == "iceberg"
    assert table.properties == {"k": "v"}
    assert table.version == catalog.snapshot_version()

    assert [c.name for c in table.columns] == [c["name"] for c in COLUMNS]
    assert [c.type for c in table.columns] == CANONICAL
    assert [c.position for c in table.columns] == list(range(len(COLUMNS)))
    assert [c.nullable for c in table.columns] == [False, True, True, True, True]
    assert table.columns[0].description == "primary key"
    assert table.columns[1].description is None
    ids = [c.column_id for c in table.columns]
    assert len(set(ids)) == len(ids)
    assert all(is_uuid7(i) for i in ids)

    assert catalog.get_table("ns", "orders") == table
    assert catalog.get_table("Ns", "ORDERS") == table
    assert catalog.list_columns("ns", "Orders") == table.columns


def test_register_table_defaults(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    table = catalog.register_table("ns", "t")
    assert table.columns == []
    assert table.format == "parquet"
    assert table.description is None
    assert table.location is None
    assert table.properties == {}
    assert catalog.get_table("ns", "t") == table


def test_register_table_in_missing_namespace(catalog: Catalog) -> None:
    before = objects(catalog)
    with pytest.raises(NotFoundError):
        catalog.register_table("ghost", "t", [{"name": "x", "type": "int64"}])
    assert objects(catalog) == before


def test_table_names_unique_case_insensitively_per_namespace(catalog: Catalog) -> None:
    catalog.create_namespace("a")
    catalog.create_namespace("b")
    first = catalog.register_table("a", "Sales")
    for clash in ("Sales", "sales", "SALES"):
        with pytest.raises(AlreadyExistsError):
            catalog.register_table("a", clash)
    # the same name in another namespace is a different table
    other = catalog.register_table("b", "sales")
    assert other.table_id != first.table_id
    assert catalog.get_table("a", "sales") == first
    assert catalog.get_table("b", "SALES") == other
    assert names(catalog.list_tables("a").items) == ["Sales"]


def test_get_missing_table(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    with pytest.raises(NotFoundError):
        catalog.get_table("ns", "nope")
    with pytest.raises(NotFoundError):
        catalog.get_table("nope", "nope")
    with pytest.raises(NotFoundError):
        catalog.list_columns("ns", "nope")
    with pytest.raises(NotFoundError):
        catalog.list_tables("nope")


def test_list_tables_only_of_that_namespace_in_name_order(catalog: Catalog) -> None:
    catalog.create_namespace("a")
    catalog.create_namespace("b")
    for name in ("zeta", "Alpha", "mid"):
        catalog.register_table("a", name)
    catalog.register_table("b", "other")
    assert names(catalog.list_tables("a").items) == ["Alpha", "mid", "zeta"]
    assert names(catalog.list_tables("B").items) == ["other"]
    assert all(t.namespace == "a" for t in catalog.list_tables("a").items)


def test_update_table_attributes(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    table = catalog.register_table(
        "ns", "t", [{"name": "x", "type": "int64"}], description="d", location="loc"
    )
    updated = catalog.update_table(
        "ns",
        "t",
        description="new",
        location="s3://b/t/",
        format="Delta",
        set_properties={"p": "1", "q": "2"},
    )
    assert updated.description == "new"
    assert updated.location == "s3://b/t/"
    assert updated.format == "delta"
    assert updated.properties == {"p": "1", "q": "2"}
    assert updated.columns == table.columns
    assert updated.table_id == table.table_id
    assert updated.created_at == table.created_at
    assert updated.version > table.version

    # fields not given are kept; None clears description/location
    partial = catalog.update_table("ns", "t", remove_properties=["p"])
    assert (partial.description, partial.location, partial.format) == (
        "new",
        "s3://b/t/",
        "delta",
    )
    assert partial.properties == {"q": "2"}
    cleared = catalog.update_table("ns", "t", description=None, location=None)
    assert cleared.description is None
    assert cleared.location is None
    assert cleared.format == "delta"
    assert catalog.get_table("ns", "t") == cleared


def test_update_table_columns_keep_positions_and_ids(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    table = catalog.register_table(
        "ns",
        "t",
        [
            {"name": "a", "type": "int64"},
            {"name": "b", "type": "string"},
            {"name": "c", "type": "double"},
        ],
    )
    old = {c.name: c for c in table.columns}

    updated = catalog.update_table(
        "ns",
        "t",
        drop_columns=["B"],
        rename_columns={"c": "C2"},
        add_columns=[{"name": "d", "type": "INT32", "nullable": False}],
    )

    cols = {c.name: c for c in updated.columns}
    assert list(cols) == ["a", "C2", "d"]
    assert cols["a"] == old["a"]  # untouched column: same id, position, type
    assert cols["C2"].column_id == old["c"].column_id
    assert cols["C2"].position == old["c"].position == 2
    assert cols["C2"].type == "double"
    assert cols["d"].column_id not in {c.column_id for c in table.columns}
    assert cols["d"].type == "int32"
    assert cols["d"].nullable is False
    assert cols["d"].position == 3  # after every existing position, never reusing b's 1
    assert is_uuid7(cols["d"].column_id)
    assert updated.version > table.version
    assert catalog.get_table("ns", "t") == updated
    assert catalog.list_columns("ns", "t") == updated.columns


def test_update_table_column_rename_case_only_and_swap(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    table = catalog.register_table(
        "ns", "t", [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}]
    )
    ids = {c.name: c.column_id for c in table.columns}
    upper = catalog.update_table("ns", "t", rename_columns={"a": "A"})
    assert [c.name for c in upper.columns] == ["A", "b"]
    assert upper.columns[0].column_id == ids["a"]

    swapped = catalog.update_table("ns", "t", rename_columns={"A": "b", "b": "a"})
    assert [(c.name, c.column_id) for c in swapped.columns] == [("b", ids["a"]), ("a", ids["b"])]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"drop_columns": ["missing"]}, NotFoundError),
        ({"rename_columns": {"missing": "x"}}, NotFoundError),
        ({"rename_columns": {"a": "B"}}, AlreadyExistsError),
        ({"add_columns": [{"name": "A", "type": "int64"}]}, AlreadyExistsError),
        ({"rename_columns": {"a": "x", "b": "X"}}, AlreadyExistsError),
        (
            {"description": "never applied", "add_columns": [{"name": "b", "type": "int64"}]},
            AlreadyExistsError,
        ),
    ],
    ids=[
        "drop-missing",
        "rename-missing",
        "rename-onto-existing",
        "add-existing",
        "rename-two-onto-one",
        "partial-change",
    ],
)
def test_failed_table_update_changes_nothing(
    catalog: Catalog, changes: dict[str, Any], error: type[Exception]
) -> None:
    catalog.create_namespace("ns")
    table = catalog.register_table(
        "ns", "t", [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}]
    )
    before = objects(catalog)
    with pytest.raises(error):
        catalog.update_table("ns", "t", **changes)
    assert objects(catalog) == before
    assert catalog.get_table("ns", "t") == table


def test_update_missing_table(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    with pytest.raises(NotFoundError):
        catalog.update_table("ns", "ghost", description="x")


def test_rename_table_in_same_namespace(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    table = catalog.register_table("ns", "Orders", COLUMNS)
    renamed = catalog.rename_table("ns", "orders", "Purchases")
    assert renamed.name == "Purchases"
    assert renamed.table_id == table.table_id
    assert renamed.columns == table.columns
    assert renamed.namespace == "ns"
    assert renamed.version > table.version
    with pytest.raises(NotFoundError):
        catalog.get_table("ns", "Orders")
    assert catalog.get_table("ns", "purchases") == renamed
    assert names(catalog.list_tables("ns").items) == ["Purchases"]
    # the old name is free again
    fresh = catalog.register_table("ns", "Orders")
    assert fresh.table_id != table.table_id


def test_rename_table_case_only(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    table = catalog.register_table("ns", "orders")
    renamed = catalog.rename_table("ns", "orders", "ORDERS")
    assert renamed.name == "ORDERS"
    assert renamed.table_id == table.table_id
    assert names(catalog.list_tables("ns").items) == ["ORDERS"]


def test_rename_table_to_another_namespace(catalog: Catalog) -> None:
    src = catalog.create_namespace("src")
    dst = catalog.create_namespace("dst")
    table = catalog.register_table("src", "t", COLUMNS)
    moved = catalog.rename_table("src", "t", "T2", new_namespace="DST")
    assert moved.table_id == table.table_id
    assert moved.namespace == "dst"
    assert moved.namespace_id == dst.namespace_id != src.namespace_id
    assert moved.name == "T2"
    assert moved.columns == table.columns
    assert catalog.list_tables("src").items == []
    assert catalog.list_tables("dst").items == [moved]
    with pytest.raises(NotFoundError):
        catalog.get_table("src", "t")
    assert catalog.get_table("dst", "t2") == moved
    # the source namespace is empty now, so it can be dropped
    catalog.drop_namespace("src")
    assert catalog.get_table("dst", "T2") == moved


@pytest.mark.parametrize(
    ("target_ns", "target", "error"),
    [
        (None, "other", AlreadyExistsError),
        (None, "OTHER", AlreadyExistsError),
        ("dst", "taken", AlreadyExistsError),
        ("dst", "TAKEN", AlreadyExistsError),
        ("ghost", "x", NotFoundError),
    ],
)
def test_rename_table_collisions(
    catalog: Catalog, target_ns: str | None, target: str, error: type[Exception]
) -> None:
    catalog.create_namespace("src")
    catalog.create_namespace("dst")
    table = catalog.register_table("src", "t")
    catalog.register_table("src", "other")
    catalog.register_table("dst", "taken")
    before = objects(catalog)
    with pytest.raises(error):
        catalog.rename_table("src", "t", target, new_namespace=target_ns)
    assert objects(catalog) == before
    assert catalog.get_table("src", "t") == table


def test_rename_missing_table(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    with pytest.raises(NotFoundError):
        catalog.rename_table("ns", "ghost", "x")


def test_drop_table_removes_its_columns(catalog: Catalog, root_store: ObjectStore) -> None:
    catalog.create_namespace("ns")
    table = catalog.register_table("ns", "t", COLUMNS)
    keep = catalog.register_table("ns", "keep", [{"name": "k", "type": "int64"}])
    dropped = catalog.drop_table("ns", "T")
    assert dropped.table_id == table.table_id
    assert [c.column_id for c in dropped.columns] == [c.column_id for c in table.columns]
    with pytest.raises(NotFoundError):
        catalog.get_table("ns", "t")
    with pytest.raises(NotFoundError):
        catalog.list_columns("ns", "t")
    with pytest.raises(NotFoundError):
        catalog.drop_table("ns", "t")
    assert names(catalog.list_tables("ns").items) == ["keep"]

    gone = {c.column_id for c in table.columns}
    # no column row of the dropped table survives, neither here nor in a cold reader
    for cat in (catalog, Catalog(root_store)):
        state = cat.reader.state()
        assert table.table_id not in state.tables
        assert gone.isdisjoint(state.columns)
        assert all(c.table_id != table.table_id for c in state.columns.values())
        assert cat.get_table("ns", "keep") == keep

    again = catalog.register_table("ns", "t", COLUMNS)
    assert again.table_id != table.table_id
    assert gone.isdisjoint(c.column_id for c in again.columns)


# --- Unicode names --------------------------------------------------------------------------


def test_unicode_names(catalog: Catalog, root_store: ObjectStore) -> None:
    jp = catalog.create_namespace("売上")
    ru = catalog.create_namespace("Продажи")
    fr = catalog.create_namespace("ventes_été")
    table = catalog.register_table(
        "Продажи", "Заказы", [{"name": "сумма", "type": "int64"}, {"name": "数量", "type": "int32"}]
    )
    catalog.register_table("売上", "注文")

    assert catalog.get_namespace("ПРОДАЖИ") == ru
    assert catalog.get_namespace("продажи").name == "Продажи"
    assert catalog.get_namespace("売上") == jp
    decomposed = unicodedata.normalize("NFD", "VENTES_ÉTÉ")
    assert decomposed != "VENTES_ÉTÉ"
    assert catalog.get_namespace(decomposed) == fr
    assert catalog.get_table("продажи", "ЗАКАЗЫ") == table
    assert [c.name for c in table.columns] == ["сумма", "数量"]

    for clash in ("продажи", "ПРОДАЖИ", unicodedata.normalize("NFD", "ventes_été")):
        with pytest.raises(AlreadyExistsError):
            catalog.create_namespace(clash)
    with pytest.raises(AlreadyExistsError):
        catalog.update_table("Продажи", "Заказы", add_columns=[{"name": "СУММА", "type": "int8"}])  # noqa: RUF001

    # names survive the Parquet round trip exactly (a cold reader on the same store)
    cold = Catalog(root_store)
    assert [n.name for n in cold.list_namespaces().items] == [
        n.name for n in catalog.list_namespaces().items
    ]
    assert {n.name for n in cold.list_namespaces().items} == {"売上", "Продажи", "ventes_été"}
    assert cold.get_table("Продажи", "Заказы") == table
    assert cold.get_table("売上", "注文").name == "注文"


# --- if_match -------------------------------------------------------------------------------


def _setup(cat: Catalog) -> tuple[Namespace, Table]:
    cat.create_namespace("ns")
    cat.create_namespace("dst")
    table = cat.register_table("ns", "t", [{"name": "x", "type": "int64"}])
    return cat.get_namespace("ns"), table


MUTATIONS: dict[str, tuple[str, Callable[[Catalog, int], Any]]] = {
    # name -> (what if_match refers to, call)
    "create_namespace": ("catalog", lambda c, v: c.create_namespace("new", if_match=v)),
    "register_table": ("catalog", lambda c, v: c.register_table("ns", "new", if_match=v)),
    "update_namespace": ("ns", lambda c, v: c.update_namespace("ns", description="x", if_match=v)),
    "drop_namespace": ("dst", lambda c, v: c.drop_namespace("dst", if_match=v)),
    "update_table": ("table", lambda c, v: c.update_table("ns", "t", description="x", if_match=v)),
    "rename_table": ("table", lambda c, v: c.rename_table("ns", "t", "t2", if_match=v)),
    "move_table": (
        "table",
        lambda c, v: c.rename_table("ns", "t", "t", new_namespace="dst", if_match=v),
    ),
    "drop_table": ("table", lambda c, v: c.drop_table("ns", "t", if_match=v)),
}


def _expected_version(cat: Catalog, what: str) -> int:
    if what == "catalog":
        return cat.snapshot_version()
    if what == "table":
        return cat.get_table("ns", "t").version
    return cat.get_namespace(what).version


@pytest.mark.parametrize("op", sorted(MUTATIONS))
def test_if_match(catalog: Catalog, op: str) -> None:
    what, call = MUTATIONS[op]
    _setup(catalog)
    catalog.update_namespace("ns", description="bump")  # entity versions now differ
    right = _expected_version(catalog, what)
    version = catalog.snapshot_version()
    before = objects(catalog)

    for wrong in (right - 1, right + 1, 0, 10**9):
        with pytest.raises(PreconditionFailedError) as info:
            call(catalog, wrong)
        assert "\n" not in str(info.value)
        assert catalog.snapshot_version() == version
        assert objects(catalog) == before, "a failed precondition must write nothing"

    result = call(catalog, right)
    assert catalog.snapshot_version() > version
    if op.startswith("drop_"):
        # a drop returns the entity as it was; afterwards it is gone
        assert result.version == right
        with pytest.raises(NotFoundError):
            _expected_version(catalog, what)
    else:
        assert result.version > right


def test_if_match_entity_version_goes_stale_after_a_change(plain: Catalog) -> None:
    plain.create_namespace("ns")
    table = plain.register_table("ns", "t", [{"name": "x", "type": "int64"}])
    first = plain.update_table("ns", "t", if_match=table.version, description="one")
    with pytest.raises(PreconditionFailedError):
        plain.update_table("ns", "t", if_match=table.version, description="two")
    assert plain.get_table("ns", "t").description == "one"
    second = plain.update_table("ns", "t", if_match=first.version, description="two")
    assert second.description == "two"
    # a change to another entity does not make this one's ETag stale
    plain.create_namespace("other")
    third = plain.update_table("ns", "t", if_match=second.version, description="three")
    assert third.description == "three"


# --- idempotency keys -------------------------------------------------------------------------


def test_idempotent_replay_returns_the_original_result(catalog: Catalog) -> None:
    ns = catalog.create_namespace("ns", description="d", idempotency_key="create-ns")
    version = catalog.snapshot_version()
    before = objects(catalog)

    for _ in range(3):
        again = catalog.create_namespace("ns", description="d", idempotency_key="create-ns")
        assert again == ns
    assert catalog.snapshot_version() == version
    assert objects(catalog) == before, "a replay must not commit anything"
    assert names(catalog.list_namespaces().items) == ["ns"]

    # the same request without the key is a genuine duplicate
    with pytest.raises(AlreadyExistsError):
        catalog.create_namespace("ns", description="d")


def test_idempotent_replay_of_register_keeps_ids(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    table = catalog.register_table("ns", "t", COLUMNS, idempotency_key="reg-t")
    version = catalog.snapshot_version()
    again = catalog.register_table("ns", "t", COLUMNS, idempotency_key="reg-t")
    assert again == table
    assert [c.column_id for c in again.columns] == [c.column_id for c in table.columns]
    assert catalog.snapshot_version() == version
    assert len(catalog.list_tables("ns").items) == 1


def test_idempotent_replay_after_later_changes_returns_original(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    catalog.register_table("ns", "t", [{"name": "x", "type": "int64"}])
    upd = catalog.update_table("ns", "t", description="one", idempotency_key="upd-1")
    catalog.update_table("ns", "t", description="two")
    dropped = catalog.drop_table("ns", "t", idempotency_key="drop-1")

    # replaying applies nothing: the later state stays, the original results come back
    version = catalog.snapshot_version()
    assert catalog.update_table("ns", "t", description="one", idempotency_key="upd-1") == upd
    assert catalog.drop_table("ns", "t", idempotency_key="drop-1") == dropped
    assert catalog.snapshot_version() == version
    with pytest.raises(NotFoundError):
        catalog.get_table("ns", "t")


@pytest.mark.parametrize(
    "other",
    [
        lambda c: c.create_namespace("ns", description="different", idempotency_key="k"),
        lambda c: c.create_namespace("other", idempotency_key="k"),
        lambda c: c.create_namespace("ns", properties={"a": "b"}, idempotency_key="k"),
        lambda c: c.update_namespace("ns", description="x", idempotency_key="k"),
        lambda c: c.drop_namespace("ns", idempotency_key="k"),
    ],
    ids=["description", "name", "properties", "other-op", "drop"],
)
def test_same_key_different_body_is_a_conflict(
    catalog: Catalog, other: Callable[[Catalog], Any]
) -> None:
    ns = catalog.create_namespace("ns", idempotency_key="k")
    version = catalog.snapshot_version()
    before = objects(catalog)
    with pytest.raises(IdempotencyConflictError) as info:
        other(catalog)
    assert "idempotency_key" in str(info.value)
    assert catalog.snapshot_version() == version
    assert objects(catalog) == before
    assert catalog.get_namespace("ns") == ns
    assert catalog.create_namespace("ns", idempotency_key="k") == ns


def test_failed_request_does_not_consume_its_key(catalog: Catalog) -> None:
    catalog.create_namespace("ns")
    with pytest.raises(AlreadyExistsError):
        catalog.create_namespace("ns", idempotency_key="k")
    # the key was not recorded: a different request may use it
    other = catalog.create_namespace("other", idempotency_key="k")
    assert catalog.create_namespace("other", idempotency_key="k") == other


def test_idempotency_keys_survive_checkpoints_and_new_instances(
    catalog: Catalog, root_store: ObjectStore
) -> None:
    every = catalog.writer.options.checkpoint_every
    ns = catalog.create_namespace("first", idempotency_key="k-first")
    table = catalog.register_table("first", "t", COLUMNS, idempotency_key="k-table")
    for i in range(every + 3):
        catalog.create_namespace(f"filler-{i}")

    head = catalog.reader.head()
    assert head is not None
    # the keyed commits are folded into a checkpoint now, not only in deltas
    assert head.manifest.checkpoint_version > table.version
    assert any(f.kind == "checkpoint" and f.table == "idempotency" for f in head.manifest.files)
    assert not any(f.kind == "delta" and f.version <= table.version for f in head.manifest.files)

    version = catalog.snapshot_version()
    assert catalog.create_namespace("first", idempotency_key="k-first") == ns
    assert catalog.register_table("first", "t", COLUMNS, idempotency_key="k-table") == table

    fresh = Catalog(root_store, options=inline_options())
    assert fresh.create_namespace("first", idempotency_key="k-first") == ns
    assert fresh.register_table("first", "t", COLUMNS, idempotency_key="k-table") == table
    with pytest.raises(IdempotencyConflictError):
        fresh.create_namespace("second", idempotency_key="k-first")
    assert catalog.snapshot_version() == fresh.snapshot_version() == version


def test_idempotency_keys_are_per_scope(root_store: ObjectStore) -> None:
    one = Catalog(root_store, Scope("acme", "prod"), options=inline_options())
    two = Catalog(root_store, Scope("acme", "dev"), options=inline_options())
    a = one.create_namespace("a", idempotency_key="k")
    b = two.create_namespace("b", idempotency_key="k")
    assert a.namespace_id != b.namespace_id
    assert names(one.list_namespaces().items) == ["a"]
    assert names(two.list_namespaces().items) == ["b"]


# --- versions ---------------------------------------------------------------------------------


def test_version_is_the_snapshot_version_of_the_last_change(plain: Catalog) -> None:
    assert plain.snapshot_version() == 0
    ns = plain.create_namespace("ns")
    assert ns.version == plain.snapshot_version() == 1
    table = plain.register_table("ns", "t", [{"name": "x", "type": "int64"}])
    assert table.version == plain.snapshot_version() == 2
    assert plain.get_namespace("ns").version == 1  # registering a table leaves ns alone

    ns2 = plain.update_namespace("ns", description="d")
    assert ns2.version == plain.snapshot_version() == 3
    assert plain.get_table("ns", "t").version == 2

    t2 = plain.update_table("ns", "t", add_columns=[{"name": "y", "type": "int64"}])
    assert t2.version == plain.snapshot_version() == 4
    assert {c.name: c.column_id for c in t2.columns}["x"] == table.columns[0].column_id
    t3 = plain.rename_table("ns", "t", "u")
    assert t3.version == plain.snapshot_version() == 5
    assert plain.get_namespace("ns").version == 3

    # failed and replayed requests do not advance the version
    with pytest.raises(AlreadyExistsError):
        plain.create_namespace("NS")
    assert plain.snapshot_version() == 5


def test_replay_is_recognised_whatever_the_spelling(catalog: Catalog) -> None:
    """Equivalent spellings of one request are the same request (normalised before hashing)."""
    catalog.create_namespace("ns")
    table = catalog.register_table(
        "ns", "t", [{"name": "a", "type": "int64"}], format="parquet", idempotency_key="reg"
    )
    same = catalog.register_table(
        "ns",
        "t",
        [{"name": "a", "type": "Int64", "nullable": True}],
        format="PARQUET",
        idempotency_key="reg",
    )
    assert same == table
    ns = catalog.create_namespace("props", properties={"b": "2", "a": "1"}, idempotency_key="props")
    assert (
        catalog.create_namespace("props", properties={"a": "1", "b": "2"}, idempotency_key="props")
        == ns
    )
    nfc = catalog.create_namespace("été", idempotency_key="nfc")
    assert (
        catalog.create_namespace(unicodedata.normalize("NFD", "été"), idempotency_key="nfc") == nfc
    )

    upd = catalog.update_namespace("ns", description="x", idempotency_key="upd")
    tbl = catalog.update_table("ns", "t", description="y", idempotency_key="upd-t")
    version = catalog.snapshot_version()
    # spelling out a default (an empty list of properties to remove) changes nothing
    again = catalog.update_namespace(
        "ns", description="x", remove_properties=[], idempotency_key="upd"
    )
    assert again == upd
    again_t = catalog.update_table(
        "ns", "t", description="y", add_columns=[], drop_columns=[], idempotency_key="upd-t"
    )
    assert again_t == tbl
    assert catalog.snapshot_version() == version
