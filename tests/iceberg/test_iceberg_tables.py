"""The table service: create, load, commit (requirements, retry, read-back, idempotency),
register, rename, drop."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from pyiceberg.schema import Schema
from pyiceberg.table.update import (
    AddSchemaUpdate,
    AssertCreate,
    AssertCurrentSchemaId,
    AssertDefaultSortOrderId,
    AssertDefaultSpecId,
    AssertLastAssignedFieldId,
    AssertLastAssignedPartitionId,
    AssertRefSnapshotId,
    AssertTableUUID,
    SetCurrentSchemaUpdate,
    SetLocationUpdate,
    SetPropertiesUpdate,
    TableRequirement,
    TableUpdate,
)
from pyiceberg.types import LongType, NestedField, StringType

from arco.errors import OutcomeUnknownError, TransientStorageError, VersionMismatchError
from arco.iceberg import IcebergTables, TableIdent
from arco.iceberg.errors import (
    AlreadyExists,
    BadRequest,
    CommitFailed,
    CommitStateUnknown,
    IdempotencyKeyReused,
    NoSuchNamespace,
    NoSuchTable,
)
from arco.metadata.layout import ICEBERG_POINTERS
from arco.storage import FaultyStore, ObjectStore, open_store
from iceberg_support import (
    SCHEMA,
    append_requirements,
    append_updates,
    create_request,
    service,
)

T = TableIdent(("sales",), "orders")


@pytest.fixture
def svc(root_store: ObjectStore) -> IcebergTables:
    tables = service(root_store)
    tables.namespaces.create(["sales"])
    return tables


def keys(svc: IcebergTables, prefix: str = "") -> list[str]:
    return sorted(m.key for m in svc.catalog.store.list(prefix))


def metadata_files(svc: IcebergTables) -> list[str]:
    return [k for k in keys(svc, "warehouse/") if k.endswith(".metadata.json")]


# --- create, load, list ---------------------------------------------------------------------


def test_create_and_load(svc: IcebergTables) -> None:
    created = svc.create_table(["sales"], create_request("orders", properties={"p": "1"}))
    assert created.metadata_location is not None
    assert created.metadata_location.startswith(f"{svc.files.base_url}/warehouse/sales/orders-")
    assert "/metadata/00000-" in created.metadata_location
    assert created.metadata.properties == {"p": "1"}
    loaded = svc.load_table(T)
    assert loaded == created
    assert svc.table_exists(T) and svc.table_exists(TableIdent(("SALES",), "ORDERS"))
    assert not svc.table_exists(TableIdent(("sales",), "nope"))
    assert not svc.table_exists(TableIdent(("nope",), "orders"))
    assert svc.list_tables(["sales"]).items == [T]

    row = svc.catalog.get_table("sales", "orders")
    assert row.format == "iceberg"
    assert row.location == created.metadata.location
    assert [(c.name, c.type, c.nullable, c.description) for c in row.columns] == [
        ("id", "int64", False, None),
        ("name", "string", True, "who"),
    ]
    assert row.properties == {
        "iceberg.table-uuid": str(created.metadata.table_uuid),
        "iceberg.metadata-location": created.metadata_location,
    }


def test_stage_create_writes_nothing(svc: IcebergTables) -> None:
    before = keys(svc)
    staged = svc.create_table(["sales"], create_request("orders", stage=True))
    assert staged.metadata_location is None
    assert staged.metadata.schema().fields == SCHEMA.fields
    assert keys(svc) == before
    assert not svc.table_exists(T)


def test_create_errors(svc: IcebergTables) -> None:
    with pytest.raises(NoSuchNamespace):
        svc.create_table(["nope"], create_request("orders"))
    svc.create_table(["sales"], create_request("orders"))
    with pytest.raises(AlreadyExists):
        svc.create_table(["sales"], create_request("ORDERS"))
    svc.catalog.register_table("sales", "plain")
    with pytest.raises(AlreadyExists):
        svc.create_table(["sales"], create_request("plain"))
    with pytest.raises(NoSuchTable):
        svc.load_table(TableIdent(("sales",), "plain"))  # an Arco table, not an Iceberg one
    with pytest.raises(BadRequest, match="outside this workspace's storage"):
        svc.create_table(["sales"], create_request("x", location="s3://elsewhere/t"))
    with pytest.raises(BadRequest, match="at least two levels"):
        svc.create_table(
            ["sales"], create_request("x", location=f"{svc.files.base_url}/manifests/t")
        )
    with pytest.raises(BadRequest, match="name"):
        svc.create_table(["sales"], create_request("a/b"))


def test_create_at_a_given_location(svc: IcebergTables) -> None:
    location = f"{svc.files.base_url}/warehouse/custom/place/"
    created = svc.create_table(["sales"], create_request("orders", location=location))
    assert created.metadata.location == location.rstrip("/")
    assert created.metadata_location is not None
    assert created.metadata_location.startswith(location + "metadata/00000-")


def test_create_with_an_idempotency_key(svc: IcebergTables) -> None:
    first = svc.create_table(["sales"], create_request("orders"), idempotency_key="c1")
    # the table moves on; a retry still answers what the create answered
    svc.commit_table(T, [], [SetPropertiesUpdate(updates={"x": "1"})])
    again = svc.create_table(["sales"], create_request("orders"), idempotency_key="c1")
    assert again.metadata_location == first.metadata_location
    assert again.metadata.table_uuid == first.metadata.table_uuid
    with pytest.raises(IdempotencyKeyReused):
        svc.create_table(
            ["sales"], create_request("orders", properties={"a": "b"}), idempotency_key="c1"
        )
    assert len(svc.list_tables(["sales"]).items) == 1


def test_a_create_retried_after_a_crash_before_registering(
    svc: IcebergTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same key rebuilds the same uuid, file name and registration."""
    request = create_request("orders")

    def crash(*args: object, **kwargs: object) -> object:
        raise TransientStorageError("crash before the registration")

    with monkeypatch.context() as patch:
        patch.setattr(svc, "_register", crash)
        with pytest.raises(TransientStorageError):
            svc.create_table(["sales"], request, idempotency_key="c2")
    files_before = metadata_files(svc)
    created = svc.create_table(["sales"], request, idempotency_key="c2")
    assert metadata_files(svc) == files_before  # the first attempt's file was reused
    assert svc.load_table(T) == created


