"""GC of Iceberg metadata (issue 11): what a table's pointer keeps (current file, metadata log,
pending marker, recent commits) stays; unreferenced metadata files, orphaned pointers and
decided transactions past the retention go; a commit racing GC is fenced, never broken."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from pyiceberg.catalog.rest import CreateViewRequest
from pyiceberg.schema import Schema
from pyiceberg.table.update import SetPropertiesUpdate
from pyiceberg.types import LongType, NestedField
from pyiceberg.view.metadata import ViewVersion

from arco.iceberg import IcebergTables, IcebergViews, LoadedTable, TableChange, TableIdent
from arco.maintenance import iceberg_gc
from arco.maintenance.gc import GcReport, collect_garbage
from arco.maintenance.verify import verify_scope
from arco.metadata.layout import ICEBERG_POINTERS, ICEBERG_TRANSACTIONS
from arco.storage import ForwardingStore, ObjectStore, open_store
from arco.storage.port import IfVersion, PutMode
from iceberg_support import append_requirements, append_updates, create_request, service

T = TableIdent(("sales",), "orders")
U = TableIdent(("sales",), "items")
SOON = 60_000  # GC's "now": a minute ahead of the store's clock
DAY_S = 86_400


def gc(svc: IcebergTables, *, retention_s: int = 0, min_age_s: int = 0, **kw: object) -> GcReport:
    time.sleep(0.005)  # the store's clock moves past what was just written
    return collect_garbage(
        svc.catalog.store,
        min_age_s=min_age_s,
        iceberg_retention_s=retention_s,
        now_ms=time.time_ns() // 1_000_000 + SOON,
        **kw,  # type: ignore[arg-type]
    )


def iceberg_deleted(report: GcReport) -> list[tuple[str, str]]:
    return sorted((i.reason, i.key) for i in report.deleted if i.domain == "iceberg")


def keys(svc: IcebergTables, prefix: str = "") -> list[str]:
    return sorted(m.key for m in svc.catalog.store.list(prefix))


def key(svc: IcebergTables, location: str | None) -> str:
    assert location is not None
    return svc.files.key_of(location)


def cold(svc: IcebergTables) -> IcebergTables:
    """A fresh service on the same store (no cached metadata files)."""
    return IcebergTables(svc.catalog)


def append(svc: IcebergTables, ident: TableIdent, snapshot_id: int) -> LoadedTable:
    md = svc.load_table(ident).metadata
    return svc.commit_table(ident, append_requirements(md), append_updates(md, snapshot_id))


@pytest.fixture
def svc(root_store: ObjectStore) -> IcebergTables:
    tables = service(root_store)
    tables.namespaces.create(["sales"])
    return tables


def test_keeps_the_current_file_and_the_retained_log_and_collects_the_rest(
    svc: IcebergTables,
) -> None:
    created = svc.create_table(
        ["sales"],
        create_request("orders", properties={"write.metadata.previous-versions-max": "2"}),
    )
    locations = [created.metadata_location]
    for i in range(4):
        locations.append(append(svc, T, 100 + i).metadata_location)
    current = svc.load_table(T)
    log = [e.metadata_file for e in current.metadata.metadata_log]
    assert log == locations[-3:-1]  # the table's own property trims its log to 2 entries
    before = keys(svc)

    dry = gc(svc, dry_run=True)
    expected = sorted(("unreferenced_metadata", key(svc, loc)) for loc in locations[:2])
    assert iceberg_deleted(dry) == expected
    assert keys(svc) == before  # a dry run deletes nothing (and does not fence)

    report = gc(svc)
    assert iceberg_deleted(report) == expected
    assert report.kept["referenced_metadata"] == 3
    remaining = [k for k in keys(svc, "warehouse/") if k.endswith(".metadata.json")]
    assert remaining == sorted(key(svc, loc) for loc in locations[-3:])
    assert cold(svc).load_table(T).metadata_location == current.metadata_location
    assert append(svc, T, 200).metadata_location is not None  # commits go on after the fence
    assert verify_scope(svc.catalog.store).ok


def test_the_default_keeps_every_file_of_the_log_and_the_retention_holds(
    svc: IcebergTables,
) -> None:
    svc.create_table(["sales"], create_request("orders"))
    for i in range(3):
        append(svc, T, 100 + i)
    stray = svc.files.write_new(svc.load_table(T).metadata, 99)  # a commit that lost its swap
    assert iceberg_deleted(gc(svc, retention_s=DAY_S)) == []  # younger than the retention
    assert iceberg_deleted(gc(svc)) == [("unreferenced_metadata", key(svc, stray))]
    assert len([k for k in keys(svc, "warehouse/") if k.endswith(".metadata.json")]) == 4


def test_delete_after_commit_needs_no_retention(svc: IcebergTables) -> None:
    props = {
        "write.metadata.previous-versions-max": "1",
        "write.metadata.delete-after-commit.enabled": "true",
    }
    first = svc.create_table(["sales"], create_request("orders", properties=props))
    append(svc, T, 1)
    append(svc, T, 2)
    report = gc(svc, retention_s=DAY_S)
    assert iceberg_deleted(report) == [("unreferenced_metadata", key(svc, first.metadata_location))]


def test_min_age_protects_young_files(svc: IcebergTables) -> None:
    first = svc.create_table(["sales"], create_request("orders"))
    svc.files.write_new(first.metadata, 7)
    assert iceberg_deleted(gc(svc, min_age_s=DAY_S)) == []


class PauseBeforeSwap(ForwardingStore):
    """Runs ``hook`` once, just before a compare-and-swap of a pointer (after ``skip`` of
    them have passed)."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self.hook: Callable[[], None] | None = None
        self.skip = 0

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        if self.hook is not None and ICEBERG_POINTERS in key and isinstance(mode, IfVersion):
            if self.skip:
                self.skip -= 1
            else:
                hook, self.hook = self.hook, None
                hook()
        return super().put(key, data, mode)


