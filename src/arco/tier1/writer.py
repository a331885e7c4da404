"""The tier-1 write path of any domain (spec §5), with group commit.

One commit, for a batch of requests that arrived together:

1. acquire the domain lease (fencing token T); if it was taken over from an expired holder,
   first publish a *fence* version carrying T so the old holder can no longer publish;
2. load the head state and apply every request to a private copy (each request gets its own
   result or error; idempotency keys are checked against the persisted key table);
3. append the ledger event (create-only) with the requests;
4. write the delta Parquet files under a directory unique to this attempt;
5. write the commit record (create-only) embedding the new manifest;
6. publish the manifest by compare-and-swap (the commit point);
7. release the lease and hand out the results.

Everything before step 6 is invisible: a failed or crashed attempt leaves only unreferenced
objects, which nothing ever applies later. Commit cost depends on the size of the change,
not of the catalog; delta files are compacted off the critical path
(:mod:`arco.metadata.merge`) and adopted by a small commit of their own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic

from arco.core import canonical_json
from arco.core.clock import SYSTEM_CLOCK, Clock, rfc3339_ms
from arco.core.ids import next_ulid_after
from arco.errors import (
    ArcoError,
    CommitConflictError,
    CommitStateUnknownError,
    FencedError,
    IdempotencyConflictError,
    TransientStorageError,
    ValidationError,
)
from arco.maintenance.gc import DEFAULT_MIN_AGE_S
from arco.metadata import merge
from arco.metadata.commit_log import CommitKind, CommitRecord, write_commit
from arco.metadata.domain import ApplyContext, Changes, IdempotencyRow, Request, S
from arco.metadata.layout import commit_dir, ledger_key
from arco.metadata.manifest import (
    FileEntry,
    Manifest,
    StoredManifest,
    publish_manifest,
    read_manifest,
)
from arco.metadata.snapshot import SnapshotLoader, write_files
from arco.observability.metrics import (
    COMMIT_CONFLICTS,
    COMMIT_DURATION,
    FENCING_REJECTIONS,
    LOCK_WAIT,
)
from arco.observability.request_context import RequestInfo, current_request
from arco.storage.port import ObjectStore
from arco.tier1.lock import Lease, LeaseLock

log = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY = 255


def validate_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise ValidationError(
            f"idempotency_key: must be 1-{MAX_IDEMPOTENCY_KEY} printable characters"
        )
    return key


@dataclass
class _Pending:
    request: Any  # a validated Operation
    idempotency_key: str | None
    request_hash: str
    #: the HTTP (or library) request current when it was submitted: commit records name it
    caller: RequestInfo | None = None
    future: Future[Any] = field(default_factory=Future)


@dataclass
class WriterOptions:
    """Tuning knobs of the write path."""

    lease_ms: int = 15_000
    lock_wait_s: float = 60.0
    #: write a checkpoint once this many versions have accumulated since the last one
    checkpoint_every: int = 32
    #: idempotency keys older than this are dropped at the next checkpoint
    idempotency_retention_ms: int = 24 * 3600 * 1000
    #: attempts per batch when another holder fenced us out or published first
    commit_attempts: int = 3
    #: largest number of requests folded into one commit
    max_batch: int = 512
    #: run checkpoints on a background thread (long-lived processes) instead of inline
    background_checkpoints: bool = True


class DomainWriter(Generic[S]):
    """Serialises one domain's DDL in one scope through the fenced lease and the manifest CAS."""

    def __init__(
        self,
        store: ObjectStore,
        loader: SnapshotLoader[S],
        *,
        options: WriterOptions | None = None,
        holder: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._store = store
        self._loader = loader
        self._spec = loader.domain
        self._domain = loader.domain.name
        self.options = options or WriterOptions()
        self._clock = clock
        self._lock = LeaseLock(
            store,
            self._domain,
            holder=holder,
            lease_ms=self.options.lease_ms,
            wait_timeout_s=self.options.lock_wait_s,
            clock=clock,
        )
        self._queue: list[_Pending] = []
        # guards the queue and leadership: one thread at a time commits for this writer
        self._cv = threading.Condition()
        self._leading = False
        self._compaction_waiting = 0
        self._compactions = merge.CompactionRunner(
            self._domain, self.checkpoint, background=self.options.background_checkpoints
        )
        #: commits published by this writer (benchmarks divide request counts by it)
        self.commits = 0
        #: the last manifest this writer published (decides when to compact)
        self._last_published: Manifest | None = None
        #: hook for tests: called with a step name before each storage step of a commit
        self.on_step: Callable[[str], None] | None = None

    @property
    def holder(self) -> str:
        return self._lock.holder

    # --- public entry point -------------------------------------------------------------

    def submit(self, request: Request, idempotency_key: str | None = None) -> Any:
        """Apply one request; concurrent callers are grouped into one commit."""
        op = request.validated()
        key = validate_idempotency_key(idempotency_key)
        pending = _Pending(op, key, op.request_hash(), current_request())
        with self._cv:
            self._queue.append(pending)
            while (self._leading or self._compaction_waiting) and not pending.future.done():
                self._cv.wait()
            if not pending.future.done():
                self._leading = True
        if not pending.future.done():
            # leader: commit what has queued up (including our request), batch after batch
            try:
                while not pending.future.done():
                    batch = self._drain()
                    if not batch:  # pragma: no cover - our request is always queued or done
                        break
                    self._commit_batch(batch)
                    with self._cv:
                        self._cv.notify_all()
            finally:
                self._resign()
        self._compactions.trigger(self._last_published, self.options.checkpoint_every)
        return pending.future.result()

    def _lead(self) -> None:
        """Become the committing thread for a compaction: next in line after the current one.

        Callers of :meth:`submit` do not take over while a compaction waits, so a busy
        writer cannot starve its own compactions.
        """
        with self._cv:
            self._compaction_waiting += 1
            try:
                while self._leading:
                    self._cv.wait()
            finally:
                self._compaction_waiting -= 1
            self._leading = True

    def _resign(self) -> None:
        with self._cv:
            self._leading = False
            self._cv.notify_all()

    def close(self) -> None:
        """Wait for a running background checkpoint."""
        self._compactions.wait()

    def _drain(self) -> list[_Pending]:
        with self._cv:
            batch = self._queue[: self.options.max_batch]
            del self._queue[: self.options.max_batch]
        return batch

    # --- one batch ----------------------------------------------------------------------

    def _commit_batch(self, batch: list[_Pending]) -> None:
        last: ArcoError | None = None
        started = time.monotonic()
        try:
            for _ in range(self.options.commit_attempts):
                try:
                    self._commit_once(batch)
                    COMMIT_DURATION.labels(self._domain).observe(time.monotonic() - started)
                    return
                except (FencedError, CommitConflictError) as exc:
                    counter = (
                        FENCING_REJECTIONS if isinstance(exc, FencedError) else COMMIT_CONFLICTS
                    )
                    counter.labels(self._domain).inc()
                    last = exc
            assert last is not None
            self._fail(batch, last)
        except ArcoError as exc:
            self._fail(batch, exc)
        except BaseException as exc:
            # a crash (or bug) must not leave other waiting callers hanging
            self._fail(batch, exc)
            raise

    @staticmethod
    def _fail(batch: list[_Pending], exc: BaseException) -> None:
        for p in batch:
            if not p.future.done():
                p.future.set_exception(exc)

    def _step(self, name: str) -> None:
        if self.on_step is not None:
            self.on_step(name)

    def _commit_once(self, batch: list[_Pending]) -> None:
        waited = time.monotonic()
        lease = self._lock.acquire()
        LOCK_WAIT.labels(self._domain).observe(time.monotonic() - waited)
        outcomes: list[tuple[_Pending, Any]] = []
        try:
            head = read_manifest(self._store, self._domain)
            state = self._loader.load(head)
            if head is not None and head.manifest.fencing_token > lease.fencing_token:
                raise FencedError(
                    f"lock {self._domain}: fencing token {lease.fencing_token} is older than the "
                    f"manifest's {head.manifest.fencing_token}"
                )
            if (
                head is not None
                and head.manifest.fencing_token < lease.fencing_token
                and lease.took_over
            ):
                head, state = self._publish_fence(head, state, lease)
            now = self._clock.now_ms()
            version = state.version + 1
            changes = Changes(state)
            ctx = ApplyContext(version=version, now_ms=now)
            applied: list[dict[str, Any]] = []
            for p in batch:
                outcome = self._apply_one(p, changes, ctx, applied)
                outcomes.append((p, outcome))
            if not changes.empty and self._spec.derive is not None:
                self._spec.derive(changes, ctx)
            if not changes.empty:
                lease = self._publish_changes(head, changes, applied, lease, now)
        finally:
            self._release(lease)
        for p, outcome in outcomes:
            if isinstance(outcome, ArcoError):
                p.future.set_exception(outcome)
            else:
                p.future.set_result(outcome)

    def _apply_one(
        self,
        p: _Pending,
        changes: Changes[S],
        ctx: ApplyContext,
        applied: list[dict[str, Any]],
    ) -> Any:
        try:
            if p.idempotency_key is not None:
                seen = changes.state.idempotency.get(p.idempotency_key)
                if seen is not None:
                    if seen.request_hash != p.request_hash:
                        raise IdempotencyConflictError(
                            f"idempotency_key: {p.idempotency_key!r} was already used with a "
                            "different request"
                        )
                    replayed: Any = self._spec.decode_result(canonical_json.loads(seen.result))
                    return replayed
            result: Any = p.request.apply(changes, ctx)
        except ArcoError as exc:
            return exc
        if p.idempotency_key is not None:
            row = IdempotencyRow(
                idempotency_key=p.idempotency_key,
                request_hash=p.request_hash,
                operation=p.request.op,
                result=canonical_json.canonical_dumps(self._spec.encode_result(result)).decode(),
                created_at=ctx.now_ms,
                version=ctx.version,
            )
            changes.upsert("idempotency", row.idempotency_key, row)
        target = self._spec.describe_result(result)
        entry: dict[str, Any] = {
            "op": p.request.op,
            "target": target,
            "idempotency_key": p.idempotency_key,
            "request_hash": p.request_hash,
            "request": p.request.model_dump(mode="json"),
        }
        if p.caller is not None:
            if p.caller.request_id is not None:
                entry["request_id"] = p.caller.request_id
            if p.caller.subject is not None:
                entry["subject"] = p.caller.subject
        applied.append(entry)
        return result

    def _publish_changes(
        self,
        head: StoredManifest | None,
        changes: Changes[S],
        applied: list[dict[str, Any]],
        lease: Lease,
        now: int,
    ) -> Lease:
        base_files = head.manifest.files if head is not None else ()
        version = changes.state.version + 1
        commit_id = next_ulid_after(head.manifest.commit_id if head is not None else None)
        self._step("ledger")
        event = {
            "event_id": commit_id,
            "event_type": "catalog.ddl",
            "event_version": 1,
            "idempotency_key": None,  # keys are per request, inside the payload
            "occurred_at": rfc3339_ms(now),
            "source": self.holder,
            "trace_id": None,
            "payload": {"operations": applied, "snapshot_version": version},
        }
        self._store.put(
            ledger_key(self._domain, commit_id), canonical_json.canonical_dumps(event), "create"
        )
        self._step("delta")
        new_files = write_files(
            self._store,
            self._spec,
            commit_dir(self._domain, version, commit_id),
            "delta",
            changes.delta(),
            version,
            from_version=version,
        )
        manifest = self._manifest(
            head,
            version,
            changes.state.checkpoint_version,
            (*base_files, *new_files),
            commit_id,
            lease,
            now,
        )
        lease = self._publish(head, manifest, lease, "ddl", applied, ledger_event=commit_id)
        new_state = changes.state
        new_state.version = version
        self._loader.remember(new_state)
        self._last_published = manifest
        self.commits += 1
        return lease

    def _manifest(
        self,
        head: StoredManifest | None,
        version: int,
        checkpoint_version: int,
        files: tuple[FileEntry, ...],
        commit_id: str,
        lease: Lease,
        now: int,
    ) -> Manifest:
        return Manifest(
            domain=self._domain,
            snapshot_version=version,
            checkpoint_version=checkpoint_version,
            files=files,
            watermark=commit_id,
            fencing_token=lease.fencing_token,
            commit_id=commit_id,
            parent_hash=head.hash if head is not None else None,
            updated_at=rfc3339_ms(now),
        )

    def _publish(
        self,
        head: StoredManifest | None,
        manifest: Manifest,
        lease: Lease,
        kind: CommitKind,
        operations: list[dict[str, Any]],
        ledger_event: str | None = None,
        *,
        resolve_unknown: bool = True,
    ) -> Lease:
        """Write the commit record, then CAS the manifest. Returns the (renewed) lease."""
        self._step("commit")
        record = CommitRecord(
            commit_id=manifest.commit_id,
            domain=self._domain,
            kind=kind,
            snapshot_version=manifest.snapshot_version,
            parent_commit_id=head.manifest.commit_id if head is not None else None,
            holder=self.holder,
            fencing_token=lease.fencing_token,
            committed_at=manifest.updated_at,
            ledger_event=ledger_event,
            operations=operations,
            manifest=manifest,
        )
        write_commit(self._store, record)
        lease = self._lock.ensure_valid(lease, margin_ms=self.options.lease_ms // 3)
        self._step("manifest")
        try:
            publish_manifest(self._store, head, manifest)
        except TransientStorageError as exc:
            if not resolve_unknown:
                raise
            self._resolve_unknown(head, manifest, lease, exc)
        return lease

    def _resolve_unknown(
        self, head: StoredManifest | None, manifest: Manifest, lease: Lease, cause: Exception
    ) -> None:
        """The manifest CAS outcome is unknown: read back, and seal a definite failure.

        If our manifest is current, the commit succeeded. If the old one still is, we publish
        a fence version over it so that a delayed copy of our write can never land later.
        """
        try:
            current = read_manifest(self._store, self._domain)
            if current is not None and current.raw == manifest.to_bytes():
                return
            if (current.raw if current else None) != (head.raw if head else None):
                raise CommitConflictError(f"manifest {self._domain}: this commit was not published")
            fence = self._manifest(
                head,
                head.manifest.snapshot_version + 1 if head else 1,
                head.manifest.checkpoint_version if head else 0,
                head.manifest.files if head else (),
                next_ulid_after(manifest.commit_id),
                lease,
                self._clock.now_ms(),
            )
            self._publish(head, fence, lease, "fence", [], resolve_unknown=False)
        except TransientStorageError as exc:
            raise CommitStateUnknownError(
                f"manifest {self._domain}: the commit outcome is unknown (storage unavailable)"
            ) from exc
        except CommitConflictError:
            current = read_manifest(self._store, self._domain)
            if current is not None and current.raw == manifest.to_bytes():
                return
            raise
        raise CommitConflictError(
            f"manifest {self._domain}: storage failed during publish; this commit was not published"
        ) from cause

    def _publish_fence(
        self, head: StoredManifest, state: S, lease: Lease
    ) -> tuple[StoredManifest, S]:
        """Carry a new fencing token into the manifest right after a takeover."""
        m = head.manifest
        fence = self._manifest(
            head,
            m.snapshot_version + 1,
            m.checkpoint_version,
            m.files,
            next_ulid_after(m.commit_id),
            lease,
            self._clock.now_ms(),
        )
        self._publish(head, fence, lease, "fence", [])
        published = read_manifest(self._store, self._domain)
        if published is None or published.manifest != fence:
            raise CommitConflictError(f"manifest {self._domain}: fence version was not published")
        fenced_state = state.copy()
        fenced_state.version = fence.snapshot_version
        self._loader.remember(fenced_state)
        return published, fenced_state

    def _release(self, lease: Lease) -> None:
        try:
            self._lock.release(lease)
        except ArcoError as exc:  # the lease will expire; the commit outcome is unaffected
            log.warning("could not release lock %s: %s", self._domain, exc)

    # --- compaction: merged deltas and checkpoints -------------------------------------

    def checkpoint(self) -> bool:
        """Compact the head version's delta files now; False if there was nothing to do.

        See :mod:`arco.metadata.merge` for when deltas are merged and when a full
        checkpoint is written. The new files are written outside the lock and adopted by a
        small commit if the files they replace are still current.
        """
        head = read_manifest(self._store, self._domain)
        todo = merge.plan(head.manifest) if head is not None else None
        if head is None or todo is None:
            return False
        pruned: set[str] = set()
        if todo.kind == "checkpoint":
            cutoff = self._clock.now_ms() - self.options.idempotency_retention_ms
            state = self._loader.load(head)
            pruned = {key for key, row in state.idempotency.items() if row.created_at < cutoff}
        started = self._clock.now_ms()
        files = merge.write(self._store, self._loader, todo, pruned)
        return self._adopt(
            list(todo.replaced),
            files,
            checkpoint_version=todo.last if todo.kind == "checkpoint" else None,
            pruned_keys=pruned,
            written_at_ms=started,
        )

    def _adopt(
        self,
        replaced: list[FileEntry],
        files: list[FileEntry],
        *,
        checkpoint_version: int | None,
        pruned_keys: set[str] | None,
        written_at_ms: int,
    ) -> bool:
        """Commit ``files`` in place of ``replaced`` if those are all still current.

        Output written too long ago is abandoned: GC may collect unreferenced files once
        they are ``DEFAULT_MIN_AGE_S`` old, so a stalled compaction must not adopt them.
        """
        self._lead()
        try:
            lease = self._lock.acquire()
            try:
                if self._clock.now_ms() - written_at_ms > DEFAULT_MIN_AGE_S * 1000 // 2:
                    log.warning("compaction of %s stalled; its output is abandoned", self._domain)
                    return False
                current = read_manifest(self._store, self._domain)
                if current is None or not set(replaced) <= set(current.manifest.files):
                    return False  # someone else compacted first; our files are orphans
                cur = current.manifest
                if cur.fencing_token > lease.fencing_token:
                    raise FencedError(f"lock {self._domain}: fenced during compaction")
                gone = set(replaced)
                manifest = self._manifest(
                    current,
                    cur.snapshot_version + 1,
                    cur.checkpoint_version if checkpoint_version is None else checkpoint_version,
                    (*files, *(f for f in cur.files if f not in gone)),
                    next_ulid_after(cur.commit_id),
                    lease,
                    self._clock.now_ms(),
                )
                current_state = self._loader.load(current)
                kind: CommitKind = "checkpoint" if checkpoint_version is not None else "merge"
                self._publish(current, manifest, lease, kind, [])
                adopted = current_state.copy()
                for key in pruned_keys or ():
                    row = adopted.idempotency.get(key)
                    if row is not None and row.version <= manifest.checkpoint_version:
                        adopted.remove("idempotency", key)
                adopted.version = manifest.snapshot_version
                adopted.checkpoint_version = manifest.checkpoint_version
                self._loader.remember(adopted)
                self._last_published = manifest
                self.commits += 1
                return True
            finally:
                self._release(lease)
        finally:
            self._resign()
