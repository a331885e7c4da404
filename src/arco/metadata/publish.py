"""The publish protocol: how any domain's new version becomes current (both tiers).

Every commit (a tier-1 DDL batch, a fence, a tier-2 fold, an adopted merge or checkpoint)
ends the same way, and only :class:`Publisher` implements it:

1. write the commit record (create-only), embedding the manifest about to be published, so
   the audit chain never dangles;
2. run the caller's ``before_swap`` (tier 1: renew the lease if it is about to expire);
3. compare-and-swap the manifest over the head it was built on (the commit point);
4. if storage failed so that the outcome is unknown, read the manifest back: ours is current
   → published; another successor is current → :class:`CommitConflictError`; the old head is
   still current → *seal* it when the publisher has a ``seal`` (tier 1 publishes a fence
   version over the head, so a delayed copy of our write can never land later; an
   acknowledged failure must stay a failure), then :class:`CommitConflictError`. A seal whose
   own outcome is unknown is :class:`CommitStateUnknownError`. Tier 2 needs no seal: folding
   is always allowed to happen, so a late copy landing is as good as the retry.

Compaction output (merged deltas, checkpoints) is written before the commit that adopts it;
:meth:`Publisher.adoption` builds that commit's manifest unless the output must be abandoned:
when it *stalled* (written so long ago that GC may be collecting it as unreferenced: see
:data:`DEFAULT_MIN_AGE_S`) or when the files it replaces are no longer current (someone
compacted first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from arco.core.clock import Clock, rfc3339_ms
from arco.core.ids import next_ulid_after
from arco.errors import (
    CommitConflictError,
    CommitStateUnknownError,
    StorageBusyError,
    TransientStorageError,
)
from arco.metadata.commit_log import CommitKind, CommitRecord, read_commit, write_commit
from arco.metadata.manifest import FileEntry, Manifest, StoredManifest, publish_manifest
from arco.metadata.manifest import read_manifest as read_head
from arco.storage.port import ObjectStore

__all__ = ["DEFAULT_MIN_AGE_S", "Publisher", "PublishingSteps", "Seal", "StepHook"]

log = logging.getLogger(__name__)

#: GC never collects an unreferenced object younger than this; compaction output older than
#: half of it is abandoned instead of adopted (it may be collected while being adopted)
DEFAULT_MIN_AGE_S = 3600

#: called with a step name (``commit``, ``manifest``, ...) before each storage step of a
#: commit: the one hook crash-injection tests use, in both tiers
StepHook = Callable[[str], None]

#: builds the version that seals ``head`` after a publish of ``failed`` with unknown outcome
Seal = Callable[[StoredManifest | None, Manifest], Manifest]


class Publisher:
    """Publishes new versions of one domain's manifest (see the module docstring)."""

    def __init__(
        self,
        store: ObjectStore,
        domain: str,
        *,
        holder: Callable[[], str],
        clock: Clock,
        seal: Seal | None = None,
    ) -> None:
        self._store = store
        self._domain = domain
        self._holder = holder
        self._clock = clock
        self._seal = seal
        #: see :data:`StepHook`
        self.on_step: StepHook | None = None

    def step(self, name: str) -> None:
        """Announce the next storage step to the test hook, if any."""
        if self.on_step is not None:
            self.on_step(name)

    def read_head(self) -> StoredManifest | None:
        """The domain's current manifest (None: nothing published yet)."""
        return read_head(self._store, self._domain)

    def successor(
        self,
        head: StoredManifest | None,
        *,
        files: Iterable[FileEntry],
        checkpoint_version: int,
        watermark: str | None,
        fencing_token: int,
        commit_id: str,
    ) -> Manifest:
        """The manifest of the version after ``head``."""
        return Manifest(
            domain=self._domain,
            snapshot_version=head.manifest.snapshot_version + 1 if head is not None else 1,
            checkpoint_version=checkpoint_version,
            files=tuple(files),
            watermark=watermark,
            fencing_token=fencing_token,
            commit_id=commit_id,
            parent_hash=head.hash if head is not None else None,
            updated_at=rfc3339_ms(self._clock.now_ms()),
        )

    def fence(
        self,
        head: StoredManifest | None,
        *,
        after: str,
        fencing_token: int,
        keep_watermark: bool = False,
    ) -> Manifest:
        """The version after ``head`` that changes nothing but carries ``fencing_token`` and
        a commit id after ``after``: every write conditional on ``head`` then fails. Its
        watermark is its own commit id (tier 1) or, with ``keep_watermark``, the head's."""
        m = head.manifest if head is not None else None
        commit_id = next_ulid_after(after)
        return self.successor(
            head,
            files=m.files if m is not None else (),
            checkpoint_version=m.checkpoint_version if m is not None else 0,
            watermark=m.watermark if keep_watermark and m is not None else commit_id,
            fencing_token=fencing_token,
            commit_id=commit_id,
        )

    def publish(
        self,
        head: StoredManifest | None,
        manifest: Manifest,
        kind: CommitKind,
        operations: list[dict[str, Any]],
        *,
        ledger_event: str | None = None,
        before_swap: Callable[[], None] | None = None,
    ) -> None:
        """Write the commit record, then swap ``head`` for ``manifest`` (steps 1-4)."""
        self._publish(head, manifest, kind, operations, ledger_event, before_swap)

    def _publish(
        self,
        head: StoredManifest | None,
        manifest: Manifest,
        kind: CommitKind,
        operations: list[dict[str, Any]],
        ledger_event: str | None,
        before_swap: Callable[[], None] | None,
        *,
        sealing: bool = False,
    ) -> None:
        self.step("commit")
        record = CommitRecord(
            commit_id=manifest.commit_id,
            domain=self._domain,
            kind=kind,
            snapshot_version=manifest.snapshot_version,
            parent_commit_id=head.manifest.commit_id if head is not None else None,
            holder=self._holder(),
            fencing_token=manifest.fencing_token,
            committed_at=manifest.updated_at,
            ledger_event=ledger_event,
            operations=operations,
            manifest=manifest,
        )
        write_commit(self._store, record)
        if before_swap is not None:
            before_swap()
        self.step("manifest")
        try:
            publish_manifest(self._store, head, manifest)
        except StorageBusyError:
            raise  # nothing was written: a definite failure, nothing to resolve or seal
        except TransientStorageError as exc:
            if sealing:
                raise
            self._resolve_unknown(head, manifest, before_swap, exc)

    def _resolve_unknown(
        self,
        head: StoredManifest | None,
        manifest: Manifest,
        before_swap: Callable[[], None] | None,
        cause: Exception,
    ) -> None:
        """The swap's outcome is unknown: read back, and seal a definite failure."""
        not_published = CommitConflictError(
            f"manifest {self._domain}: storage failed during publish; this commit was not published"
        )
        if self._seal is None:
            # a late copy of our write could only land while the old head is still current
            # (it is conditional on it), and is then as good as a retry: reading back is enough
            if self._is_current(manifest):
                return
            raise not_published from cause
        try:
            current = self.read_head()
            if current is not None and current.raw == manifest.to_bytes():
                return
            if (current.raw if current else None) != (head.raw if head else None):
                raise CommitConflictError(f"manifest {self._domain}: this commit was not published")
            seal = self._seal(head, manifest)
            self._publish(head, seal, "fence", [], None, before_swap, sealing=True)
        except TransientStorageError as exc:
            raise CommitStateUnknownError(
                f"manifest {self._domain}: the commit outcome is unknown (storage unavailable)"
            ) from exc
        except CommitConflictError:
            # a delayed copy of our write may have landed between the read-back and the seal
            if self._is_current(manifest):
                return
            raise
        raise not_published from cause

    def _is_current(self, manifest: Manifest) -> bool:
        current = self.read_head()
        return current is not None and current.raw == manifest.to_bytes()

    def adoption(
        self,
        current: StoredManifest | None,
        replaced: Iterable[FileEntry],
        files: Iterable[FileEntry],
        *,
        planned_on: StoredManifest,
        written_at_ms: int,
        checkpoint_version: int | None,
        fencing_token: int | None = None,
        watermark: Callable[[str], str | None] | None = None,
    ) -> Manifest | None:
        """The manifest adopting ``files`` (planned on ``planned_on``) in place of
        ``replaced``, or None to abandon them.

        Abandoned: output written more than half of :data:`DEFAULT_MIN_AGE_S` ago (stalled);
        ``replaced`` no longer all current (compacted by someone else first; our files are
        orphans for GC); or a ``fence`` version published since the plan (GC fences before it
        deletes: it may be deleting our output, written before its fence and referenced by
        nothing). ``fencing_token`` defaults to the current one; ``watermark`` maps the new
        commit id to the watermark (default: keep the current one).
        """
        if self._clock.now_ms() - written_at_ms > DEFAULT_MIN_AGE_S * 1000 // 2:
            log.warning("compaction of %s stalled; its output is abandoned", self._domain)
            return None
        gone = set(replaced)
        if current is None or not gone <= set(current.manifest.files):
            return None
        if self._fenced_since(planned_on, current):
            log.info("compaction of %s was fenced (GC or a takeover); abandoned", self._domain)
            return None
        cur = current.manifest
        commit_id = next_ulid_after(cur.commit_id)
        return self.successor(
            current,
            files=(*files, *(f for f in cur.files if f not in gone)),
            checkpoint_version=cur.checkpoint_version
            if checkpoint_version is None
            else checkpoint_version,
            watermark=cur.watermark if watermark is None else watermark(commit_id),
            fencing_token=cur.fencing_token if fencing_token is None else fencing_token,
            commit_id=commit_id,
        )

    def _fenced_since(self, planned_on: StoredManifest, current: StoredManifest) -> bool:
        """Whether a ``fence`` commit lies on the chain after ``planned_on`` up to ``current``."""
        stop = planned_on.manifest.commit_id
        commit_id: str | None = current.manifest.commit_id
        while commit_id is not None and commit_id > stop:
            record = read_commit(self._store, self._domain, commit_id)
            if record.kind == "fence":
                return True
            commit_id = record.parent_commit_id
        return False


class PublishingSteps:
    """Gives a committer (the tier-1 writer, the tier-2 compactor) the one test hook,
    ``on_step``, of the :class:`Publisher` it commits through (``self._publisher``)."""

    _publisher: Publisher

    @property
    def on_step(self) -> StepHook | None:
        """Test hook: called with a step name before each storage step of a commit."""
        return self._publisher.on_step

    @on_step.setter
    def on_step(self, hook: StepHook | None) -> None:
        self._publisher.on_step = hook