# --- commit -----------------------------------------------------------------------------------


def test_commit_applies_updates(svc: IcebergTables) -> None:
    created = svc.create_table(["sales"], create_request("orders"))
    md = created.metadata
    after = svc.commit_table(T, append_requirements(md), append_updates(md, 101))
    assert after.metadata.current_snapshot_id == 101
    assert after.metadata_location is not None and "/metadata/00001-" in after.metadata_location
    assert [e.metadata_file for e in after.metadata.metadata_log] == [created.metadata_location]
    assert svc.load_table(T) == after
    assert (
        svc.catalog.get_table("sales", "orders").properties["iceberg.current-snapshot-id"] == "101"
    )
    # a commit without updates changes nothing
    same = svc.commit_table(T, [AssertTableUUID(uuid=md.table_uuid)], [])
    assert same == after


def _violations(svc: IcebergTables) -> dict[str, TableRequirement]:
    md = svc.load_table(T).metadata
    return {
        "assert-create": AssertCreate(),
        "assert-table-uuid": AssertTableUUID(uuid=uuid.uuid4()),
        "assert-ref-snapshot-id": AssertRefSnapshotId.model_validate(
            {"ref": "main", "snapshot-id": 999}
        ),
        "assert-last-assigned-field-id": AssertLastAssignedFieldId.model_validate(
            {"last-assigned-field-id": md.last_column_id + 1}
        ),
        "assert-current-schema-id": AssertCurrentSchemaId.model_validate(
            {"current-schema-id": md.current_schema_id + 1}
        ),
        "assert-last-assigned-partition-id": AssertLastAssignedPartitionId.model_validate(
            {"last-assigned-partition-id": 12345}
        ),
        "assert-default-spec-id": AssertDefaultSpecId.model_validate(
            {"default-spec-id": md.default_spec_id + 1}
        ),
        "assert-default-sort-order-id": AssertDefaultSortOrderId.model_validate(
            {"default-sort-order-id": md.default_sort_order_id + 1}
        ),
    }


