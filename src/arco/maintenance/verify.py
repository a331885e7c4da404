"""``arco verify``: check a workspace's metadata end to end.

Checks, per tier-1 domain: the manifest parses; every listed file exists with the listed
sha256, size and Parquet row count; the checkpoint/delta layout is consistent; the commit
chain is unbroken back to version 1 (each record embeds its manifest, whose hash the next
manifest names as ``parent_hash``), versions are contiguous, commit ids increase and
fencing tokens never go down; the lock's token is not behind the manifest's; and the
decoded state obeys the catalog's invariants (parents exist, names unique).

Per tier-2 domain (``executions``, ``runs``): the same file, layout and chain checks (files under
``state/{domain}/``; commit kinds ``compact``/``checkpoint``/``merge``/``fence``; the fencing token
never changes, there is no lock); the watermark is at least every ``ingested`` name (and is
itself one, unless rows were pruned); no row is newer than the snapshot; every quarantined
row still has its quarantine copy unless it was folded more than the quarantine retention
ago; and no ledger object that is not in ``ingested`` has waited longer than the lag bound
(by its last-modified time; ``compaction_lag``), also when the domain has no manifest yet.

Iceberg (with the catalog domain, or ``iceberg=True``; domain ``iceberg``; :func:`arco.maintenance.iceberg_gc.verify_iceberg`):
every pointer a catalog row names exists and resolves (a pending marker per its transaction's
decision) to a readable metadata file of the same uuid. *Warnings*, which do not make the
report fail: a catalog row whose ``iceberg.metadata-location`` lags its pointer (the
projection is asynchronous), a pointer no catalog row references (GC collects it after the
retention), an undecided transaction past its timeout.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from arco.catalog.domain import CATALOG
from arco.catalog.search_index import all_postings, posting_id
from arco.core.clock import SYSTEM_CLOCK
from arco.core.names import name_key
from arco.domains.registry import NAMES, TIER1, TIER2
from arco.errors import ArcoError, ObjectNotFoundError
from arco.maintenance.gc import DEFAULT_LEDGER_RETENTION_S
from arco.maintenance.iceberg_gc import ICEBERG_DOMAIN, verify_iceberg
from arco.metadata.commit_log import read_commit
from arco.metadata.layout import (
    ledger_key,
    ledger_prefix,
    parse_ledger_key,
    parse_ledger_name,
    quarantine_key,
    snapshots_prefix,
)
from arco.metadata.manifest import StoredManifest, read_manifest, sha256_hex
from arco.metadata.parquet import merge_tables, parquet_row_count
from arco.metadata.snapshot import SnapshotLoader
from arco.storage.port import ObjectStore
from arco.tier1.lock import LeaseLock
from arco.tier2.ingested import OUTCOMES, IngestedRow

#: default of ``lag_bound_s``: a ledger object unfolded for longer is a finding
DEFAULT_LAG_BOUND_S = 300
#: commit kinds a tier-2 chain may hold (``fence``: a version GC published before collecting)
TIER2_KINDS = frozenset({"compact", "checkpoint", "merge", "fence"})


@dataclass(frozen=True)
class Finding:
    domain: str
    code: str
    message: str
    key: str | None = None


@dataclass
class VerifyReport:
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    #: worth a look, but not a fault (``ok`` ignores them)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, domain: str, code: str, message: str, key: str | None = None) -> None:
        self.findings.append(Finding(domain, code, message, key))

    def warn(self, domain: str, code: str, message: str, key: str | None = None) -> None:
        self.warnings.append(Finding(domain, code, message, key))

    def count(self, what: str, n: int = 1) -> None:
        self.checked[what] = self.checked.get(what, 0) + n

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": dict(sorted(self.checked.items())),
            "findings": [f.__dict__ for f in self.findings],
            "warnings": [f.__dict__ for f in self.warnings],
        }


Progress = Callable[[str], None]


@dataclass(frozen=True)
class _Tier2Options:
    lag_bound_ms: int
    quarantine_retention_ms: int
    now_ms: int


def verify_scope(
    store: ObjectStore,
    *,
    domains: tuple[str, ...] = NAMES,
    progress: Progress | None = None,
    lag_bound_s: int = DEFAULT_LAG_BOUND_S,
    quarantine_retention_s: int = DEFAULT_LEDGER_RETENTION_S,
    now_ms: int | None = None,
    iceberg: bool | None = None,
) -> VerifyReport:
    """Verify every domain of one scoped store, and (``iceberg``; default: when the catalog
    is among ``domains``) its Iceberg pointers; storage failures become findings too.

    ``lag_bound_s``, ``quarantine_retention_s`` only concern tier-2 domains; ``now_ms``
    (default: the system clock) tier 2 and Iceberg transaction timeouts.
    """
    report = VerifyReport()
    say = progress or (lambda _: None)
    opts = _Tier2Options(
        lag_bound_s * 1000,
        quarantine_retention_s * 1000,
        SYSTEM_CLOCK.now_ms() if now_ms is None else now_ms,
    )
    for domain in domains:
        try:
            if domain in TIER2:
                _verify_tier2(store, domain, report, say, opts)
            else:
                _verify_domain(store, domain, report, say)
        except ArcoError as exc:
            report.add(domain, "unreadable", f"verification stopped: {exc}")
    with_iceberg = "catalog" in domains if iceberg is None else iceberg
    if with_iceberg:
        try:
            verify_iceberg(
                store,
                error=lambda code, msg, key: report.add(ICEBERG_DOMAIN, code, msg, key),
                warning=lambda code, msg, key: report.warn(ICEBERG_DOMAIN, code, msg, key),
                count=report.count,
                progress=say,
                now_ms=opts.now_ms,
            )
        except ArcoError as exc:
            report.add(ICEBERG_DOMAIN, "unreadable", f"verification stopped: {exc}")
    return report


def _verify_domain(
    store: ObjectStore, domain: str, report: VerifyReport, progress: Progress
) -> None:
    progress(f"{domain}: manifest")
    head = read_manifest(store, domain)
    if head is None:
        return
    report.count("manifests")
    _check_files(store, domain, head, report, progress)
    _check_chain(store, domain, head, report, progress)
    _check_lock(store, domain, head, report)
    if domain == "catalog" and not any(f.domain == domain for f in report.findings):
        _check_state(store, head, report)


def _verify_tier2(
    store: ObjectStore, domain: str, report: VerifyReport, progress: Progress, opts: _Tier2Options
) -> None:
    progress(f"{domain}: manifest")
    # read before the ledger is listed: an object folded after the listing counts as folded
    head = read_manifest(store, domain)
    folded: set[str] = set()
    if head is not None:
        report.count("manifests")
        _check_files(store, domain, head, report, progress)
        pruned = _check_chain(store, domain, head, report, progress)
        if any(f.domain == domain for f in report.findings):
            return  # what is folded cannot be known from a damaged state
        progress(f"{domain}: state")
        folded = _check_tier2_state(store, domain, head, report, opts, pruned)
    progress(f"{domain}: ledger")
    _check_lag(store, domain, folded, report, opts)


def _check_tier2_state(
    store: ObjectStore,
    domain: str,
    head: StoredManifest,
    report: VerifyReport,
    opts: _Tier2Options,
    pruned: bool,
) -> set[str]:
    """Watermark, row versions and quarantine copies of a tier-2 state; the folded names."""
    spec = TIER2[domain]
    state = SnapshotLoader(store, spec).load(head)
    m = head.manifest
    rows: dict[str, IngestedRow] = dict(state.ingested.items())
    report.count("ingested", len(rows))
    for row in rows.values():
        if row.version > m.snapshot_version:
            report.add(
                domain,
                "row_version",
                f"ingested {row.name}: version {row.version} is newer than the snapshot "
                f"({m.snapshot_version})",
            )
        if row.outcome not in OUTCOMES:
            report.add(domain, "bad_outcome", f"ingested {row.name}: outcome {row.outcome!r}")
    for table, table_spec in spec.specs.items():
        if table == "ingested":
            continue
        entities = list(state.rows(table))
        report.count(table, len(entities))
        for entity in entities:
            if entity.version > m.snapshot_version:
                report.add(
                    domain,
                    "row_version",
                    f"{table} {table_spec.key_of(entity)}: version {entity.version} is newer "
                    f"than the snapshot ({m.snapshot_version})",
                )
    newest = max(rows, default=None)
    if m.watermark is None:
        if newest is not None:
            report.add(domain, "watermark", f"no watermark, but {newest} is folded")
    elif parse_ledger_name(m.watermark) is None:
        report.add(domain, "watermark", f"watermark {m.watermark!r} is not a ledger object name")
    elif newest is not None and newest > m.watermark:
        report.add(domain, "watermark", f"watermark {m.watermark} is below folded {newest}")
    elif m.watermark not in rows and not pruned:
        report.add(
            domain,
            "watermark",
            f"watermark {m.watermark} was never folded (not in ingested, and nothing was pruned)",
        )
    for row in rows.values():
        if row.outcome != "quarantined":
            continue
        report.count("quarantined")
        if opts.now_ms - row.compacted_at >= opts.quarantine_retention_ms:
            continue  # GC may have collected the copy
        key = quarantine_key(domain, row.name)
        try:
            store.head(key)
        except ObjectNotFoundError:
            report.add(
                domain,
                "missing_quarantine",
                f"ingested {row.name} was quarantined but its quarantine copy is missing",
                key,
            )
    return set(rows)


def _check_lag(
    store: ObjectStore,
    domain: str,
    folded: set[str],
    report: VerifyReport,
    opts: _Tier2Options,
) -> None:
    """No ledger object may wait unfolded for longer than the lag bound."""
    prefix = ledger_prefix(domain)
    late: list[tuple[int, str]] = []
    for meta in store.list(prefix):
        parsed = parse_ledger_key(domain, meta.key)
        if parsed is None or parsed[1] is None:
            continue  # the compactor skips these too
        report.count("ledger_objects")
        if meta.key[len(prefix) : -len(".json")] in folded:
            continue
        report.count("uncompacted")
        age = opts.now_ms - int(meta.last_modified.timestamp() * 1000)
        if age > opts.lag_bound_ms:
            late.append((age, meta.key))
    if late:
        age, key = max(late)
        report.add(
            domain,
            "compaction_lag",
            f"{len(late)} ledger object(s) not compacted after the lag bound of "
            f"{opts.lag_bound_ms // 1000}s; the oldest waited {age // 1000}s",
            key,
        )


def _check_files(
    store: ObjectStore, domain: str, head: StoredManifest, report: VerifyReport, progress: Progress
) -> None:
    m = head.manifest
    spec = TIER1.get(domain) or TIER2[domain]
    prefix = snapshots_prefix(domain, tier=spec.tier)
    checkpoints: dict[str, int] = {}
    for entry in m.files:
        progress(f"{domain}: {entry.path}")
        report.count("files")
        if not entry.path.startswith(prefix):
            report.add(
                domain,
                "foreign_path",
                f"{entry.path}: outside {prefix}",
                entry.path,
            )
        if entry.table not in spec.specs:
            report.add(
                domain, "unknown_table", f"{entry.path}: unknown table {entry.table!r}", entry.path
            )
        if entry.kind == "checkpoint":
            checkpoints[entry.table] = checkpoints.get(entry.table, 0) + 1
            if entry.version != m.checkpoint_version:
                report.add(
                    domain,
                    "layout",
                    f"{entry.path}: checkpoint of version {entry.version}, manifest says {m.checkpoint_version}",
                    entry.path,
                )
        elif not m.checkpoint_version < entry.from_version <= entry.version <= m.snapshot_version:
            report.add(
                domain,
                "layout",
                f"{entry.path}: delta versions {entry.from_version}..{entry.version} outside "
                f"({m.checkpoint_version}, {m.snapshot_version}]",
                entry.path,
            )
        try:
            data = store.get(entry.path).data
        except ObjectNotFoundError:
            report.add(
                domain,
                "missing_file",
                f"{entry.path}: listed in the manifest but missing",
                entry.path,
            )
            continue
        if len(data) != entry.bytes:
            report.add(
                domain,
                "size_mismatch",
                f"{entry.path}: {len(data)} bytes, manifest says {entry.bytes}",
                entry.path,
            )
        if sha256_hex(data) != entry.sha256:
            report.add(
                domain,
                "checksum_mismatch",
                f"{entry.path}: sha256 differs from the manifest",
                entry.path,
            )
            continue
        try:
            rows = parquet_row_count(data)
        except Exception as exc:
            report.add(domain, "unreadable_file", f"{entry.path}: {exc}", entry.path)
            continue
        if rows != entry.rows:
            report.add(
                domain,
                "row_count_mismatch",
                f"{entry.path}: {rows} rows, manifest says {entry.rows}",
                entry.path,
            )
    for table in spec.specs:
        ranges = sorted((f.from_version, f.version) for f in m.files_of(table) if f.kind == "delta")
        for (_, prev_end), (start, _) in itertools.pairwise(ranges):
            if start <= prev_end:
                report.add(
                    domain, "layout", f"overlapping delta files for {table!r} at version {start}"
                )
    if m.checkpoint_version > 0:
        for table in spec.specs:
            if checkpoints.get(table, 0) != 1:
                report.add(domain, "layout", f"checkpoint must have exactly one file for {table!r}")


def _check_chain(
    store: ObjectStore, domain: str, head: StoredManifest, report: VerifyReport, progress: Progress
) -> bool:
    """Walk the chain from the head; True if a (tier-2) commit pruned ``ingested`` rows."""
    tier2 = domain in TIER2
    pruned = False
    expected_raw = head.raw
    commit_id: str | None = head.manifest.commit_id
    child = head.manifest
    first = True
    while commit_id is not None:
        progress(f"{domain}: commit {commit_id}")
        try:
            record = read_commit(store, domain, commit_id)
        except ObjectNotFoundError:
            report.add(domain, "broken_chain", f"commit record {commit_id} is missing")
            return True  # unknown: assume the missing part pruned
        report.count("commits")
        if tier2:
            pruned = pruned or any(op.get("pruned") for op in record.operations)
            if record.kind not in TIER2_KINDS:
                report.add(
                    domain,
                    "commit_kind",
                    f"commit {commit_id}: kind {record.kind!r} is not a tier-2 commit kind",
                )
        m = record.manifest
        raw = m.to_bytes()
        if first and raw != expected_raw:
            report.add(
                domain,
                "manifest_mismatch",
                f"current manifest differs from commit record {commit_id}",
            )
        if not first:
            if sha256_hex(raw) != child.parent_hash:
                report.add(
                    domain,
                    "broken_chain",
                    f"version {child.snapshot_version}: parent_hash does not match commit {commit_id}",
                )
            if m.snapshot_version != child.snapshot_version - 1:
                report.add(
                    domain,
                    "version_gap",
                    f"version {m.snapshot_version} precedes {child.snapshot_version}",
                )
            if m.fencing_token > child.fencing_token:
                report.add(
                    domain,
                    "fencing_regression",
                    f"fencing token went from {m.fencing_token} down to {child.fencing_token} at version {child.snapshot_version}",
                )
            elif tier2 and m.fencing_token != child.fencing_token:
                report.add(
                    domain,
                    "fencing_change",
                    f"fencing token changed from {m.fencing_token} to {child.fencing_token} at "
                    f"version {child.snapshot_version} (tier 2 has no lock)",
                )
            if m.commit_id >= child.commit_id:
                report.add(
                    domain,
                    "commit_order",
                    f"commit id {child.commit_id} does not increase over {m.commit_id}",
                )
        if record.commit_id != m.commit_id or record.snapshot_version != m.snapshot_version:
            report.add(
                domain, "record_mismatch", f"commit record {commit_id} disagrees with its manifest"
            )
        if record.ledger_event is not None and _within_ledger_retention(record.committed_at):
            try:
                store.head(ledger_key(domain, record.ledger_event))
            except ObjectNotFoundError:
                report.add(
                    domain,
                    "missing_ledger_event",
                    f"commit {commit_id}: ledger event {record.ledger_event} is missing",
                )
        if record.parent_commit_id is None and (
            m.snapshot_version != 1 or m.parent_hash is not None
        ):
            report.add(
                domain,
                "broken_chain",
                f"commit {commit_id} has no parent but is version {m.snapshot_version}",
            )
        child = m
        first = False
        commit_id = record.parent_commit_id
    return pruned


def _within_ledger_retention(committed_at: str) -> bool:
    """Ledger events of commits older than GC's retention may be gone, legitimately."""
    try:
        when = datetime.fromisoformat(committed_at.replace("Z", "+00:00"))
    except ValueError:
        return True
    return time.time() - when.timestamp() < DEFAULT_LEDGER_RETENTION_S


