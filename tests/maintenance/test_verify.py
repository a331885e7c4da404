"""``verify_scope`` finds every kind of damage and nothing on a healthy workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from arco.catalog import Catalog
from arco.maintenance.verify import verify_scope
from arco.metadata.commit_log import read_commit
from arco.metadata.layout import commit_key, lock_key
from arco.metadata.manifest import read_manifest
from arco.storage import LocalFileStore
from arco.tier1.lock import LeaseState
from catalog_support import FakeClock, inline_options


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    c = Catalog(
        LocalFileStore(tmp_path / "s"),
        options=inline_options(checkpoint_every=5),
        clock=FakeClock(),
    )
    c.create_namespace("a")
    for i in range(8):
        c.register_table("a", f"t{i}", [{"name": "x", "type": "int64"}])
    c.update_table("a", "t1", add_columns=[{"name": "y", "type": "string"}])
    c.drop_table("a", "t2")
    return c


def codes(c: Catalog) -> set[str]:
    return {f.code for f in verify_scope(c.store).findings}


def test_healthy_workspace_has_no_findings(cat: Catalog) -> None:
    report = verify_scope(cat.store)
    assert report.ok, report.findings
    head = read_manifest(cat.store, "catalog")
    assert head is not None
    assert report.checked["commits"] == head.manifest.snapshot_version
    assert report.checked["files"] == len(head.manifest.files)
    assert report.checked["tables"] == 7


def test_empty_workspace_is_fine(tmp_path: Path) -> None:
    assert verify_scope(Catalog(LocalFileStore(tmp_path / "e")).store).ok


def _first_file(cat: Catalog, kind: str) -> str:
    head = read_manifest(cat.store, "catalog")
    assert head is not None
    return next(f.path for f in head.manifest.files if f.kind == kind)


Damage = Callable[[Catalog], None]


def corrupt_file(cat: Catalog) -> None:
    path = _first_file(cat, "delta")
    data = bytearray(cat.store.get(path).data)
    data[len(data) // 2] ^= 0xFF
    cat.store.put(path, bytes(data))


def delete_file(cat: Catalog) -> None:
    cat.store.delete(_first_file(cat, "checkpoint"))


def delete_middle_commit(cat: Catalog) -> None:
    head = read_manifest(cat.store, "catalog")
    assert head is not None
    parent = read_commit(cat.store, "catalog", head.manifest.commit_id).parent_commit_id
    assert parent is not None
    cat.store.delete(commit_key("catalog", parent))


def rewrite_middle_commit(cat: Catalog) -> None:
    head = read_manifest(cat.store, "catalog")
    assert head is not None
    parent_id = read_commit(cat.store, "catalog", head.manifest.commit_id).parent_commit_id
    assert parent_id is not None
    record = read_commit(cat.store, "catalog", parent_id)
    forged = record.model_copy(
        update={
            "manifest": record.manifest.model_copy(
                update={"updated_at": "1999-01-01T00:00:00.000Z"}
            )
        }
    )
    cat.store.put(commit_key("catalog", parent_id), forged.to_bytes())


def lower_lock_token(cat: Catalog) -> None:
    cat.store.put(lock_key("catalog"), LeaseState("catalog", None, 0, 0).to_bytes())


@pytest.mark.parametrize(
    ("damage", "code"),
    [
        (corrupt_file, "checksum_mismatch"),
        (delete_file, "missing_file"),
        (delete_middle_commit, "broken_chain"),
        (rewrite_middle_commit, "broken_chain"),
        (lower_lock_token, "fencing_regression"),
    ],
)
def test_damage_is_found(cat: Catalog, damage: Damage, code: str) -> None:
    assert codes(cat) == set()
    damage(cat)
    assert code in codes(cat)


def test_orphans_of_failed_attempts_are_not_findings(cat: Catalog) -> None:
    cat.store.put(
        "snapshots/catalog/v000000000099-01ZZZZZZZZZZZZZZZZZZZZZZZZ/delta-tables.parquet", b"junk"
    )
    cat.store.put("commits/catalog/01ZZZZZZZZZZZZZZZZZZZZZZZZ.json", b"{}")
    assert verify_scope(cat.store).ok