def _holding(svc: IcebergTables) -> list[TableRequirement]:
    md = svc.load_table(T).metadata
    return [
        AssertTableUUID(uuid=md.table_uuid),
        AssertRefSnapshotId.model_validate({"ref": "main", "snapshot-id": md.current_snapshot_id}),
        AssertLastAssignedFieldId.model_validate({"last-assigned-field-id": md.last_column_id}),
        AssertCurrentSchemaId.model_validate({"current-schema-id": md.current_schema_id}),
        AssertLastAssignedPartitionId.model_validate(
            {"last-assigned-partition-id": md.last_partition_id}
        ),
        AssertDefaultSpecId.model_validate({"default-spec-id": md.default_spec_id}),
        AssertDefaultSortOrderId.model_validate(
            {"default-sort-order-id": md.default_sort_order_id}
        ),
    ]


def test_every_requirement_type_violated_once_is_commit_failed(svc: IcebergTables) -> None:
    created = svc.create_table(["sales"], create_request("orders"))
    svc.commit_table(T, [], append_updates(created.metadata, 7))
    violations = _violations(svc)
    assert set(violations) == {
        "assert-create",
        "assert-table-uuid",
        "assert-ref-snapshot-id",
        "assert-last-assigned-field-id",
        "assert-current-schema-id",
        "assert-last-assigned-partition-id",
        "assert-default-spec-id",
        "assert-default-sort-order-id",
    }
    before = svc.load_table(T)
    files_before = metadata_files(svc)
    for name, violated in violations.items():
        # the violated requirement comes after holding ones: the error names it
        with pytest.raises(CommitFailed, match=f"sales.orders: {name}: "):
            svc.commit_table(
                T, [*_holding(svc), violated], [SetPropertiesUpdate(updates={"x": name})]
            )
    assert svc.load_table(T) == before
    assert metadata_files(svc) == files_before  # nothing written for a failed requirement
    ok = svc.commit_table(T, _holding(svc), [SetPropertiesUpdate(updates={"x": "ok"})])
    assert ok.metadata.properties["x"] == "ok"


def test_a_ref_that_must_not_exist(svc: IcebergTables) -> None:
    created = svc.create_table(["sales"], create_request("orders"))
    svc.commit_table(T, [], append_updates(created.metadata, 7))
    new_branch = AssertRefSnapshotId.model_validate({"ref": "main", "snapshot-id": None})
    with pytest.raises(CommitFailed, match=r"assert-ref-snapshot-id: .*created concurrently"):
        svc.commit_table(T, [new_branch], [])


def test_invalid_updates_are_bad_requests(svc: IcebergTables) -> None:
    svc.create_table(["sales"], create_request("orders"))
    with pytest.raises(BadRequest, match="updates: "):
        svc.commit_table(T, [], [SetCurrentSchemaUpdate.model_validate({"schema-id": 42})])
    with pytest.raises(BadRequest, match="set-location"):
        svc.commit_table(T, [], [SetLocationUpdate(location="s3://elsewhere/t")])
    with pytest.raises(NoSuchTable):
        svc.commit_table(TableIdent(("sales",), "nope"), [], [])


def _on_pointer_put(
    svc: IcebergTables, faulty: FaultyStore, action: Callable[[int], BaseException | None]
) -> None:
    """Run ``action(index)`` just before the next pointer swap (once); an exception it
    returns is raised instead of the swap."""
    done = False

    def hook(index: int, op: str, key: str) -> BaseException | None:
        nonlocal done
        if not done and op == "put" and ICEBERG_POINTERS in key:
            done = True
            return action(index)
        return None

    faulty.fault = hook


