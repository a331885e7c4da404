"""``arco gc``: delete what no kept version of a domain can ever read again.

Per domain, the *live set* is every file listed by the last ``keep_versions`` manifests: the
current one and those embedded in the commit records found by walking back from it through
``parent_commit_id``. Then, never touching anything younger than ``min_age_s`` (a concurrent
writer may be about to publish it):

* a snapshot directory none of whose files is live is deleted (``unreferenced_snapshot``):
  crashed attempts, and deltas/merged/checkpoint directories superseded before the kept
  versions;
* a commit record that is not on the head's chain is deleted (``orphan_commit``: a failed or
  crashed attempt). Records on the chain are the audit trail and are never deleted (audit
  retention is a later decision);
* a ledger event referenced by a chain commit is deleted once that commit record is older
  than ``ledger_retention_s`` (``compacted_ledger_event``); one referenced by no chain commit
  is deleted (``orphan_ledger_event``: the intent of an attempt that never published).

If a chain record is missing, GC is conservative: it keeps every commit record and every
unreferenced ledger event, keeps every snapshot directory unless the kept versions could all
be read, and reports a warning.

Tier-2 domains (``executions``; Parquet under ``state/``, no lock) follow the same rules for
state directories and commit records. Their ledger and quarantine are judged against the
``ingested`` table of the *current* manifest, which is read before anything is listed (an
object folded after the listing is therefore simply kept):

* a ledger object is deleted (``compacted_ledger_event``) only if its name is in
  ``ingested`` and it is older than ``ledger_retention_s`` both by the time in its event id
  and by its last-modified time. An object that is not folded yet is never deleted, however
  old (``uncompacted_ledger_event``);
* a request record (``requests/``: what an ``Idempotency-Key`` of ``POST /events``
  answered) is deleted (``expired_request_record``) once older than the ledger retention;
* a quarantine copy is deleted (``expired_quarantine``) once it is older than
  ``quarantine_retention_s`` and either its ``ingested`` row was folded that long ago, or
  the row was pruned (the name is at or below the watermark, not in ``ingested`` and no
  longer in the ledger). A copy made by a round that never published is kept while its
  ledger object waits to be folded again (``unfolded_quarantine``).

Only ``snapshots/``/``state/``, ``commits/``, ``ledger/`` and ``quarantine/`` keys of the
given domains are ever deleted; manifests and locks are never touched. A storage error or
an unreadable record aborts the run before anything is deleted.

Before it deletes anything, GC *fences* every domain it collects: it publishes a version
with the same files (commit kind ``fence``), so every publish still in flight, which is a
compare-and-swap on an older manifest, fails (the writer or compactor retries from the new
head, writing its files anew). It then collects only objects written before the fence (and
older than ``min_age_s``): anything written later may belong to a publish that read the
fence. The one kind of publish that names files written *before* it read the manifest,
adopting compaction output, is abandoned when a fence lies between the manifest it planned
on and the one it would swap. A domain with no manifest yet cannot be fenced, so nothing of
it is collected by age. Hence the invariant: **no manifest can ever reference an object GC
deleted**, however long a writer pauses. A dry run does not fence; it reports what a run
fencing at ``now`` would delete.

Iceberg metadata (pointers, metadata files, transaction decisions; ADR 014) is collected by
:mod:`arco.maintenance.iceberg_gc` in the same run when the catalog domain is collected (``iceberg`` overrides that): unreferenced
metadata files past ``iceberg_retention_s``, pointers no catalog row references past it (with
their metadata files, never data files) and decisions no pointer names; every pointer is
fenced before anything of its directories is deleted.

The ``runs`` domain is collected like ``executions``, except that its request records are
never deleted: they are the ``run_key`` records that make triggering idempotent
(``run_key_record``), and a run key must give the same run however late it is reused.

Orchestration's attempt logs and asset output files are collected by
:mod:`arco.maintenance.run_gc` in the same run when the ``runs`` domain is collected
(``run_outputs`` overrides that): the logs of runs that ended more than ``logs_retention_s``
ago, and output files superseded by a newer materialization of their partition, or written
by attempts that failed, more than ``output_retention_s`` ago; never a partition's current
file, nor one a run that is not terminal may read (ADR 016).

Ages come from the store's ``last_modified``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from arco.core.clock import SYSTEM_CLOCK
from arco.core.ids import ulid_time_ms
from arco.domains.registry import TIER1, TIER2
from arco.errors import (
    CommitConflictError,
    CorruptStateError,
    FencedError,
    ObjectNotFoundError,
    ValidationError,
)
from arco.maintenance.iceberg_gc import ICEBERG_DOMAIN, ICEBERG_REASONS, plan_iceberg
from arco.maintenance.run_gc import (
    DEFAULT_LOGS_RETENTION_S,
    DEFAULT_OUTPUT_RETENTION_S,
    RUN_OUTPUT_DOMAIN,
    RUN_OUTPUT_REASONS,
    RunOutputPlanner,
)
from arco.metadata.commit_log import read_commit
from arco.metadata.layout import (
    commits_prefix,
    ledger_prefix,
    manifest_key,
    parse_ledger_key,
    quarantine_prefix,
    requests_prefix,
    snapshots_prefix,
)
from arco.metadata.manifest import StoredManifest, read_manifest, sha256_hex
from arco.metadata.parquet import merge_tables, read_table
from arco.metadata.publish import DEFAULT_MIN_AGE_S, Publisher
from arco.orchestration.runs.domain import RUNS
from arco.storage.port import ObjectMeta, ObjectStore
from arco.tier2.ingested import INGESTED, IngestedRow

__all__ = [
    "DEFAULT_ICEBERG_RETENTION_S",
    "DEFAULT_LOGS_RETENTION_S",
    "DEFAULT_OUTPUT_RETENTION_S",
    "REASONS",
    "GcItem",
    "GcReport",
    "collect_garbage",
    "ingested_rows",
]

#: Deletion reasons, in the order the report lists them.
#: ledger events of published commits are kept this long as the audit of intent
DEFAULT_LEDGER_RETENTION_S = 7 * 86400
#: unreferenced Iceberg metadata files, orphaned pointers and decisions are kept this long
DEFAULT_ICEBERG_RETENTION_S = 7 * 86400

REASONS = (
    "orphan_commit",
    "orphan_ledger_event",
    "compacted_ledger_event",
    "unreferenced_snapshot",
    "expired_quarantine",
    "expired_request_record",
    *ICEBERG_REASONS,
    *RUN_OUTPUT_REASONS,
)

Progress = Callable[[str], None]
#: the tier-2 domain whose request records (``run_key`` records) GC keeps
RUNS_DOMAIN = RUNS.name


@dataclass(frozen=True)
class GcItem:
    """One object GC deleted (or, in a dry run, would delete)."""

    key: str
    reason: str
    bytes: int
    domain: str = ""


@dataclass
class GcReport:
    """What a GC run deleted, and how many objects it kept for which reason."""

    dry_run: bool = False
    deleted: list[GcItem] = field(default_factory=list)
    #: objects kept, by reason: ``live_snapshot``, ``young``, ``chain_commit``,
    #: ``retained_ledger_event``, ``chain_broken``, ``unrecognised``, and for tier 2
    #: ``uncompacted_ledger_event``, ``retained_quarantine``, ``unfolded_quarantine``; for
    #: Iceberg ``referenced_metadata``, ``retained_orphan``, ``pending_transaction``,
    #: ``moved_pointer``, ``unreadable_metadata``, ``unreadable_pointer``; for the runs
    #: domain ``run_key_record``; for orchestration's logs and outputs ``active_run_log``,
    #: ``retained_run_log``, ``unknown_run_log``, ``current_output``, ``retained_output``,
    #: ``active_run_output``, ``unrecorded_output``, ``unknown_output``,
    #: ``current_not_listed``, ``undecided_output``
    kept: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def keep(self, reason: str, n: int = 1) -> None:
        self.kept[reason] = self.kept.get(reason, 0) + n

    def summary(self) -> dict[str, dict[str, int]]:
        """Count and bytes of the deleted objects, by reason."""
        out: dict[str, dict[str, int]] = {}
        for item in self.deleted:
            entry = out.setdefault(item.reason, {"count": 0, "bytes": 0})
            entry["count"] += 1
            entry["bytes"] += item.bytes
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "deleted": [item.__dict__ for item in self.deleted],
            "summary": self.summary(),
            "kept": dict(sorted(self.kept.items())),
            "warnings": list(self.warnings),
        }


def collect_garbage(
    store: ObjectStore,
    *,
    domains: tuple[str, ...] = tuple(TIER1),
    tier2_domains: tuple[str, ...] = tuple(TIER2),
    keep_versions: int = 10,
    min_age_s: int = DEFAULT_MIN_AGE_S,
    ledger_retention_s: int = DEFAULT_LEDGER_RETENTION_S,
    quarantine_retention_s: int | None = None,
    iceberg: bool | None = None,
    iceberg_retention_s: int = DEFAULT_ICEBERG_RETENTION_S,
    run_outputs: bool | None = None,
    logs_retention_s: int = DEFAULT_LOGS_RETENTION_S,
    output_retention_s: int = DEFAULT_OUTPUT_RETENTION_S,
    now_ms: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> GcReport:
    """Garbage-collect the tier-1 ``domains`` and the ``tier2_domains`` of one *scoped* store,
    and (``iceberg``; default: when the catalog is among ``domains``) its Iceberg metadata,
    and (``run_outputs``; default: when ``runs`` is among ``tier2_domains``) orchestration's
    logs and output files (see the module doc). ``quarantine_retention_s`` defaults to
    ``ledger_retention_s``.

    Every domain is planned before anything is deleted, so a storage error while listing or
    reading deletes nothing. ``dry_run`` returns the same report without deleting.
    """
    for domain in domains:
        if domain not in TIER1:
            hint = " (pass it as tier2_domains)" if domain in TIER2 else ""
            raise ValidationError(
                f"domains: {domain!r} is not a tier-1 domain GC supports ({', '.join(TIER1)}){hint}"
            )
    for domain in tier2_domains:
        if domain not in TIER2:
            raise ValidationError(
                f"tier2_domains: {domain!r} is not a tier-2 domain GC supports ({', '.join(TIER2)})"
            )
    if keep_versions < 1:
        raise ValidationError(f"keep_versions: must be at least 1 (got {keep_versions})")
    if quarantine_retention_s is None:
        quarantine_retention_s = ledger_retention_s
    retentions = (ledger_retention_s, quarantine_retention_s, iceberg_retention_s)
    if min(min_age_s, *retentions, logs_retention_s, output_retention_s) < 0:
        raise ValidationError(
            "min_age_s, ledger_retention_s, quarantine_retention_s, iceberg_retention_s, "
            "logs_retention_s and output_retention_s: must not be negative"
        )
    say = progress or (lambda _: None)
    now = SYSTEM_CLOCK.now_ms() if now_ms is None else now_ms
    report = GcReport(dry_run=dry_run)
    fenced: dict[str, _Fence | None] = {}
    for domain in (*domains, *tier2_domains):
        say(f"{domain}: fence")
        fenced[domain] = _fence(store, domain, dry_run=dry_run, now_ms=now)
    for domain in (*domains, *tier2_domains):
        plan = _Planner(
            store,
            domain,
            keep_versions,
            min_age_s,
            ledger_retention_s,
            quarantine_retention_s,
            now,
            say,
            fenced[domain],
        )
        report.deleted.extend(plan.run(report))
    with_iceberg = "catalog" in domains if iceberg is None else iceberg
    if with_iceberg:
        candidates = plan_iceberg(
            store,
            min_age_ms=min_age_s * 1000,
            retention_ms=iceberg_retention_s * 1000,
            now_ms=now,
            dry_run=dry_run,
            keep=report.keep,
            warn=report.warnings.append,
            progress=say,
        )
        report.deleted.extend(GcItem(c.key, c.reason, c.bytes, ICEBERG_DOMAIN) for c in candidates)
    if RUNS_DOMAIN in tier2_domains if run_outputs is None else run_outputs:
        outputs = RunOutputPlanner(
            store,
            min_age_ms=min_age_s * 1000,
            logs_ms=logs_retention_s * 1000,
            output_ms=output_retention_s * 1000,
            now_ms=now,
            keep=report.keep,
            warn=report.warnings.append,
            progress=say,
        ).run()
        report.deleted.extend(
            GcItem(meta.key, reason, meta.size, RUN_OUTPUT_DOMAIN) for meta, reason in outputs
        )
    if not dry_run:
        for i, item in enumerate(report.deleted, start=1):
            say(f"deleting {i}/{len(report.deleted)}: {item.key}")
            store.delete(item.key)
    return report


def _age_ms(meta: ObjectMeta, now_ms: int) -> int:
    return now_ms - int(meta.last_modified.timestamp() * 1000)


#: the holder named by GC's fence commits
GC_HOLDER = "gc"
#: fence publishes lost to writers before GC gives up (it deletes nothing then)
FENCE_ATTEMPTS = 20


@dataclass(frozen=True)
class _Fence:
    """GC's fence of one domain: when (by the store's clock) and its commit (None: dry run)."""

    at_ms: int
    commit_id: str | None


def _fence(store: ObjectStore, domain: str, *, dry_run: bool, now_ms: int) -> _Fence | None:
    """Publish GC's fence version of ``domain`` (a dry run only pretends to, at ``now_ms``);
    None if the domain has no manifest."""
    publisher = Publisher(store, domain, holder=lambda: GC_HOLDER, clock=SYSTEM_CLOCK)
    for _ in range(FENCE_ATTEMPTS):
        head = publisher.read_head()
        if head is None:
            return None
        if dry_run:
            return _Fence(now_ms, None)
        fence = publisher.fence(
            head,
            after=head.manifest.commit_id,
            fencing_token=head.manifest.fencing_token,
            # tier 2 keeps its watermark (the last folded ledger object)
            keep_watermark=domain in TIER2,
        )
        try:
            publisher.publish(head, fence, "fence", [{"op": "gc_fence"}])
        except (CommitConflictError, FencedError):
            continue  # a writer published first: fence its version instead
        meta = store.head(manifest_key(domain))
        return _Fence(int(meta.last_modified.timestamp() * 1000), fence.commit_id)
    raise CommitConflictError(
        f"gc: could not fence {domain} in {FENCE_ATTEMPTS} attempts (busy writers); nothing "
        "was deleted"
    )


def _list(store: ObjectStore, prefix: str) -> list[ObjectMeta]:
    return sorted(store.list(prefix), key=lambda m: m.key)


def ingested_rows(store: ObjectStore, head: StoredManifest | None) -> dict[str, IngestedRow]:
    """The ``ingested`` table of a tier-2 manifest (name -> row), read on its own.

    Only that table's files are read (checksums verified); tombstones (pruned rows) drop out.
    """
    if head is None:
        return {}
    files = head.manifest.files_of(INGESTED.name)
    if not files:
        return {}
    tables = []
    for entry in files:
        data = store.get(entry.path).data
        if sha256_hex(data) != entry.sha256:
            raise CorruptStateError(f"{entry.path}: checksum does not match the manifest")
        tables.append(read_table(data))
    merged = merge_tables(INGESTED, tables, live_only=True)
    return {row.name: row for row, _ in INGESTED.from_arrow(merged, INGESTED.name)}


@dataclass
class _Chain:
    """What the walk from the head found."""

    ids: set[str] = field(default_factory=set)
    #: ledger event id -> commit id of the chain commit that references it
    events: dict[str, str] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)
    manifests: int = 0
    complete: bool = True
    window_complete: bool = True
    #: the current manifest, read before anything was listed
    head: StoredManifest | None = None


class _Planner:
    def __init__(
        self,
        store: ObjectStore,
        domain: str,
        keep_versions: int,
        min_age_s: int,
        ledger_retention_s: int,
        quarantine_retention_s: int,
        now_ms: int,
        progress: Progress,
        fence: _Fence | None,
    ) -> None:
        self.store = store
        self.domain = domain
        #: when GC's fence of this domain was published (None: no manifest, nothing fenced)
        self.fenced_at_ms = fence.at_ms if fence is not None else None
        #: the commit of this run's own fence: on the chain, but neither a kept version nor
        #: a kept record (so a dry run, which does not fence, reports the same)
        self.own_fence = fence.commit_id if fence is not None else None
        self.tier2 = domain in TIER2
        self.keep_versions = keep_versions
        self.min_age_ms = min_age_s * 1000
        self.retention_ms = ledger_retention_s * 1000
        self.quarantine_ms = quarantine_retention_s * 1000
        self.now_ms = now_ms
        self.progress = progress

    def old(self, meta: ObjectMeta, min_ms: int | None = None) -> bool:
        """Old enough to collect: older than ``min_ms`` (default ``min_age``); by ``min_age``
        also written before the fence (see the module doc)."""
        if _age_ms(meta, self.now_ms) < (self.min_age_ms if min_ms is None else min_ms):
            return False
        if min_ms is not None and min_ms > self.min_age_ms:
            return True  # a retention far beyond any publish still in flight
        if self.fenced_at_ms is None:
            return False  # no manifest, no fence: an in-flight first publish may need it
        written = int(meta.last_modified.timestamp() * 1000)
        return written < self.fenced_at_ms

    def item(self, meta: ObjectMeta, reason: str) -> GcItem:
        return GcItem(meta.key, reason, meta.size, self.domain)

    def run(self, report: GcReport) -> list[GcItem]:
        chain = self.walk_chain(report)
        ingested: dict[str, IngestedRow] = {}
        if self.tier2:
            # from the manifest read *before* the ledger is listed: whatever is folded after
            # the listing below is simply kept this time
            self.progress(f"{self.domain}: ingested")
            ingested = ingested_rows(self.store, chain.head)
        self.progress(f"{self.domain}: listing commit records")
        commits = _list(self.store, commits_prefix(self.domain))
        self.progress(f"{self.domain}: listing ledger events")
        events = _list(self.store, ledger_prefix(self.domain))
        self.progress(f"{self.domain}: listing snapshots")
        snapshots = _list(self.store, snapshots_prefix(self.domain, tier=2 if self.tier2 else 1))
        if not self.tier2:
            return [
                *self.plan_commits(commits, chain, report),
                *self.plan_events(events, commits, chain, report),
                *self.plan_snapshots(snapshots, chain, report),
            ]
        self.progress(f"{self.domain}: listing quarantine")
        quarantine = _list(self.store, quarantine_prefix(self.domain))
        requests = _list(self.store, requests_prefix(self.domain))
        return [
            *self.plan_commits(commits, chain, report),
            *self.plan_tier2_events(events, ingested, report),
            *self.plan_snapshots(snapshots, chain, report),
            *self.plan_quarantine(quarantine, events, ingested, chain, report),
            *self.plan_requests(requests, report),
        ]

    def plan_requests(self, requests: list[ObjectMeta], report: GcReport) -> Iterable[GcItem]:
        """Idempotency records of tier-2 requests are honoured for the ledger retention; the
        ``run_key`` records of the runs domain for ever."""
        for meta in requests:
            if self.domain == RUNS_DOMAIN:
                report.keep("run_key_record")
            elif self.old(meta, max(self.retention_ms, self.min_age_ms)):
                yield self.item(meta, "expired_request_record")
            else:
                report.keep("retained_request_record")

    def walk_chain(self, report: GcReport) -> _Chain:
        """Follow ``parent_commit_id`` from the head to version 1 (or the first gap)."""
        chain = _Chain()
        self.progress(f"{self.domain}: manifest")
        head = read_manifest(self.store, self.domain)
        if head is None:
            return chain
        chain.head = head
        chain.live.update(f.path for f in head.manifest.files)
        chain.manifests = 1
        commit_id: str | None = head.manifest.commit_id
        depth = 0
        while commit_id is not None:
            self.progress(f"{self.domain}: commit chain ({depth} records)")
            try:
                record = read_commit(self.store, self.domain, commit_id)
            except ObjectNotFoundError:
                chain.complete = False
                chain.window_complete = chain.manifests >= self.keep_versions
                report.warnings.append(
                    f"{self.domain}: commit record {commit_id} is missing (the chain is broken "
                    f"{depth} records below the head): kept every commit record and "
                    "unreferenced ledger event"
                    + ("" if chain.window_complete else ", and every snapshot directory")
                )
                break
            if record.commit_id != commit_id or (
                record.parent_commit_id is not None and record.parent_commit_id >= commit_id
            ):
                raise CorruptStateError(
                    f"commit record {commit_id} of {self.domain}: names commit "
                    f"{record.commit_id} with parent {record.parent_commit_id}"
                )
            chain.ids.add(commit_id)
            if commit_id == self.own_fence:
                commit_id = record.parent_commit_id
                continue  # the same files as its parent, which counts as the head version
            if record.ledger_event is not None:
                chain.events[record.ledger_event] = commit_id
            if depth < self.keep_versions:
                # the head's own record embeds the head manifest: that is version 1 of K
                chain.live.update(f.path for f in record.manifest.files)
                chain.manifests = max(chain.manifests, depth + 1)
            commit_id = record.parent_commit_id
            depth += 1
        return chain

    def plan_commits(
        self, commits: list[ObjectMeta], chain: _Chain, report: GcReport
    ) -> Iterable[GcItem]:
        prefix = commits_prefix(self.domain)
        for meta in commits:
            name = meta.key[len(prefix) :]
            commit_id = name.removesuffix(".json")
            if commit_id == self.own_fence:
                continue
            if not name.endswith(".json") or "/" in name:
                report.keep("unrecognised")
            elif commit_id in chain.ids:
                report.keep("chain_commit")
            elif not chain.complete:
                report.keep("chain_broken")
            elif not self.old(meta):
                report.keep("young")
            else:
                yield self.item(meta, "orphan_commit")

    def plan_events(
        self,
        events: list[ObjectMeta],
        commits: list[ObjectMeta],
        chain: _Chain,
        report: GcReport,
    ) -> Iterable[GcItem]:
        commit_meta = {m.key: m for m in commits}
        for meta in events:
            parsed = parse_ledger_key(self.domain, meta.key)
            if parsed is None or parsed[1] is not None:
                # not a tier-1 event name (a tier-2 one has writer entropy): not ours to judge
                report.keep("unrecognised")
                continue
            event_id = parsed[0]
            commit_id = chain.events.get(event_id)
            if commit_id is not None:
                record = commit_meta.get(f"{commits_prefix(self.domain)}{commit_id}.json")
                if record is not None and self.old(record, self.retention_ms) and self.old(meta):
                    yield self.item(meta, "compacted_ledger_event")
                else:
                    report.keep("retained_ledger_event")
            elif not chain.complete:
                report.keep("chain_broken")
            elif not self.old(meta):
                report.keep("young")
            else:
                yield self.item(meta, "orphan_ledger_event")

    def plan_snapshots(
        self, snapshots: list[ObjectMeta], chain: _Chain, report: GcReport
    ) -> Iterable[GcItem]:
        prefix = snapshots_prefix(self.domain, tier=2 if self.tier2 else 1)
        dirs: dict[str, list[ObjectMeta]] = {}
        for meta in snapshots:
            rest = meta.key[len(prefix) :]
            if "/" not in rest:
                report.keep("unrecognised")
                continue
            dirs.setdefault(prefix + rest.split("/", 1)[0], []).append(meta)
        for metas in dirs.values():
            if any(m.key in chain.live for m in metas):
                report.keep("live_snapshot", len(metas))
            elif not chain.window_complete:
                report.keep("chain_broken", len(metas))
            elif not all(self.old(m) for m in metas):
                report.keep("young", len(metas))
            else:
                yield from (self.item(m, "unreferenced_snapshot") for m in metas)

    def plan_tier2_events(
        self, events: list[ObjectMeta], ingested: dict[str, IngestedRow], report: GcReport
    ) -> Iterable[GcItem]:
        """Folded objects past the retention go; an unfolded one never does."""
        prefix = ledger_prefix(self.domain)
        for meta in events:
            parsed = parse_ledger_key(self.domain, meta.key)
            if parsed is None or parsed[1] is None:
                report.keep("unrecognised")
                continue
            name = meta.key[len(prefix) : -len(".json")]
            if name not in ingested:
                report.keep("uncompacted_ledger_event")
            elif not self.old(meta):
                report.keep("young")
            elif self.now_ms - ulid_time_ms(parsed[0]) >= self.retention_ms and self.old(
                meta, self.retention_ms
            ):
                yield self.item(meta, "compacted_ledger_event")
            else:
                report.keep("retained_ledger_event")

    def plan_quarantine(
        self,
        quarantine: list[ObjectMeta],
        events: list[ObjectMeta],
        ingested: dict[str, IngestedRow],
        chain: _Chain,
        report: GcReport,
    ) -> Iterable[GcItem]:
        prefix = quarantine_prefix(self.domain)
        listed = {m.key[len(ledger_prefix(self.domain)) : -len(".json")] for m in events}
        watermark = chain.head.manifest.watermark if chain.head is not None else None
        for meta in quarantine:
            name = meta.key[len(prefix) :].removesuffix(".json")
            if not meta.key.endswith(".json") or "/" in name:
                report.keep("unrecognised")
            elif not self.old(meta):
                report.keep("young")
            elif not self.old(meta, self.quarantine_ms):
                report.keep("retained_quarantine")
            elif name in ingested:
                if self.now_ms - ingested[name].compacted_at >= self.quarantine_ms:
                    yield self.item(meta, "expired_quarantine")
                else:
                    report.keep("retained_quarantine")
            elif watermark is not None and name <= watermark and name not in listed:
                # folded, then collected from the ledger and pruned from ``ingested``
                yield self.item(meta, "expired_quarantine")
            else:
                # set aside by a round that never published: the next fold reuses it
                report.keep("unfolded_quarantine")
