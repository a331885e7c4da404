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
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from arco.core import canonical_json
from arco.core.clock import SYSTEM_CLOCK, Clock, rfc3339_ms
from arco.core.ids import next_ulid_after
from arco.errors import (
    ArcoError,
    CommitConflictError,
    FencedError,
    IdempotencyConflictError,
    ValidationError,
)
from arco.metadata import merge
from arco.metadata.commit_log import CommitKind
from arco.metadata.domain import ApplyContext, Changes, IdempotencyRow, Request, S
from arco.metadata.layout import commit_dir, ledger_key
from arco.metadata.manifest import FileEntry, Manifest, StoredManifest, read_manifest
from arco.metadata.publish import Publisher, PublishingSteps
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

#: the result type of a submitted request
R = TypeVar("R")

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
class _Held:
    """The lease of the attempt in progress. Renewals replace it here, so no step can go on
    using (or release) a copy that a renewal superseded."""

    lease: Lease


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


class DomainWriter(PublishingSteps, Generic[S]):
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
        self._publisher = Publisher(
            store, self._domain, holder=lambda: self.holder, clock=clock, seal=self._seal
        )

    @property
    def holder(self) -> str:
        return self._lock.holder

    # --- public entry point -------------------------------------------------------------

    def submit(self, request: Request[R], idempotency_key: str | None = None) -> R:
        """Apply one request; concurrent callers are grouped into one commit."""
        op = request.validated()
        key = validate_idempotency_key(idempotency_key)
        pending = _Pending(op, key, op.request_hash(), current_request())
        self._run([pending])
        result: R = pending.future.result()
        return result

    def submit_all(self, requests: Sequence[Request[R]]) -> list[R | ArcoError]:
        """Apply several requests in as few commits as possible (one, up to ``max_batch``).

        Each request gets its own outcome, as with :meth:`submit`: its result, or the
        :class:`ArcoError` that refused it (the others still apply). A request that fails
        validation is refused without being queued.
        """
        outcomes: dict[int, R | ArcoError] = {}
        pendings: list[tuple[int, _Pending]] = []
        caller = current_request()
        for i, request in enumerate(requests):
            try:
                op = request.validated()
            except ArcoError as exc:
                outcomes[i] = exc
                continue
            pendings.append((i, _Pending(op, None, op.request_hash(), caller)))
        if pendings:
            self._run([p for _, p in pendings])
        for i, p in pendings:
            failure = p.future.exception()
            if failure is not None and not isinstance(failure, ArcoError):
                raise failure
            outcomes[i] = failure if failure is not None else p.future.result()
        return [outcomes[i] for i in range(len(requests))]

    def _run(self, pendings: list[_Pending]) -> None:
        """Queue ``pendings`` and wait until each has an outcome, committing as the leader
        when no other thread is (group commit)."""

        def done() -> bool:
            return all(p.future.done() for p in pendings)

        with self._cv:
            self._queue.extend(pendings)
            while (self._leading or self._compaction_waiting) and not done():
                self._cv.wait()
            lead = not done()
            if lead:
                self._leading = True
        if lead:
            # leader: commit what has queued up (including ours), batch after batch
            try:
                while not done():
                    batch = self._drain()
                    if not batch:  # pragma: no cover - ours are always queued or done
                        break
                    self._commit_batch(batch)
                    with self._cv:
                        self._cv.notify_all()
            finally:
                self._resign()
        self._compactions.trigger(self._last_published, self.options.checkpoint_every)

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

    def _commit_once(self, batch: list[_Pending]) -> None:
        waited = time.monotonic()
        held = _Held(self._lock.acquire())
        LOCK_WAIT.labels(self._domain).observe(time.monotonic() - waited)
        outcomes: list[tuple[_Pending, Any]] = []
        try:
            head = read_manifest(self._store, self._domain)
            state = self._loader.load(head)
            if head is not None and head.manifest.fencing_token > held.lease.fencing_token:
                raise FencedError(
                    f"lock {self._domain}: fencing token {held.lease.fencing_token} is older than the "
                    f"manifest's {head.manifest.fencing_token}"
                )
            if (
                head is not None
                and head.manifest.fencing_token < held.lease.fencing_token
                and held.lease.took_over
            ):
                head, state = self._publish_fence(head, state, held)
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
                self._publish_changes(head, changes, applied, held, now)
        finally:
            self._release(held)
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
        held: _Held,
        now: int,
    ) -> None:
        base_files = head.manifest.files if head is not None else ()
        version = changes.state.version + 1
        commit_id = next_ulid_after(head.manifest.commit_id if head is not None else None)
        self._publisher.step("ledger")
        event = {
            "event_id": commit_id,
            "event_type": f"{self._domain}.ddl",
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
        self._publisher.step("delta")
        new_files = write_files(
            self._store,
            self._spec,
            commit_dir(self._domain, version, commit_id, tier=self._spec.tier),
            "delta",
            changes.delta(),
            version,
            from_version=version,
        )
        manifest = self._publisher.successor(
            head,
            files=(*base_files, *new_files),
            checkpoint_version=changes.state.checkpoint_version,
            watermark=commit_id,
            fencing_token=held.lease.fencing_token,
            commit_id=commit_id,
        )
        self._publish(head, manifest, held, "ddl", applied, ledger_event=commit_id)
        new_state = changes.state
        new_state.version = version
        self._loader.remember(new_state)
        self._last_published = manifest
        self.commits += 1

    def _seal(self, head: StoredManifest | None, failed: Manifest) -> Manifest:
        """Seals ``head`` after ``failed`` had an unknown outcome (see :mod:`.publish`)."""
        return self._publisher.fence(
            head, after=failed.commit_id, fencing_token=failed.fencing_token
        )

    def _publish(
        self,
        head: StoredManifest | None,
        manifest: Manifest,
        held: _Held,
        kind: CommitKind,
        operations: list[dict[str, Any]],
        ledger_event: str | None = None,
    ) -> None:
        """Publish ``manifest`` under the held lease, renewed before the swap if it must be."""

        def renew() -> None:
            held.lease = self._lock.ensure_valid(held.lease, margin_ms=self.options.lease_ms // 3)

        self._publisher.publish(
            head, manifest, kind, operations, ledger_event=ledger_event, before_swap=renew
        )

    def _publish_fence(
        self, head: StoredManifest, state: S, held: _Held
    ) -> tuple[StoredManifest, S]:
        """Carry a new fencing token into the manifest right after a takeover."""
        fence = self._publisher.fence(
            head, after=head.manifest.commit_id, fencing_token=held.lease.fencing_token
        )
        self._publish(head, fence, held, "fence", [])
        published = read_manifest(self._store, self._domain)
        if published is None or published.manifest != fence:
            raise CommitConflictError(f"manifest {self._domain}: fence version was not published")
        fenced_state = state.copy()
        fenced_state.version = fence.snapshot_version
        self._loader.remember(fenced_state)
        return published, fenced_state

    def _release(self, held: _Held) -> None:
        try:
            self._lock.release(held.lease)
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
            head,
            list(todo.replaced),
            files,
            checkpoint_version=todo.last if todo.kind == "checkpoint" else None,
            pruned_keys=pruned,
            written_at_ms=started,
        )

    def _adopt(
        self,
        planned_on: StoredManifest,
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
            held = _Held(self._lock.acquire())
            try:
                current = read_manifest(self._store, self._domain)
                manifest = self._publisher.adoption(
                    current,
                    replaced,
                    files,
                    planned_on=planned_on,
                    written_at_ms=written_at_ms,
                    checkpoint_version=checkpoint_version,
                    fencing_token=held.lease.fencing_token,
                    watermark=lambda commit_id: commit_id,
                )
                if current is None or manifest is None:
                    return False
                if current.manifest.fencing_token > held.lease.fencing_token:
                    raise FencedError(f"lock {self._domain}: fenced during compaction")
                current_state = self._loader.load(current)
                kind: CommitKind = "checkpoint" if checkpoint_version is not None else "merge"
                self._publish(current, manifest, held, kind, [])
                checkpointed = manifest.checkpoint_version

                def prune(adopted: S) -> None:
                    for key in pruned_keys or ():
                        row = adopted.idempotency.get(key)
                        if row is not None and row.version <= checkpointed:
                            adopted.remove("idempotency", key)

                self._loader.remember_adopted(current_state, manifest, prune)
                self._last_published = manifest
                self.commits += 1
                return True
            finally:
                self._release(held)
        finally:
            self._resign()
