"""``arco gc``: dry run, JSON report, summary and exit codes."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from arco.catalog import Catalog, WriterOptions
from arco.cli import app
from arco.core.clock import ManualClock
from arco.storage import FaultyStore, LocalFileStore, SimulatedCrash
from gc_support import without_gc_writes

runner = CliRunner()
SCOPE = "tenant=default/workspace=default/"


FakeClock = ManualClock


def arco(root: Path, *args: str) -> Result:
    return runner.invoke(app, ["--store", f"file://{root}", *args])


def files(root: Path) -> dict[str, int]:
    """Every stored object and its size (as the store lists them)."""
    return {m.key: m.size for m in LocalFileStore(root, fsync=False).list("")}


def read(root: Path) -> Callable[[str], bytes]:
    store = LocalFileStore(root, fsync=False)
    return lambda key: store.get(key).data


def make_store(root: Path, *, age_days: float = 2) -> None:
    """A catalog with a few commits, a checkpoint and one crashed attempt, ``age_days`` old."""
    clock = FakeClock()
    opts = WriterOptions(background_checkpoints=False, checkpoint_every=4, lease_ms=2000)
    store = LocalFileStore(root, fsync=False)
    cat = Catalog(store, options=opts, clock=clock)
    cat.create_namespace("sales")
    for i in range(6):
        cat.register_table("sales", f"t{i}", [{"name": "id", "type": "int64"}])

    def crash_at_manifest(index: int, op: str, key: str) -> BaseException | None:
        if op == "put" and key.endswith("manifests/catalog.manifest.json"):
            faulty.crash_after = index
            return SimulatedCrash("crash")
        return None

    faulty = FaultyStore(store, fault=crash_at_manifest)
    with pytest.raises(SimulatedCrash):
        Catalog(faulty, options=opts, holder="dead", clock=clock).create_namespace("lost")
    t = time.time() - age_days * 86400
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (t, t))


def test_dry_run_json_reports_and_deletes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    make_store(root)
    before = files(root)
    result = arco(root, "gc", "--dry-run", "--json", "--keep-versions", "2")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    reasons = {item["reason"] for item in report["deleted"]}
    assert reasons == {"orphan_commit", "orphan_ledger_event", "unreferenced_snapshot"}
    assert all(
        item["key"].startswith(("commits/", "ledger/", "snapshots/")) for item in report["deleted"]
    )
    assert report["summary"]["orphan_commit"]["count"] == 1
    assert report["kept"]["chain_commit"] >= 7
    assert files(root) == before

    # the real run deletes exactly what the dry run reported
    result = arco(root, "gc", "--json", "--keep-versions", "2")
    assert result.exit_code == 0, result.output
    real = json.loads(result.stdout)
    assert real["deleted"] == report["deleted"]
    deleted = {SCOPE + item["key"] for item in report["deleted"]}
    assert (
        set(without_gc_writes(files(root), read(root)))
        == set(without_gc_writes(before, read(root))) - deleted
    )
    assert arco(root, "verify").exit_code == 0


def test_text_summary(tmp_path: Path) -> None:
    root = tmp_path / "store"
    make_store(root)
    result = arco(root, "gc", "--dry-run", "--keep-versions", "1")
    assert result.exit_code == 0, result.output
    assert "would delete" in result.stdout
    assert "unreferenced_snapshot" in result.stdout and "orphan_commit" in result.stdout
    assert "kept: " in result.stdout and "chain_commit=" in result.stdout

    result = arco(root, "gc", "--keep-versions", "1")
    assert result.exit_code == 0, result.output
    assert "deleted" in result.stdout and "would" not in result.stdout
    again = arco(root, "gc", "--keep-versions", "1")
    assert again.exit_code == 0, again.output
    assert "deleted 0 object(s), 0 B" in again.stdout


def test_min_age_keeps_recent_objects(tmp_path: Path) -> None:
    root = tmp_path / "store"
    make_store(root, age_days=0)
    before = files(root)
    result = arco(root, "gc", "--keep-versions", "1")  # default --min-age 3600
    assert result.exit_code == 0, result.output
    assert "deleted 0 object(s)" in result.stdout
    assert without_gc_writes(files(root), read(root)) == without_gc_writes(before, read(root))
    result = arco(root, "gc", "--json", "--min-age", "172800", "--keep-versions", "1")
    assert json.loads(result.stdout)["deleted"] == []


def test_exit_codes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    make_store(root)
    assert arco(root, "gc", "--keep-versions", "0").exit_code == 2
    assert arco(root, "gc", "--min-age", "-1").exit_code == 2
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = arco(not_a_dir, "gc")
    assert result.exit_code == 1
    assert "error:" in result.stderr


def test_iceberg_metadata_in_the_report(tmp_path: Path) -> None:
    from pyiceberg.table.update import SetPropertiesUpdate

    from arco.iceberg import TableIdent
    from iceberg_support import create_request, service

    root = tmp_path / "store"
    svc = service(LocalFileStore(root, fsync=False))
    svc.namespaces.create(["sales"])
    first = svc.create_table(["sales"], create_request("orders"))
    svc.create_table(["sales"], create_request("items"))
    svc.commit_table(
        TableIdent(("sales",), "orders"), [], [SetPropertiesUpdate(updates={"a": "1"})]
    )
    stray = svc.files.write_new(first.metadata, 9)  # a commit that lost its swap
    svc.drop_table(TableIdent(("sales",), "items"))  # without purge: an orphaned pointer
    svc.close()
    t = time.time() - 10 * 86400
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (t, t))

    result = arco(root, "verify")
    assert result.exit_code == 0, result.output
    assert "warning: iceberg: orphan_pointer" in result.stderr

    assert (
        json.loads(arco(root, "gc", "--json", "--iceberg-retention", "8640000").stdout)["summary"]
        .keys()
        .isdisjoint({"unreferenced_metadata", "orphan_pointer"})
    )
    result = arco(root, "gc", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    iceberg = sorted((i["reason"], i["key"]) for i in report["deleted"] if i["domain"] == "iceberg")
    assert [r for r, _ in iceberg] == ["orphan_metadata", "orphan_pointer", "unreferenced_metadata"]
    assert ("unreferenced_metadata", svc.files.key_of(stray)) in iceberg
    text = arco(root, "gc")
    assert text.exit_code == 0, text.output
    assert "unreferenced_metadata" in text.stdout and "orphan_pointer" in text.stdout
    assert arco(root, "verify").exit_code == 0