def faulty_service() -> tuple[IcebergTables, IcebergTables, FaultyStore]:
    """(service on a fault-injecting store, a second writer on the same store, the wrapper)."""
    root = open_store("memory://", retry=False)
    faulty = FaultyStore(root)
    svc = service(faulty)
    svc.namespaces.create(["sales"])
    svc.create_table(["sales"], create_request("orders"))
    return svc, service(root, holder="other"), faulty


def test_a_moved_pointer_is_retried_while_the_requirements_hold() -> None:
    svc, other, faulty = faulty_service()
    md = svc.load_table(T).metadata

    def other_commits(_: int) -> None:
        other.commit_table(T, [], [SetPropertiesUpdate(updates={"b": "2"})])

    _on_pointer_put(svc, faulty, other_commits)
    result = svc.commit_table(
        T, [AssertTableUUID(uuid=md.table_uuid)], [SetPropertiesUpdate(updates={"a": "1"})]
    )
    assert result.metadata.properties == {"a": "1", "b": "2"}
    assert len(result.metadata.metadata_log) == 2
    assert svc.load_table(T) == result


def test_a_moved_pointer_fails_once_a_requirement_breaks() -> None:
    svc, other, faulty = faulty_service()
    md = svc.load_table(T).metadata

    def other_appends(_: int) -> None:
        other.commit_table(T, [], append_updates(md, 5))

    _on_pointer_put(svc, faulty, other_appends)
    with pytest.raises(CommitFailed, match="assert-ref-snapshot-id"):
        svc.commit_table(T, append_requirements(md), append_updates(md, 6))
    assert svc.load_table(T).metadata.current_snapshot_id == 5


def test_an_unknown_swap_outcome_that_landed_is_success() -> None:
    svc, _, faulty = faulty_service()

    def lose_response(index: int) -> None:
        faulty.timeout_after_write.add(index)

    _on_pointer_put(svc, faulty, lose_response)
    result = svc.commit_table(T, [], [SetPropertiesUpdate(updates={"a": "1"})])
    assert svc.load_table(T) == result
    assert len(metadata_files(svc)) == 2


def test_an_unknown_swap_outcome_that_did_not_land_is_retried() -> None:
    svc, _, faulty = faulty_service()

    def lose(index: int) -> BaseException:
        return OutcomeUnknownError("lost before it applied")

    _on_pointer_put(svc, faulty, lose)
    result = svc.commit_table(T, [], [SetPropertiesUpdate(updates={"a": "1"})])
    assert svc.load_table(T) == result
    assert len(result.metadata.metadata_log) == 1  # applied once


def test_an_unknown_outcome_that_cannot_be_read_back_is_commit_state_unknown() -> None:
    svc, _, faulty = faulty_service()

    def lose(index: int) -> BaseException:
        # the pointer's read-back, then the commit's own
        faulty.fail_ops[index + 1] = TransientStorageError("and the read back fails")
        faulty.fail_ops[index + 2] = TransientStorageError("and again")
        return OutcomeUnknownError("lost")

    _on_pointer_put(svc, faulty, lose)
    with pytest.raises(CommitStateUnknown):
        svc.commit_table(T, [], [SetPropertiesUpdate(updates={"a": "1"})])


def test_a_swap_that_landed_behind_a_mismatch_is_not_applied_twice() -> None:
    """A retrying store may report a mismatch for a swap that landed (another writer moved
    the pointer on top before its read-back): the commit finds itself in the metadata log."""
    svc, other, faulty = faulty_service()
    schema = Schema(*SCHEMA.fields, NestedField(3, "extra", StringType()), schema_id=1)
    # apply our swap for real, let the other writer commit on top, then report a mismatch
    inner_put = faulty._inner.put
    state = {"armed": True}

    def put(key: str, data: bytes, mode: object = "overwrite") -> str:
        version = inner_put(key, data, mode)  # type: ignore[arg-type]
        if state["armed"] and ICEBERG_POINTERS in key and mode != "create":
            state["armed"] = False
            other.commit_table(T, [], [SetPropertiesUpdate(updates={"other": "1"})])
            raise VersionMismatchError("reported as a mismatch")
        return version

    faulty._inner.put = put  # type: ignore[method-assign]
    result = svc.commit_table(
        T,
        [],
        [AddSchemaUpdate(schema=schema), SetCurrentSchemaUpdate.model_validate({"schema-id": -1})],
    )
    final = svc.load_table(T)
    assert final.metadata.properties == {"other": "1"}
    assert [s.schema_id for s in final.metadata.schemas] == [0, 1]  # our schema, once
    assert result.metadata_location in [e.metadata_file for e in final.metadata.metadata_log]


