"""GC of what orchestration writes outside the domains (ADR 016): attempt logs and asset
output files.

**Logs** (``logs/{run_id}/{attempt_id}/{seq}.log``): every chunk of a run is deleted
(``expired_run_log``) once the run is terminal (``SUCCEEDED``, ``FAILED``, ``CANCELLED``) and
ended more than ``logs_retention`` ago, and the chunk itself is older than ``min_age``. The
chunks of a run that is not terminal (``active_run_log``), ended within the retention
(``retained_run_log``), or unknown to the runs domain (``unknown_run_log``: its trigger may
not be folded yet) are kept.

**Outputs** (``data/{ns}/{name}/{partition path}{materialization_id}.parquet``). A file is
named by its materialization id, which derives from the attempt id, so each listed file is
matched with the succeeded materialization (``executions``) and the attempt (``runs``) whose
expected path it is. Per asset and partition, the *current* file is that of the newest
succeeded materialization that wrote a table (newest ``occurred_at`` first, then
smallest materialization id: the order inputs are read in); it is never deleted
(``current_output``). Then:

* the file of an older materialization is deleted (``superseded_output``) once the next
  newer one (which replaced it as current) occurred more than ``output_retention`` ago: a
  reader that picked it while it was current has had that long to read it;
* the file of an attempt that ended ``FAILED``, ``TIMED_OUT`` or ``CANCELLED`` and that no
  materialization names (it crashed or was stopped between writing and recording) is
  deleted (``failed_attempt_output``) once its run is terminal and the run and the attempt
  ended more than ``output_retention`` ago.

Never deleted, whatever its age: a file named by a task output or an attempt of a run that
is not terminal, which its downstream tasks may still read (``active_run_output``); a file
that a materialization event not folded yet names, or whose attempt is not known to have
failed (``unrecorded_output``: a task between writing its file and recording its success);
a file no materialization or attempt explains (``unknown_output``); the older files of a
partition whose current file was not listed (``current_not_listed``: it was written after
the listing). Nothing younger than ``min_age`` is deleted (``young``).

Order of reading: ``data/`` and ``logs/`` are listed first; then the heads of ``runs`` and
``executions`` are read, then the executions ledger is listed and the events not folded yet
are read. So whatever names a listed file and was folded, or appended, before GC looked is
seen; a task that registers its file afterwards wrote it after the listing, or is an
attempt paused between writing and recording for longer than ``min_age`` and the retention,
whose late record then names a missing file (its readers fail naming it; ADR 016).

If an unfolded executions event cannot be read, no failed attempt's file is deleted
(``undecided_output``) and a warning says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from arco.core.assets import AssetKey
from arco.core.canonical_json import loads as json_loads
from arco.errors import ArcoError, ObjectNotFoundError, ValidationError
from arco.executions.domain import EXECUTIONS
from arco.executions.state import ExecutionsState
from arco.metadata.layout import DATA, asset_data_file, ledger_prefix, parse_ledger_key
from arco.metadata.manifest import read_manifest
from arco.metadata.snapshot import SnapshotLoader
from arco.orchestration.io import materialization_id
from arco.orchestration.logs import LOGS
from arco.orchestration.runs.domain import RUNS
from arco.orchestration.runs.schema import (
    CANCELLED,
    FAILED,
    RUN_TERMINAL,
    TIMED_OUT,
    AttemptRow,
    RunRow,
    task_id,
)
from arco.orchestration.runs.state import RunsState
from arco.storage.port import ObjectMeta, ObjectStore
from arco.tier2.envelope import EventEnvelope

__all__ = [
    "DEFAULT_LOGS_RETENTION_S",
    "DEFAULT_OUTPUT_RETENTION_S",
    "RUN_OUTPUT_DOMAIN",
    "RUN_OUTPUT_REASONS",
    "RunOutputPlanner",
]

#: the logs of a run that ended are kept this long
DEFAULT_LOGS_RETENTION_S = 30 * 86400
#: a superseded output, and the output of a failed attempt, is kept this long
DEFAULT_OUTPUT_RETENTION_S = 7 * 86400
#: the ``domain`` of the report items
RUN_OUTPUT_DOMAIN = "orchestration"
RUN_OUTPUT_REASONS = ("expired_run_log", "superseded_output", "failed_attempt_output")

_FAILED_ATTEMPT = frozenset({FAILED, TIMED_OUT, CANCELLED})


def _written_ms(meta: ObjectMeta) -> int:
    return int(meta.last_modified.timestamp() * 1000)


def _output_file(output: str | None) -> str | None:
    """The file of a task's or attempt's reported output (``{"table": {"file": ...}}``)."""
    if output is None:
        return None
    try:
        reported = json_loads(output)
    except ValueError:
        return None
    table = reported.get("table") if isinstance(reported, dict) else None
    file = table.get("file") if isinstance(table, dict) else None
    return file if isinstance(file, str) else None


def _expected_file(asset_key: str, partition_key: str | None, mid: str) -> str | None:
    try:
        key = AssetKey.parse(asset_key)
        return asset_data_file(key.namespace, key.name, partition_key or "", mid)
    except (ValidationError, ValueError):
        return None


@dataclass(frozen=True)
class _Materialized:
    occurred_at: int
    materialization_id: str
    file: str


@dataclass
class RunOutputPlanner:
    """What GC deletes of orchestration's logs and output files (see the module doc):
    :meth:`run` returns each object to delete with its reason, and calls ``keep`` with the
    reason of every object kept. It deletes nothing."""

    store: ObjectStore
    min_age_ms: int
    logs_ms: int
    output_ms: int
    now_ms: int
    keep: Callable[[str], None]
    warn: Callable[[str], None]
    progress: Callable[[str], None]

    def young(self, meta: ObjectMeta) -> bool:
        return self.now_ms - _written_ms(meta) < self.min_age_ms

    def ended_within(self, ended_ms: int | None, retention_ms: int) -> bool:
        return ended_ms is None or self.now_ms - ended_ms < retention_ms

    def run(self) -> list[tuple[ObjectMeta, str]]:
        self.progress("orchestration: listing logs")
        logs = sorted(self.store.list(LOGS), key=lambda m: m.key)
        self.progress("orchestration: listing outputs")
        data = sorted(self.store.list(DATA), key=lambda m: m.key)
        # read after the listings: what named a listed file before GC looked is seen
        self.progress("orchestration: runs")
        runs: RunsState = SnapshotLoader(self.store, RUNS.spec).load(
            read_manifest(self.store, RUNS.name)
        )
        self.progress("orchestration: materializations")
        executions: ExecutionsState = SnapshotLoader(self.store, EXECUTIONS.spec).load(
            read_manifest(self.store, EXECUTIONS.name)
        )
        pending = self.unfolded_materializations(executions)
        return [*self.plan_logs(logs, runs), *self.plan_outputs(data, runs, executions, pending)]

    def unfolded_materializations(self, executions: ExecutionsState) -> set[str] | None:
        """The materialization ids that ledger objects not folded yet name (None: one could
        not be read)."""
        prefix = ledger_prefix(EXECUTIONS.name)
        found: set[str] = set()
        for meta in self.store.list(prefix):
            if parse_ledger_key(EXECUTIONS.name, meta.key) is None:
                continue
            if meta.key[len(prefix) : -len(".json")] in executions.ingested:
                continue
            try:
                event = EventEnvelope.from_bytes(self.store.get(meta.key).data)
            except ObjectNotFoundError:
                continue  # folded and collected since the listing
            except ArcoError as exc:
                self.warn(
                    f"orchestration: unfolded executions event {meta.key} could not be read "
                    f"({exc}): kept every failed attempt's output"
                )
                return None
            mid = event.payload.get("materialization_id")
            if event.event_type == "materialization" and isinstance(mid, str):
                found.add(mid)
        return found

    def plan_logs(self, logs: list[ObjectMeta], runs: RunsState) -> list[tuple[ObjectMeta, str]]:
        out = []
        for meta in logs:
            parts = meta.key[len(LOGS) :].split("/")
            if len(parts) != 3 or not all(parts):
                self.keep("unrecognised")
                continue
            run: RunRow | None = runs.runs.get(parts[0])
            if run is None:
                self.keep("unknown_run_log")
            elif run.state not in RUN_TERMINAL:
                self.keep("active_run_log")
            elif self.ended_within(run.ended_at, self.logs_ms):
                self.keep("retained_run_log")
            elif self.young(meta):
                self.keep("young")
            else:
                out.append((meta, "expired_run_log"))
        return out

    def plan_outputs(
        self,
        data: list[ObjectMeta],
        runs: RunsState,
        executions: ExecutionsState,
        pending: set[str] | None,
    ) -> list[tuple[ObjectMeta, str]]:
        # per asset and partition (as inputs group them), the materializations that wrote
        # a file, newest first
        by_partition: dict[tuple[str, str], list[_Materialized]] = {}
        for m in executions.materializations.values():
            if m.status != "succeeded" or m.table_id is None:
                continue
            file = _expected_file(m.asset_key, m.partition_key, m.materialization_id)
            if file is not None:
                entry = _Materialized(m.occurred_at, m.materialization_id, file)
                by_partition.setdefault((m.asset_key, m.partition_key or ""), []).append(entry)
        materialized: dict[str, tuple[_Materialized, _Materialized | None]] = {}
        for entries in by_partition.values():
            entries.sort(key=lambda e: (-e.occurred_at, e.materialization_id))
            for newer, entry in zip([None, *entries], entries, strict=False):
                materialized[entry.file] = (entries[0], newer)
        # every attempt's file, and what the runs that are not terminal may still read
        attempts: dict[str, tuple[AttemptRow, RunRow | None]] = {}
        active: set[str] = set()
        for a in runs.attempts.values():
            task = runs.tasks.get(task_id(a.run_id, a.task_key))
            run: RunRow | None = runs.runs.get(a.run_id)
            if task is None:
                continue
            file = _expected_file(
                task.asset_key, task.partition_key, materialization_id(a.attempt_id)
            )
            if file is not None:
                attempts[file] = (a, run)
        for run in runs.runs.values():
            if run.state not in RUN_TERMINAL:
                reported = [t.output for t in runs.tasks_of(run.run_id)]
                reported += [a.output for a in runs.attempts_of(run.run_id)]
                active.update(f for f in map(_output_file, reported) if f is not None)
        listed = {meta.key for meta in data}
        out = []
        for meta in data:
            reason = self.judge_output(meta, materialized, attempts, active, pending, listed)
            if reason in RUN_OUTPUT_REASONS:
                out.append((meta, reason))
            else:
                self.keep(reason)
        return out

    def judge_output(
        self,
        meta: ObjectMeta,
        materialized: dict[str, tuple[_Materialized, _Materialized | None]],
        attempts: dict[str, tuple[AttemptRow, RunRow | None]],
        active: set[str],
        pending: set[str] | None,
        listed: set[str],
    ) -> str:
        """The deletion reason of one output file, or why it is kept."""
        key = meta.key
        if not key.endswith(".parquet"):
            return "unrecognised"
        attempt = attempts.get(key)
        if key in active or (
            attempt is not None and (attempt[1] is None or attempt[1].state not in RUN_TERMINAL)
        ):
            return "active_run_output"
        mid = key.rsplit("/", 1)[-1].removesuffix(".parquet")
        if pending is not None and mid in pending:
            return "unrecorded_output"
        found = materialized.get(key)
        if found is not None:
            current, newer = found
            if newer is None:
                return "current_output"
            if current.file not in listed:
                return "current_not_listed"
            if self.ended_within(newer.occurred_at, self.output_ms):
                return "retained_output"
            return "young" if self.young(meta) else "superseded_output"
        if attempt is None:
            return "unknown_output"
        row, run = attempt
        if row.state not in _FAILED_ATTEMPT:
            return "unrecorded_output"
        if pending is None:
            return "undecided_output"
        assert run is not None  # a run that is not known counts as active above
        if self.ended_within(run.ended_at, self.output_ms) or self.ended_within(
            row.ended_at, self.output_ms
        ):
            return "retained_output"
        return "young" if self.young(meta) else "failed_attempt_output"
