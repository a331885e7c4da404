"""Iceberg views: catalog rows of format iceberg-view, a pointer, ViewMetadata files."""

from __future__ import annotations

import pytest
from pyiceberg.catalog.rest import CreateViewRequest
from pyiceberg.schema import Schema
from pyiceberg.table.update import AddSchemaUpdate, SetPropertiesUpdate
from pyiceberg.types import LongType, NestedField, StringType
from pyiceberg.view.metadata import ViewVersion

from arco.iceberg import IcebergTables, IcebergViews, TableIdent
from arco.iceberg.errors import (
    AlreadyExists,
    BadRequest,
    CommitFailed,
    IdempotencyKeyReused,
    NoSuchNamespace,
    NoSuchView,
)
from arco.iceberg.views import AddViewVersionUpdate, AssertViewUUID, SetCurrentViewVersionUpdate
from arco.storage import ObjectStore
from iceberg_support import create_request, service

V = TableIdent(("ns",), "v")
SCHEMA = Schema(NestedField(1, "id", LongType(), required=True))


def version(sql: str, schema_id: int = 0) -> ViewVersion:
    return ViewVersion.model_validate(
        {
            "version-id": 1,
            "schema-id": schema_id,
            "timestamp-ms": 1_700_000_000_000,
            "summary": {"engine": "test"},
            "representations": [{"type": "sql", "sql": sql, "dialect": "spark"}],
            "default-namespace": ["ns"],
        }
    )


def request(name: str = "v", sql: str = "SELECT 1 AS id") -> CreateViewRequest:
    return CreateViewRequest.model_validate(
        {
            "name": name,
            "location": None,
            "schema": SCHEMA,
            "view-version": version(sql),
            "properties": {"comment": "a view"},
        }
    )


@pytest.fixture
def views(root_store: ObjectStore) -> IcebergViews:
    tables: IcebergTables = service(root_store)
    tables.namespaces.create(["ns"])
    return IcebergViews(tables)


def test_create_load_list(views: IcebergViews) -> None:
    created = views.create_view(["ns"], request())
    md = created.metadata
    assert (md.current_version_id, md.properties, md.format_version) == (
        1,
        {"comment": "a view"},
        1,
    )
    assert md.versions[0].representations[0].root.sql == "SELECT 1 AS id"
    assert views.load_view(V) == created
    assert views.view_exists(V) and not views.view_exists(TableIdent(("ns",), "w"))
    assert views.list_views(["ns"]).items == [V]
    assert views.tables.list_tables(["ns"]).items == []
    row = views.catalog.get_table("ns", "v")
    assert row.format == "iceberg-view"
    assert [c.name for c in row.columns] == ["id"]
    assert row.properties == {
        "iceberg.view-uuid": md.view_uuid,
        "iceberg.metadata-location": created.metadata_location,
        "iceberg.current-version-id": "1",
    }


def test_views_and_tables_share_names(views: IcebergViews) -> None:
    views.create_view(["ns"], request())
    with pytest.raises(AlreadyExists):
        views.tables.create_table(["ns"], create_request("v"))
    with pytest.raises(AlreadyExists):
        views.create_view(["ns"], request())
    views.tables.create_table(["ns"], create_request("t"))
    with pytest.raises(AlreadyExists):
        views.create_view(["ns"], request("t"))
    with pytest.raises(NoSuchView):
        views.load_view(TableIdent(("ns",), "t"))
    with pytest.raises(NoSuchNamespace):
        views.create_view(["nope"], request())


def test_replace_view(views: IcebergViews) -> None:
    created = views.create_view(["ns"], request())
    wider = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "n", StringType()),
        schema_id=1,
    )
    replaced = views.replace_view(
        V,
        [AssertViewUUID(uuid=created.metadata.view_uuid)],
        [
            AddSchemaUpdate(schema=wider),
            AddViewVersionUpdate.model_validate(
                {"view-version": version("SELECT 1 AS id, 'x' AS n", -1)}
            ),
            SetCurrentViewVersionUpdate.model_validate({"view-version-id": -1}),
            SetPropertiesUpdate(updates={"owner": "me"}),
        ],
    )
    md = replaced.metadata
    assert md.current_version_id == 2
    assert [v.version_id for v in md.versions] == [1, 2]
    assert md.versions[1].schema_id == 1
    assert [e.version_id for e in md.version_log] == [1, 2]
    assert md.properties == {"comment": "a view", "owner": "me"}
    assert views.load_view(V) == replaced
    assert [c.name for c in views.catalog.get_table("ns", "v").columns] == ["id", "n"]
    # an identical version is reused, not added
    again = views.replace_view(
        V,
        [],
        [
            AddViewVersionUpdate.model_validate({"view-version": version("SELECT 1 AS id", 0)}),
            SetCurrentViewVersionUpdate.model_validate({"view-version-id": -1}),
        ],
    )
    assert again.metadata.current_version_id == 1 and len(again.metadata.versions) == 2


def test_replace_view_errors(views: IcebergViews) -> None:
    views.create_view(["ns"], request())
    with pytest.raises(CommitFailed, match="assert-view-uuid"):
        views.replace_view(V, [AssertViewUUID(uuid="other")], [])
    with pytest.raises(BadRequest, match="unknown version id 7"):
        views.replace_view(
            V, [], [SetCurrentViewVersionUpdate.model_validate({"view-version-id": 7})]
        )
    with pytest.raises(BadRequest, match="unknown schema id 4"):
        views.replace_view(
            V, [], [AddViewVersionUpdate.model_validate({"view-version": version("x", 4)})]
        )
    with pytest.raises(NoSuchView):
        views.replace_view(TableIdent(("ns",), "w"), [], [])


def test_replace_idempotency(views: IcebergViews) -> None:
    views.create_view(["ns"], request())
    update = [SetPropertiesUpdate(updates={"a": "1"})]
    first = views.replace_view(V, [], update, idempotency_key="r")
    assert views.replace_view(V, [], update, idempotency_key="r") == first
    with pytest.raises(IdempotencyKeyReused):
        views.replace_view(V, [], [SetPropertiesUpdate(updates={"a": "2"})], idempotency_key="r")


def test_rename_and_drop(views: IcebergViews) -> None:
    created = views.create_view(["ns"], request())
    views.tables.namespaces.create(["other"])
    moved = TableIdent(("other",), "w")
    views.rename_view(V, moved)
    assert views.load_view(moved).metadata == created.metadata
    assert not views.view_exists(V)
    views.drop_view(moved)
    assert not views.view_exists(moved)
    with pytest.raises(NoSuchView):
        views.drop_view(moved)


def test_idempotent_create(views: IcebergViews) -> None:
    first = views.create_view(["ns"], request(), idempotency_key="cv")
    assert views.create_view(["ns"], request(), idempotency_key="cv") == first
    with pytest.raises(IdempotencyKeyReused):
        views.create_view(["ns"], request(sql="SELECT 2 AS id"), idempotency_key="cv")