def test_commit_idempotency_key(svc: IcebergTables) -> None:
    created = svc.create_table(["sales"], create_request("orders"))
    md = created.metadata
    first = svc.commit_table(
        T, append_requirements(md), append_updates(md, 11), idempotency_key="a1"
    )
    files = metadata_files(svc)
    again = svc.commit_table(
        T, append_requirements(md), append_updates(md, 11), idempotency_key="a1"
    )
    assert again == first
    assert metadata_files(svc) == files
    with pytest.raises(IdempotencyKeyReused):
        svc.commit_table(T, [], [SetPropertiesUpdate(updates={"x": "y"})], idempotency_key="a1")
    with pytest.raises(BadRequest, match="idempotency_key"):
        svc.commit_table(T, [], [], idempotency_key="")


def test_create_by_commit_after_stage_create(svc: IcebergTables) -> None:
    """What pyiceberg's create-table transaction sends: assert-create plus the initial updates."""
    from pyiceberg.table.update import (
        AddPartitionSpecUpdate,
        AddSortOrderUpdate,
        AssignUUIDUpdate,
        SetDefaultSortOrderUpdate,
        SetDefaultSpecUpdate,
        UpgradeFormatVersionUpdate,
    )

    staged = svc.create_table(["sales"], create_request("orders", stage=True)).metadata
    updates: list[TableUpdate] = [
        AssignUUIDUpdate(uuid=staged.table_uuid),
        UpgradeFormatVersionUpdate.model_validate({"format-version": staged.format_version}),
        AddSchemaUpdate(schema=staged.schema()),
        SetCurrentSchemaUpdate.model_validate({"schema-id": -1}),
        AddPartitionSpecUpdate(spec=staged.spec()),
        SetDefaultSpecUpdate.model_validate({"spec-id": -1}),
        AddSortOrderUpdate.model_validate({"sort-order": staged.sort_order()}),
        SetDefaultSortOrderUpdate.model_validate({"sort-order-id": -1}),
        SetLocationUpdate(location=staged.location),
        SetPropertiesUpdate(updates={"created": "by-commit"}),
    ]
    created = svc.commit_table(T, [AssertCreate()], updates, idempotency_key="cc")
    assert created.metadata.table_uuid == staged.table_uuid
    assert created.metadata.properties == {"created": "by-commit"}
    assert svc.load_table(T) == created
    assert svc.catalog.get_table("sales", "orders").format == "iceberg"
    # a retry with the key answers the same; without it, the table exists
    assert svc.commit_table(T, [AssertCreate()], updates, idempotency_key="cc") == created
    with pytest.raises(CommitFailed, match="assert-create"):
        svc.commit_table(T, [AssertCreate()], updates)
    with pytest.raises(CommitFailed, match="assert-table-uuid"):
        svc.commit_table(
            TableIdent(("sales",), "other"),
            [AssertCreate(), AssertTableUUID(uuid=uuid.uuid4())],
            updates,
        )


# --- register, rename, drop -------------------------------------------------------------------


