"""Iceberg namespaces as Arco namespaces: ``["a", "b"]`` is ``a.b``."""

from __future__ import annotations

import pytest

from arco.catalog import Catalog
from arco.iceberg.errors import (
    AlreadyExists,
    BadRequest,
    IdempotencyKeyReused,
    NamespaceNotEmpty,
    NoSuchNamespace,
)
from arco.iceberg.namespaces import IcebergNamespaces, from_arco, to_arco


@pytest.fixture
def namespaces(catalog: Catalog) -> IcebergNamespaces:
    return IcebergNamespaces(catalog)


def test_mapping() -> None:
    assert to_arco(["a", "b"]) == "a.b"
    assert to_arco(("sales",)) == "sales"
    assert from_arco("a.b.c") == ("a", "b", "c")
    for bad, rule in [
        ([], "at least one level"),
        (["a.b"], "must not contain '.'"),
        (["a", ""], "non-empty"),
        (["a/b"], "'/'"),
        ("ab", "list of levels"),
    ]:
        with pytest.raises(BadRequest, match=rule):
            to_arco(bad)


def test_create_load_exists_drop(namespaces: IcebergNamespaces, catalog: Catalog) -> None:
    assert namespaces.create(["a", "b"], {"owner": "me"}) == {"owner": "me"}
    assert catalog.get_namespace("a.b").properties == {"owner": "me"}
    assert namespaces.load(["a", "b"]) == {"owner": "me"}
    assert namespaces.exists(["A", "B"])  # names compare case-insensitively
    assert not namespaces.exists(["a"])
    with pytest.raises(AlreadyExists):
        namespaces.create(["a", "b"])
    with pytest.raises(NoSuchNamespace):
        namespaces.load(["nope"])
    namespaces.drop(["a", "b"])
    assert not namespaces.exists(["a", "b"])
    with pytest.raises(NoSuchNamespace):
        namespaces.drop(["a", "b"])


def test_drop_of_a_namespace_with_tables(namespaces: IcebergNamespaces, catalog: Catalog) -> None:
    namespaces.create(["ns"])
    catalog.register_table("ns", "t")
    with pytest.raises(NamespaceNotEmpty):
        namespaces.drop(["ns"])


def test_idempotent_create(namespaces: IcebergNamespaces) -> None:
    namespaces.create(["n"], {"a": "1"}, idempotency_key="k1")
    assert namespaces.create(["n"], {"a": "1"}, idempotency_key="k1") == {"a": "1"}
    with pytest.raises(IdempotencyKeyReused):
        namespaces.create(["n"], {"a": "2"}, idempotency_key="k1")


def test_list_one_level_below_the_parent(namespaces: IcebergNamespaces) -> None:
    for levels in [["a"], ["a", "x"], ["a", "y"], ["a", "y", "z"], ["b", "q"], ["c"]]:
        namespaces.create(levels)
    assert namespaces.list().items == [("a",), ("b",), ("c",)]  # b exists only as a parent
    assert namespaces.list(["a"]).items == [("a", "x"), ("a", "y")]
    assert namespaces.list(["A", "Y"]).items == [("a", "y", "z")]
    assert namespaces.list(["b"]).items == [("b", "q")]
    assert namespaces.list(["c"]).items == []
    with pytest.raises(NoSuchNamespace):
        namespaces.list(["nope"])
    first = namespaces.list(limit=2)
    assert first.items == [("a",), ("b",)] and first.next_page_token
    second = namespaces.list(page_token=first.next_page_token, limit=2)
    assert second.items == [("c",)] and second.next_page_token is None
    with pytest.raises(BadRequest, match="page_token"):
        namespaces.list(page_token="garbage")


def test_update_properties_reports_missing(namespaces: IcebergNamespaces) -> None:
    namespaces.create(["n"], {"a": "1", "b": "2"})
    result = namespaces.update_properties(["n"], removals=["a", "zz"], updates={"c": "3"})
    assert (result.updated, result.removed, result.missing) == (["c"], ["a"], ["zz"])
    assert namespaces.load(["n"]) == {"b": "2", "c": "3"}
    with pytest.raises(BadRequest, match="also in updates"):
        namespaces.update_properties(["n"], removals=["b"], updates={"b": "x"})
    with pytest.raises(NoSuchNamespace):
        namespaces.update_properties(["nope"], updates={"x": "1"})
    with pytest.raises(BadRequest, match="properties"):
        namespaces.update_properties(["n"], updates={"": "empty key"})
