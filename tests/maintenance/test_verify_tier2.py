"""``verify_scope`` on the tier-2 ``executions`` domain: clean after normal work, and every
kind of damage found (files, layout, chain, fencing, watermark, rows, quarantine, lag)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_gc_tier2 import DAY_MS, MINUTE_MS, SCOPE, Tier2World, arco, real_now_ms

from arco.core.clock import rfc3339_ms
from arco.core.ids import next_ulid_after
from arco.errors import StorageError
from arco.executions import EXECUTIONS
from arco.maintenance.gc import collect_garbage
from arco.maintenance.verify import VerifyReport, verify_scope
from arco.metadata.commit_log import CommitRecord, read_commit, write_commit
from arco.metadata.layout import commit_key, ledger_prefix, manifest_key, quarantine_key
from arco.metadata.manifest import FileEntry, read_manifest
from arco.metadata.snapshot import write_files
from arco.storage import FaultyStore, ScopedStore
from arco.tier2.ingested import IngestedRow


def build(tmp_path: Path, start_ms: int | None = None) -> Tier2World:
    """Folded events (one quarantined, one duplicate), a checkpoint, more deltas after it."""
    world = Tier2World.create(tmp_path / "store", start_ms=start_ms)
    c = world.compactor
    c.compact(world.append([world.event(key=f"k{i}") for i in range(4)]))
    c.compact(world.append([world.event(bad=True), world.event(unknown=True)], 1))
    c.compact(world.append([world.event(key="k0")], 2))
    c.checkpoint()
    c.compact(world.append([world.event(key="k9", asset="raw/other")]))
    c.compact(world.append([world.event()], 1))
    world.stamp()
    world.advance(MINUTE_MS)
    return world


@pytest.fixture
def world(tmp_path: Path) -> Tier2World:
    return build(tmp_path)


def check(world: Tier2World, **kw: Any) -> VerifyReport:
    return verify_scope(world.store, now_ms=world.clock.now_ms(), **kw)


def codes(world: Tier2World, **kw: Any) -> set[str]:
    return {f.code for f in check(world, **kw).findings}


def head_files(world: Tier2World, kind: str) -> list[FileEntry]:
    head = read_manifest(world.store, "executions")
    assert head is not None
    return [f for f in head.manifest.files if f.kind == kind]


def test_healthy_workspace_has_no_findings(world: Tier2World) -> None:
    report = check(world)
    assert report.ok, report.to_json()
    head = read_manifest(world.store, "executions")
    assert head is not None
    assert report.checked["commits"] == head.manifest.snapshot_version
    assert report.checked["files"] == len(head.manifest.files)
    assert report.checked["ingested"] == 9
    assert report.checked["quarantined"] == 2
    assert report.checked["ledger_objects"] == 9
    assert head.manifest.checkpoint_version > 0
    assert head_files(world, "delta")


def test_orphans_of_crashed_rounds_are_not_findings(world: Tier2World) -> None:
    keys = world.append([world.event(bad=True) for _ in range(3)])
    for n in range(2, 14, 3):
        world.crash("compact", keys, n)
    world.crash("checkpoint", [], 8)
    world.compactor.compact(keys)
    world.stamp()
    world.advance(DAY_MS)
    assert check(world).ok, check(world).to_json()


# --- damage ----------------------------------------------------------------------------


def forge(
    world: Tier2World,
    *,
    kind: str = "compact",
    extra: tuple[FileEntry, ...] = (),
    **updates: Any,
) -> None:
    """Publish a made-up next version (record and manifest written directly)."""
    head = read_manifest(world.store, "executions")
    assert head is not None
    m = head.manifest
    new = m.model_copy(
        update={
            "snapshot_version": m.snapshot_version + 1,
            "files": (*m.files, *extra),
            "commit_id": next_ulid_after(m.commit_id),
            "parent_hash": head.hash,
            "updated_at": rfc3339_ms(world.clock.now_ms()),
            **updates,
        }
    )
    record = CommitRecord(
        commit_id=new.commit_id,
        domain="executions",
        kind=kind,  # type: ignore[arg-type]
        snapshot_version=new.snapshot_version,
        parent_commit_id=m.commit_id,
        holder="forger",
        fencing_token=new.fencing_token,
        committed_at=new.updated_at,
        manifest=new,
    )
    write_commit(world.store, record)
    world.store.put(manifest_key("executions"), new.to_bytes())


def next_version(world: Tier2World) -> int:
    head = read_manifest(world.store, "executions")
    assert head is not None
    return head.manifest.snapshot_version + 1


def flip_byte(world: Tier2World) -> None:
    path = head_files(world, "delta")[0].path
    data = bytearray(world.store.get(path).data)
    data[len(data) // 2] ^= 0xFF
    world.store.put(path, bytes(data))


def grow_file(world: Tier2World) -> None:
    path = head_files(world, "delta")[0].path
    world.store.put(path, world.store.get(path).data + b"\0")


def delete_file(world: Tier2World) -> None:
    world.store.delete(head_files(world, "checkpoint")[0].path)


def _parent_id(world: Tier2World) -> str:
    head = read_manifest(world.store, "executions")
    assert head is not None
    parent = read_commit(world.store, "executions", head.manifest.commit_id).parent_commit_id
    assert parent is not None
    return parent


def delete_middle_commit(world: Tier2World) -> None:
    world.store.delete(commit_key("executions", _parent_id(world)))


def rewrite_middle_commit(world: Tier2World) -> None:
    record = read_commit(world.store, "executions", _parent_id(world))
    forged = record.model_copy(
        update={
            "manifest": record.manifest.model_copy(
                update={"updated_at": "1999-01-01T00:00:00.000Z"}
            )
        }
    )
    world.store.put(commit_key("executions", record.commit_id), forged.to_bytes())


def manifest_differs(world: Tier2World) -> None:
    head = read_manifest(world.store, "executions")
    assert head is not None
    changed = head.manifest.model_copy(update={"updated_at": "1999-01-01T00:00:00.000Z"})
    world.store.put(manifest_key("executions"), changed.to_bytes())


def ddl_kind(world: Tier2World) -> None:
    forge(world, kind="ddl")


def fencing_up(world: Tier2World) -> None:
    forge(world, fencing_token=5)


def fencing_down(world: Tier2World) -> None:
    forge(world, fencing_token=5)
    forge(world, fencing_token=3)


def _copy_entry(world: Tier2World, path: str, **updates: Any) -> FileEntry:
    source = head_files(world, "delta")[-1]
    world.store.put(path, world.store.get(source.path).data)
    v = next_version(world)
    return source.model_copy(update={"path": path, "version": v, "from_version": v, **updates})


def foreign_path(world: Tier2World) -> None:
    forge(world, extra=(_copy_entry(world, "snapshots/executions/x/delta-ingested.parquet"),))


def unknown_table(world: Tier2World) -> None:
    entry = _copy_entry(world, "state/executions/x/delta-tables.parquet", table="tables")
    forge(world, extra=(entry,))


def delta_beyond_snapshot(world: Tier2World) -> None:
    entry = _copy_entry(world, "state/executions/x/delta-ingested.parquet")
    forge(world, extra=(entry.model_copy(update={"version": entry.version + 3}),))


def wrong_row_count(world: Tier2World) -> None:
    entry = _copy_entry(world, "state/executions/x/delta-ingested.parquet")
    forge(world, extra=(entry.model_copy(update={"rows": entry.rows + 1}),))


def row_from_the_future(world: Tier2World) -> None:
    v = next_version(world)
    _, state = world.fresh().head()
    row: IngestedRow = next(iter(state.ingested.values()))
    future = dataclasses.replace(row, version=v + 9)
    files = write_files(
        world.store,
        EXECUTIONS.spec,
        "state/executions/forged/",
        "delta",
        {"ingested": [(future, False)]},
        v,
        from_version=v,
    )
    forge(world, extra=tuple(files))


def watermark_below(world: Tier2World) -> None:
    _, state = world.fresh().head()
    forge(world, watermark=min(state.ingested))


def watermark_missing(world: Tier2World) -> None:
    forge(world, watermark=None)


def watermark_garbage(world: Tier2World) -> None:
    forge(world, watermark="not-a-ledger-name")


def watermark_never_folded(world: Tier2World) -> None:
    _, state = world.fresh().head()
    top = max(state.ingested)
    forge(world, watermark=top[:-1] + ("0" if top[-1] != "0" else "1"))  # same id, other writer


def delete_quarantine_copy(world: Tier2World) -> None:
    _, state = world.fresh().head()
    name = next(n for n, r in state.ingested.items() if r.outcome == "quarantined")
    world.store.delete(quarantine_key("executions", name))


def lagging_event(world: Tier2World) -> None:
    world.append([world.event()])
    world.advance(10 * MINUTE_MS)


def unreadable_manifest(world: Tier2World) -> None:
    world.store.put(manifest_key("executions"), b"{not json")


Damage = Callable[[Tier2World], None]


@pytest.mark.parametrize(
    ("damage", "code"),
    [
        (flip_byte, "checksum_mismatch"),
        (grow_file, "size_mismatch"),
        (delete_file, "missing_file"),
        (delete_middle_commit, "broken_chain"),
        (rewrite_middle_commit, "broken_chain"),
        (manifest_differs, "manifest_mismatch"),
        (ddl_kind, "commit_kind"),
        (fencing_up, "fencing_change"),
        (fencing_down, "fencing_regression"),
        (foreign_path, "foreign_path"),
        (unknown_table, "unknown_table"),
        (delta_beyond_snapshot, "layout"),
        (wrong_row_count, "row_count_mismatch"),
        (row_from_the_future, "row_version"),
        (watermark_below, "watermark"),
        (watermark_missing, "watermark"),
        (watermark_garbage, "watermark"),
        (watermark_never_folded, "watermark"),
        (delete_quarantine_copy, "missing_quarantine"),
        (lagging_event, "compaction_lag"),
        (unreadable_manifest, "unreadable"),
    ],
)
def test_damage_is_found(world: Tier2World, damage: Damage, code: str) -> None:
    assert codes(world) == set()
    damage(world)
    found = check(world)
    assert code in {f.code for f in found.findings}, found.to_json()
    assert {f.domain for f in found.findings} == {"executions"}


def test_quarantine_copies_past_retention_may_be_gone(world: Tier2World) -> None:
    delete_quarantine_copy(world)
    assert codes(world) == {"missing_quarantine"}
    assert codes(world, quarantine_retention_s=60) == set()


def test_lag_bound(world: Tier2World) -> None:
    keys = world.append([world.event(), world.event()], 2)
    assert codes(world) == set()  # just appended
    world.advance(299_000)
    assert codes(world) == set()
    world.advance(2_000)
    report = check(world)
    [finding] = report.findings
    assert finding.code == "compaction_lag" and finding.key in keys
    assert "2 ledger object(s)" in finding.message
    assert report.checked["uncompacted"] == 2
    assert codes(world, lag_bound_s=3600) == set()
    world.compactor.compact(keys)
    assert codes(world) == set()


def test_events_without_any_manifest(tmp_path: Path) -> None:
    world = Tier2World.create(tmp_path / "store")
    assert codes(world) == set()  # an empty workspace
    world.append([world.event()])
    world.advance(5 * MINUTE_MS + 1)
    assert codes(world) == {"compaction_lag"}
    assert codes(world, lag_bound_s=3600) == set()
    world.compactor.anti_entropy()
    assert codes(world) == set()


def test_late_events_below_the_watermark_count_too(world: Tier2World) -> None:
    # a late writer's event sorts below the watermark but is not folded
    world.append([world.event(skew_ms=DAY_MS)], 1)
    world.advance(10 * MINUTE_MS)
    assert codes(world) == {"compaction_lag"}
    world.compactor.anti_entropy()
    assert codes(world) == set()


def test_pruned_rows_keep_the_watermark_valid(world: Tier2World) -> None:
    """After GC collects every folded object and anti-entropy prunes their rows."""
    world.advance(30 * DAY_MS)
    report = collect_garbage(world.store, min_age_s=0, now_ms=world.clock.now_ms())
    assert report.deleted
    world.compactor.anti_entropy()
    world.stamp()
    _, state = world.fresh().head()
    assert len(state.ingested) == 0
    assert check(world).ok, check(world).to_json()


def test_storage_errors_become_findings(world: Tier2World) -> None:
    def storage_error(index: int, op: str, key: str) -> BaseException | None:
        return StorageError("injected") if op == "list" else None

    store = ScopedStore(FaultyStore(world.root, fault=storage_error), SCOPE)
    report = verify_scope(store, domains=("executions",), now_ms=world.clock.now_ms())
    assert [(f.domain, f.code) for f in report.findings] == [("executions", "unreadable")]


# --- CLI -------------------------------------------------------------------------------


def test_cli_verify_lag_bound(tmp_path: Path) -> None:
    world = build(tmp_path, start_ms=real_now_ms(-1))
    root = tmp_path / "store"
    result = arco(root, "verify")
    assert result.exit_code == 0, result.output
    assert "no findings" in result.stdout and "ingested=9" in result.stdout

    # an event appended (a simulated) hour later, never folded: about 23 hours old now
    world.advance(60 * MINUTE_MS)
    key = world.append([world.event()])[0]
    result = arco(root, "verify")
    assert result.exit_code == 1
    assert "compaction_lag" in result.stdout
    result = arco(root, "verify", "--json", "--lag-bound", "3600")
    assert result.exit_code == 1
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["code"] == "compaction_lag" and finding["key"] == key
    assert finding["domain"] == "executions"
    result = arco(root, "verify", "--json", "--lag-bound", str(2 * 86400))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    assert arco(root, "verify", "--lag-bound", "-5").exit_code == 2
    assert key.startswith(ledger_prefix("executions"))