def test_register_adopts_an_existing_metadata_file(svc: IcebergTables) -> None:
    created = svc.create_table(["sales"], create_request("orders"))
    location = created.metadata_location
    assert location is not None
    with pytest.raises(AlreadyExists, match="already in the catalog"):
        svc.register_table(TableIdent(("sales",), "again"), location)
    svc.drop_table(T)  # the pointer stays: registering adopts it
    registered = svc.register_table(TableIdent(("sales",), "again"), location)
    assert registered.metadata_location == location
    assert svc.load_table(TableIdent(("sales",), "again")).metadata == created.metadata
    with pytest.raises(AlreadyExists):
        svc.register_table(TableIdent(("sales",), "again"), location)
    with pytest.raises(BadRequest, match="outside"):
        svc.register_table(TableIdent(("sales",), "x"), "s3://elsewhere/m.metadata.json")
    with pytest.raises(BadRequest, match="no metadata file"):
        svc.register_table(
            TableIdent(("sales",), "x"), f"{svc.files.base_url}/warehouse/a/b/metadata/none.json"
        )


def test_register_with_an_idempotency_key(svc: IcebergTables) -> None:
    location = svc.create_table(["sales"], create_request("orders")).metadata_location
    assert location is not None
    svc.drop_table(T)
    first = svc.register_table(T, location, idempotency_key="r1")
    svc.commit_table(T, [], [SetPropertiesUpdate(updates={"x": "1"})])
    assert svc.register_table(T, location, idempotency_key="r1") == first


def test_rename_through_either_api(svc: IcebergTables) -> None:
    svc.namespaces.create(["archive"])
    created = svc.create_table(["sales"], create_request("orders"))
    moved = TableIdent(("archive",), "old_orders")
    svc.rename_table(T, moved)
    assert svc.load_table(moved).metadata == created.metadata
    assert not svc.table_exists(T)
    svc.catalog.rename_table("archive", "old_orders", "orders2", new_namespace="sales")
    assert svc.load_table(TableIdent(("sales",), "orders2")).metadata == created.metadata
    svc.create_table(["sales"], create_request("orders"))
    with pytest.raises(AlreadyExists):
        svc.rename_table(TableIdent(("sales",), "orders2"), T)
    with pytest.raises(NoSuchNamespace):
        svc.rename_table(T, TableIdent(("nope",), "x"))
    with pytest.raises(NoSuchTable):
        svc.rename_table(TableIdent(("sales",), "missing"), TableIdent(("sales",), "x"))


def test_drop_and_purge(svc: IcebergTables) -> None:
    created = svc.create_table(["sales"], create_request("orders"))
    svc.commit_table(T, [], [SetPropertiesUpdate(updates={"x": "1"})])
    other = svc.create_table(["sales"], create_request("kept"))
    svc.drop_table(T, purge=True)
    assert not svc.table_exists(T)
    uuid_ = str(created.metadata.table_uuid)
    assert not any(uuid_ in k for k in keys(svc, "iceberg/"))
    assert all(
        k.startswith(svc.files.key_of(other.metadata.location)) for k in keys(svc, "warehouse/")
    )
    with pytest.raises(NoSuchTable):
        svc.drop_table(T)
    # drop without purge keeps the files and the pointer
    svc.drop_table(TableIdent(("sales",), "kept"))
    assert len(metadata_files(svc)) == 1
    assert svc.pointers.read(str(other.metadata.table_uuid)).location == other.metadata_location


def test_a_purged_metadata_file_cannot_be_registered(svc: IcebergTables) -> None:
    """Regression: the parsed-file cache outlived the purge, so registering a deleted
    metadata file succeeded (found by the REST route tests)."""
    created = svc.create_table(["sales"], create_request("orders"))
    assert created.metadata_location is not None
    svc.drop_table(T, purge=True)
    with pytest.raises(BadRequest, match="no metadata file"):
        svc.register_table(T, created.metadata_location)


def test_drop_through_the_arco_api(svc: IcebergTables) -> None:
    svc.create_table(["sales"], create_request("orders"))
    svc.catalog.drop_table("sales", "orders")
    assert not svc.table_exists(T)
    with pytest.raises(NoSuchTable):
        svc.load_table(T)


def test_long_schema_field_types(svc: IcebergTables) -> None:
    schema = Schema(
        NestedField(1, "n", LongType(), required=True), NestedField(2, "s", StringType())
    )
    created = svc.create_table(["sales"], create_request("t2", schema=schema))
    assert created.metadata.schema().fields == schema.fields