def _check_lock(
    store: ObjectStore, domain: str, head: StoredManifest, report: VerifyReport
) -> None:
    state = LeaseLock(store, domain).read()
    if state is None:
        report.add(domain, "missing_lock", "a manifest exists but the lock object does not")
    elif state.fencing_token < head.manifest.fencing_token:
        report.add(
            domain,
            "fencing_regression",
            f"lock token {state.fencing_token} is behind the manifest's {head.manifest.fencing_token}",
        )


def _check_state(store: ObjectStore, head: StoredManifest, report: VerifyReport) -> None:
    loader = SnapshotLoader(store, CATALOG)
    state = loader.load(head)
    _check_postings(loader, head, state, report)
    report.count("namespaces", len(state.namespaces))
    report.count("tables", len(state.tables))
    report.count("columns", len(state.columns))
    seen_ns: set[str] = set()
    for ns in state.namespaces.values():
        if name_key(ns.name) in seen_ns:
            report.add("catalog", "duplicate_name", f"namespace {ns.name!r} appears twice")
        seen_ns.add(name_key(ns.name))
    seen_tables: set[tuple[str, str]] = set()
    for t in state.tables.values():
        if t.namespace_id not in state.namespaces:
            report.add("catalog", "orphan_row", f"table {t.table_id} refers to a missing namespace")
        key = (t.namespace_id, name_key(t.name))
        if key in seen_tables:
            report.add(
                "catalog", "duplicate_name", f"table {t.name!r} appears twice in one namespace"
            )
        seen_tables.add(key)
    seen_cols: set[tuple[str, str]] = set()
    for c in state.columns.values():
        if c.table_id not in state.tables:
            report.add("catalog", "orphan_row", f"column {c.column_id} refers to a missing table")
        key = (c.table_id, name_key(c.name))
        if key in seen_cols:
            report.add("catalog", "duplicate_name", f"column {c.name!r} appears twice in one table")
        seen_cols.add(key)


def _check_postings(
    loader: SnapshotLoader[Any], head: StoredManifest, state: Any, report: VerifyReport
) -> None:
    """The stored search postings are exactly those the entities produce."""
    spec = CATALOG.specs["search_postings"]
    files = head.manifest.files_of(spec.name)
    tables = loader.read_arrow(files) if files else [spec.schema.empty_table()]
    stored = set(merge_tables(spec, tables, live_only=True).column("posting_id").to_pylist())
    derived = {posting_id(p) for p in all_postings(state)}
    report.count("search_postings", len(stored))
    if stored != derived:
        report.add(
            "catalog",
            "stale_search_postings",
            f"search postings differ from the catalog: {len(derived - stored)} missing, "
            f"{len(stored - derived)} extra",
        )
