"""The catalog projection: types, columns, coalesced syncs that never overwrite a newer state,
and the Arco API's refusal to change what the projection owns."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pyiceberg.schema import Schema
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update import AddSchemaUpdate, SetCurrentSchemaUpdate, SetPropertiesUpdate
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FixedType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    NestedField,
    StringType,
    StructType,
    TimestampNanoType,
    TimestampType,
    TimestamptzNanoType,
    TimestamptzType,
    TimeType,
    UnknownType,
    UUIDType,
)

from arco.catalog.operations import UpdateTable, build_request
from arco.core.arrow_types import canonical_type
from arco.errors import ValidationError
from arco.iceberg import IcebergTables, TableIdent
from arco.iceberg.sync import arrow_type, catalog_columns
from arco.storage import ObjectStore
from iceberg_support import SCHEMA, append_updates, create_request, service

T = TableIdent(("sales",), "orders")


def make(root_store: ObjectStore, sync: str = "manual") -> IcebergTables:
    svc = service(root_store, sync=sync)  # type: ignore[arg-type]
    svc.namespaces.create(["sales"])
    svc.create_table(["sales"], create_request("orders"))
    return svc


def evolve(svc: IcebergTables, *fields: NestedField, schema_id: int) -> None:
    schema = Schema(*fields, schema_id=schema_id)
    svc.commit_table(
        T,
        [],
        [AddSchemaUpdate(schema=schema), SetCurrentSchemaUpdate.model_validate({"schema-id": -1})],
    )


@pytest.mark.parametrize(
    ("iceberg", "arrow"),
    [
        (BooleanType(), "bool"),
        (IntegerType(), "int32"),
        (LongType(), "int64"),
        (FloatType(), "float"),
        (DoubleType(), "double"),
        (DecimalType(12, 2), "decimal128(12, 2)"),
        (DateType(), "date32[day]"),
        (TimeType(), "time64[us]"),
        (TimestampType(), "timestamp[us]"),
        (TimestamptzType(), "timestamp[us, tz=UTC]"),
        (TimestampNanoType(), "timestamp[ns]"),
        (TimestamptzNanoType(), "timestamp[ns, tz=UTC]"),
        (StringType(), "string"),
        (UUIDType(), "fixed_size_binary[16]"),
        (FixedType(5), "fixed_size_binary[5]"),
        (BinaryType(), "binary"),
        (UnknownType(), "null"),
        (ListType(3, IntegerType(), element_required=True), "list<item: int32>"),
        (MapType(4, StringType(), 5, DoubleType()), "map<string, double>"),
        (
            StructType(
                NestedField(6, "a:b", BooleanType()), NestedField(7, "c", ListType(8, LongType()))
            ),
            "struct<a_b: bool, c: list<item: int64>>",
        ),
    ],
)
def test_arrow_types(iceberg: IcebergType, arrow: str) -> None:
    assert arrow_type(iceberg) == arrow
    assert canonical_type(arrow) == arrow  # a type the catalog accepts as it is


def test_catalog_columns_clean_names_and_docs() -> None:
    schema = Schema(
        NestedField(1, "a/b", LongType(), required=True),
        NestedField(2, "A_B", StringType()),  # collides with the cleaned name: left out
        NestedField(3, " padded ", StringType(), doc="line\x01break\nok"),
        NestedField(4, "x", StringType(), doc="d" * 5000),
    )
    columns = catalog_columns(schema)
    assert [(c.name, c.type, c.nullable) for c in columns] == [
        ("a_b", "int64", False),
        ("padded", "string", True),
        ("x", "string", True),
    ]
    assert columns[1].description == "line break\nok"
    assert columns[2].description is not None and len(columns[2].description) == 4096


def test_manual_sync_coalesces_and_keeps_column_ids(root_store: ObjectStore) -> None:
    svc = make(root_store)
    before = svc.catalog.get_table("sales", "orders")
    md = svc.load_table(T).metadata
    svc.commit_table(T, [], append_updates(md, 1))
    evolve(svc, *SCHEMA.fields, NestedField(3, "extra", StringType()), schema_id=1)
    svc.commit_table(T, [], [SetPropertiesUpdate(updates={"a": "1"})])
    assert svc.catalog.get_table("sales", "orders") == before  # not synced yet
    assert svc.sync.pending() == 1
    version = svc.catalog.snapshot_version()
    assert svc.sync.sync_now() == 1
    assert svc.catalog.snapshot_version() == version + 1  # three commits, one catalog write
    after = svc.catalog.get_table("sales", "orders")
    current = svc.load_table(T)
    assert after.properties == {
        "iceberg.table-uuid": str(current.metadata.table_uuid),
        "iceberg.metadata-location": current.metadata_location,
        "iceberg.current-snapshot-id": "1",
    }
    assert [c.name for c in after.columns] == ["id", "name", "extra"]
    assert [c.column_id for c in after.columns[:2]] == [c.column_id for c in before.columns]
    assert svc.sync.sync_now() == 0  # up to date

    # a dropped middle column: the rest keep the schema's order
    evolve(svc, SCHEMA.fields[0], NestedField(3, "extra", StringType()), schema_id=2)
    svc.sync.sync_now()
    final = svc.catalog.get_table("sales", "orders")
    assert [c.name for c in final.columns] == ["id", "extra"]
    assert final.columns[0].column_id == before.columns[0].column_id


def test_a_sync_never_overwrites_a_newer_state(root_store: ObjectStore) -> None:
    """A slow sync that read an older pointer loses the row race and reads again."""
    svc = make(root_store)
    other = service(root_store, sync="manual", holder="other")
    svc.commit_table(T, [], [SetPropertiesUpdate(updates={"v": "1"})])
    first = svc.load_table(T).metadata_location
    read_table = svc.files.read_table
    state = {"interleaved": False}

    def slow_read(location: str) -> TableMetadata:
        result = read_table(location)
        if not state["interleaved"]:
            state["interleaved"] = True  # meanwhile: a newer commit, synced by another process
            other.commit_table(T, [], [SetPropertiesUpdate(updates={"v": "2"})])
            other.sync.sync_now()
        return result

    svc.files.read_table = slow_read  # type: ignore[method-assign]
    svc.sync.sync_now()
    newest = other.load_table(T).metadata_location
    assert newest != first
    assert (
        svc.catalog.get_table("sales", "orders").properties["iceberg.metadata-location"] == newest
    )


def test_inline_and_background_modes(root_store: ObjectStore) -> None:
    inline = make(root_store, "inline")
    inline.commit_table(T, [], [SetPropertiesUpdate(updates={"a": "1"})])
    assert (
        inline.catalog.get_table("sales", "orders").properties["iceberg.metadata-location"]
        == inline.load_table(T).metadata_location
    )
    background = service(root_store, sync="background", holder="bg")
    for i in range(5):
        background.commit_table(T, [], [SetPropertiesUpdate(updates={"a": str(i)})])
    assert background.sync.wait_idle(30)
    assert (
        background.catalog.get_table("sales", "orders").properties["iceberg.metadata-location"]
        == background.load_table(T).metadata_location
    )
    background.close()


def test_a_load_repairs_a_lagging_row(root_store: ObjectStore) -> None:
    svc = make(root_store)
    svc.commit_table(T, [], [SetPropertiesUpdate(updates={"a": "1"})])
    svc.sync.sync_now()
    crashed = service(root_store, sync="manual", holder="crashed")
    crashed.commit_table(T, [], [SetPropertiesUpdate(updates={"a": "2"})])  # never synced
    loaded = svc.load_table(T)  # schedules the repair
    svc.sync.sync_now()
    row = svc.catalog.get_table("sales", "orders")
    assert row.properties["iceberg.metadata-location"] == loaded.metadata_location


def test_the_arco_api_cannot_change_what_iceberg_owns(root_store: ObjectStore) -> None:
    svc = make(root_store, "inline")
    cat = svc.catalog
    changes: list[tuple[dict[str, Any], str]] = [
        ({"add_columns": [{"name": "q", "type": "int64"}]}, "add_columns"),
        ({"drop_columns": ["id"]}, "drop_columns"),
        ({"rename_columns": {"id": "ident"}}, "rename_columns"),
        ({"location": "s3://x/y"}, "location"),
        ({"format": "parquet"}, "format"),
    ]
    for change, field in changes:
        with pytest.raises(ValidationError, match=f"^{field}: .*Iceberg table"):
            cat.update_table("sales", "orders", **change)
    reserved: list[tuple[dict[str, Any], str]] = [
        ({"set_properties": {"iceberg.table-uuid": "x"}}, "set_properties"),
        ({"remove_properties": ["iceberg.metadata-location"]}, "remove_properties"),
    ]
    for change, field in reserved:
        with pytest.raises(ValidationError, match=f"^{field}: property .* is reserved"):
            cat.update_table("sales", "orders", **change)
    with pytest.raises(ValidationError, match=r"^properties: property .* is reserved"):
        cat.register_table("sales", "spoof", properties={"iceberg.table-uuid": "x"})
    with pytest.raises(ValidationError, match=r"^format: "):
        cat.register_table("sales", "fake-view", format="iceberg-view")
    # what Arco owns stays editable
    table = cat.update_table(
        "sales", "orders", description="orders", set_properties={"owner": "me"}
    )
    assert table.description == "orders" and table.properties["owner"] == "me"
    # a table merely labelled "iceberg" through the Arco API is an ordinary table
    cat.register_table("sales", "labelled", [{"name": "a", "type": "int64"}], format="iceberg")
    cat.update_table("sales", "labelled", add_columns=[{"name": "b", "type": "string"}])
    # the projection's own requests are built, validated and applied like any other
    request = build_request(UpdateTable, namespace="sales", name="orders", drop_columns=["id"])
    with pytest.raises(ValidationError):
        cat.submit(request)


def test_syncs_of_many_tables_share_one_catalog_commit(root_store: ObjectStore) -> None:
    svc = make(root_store)
    idents = [T] + [TableIdent(("sales",), f"t{i}") for i in range(4)]
    for ident in idents[1:]:
        svc.create_table(["sales"], create_request(ident.name))
    for ident in idents:
        svc.commit_table(ident, [], append_updates(svc.load_table(ident).metadata, 7))
    assert svc.sync.pending() == len(idents)
    version = svc.catalog.snapshot_version()
    assert svc.sync.sync_now() == len(idents)
    assert svc.catalog.snapshot_version() == version + 1
    for ident in idents:
        row = svc.catalog.get_table("sales", ident.name)
        assert (
            row.properties["iceberg.metadata-location"] == svc.load_table(ident).metadata_location
        )
        assert row.properties["iceberg.current-snapshot-id"] == "7"


def test_a_row_that_changed_during_a_batch_sync_is_read_again(root_store: ObjectStore) -> None:
    svc = make(root_store)
    svc.create_table(["sales"], create_request("other"))
    other_ident = TableIdent(("sales",), "other")
    for ident in (T, other_ident):
        svc.commit_table(ident, [], [SetPropertiesUpdate(updates={"v": "1"})])
    submit_all = svc.catalog.submit_all
    raced = {"done": False}

    def racing_submit_all(requests: Any) -> Any:
        if not raced["done"]:  # meanwhile: someone changes the first row
            raced["done"] = True
            svc.catalog.update_table("sales", "orders", description="changed")
        return submit_all(requests)

    svc.catalog.submit_all = racing_submit_all  # type: ignore[method-assign]
    assert svc.sync.sync_now() == 2
    for ident in (T, other_ident):
        row = svc.catalog.get_table("sales", ident.name)
        assert (
            row.properties["iceberg.metadata-location"] == svc.load_table(ident).metadata_location
        )
    assert svc.catalog.get_table("sales", "orders").description == "changed"


def test_background_sync_waits_its_delay_unless_flushed(root_store: ObjectStore) -> None:
    svc = make(root_store, "background")
    svc.sync.delay_s = 60.0
    svc.commit_table(T, [], [SetPropertiesUpdate(updates={"a": "1"})])
    time.sleep(0.3)
    assert svc.sync.pending() == 1  # still waiting out its delay
    lagging = svc.catalog.get_table("sales", "orders").properties["iceberg.metadata-location"]
    assert lagging != svc.pointers.read(svc.lookup(T)[2]).location
    started = time.monotonic()
    assert svc.sync.wait_idle(10)
    assert time.monotonic() - started < 5
    row = svc.catalog.get_table("sales", "orders")
    assert row.properties["iceberg.metadata-location"] == svc.load_table(T).metadata_location
    svc.sync.delay_s = 0.05
    svc.commit_table(T, [], [SetPropertiesUpdate(updates={"a": "2"})])
    deadline = time.monotonic() + 10
    while svc.sync.pending():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    row = svc.catalog.get_table("sales", "orders")
    assert row.properties["iceberg.metadata-location"] == svc.load_table(T).metadata_location
    svc.close()