@pytest.mark.parametrize("fenced", [True, False], ids=["fenced", "unfenced"])
def test_a_commit_racing_gc_is_never_broken(fenced: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    store = PauseBeforeSwap(open_store("memory://"))
    svc = service(store)
    svc.namespaces.create(["sales"])
    svc.create_table(["sales"], create_request("orders"))
    append(svc, T, 1)
    if not fenced:  # what the fence prevents: the same run without it breaks the table
        monkeypatch.setattr(iceberg_gc, "_fence", lambda store, t: time.time_ns() // 1_000_000 + 1)
    reports: list[GcReport] = []
    # the commit has written its new metadata file and pauses before swapping the pointer
    store.hook = lambda: reports.append(gc(svc))
    result = append(svc, T, 2)
    collected = iceberg_deleted(reports[0])
    assert [r for r, _ in collected] == ["unreferenced_metadata"]  # the paused commit's file
    report = verify_scope(svc.catalog.store)
    if fenced:
        # the swap failed on the fenced pointer; the commit wrote its file anew and landed
        assert key(svc, result.metadata_location) not in [k for _, k in collected]
        assert report.ok, report.to_json()
        loaded = cold(svc).load_table(T)
        assert loaded.metadata_location == result.metadata_location
        assert loaded.metadata.current_snapshot_id == 2
    else:
        assert key(svc, result.metadata_location) in [k for _, k in collected]
        assert [f.code for f in report.findings] == ["missing_metadata"]


def test_a_transaction_racing_gc_commits_whole() -> None:
    store = PauseBeforeSwap(open_store("memory://"))
    svc = service(store)
    svc.namespaces.create(["sales"])
    a = svc.create_table(["sales"], create_request("orders"))
    b = svc.create_table(["sales"], create_request("items"))
    svc.files.write_new(a.metadata, 7)  # something to collect beside each table
    svc.files.write_new(b.metadata, 7)
    reports: list[GcReport] = []
    store.skip = 1  # the first table's pointer carries the marker, the second is not swapped
    store.hook = lambda: reports.append(gc(svc))
    svc.commit_transaction(
        [
            TableChange(T, [], [SetPropertiesUpdate(updates={"a": "1"})]),
            TableChange(U, [], [SetPropertiesUpdate(updates={"b": "1"})]),
        ]
    )
    # the strays and the second table's file of the fenced attempt went; then it retried
    assert [r for r, _ in iceberg_deleted(reports[0])] == ["unreferenced_metadata"] * 3
    report = verify_scope(svc.catalog.store)
    assert report.ok, report.to_json()
    fresh = cold(svc)
    assert fresh.load_table(T).metadata.properties == {"a": "1"}
    assert fresh.load_table(U).metadata.properties == {"b": "1"}


def test_orphaned_pointers_go_with_their_metadata_files_but_never_data(
    svc: IcebergTables,
) -> None:
    created = svc.create_table(["sales"], create_request("orders"))
    append(svc, T, 1)
    kept = svc.create_table(["sales"], create_request("items"))
    location = created.metadata.location
    data_key = svc.files.key_of(location) + "/data/part-0.parquet"
    svc.catalog.store.put(data_key, b"PAR1")
    svc.drop_table(T)  # without purge
    uuid_ = str(created.metadata.table_uuid)
    retained = gc(svc, retention_s=DAY_S)
    assert iceberg_deleted(retained) == []  # within the retention it can be registered again
    assert retained.kept["retained_orphan"] == 2
    report = gc(svc)
    deleted = iceberg_deleted(report)
    assert [r for r, _ in deleted] == ["orphan_metadata", "orphan_metadata", "orphan_pointer"]
    assert ("orphan_pointer", f"{ICEBERG_POINTERS}{uuid_}.json") in deleted
    assert report.deleted[-1].reason == "orphan_pointer"  # files first, the pointer last
    assert keys(svc, svc.files.key_of(location)) == [data_key]
    assert cold(svc).load_table(U).metadata_location == kept.metadata_location
    assert verify_scope(svc.catalog.store).ok


def test_a_purge_deletes_data_and_metadata(svc: IcebergTables) -> None:
    created = svc.create_table(["sales"], create_request("orders"))
    prefix = svc.files.key_of(created.metadata.location)
    svc.catalog.store.put(prefix + "/data/part-0.parquet", b"PAR1")
    svc.drop_table(T, purge=True)
    assert keys(svc, prefix) == [] and keys(svc, ICEBERG_POINTERS) == []


def test_decisions_go_once_no_pointer_names_them(svc: IcebergTables) -> None:
    svc.create_table(["sales"], create_request("orders"))
    svc.create_table(["sales"], create_request("items"))
    svc.commit_transaction(
        [
            TableChange(T, [], [SetPropertiesUpdate(updates={"a": "1"})]),
            TableChange(U, [], [SetPropertiesUpdate(updates={"b": "1"})]),
        ]
    )
    decisions = keys(svc, ICEBERG_TRANSACTIONS)
    assert len(decisions) == 1
    report = gc(svc)
    assert not [r for r, _ in iceberg_deleted(report) if r == "decided_transaction"]
    assert report.kept["pending_transaction"] == 1
    assert verify_scope(svc.catalog.store).ok
    svc.commit_table(T, [], [SetPropertiesUpdate(updates={"a": "2"})])  # clears its marker
    assert not [r for r, _ in iceberg_deleted(gc(svc)) if r == "decided_transaction"]
    svc.commit_table(U, [], [SetPropertiesUpdate(updates={"b": "2"})])
    assert ("decided_transaction", decisions[0]) in iceberg_deleted(gc(svc))
    assert cold(svc).load_table(U).metadata.properties == {"b": "2"}


def test_a_pointer_whose_metadata_is_unreadable_keeps_its_directory(svc: IcebergTables) -> None:
    created = svc.create_table(["sales"], create_request("orders"))
    stray = svc.files.write_new(created.metadata, 5)
    svc.catalog.store.put(key(svc, created.metadata_location), b"{not json")
    report = gc(svc)
    assert iceberg_deleted(report) == []
    assert report.kept["unreadable_metadata"] == 2
    assert any("unreadable" in w for w in report.warnings)
    assert key(svc, stray) in keys(svc)


def test_dropped_views_are_collected(svc: IcebergTables) -> None:
    views = IcebergViews(svc)
    schema = Schema(NestedField(1, "id", LongType(), required=True))
    version = ViewVersion.model_validate(
        {
            "version-id": 1,
            "schema-id": 0,
            "timestamp-ms": 1_700_000_000_000,
            "summary": {"engine": "test"},
            "representations": [{"type": "sql", "sql": "SELECT 1 AS id", "dialect": "spark"}],
            "default-namespace": ["sales"],
        }
    )
    request = CreateViewRequest.model_validate(
        {"name": "v", "location": None, "schema": schema, "view-version": version}
    )
    created = views.create_view(["sales"], request)
    views.create_view(["sales"], request.model_copy(update={"name": "w"}))
    assert iceberg_deleted(gc(svc)) == []  # a live view keeps its file
    views.drop_view(TableIdent(("sales",), "v"))
    deleted = iceberg_deleted(gc(svc))
    assert ("orphan_metadata", key(svc, created.metadata_location)) in deleted
    assert [r for r, _ in deleted].count("orphan_pointer") == 1
    assert views.load_view(TableIdent(("sales",), "w")).metadata_location is not None
    assert verify_scope(svc.catalog.store).ok


def test_without_iceberg_objects_gc_reports_none(svc: IcebergTables) -> None:
    report = gc(svc)
    assert iceberg_deleted(report) == []
    assert collect_garbage(svc.catalog.store, iceberg=False).deleted == []
