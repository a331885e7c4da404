"""Compaction policy and execution for tier-1 snapshots (the LSM side of ADR 004).

Each commit adds one small delta file per table it touched. Compaction keeps the manifest
short and reads cheap without ever making a commit's cost depend on catalog size:

* while the deltas are small next to the checkpoint (under 1/8 of its rows), the newest
  deltas — plus older merged deltas no more than twice their size — are merged into one
  delta per table spanning ``from_version..version``; sizes grow geometrically, so a row is
  rewritten O(log n) times;
* once the deltas reach 1/8 of the checkpoint, a new checkpoint of every row is written.

Files are merged in Arrow kernels (newest ``version`` per key wins), off the GIL. This
module only plans and writes files; the writer adopts them with a small commit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from arco.core.ids import new_ulid
from arco.errors import ArcoError
from arco.metadata.layout import checkpoint_dir, merged_dir
from arco.metadata.manifest import FileEntry, Manifest
from arco.metadata.snapshot import SnapshotLoader, write_merged
from arco.storage.port import ObjectStore

#: a full checkpoint once the deltas hold this fraction of the checkpoint's rows
CHECKPOINT_FRACTION = 8

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompactionPlan:
    """Which files to replace, and by a merged delta or by a checkpoint."""

    kind: Literal["merge", "checkpoint"]
    replaced: tuple[FileEntry, ...]
    first: int
    last: int


def is_due(manifest: Manifest, checkpoint_every: int) -> bool:
    """True once ``checkpoint_every`` delta version ranges have accumulated."""
    return len(manifest.delta_ranges()) >= checkpoint_every


def newest_run(deltas: list[FileEntry]) -> list[FileEntry]:
    """The newest delta files, plus older ones not more than twice as big as those."""
    ranges: dict[tuple[int, int], int] = {}
    for f in deltas:
        ranges[(f.from_version, f.version)] = ranges.get((f.from_version, f.version), 0) + f.rows
    chosen: set[tuple[int, int]] = set()
    total = 0
    for rng in sorted(ranges, key=lambda r: r[1], reverse=True):
        if total and ranges[rng] > 2 * total:
            break
        chosen.add(rng)
        total += ranges[rng]
    return [f for f in deltas if (f.from_version, f.version) in chosen]


def plan(manifest: Manifest) -> CompactionPlan | None:
    """What compacting this manifest's files should do now (None: nothing worth doing)."""
    deltas = [f for f in manifest.files if f.kind == "delta"]
    if not deltas:
        return None
    delta_rows = sum(f.rows for f in deltas)
    checkpoint_rows = sum(f.rows for f in manifest.files if f.kind == "checkpoint")
    if delta_rows * CHECKPOINT_FRACTION >= checkpoint_rows:
        return CompactionPlan("checkpoint", manifest.files, 0, manifest.snapshot_version)
    run = newest_run(deltas)
    if len({(f.from_version, f.version) for f in run}) < 2:
        return None
    first = min(f.from_version for f in run)
    last = max(f.version for f in run)
    return CompactionPlan("merge", tuple(run), first, last)


def write(
    store: ObjectStore,
    loader: SnapshotLoader[Any],
    plan: CompactionPlan,
    pruned_keys: set[str],
) -> list[FileEntry]:
    """Write the plan's new files; a checkpoint leaves out the ``pruned_keys`` idempotency rows."""
    if plan.kind == "merge":
        directory = merged_dir(
            loader.domain.name, plan.first, plan.last, new_ulid(), tier=loader.domain.tier
        )
        return write_merged(
            store, loader, directory, "delta", plan.replaced, plan.last, from_version=plan.first
        )
    pruned = pa.array(sorted(pruned_keys), type=pa.string())

    def keep(table: str, merged: pa.Table) -> pa.Table:
        if table != "idempotency" or not pruned_keys:
            return merged
        return merged.filter(pc.invert(pc.is_in(merged.column("idempotency_key"), pruned)))

    directory = checkpoint_dir(loader.domain.name, plan.last, new_ulid(), tier=loader.domain.tier)
    return write_merged(
        store, loader, directory, "checkpoint", plan.replaced, plan.last, from_version=0, keep=keep
    )


class CompactionRunner:
    """Runs a domain's file compaction off the commit path, one at a time.

    ``compact`` does the work (returns whether it changed anything); it runs on a
    background thread, or inline when ``background`` is False. A failure is logged, never
    raised: compaction only tidies files, and the next trigger retries it.
    """

    def __init__(self, name: str, compact: Callable[[], bool], *, background: bool) -> None:
        self._name = name
        self._compact = compact
        self._background = background
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def trigger(self, manifest: Manifest | None, checkpoint_every: int) -> None:
        """Compact if ``manifest`` has accumulated enough delta ranges and none is running."""
        if manifest is None or not is_due(manifest, checkpoint_every):
            return
        with self._lock:
            running = self._thread
            if running is not None and running.is_alive():
                return
            if self._background:
                self._thread = threading.Thread(
                    target=self._run, name=f"arco-compaction-{self._name}", daemon=True
                )
                self._thread.start()
                return
        self._run()

    def _run(self) -> None:
        try:
            self._compact()
        except ArcoError as exc:
            log.warning("compaction of %s failed: %s", self._name, exc)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a running background compaction to finish."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
