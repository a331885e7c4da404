"""``arco verify`` over Iceberg pointers (issue 11): every pointer a catalog row names resolves
to a readable metadata file of its uuid; a lagging projection and an orphaned pointer are
warnings, not findings."""

from __future__ import annotations

import pytest
from pyiceberg.table.update import SetPropertiesUpdate

from arco.iceberg import IcebergTables, TableChange, TableIdent
from arco.iceberg.pointer import Pending, Pointer
from arco.maintenance.verify import VerifyReport, verify_scope
from arco.metadata.layout import iceberg_pointer_key
from arco.storage import ObjectStore
from iceberg_support import create_request, service

T = TableIdent(("sales",), "orders")
U = TableIdent(("sales",), "items")


@pytest.fixture
def svc(root_store: ObjectStore) -> IcebergTables:
    tables = service(root_store)
    tables.namespaces.create(["sales"])
    return tables


def verify(svc: IcebergTables) -> VerifyReport:
    return verify_scope(svc.catalog.store)


def codes(report: VerifyReport) -> list[str]:
    return sorted(f.code for f in report.findings if f.domain == "iceberg")


def warnings(report: VerifyReport) -> list[str]:
    return sorted(f.code for f in report.warnings)


def uuid_of(svc: IcebergTables, ident: TableIdent) -> str:
    return svc.lookup(ident)[2]


def test_clean_tables_verify(svc: IcebergTables) -> None:
    svc.create_table(["sales"], create_request("orders"))
    svc.create_table(["sales"], create_request("items"))
    svc.commit_transaction(
        [
            TableChange(T, [], [SetPropertiesUpdate(updates={"a": "1"})]),
            TableChange(U, [], [SetPropertiesUpdate(updates={"b": "1"})]),
        ]
    )  # both pointers carry a marker of a committed transaction
    report = verify(svc)
    assert report.ok, report.to_json()
    assert report.warnings == []
    assert report.checked["iceberg_pointers"] == 2
    assert report.checked["iceberg_metadata_files"] == 2
    assert report.to_json()["warnings"] == []


def test_a_corrupted_or_missing_metadata_file_is_a_finding(svc: IcebergTables) -> None:
    a = svc.create_table(["sales"], create_request("orders"))
    b = svc.create_table(["sales"], create_request("items"))
    store = svc.catalog.store
    assert a.metadata_location is not None and b.metadata_location is not None
    store.put(svc.files.key_of(a.metadata_location), b'{"format-version": 2}')
    store.delete(svc.files.key_of(b.metadata_location))
    report = verify(svc)
    assert codes(report) == ["missing_metadata", "unreadable_metadata"]
    assert not report.ok


def test_a_pointer_naming_a_missing_or_foreign_file_is_a_finding(svc: IcebergTables) -> None:
    a = svc.create_table(["sales"], create_request("orders"))
    b = svc.create_table(["sales"], create_request("items"))
    store = svc.catalog.store
    assert a.metadata_location is not None and b.metadata_location is not None
    gone = a.metadata_location.replace("/00000-", "/00009-")
    store.put(iceberg_pointer_key(uuid_of(svc, T)), Pointer(gone, 1).to_bytes())
    store.put(iceberg_pointer_key(uuid_of(svc, U)), Pointer(a.metadata_location, 1).to_bytes())
    report = verify(svc)
    assert codes(report) == ["missing_metadata", "uuid_mismatch"]
    assert {f.key for f in report.findings} == {
        iceberg_pointer_key(uuid_of(svc, T)),
        iceberg_pointer_key(uuid_of(svc, U)),
    }


def test_a_missing_or_corrupt_pointer_is_a_finding(svc: IcebergTables) -> None:
    svc.create_table(["sales"], create_request("orders"))
    svc.create_table(["sales"], create_request("items"))
    svc.catalog.store.delete(iceberg_pointer_key(uuid_of(svc, T)))
    svc.catalog.store.put(iceberg_pointer_key(uuid_of(svc, U)), b"[]")
    assert codes(verify(svc)) == ["corrupt_pointer", "missing_pointer"]


def test_an_undecided_marker_resolves_to_previous(svc: IcebergTables) -> None:
    a = svc.create_table(["sales"], create_request("orders"))
    assert a.metadata_location is not None
    uuid_ = uuid_of(svc, T)
    marker = Pending("t" * 32, a.metadata_location, svc.clock.now_ms())
    missing = a.metadata_location.replace("/00000-", "/00001-")
    svc.catalog.store.put(iceberg_pointer_key(uuid_), Pointer(missing, 1, marker).to_bytes())
    report = verify(svc)
    assert report.ok, report.to_json()  # the new file is not current until a decision says so
    assert warnings(report) == ["undecided_transaction"]  # the service clock is long past


def test_a_lagging_projection_and_an_orphaned_pointer_are_warnings(root_store: ObjectStore) -> None:
    svc = service(root_store, sync="manual")
    svc.namespaces.create(["sales"])
    svc.create_table(["sales"], create_request("orders"))
    svc.create_table(["sales"], create_request("items"))
    svc.commit_table(T, [], [SetPropertiesUpdate(updates={"a": "1"})])  # the row lags
    svc.drop_table(U)  # without purge: its pointer stays
    report = verify(svc)
    assert report.ok, report.to_json()
    assert warnings(report) == ["orphan_pointer", "projection_lag"]
    svc.sync.sync_now()
    assert warnings(verify(svc)) == ["orphan_pointer"]
