"""Multi-table commits: every table's commit applies, or none does (ADR 014).

1. **Prepare** every table as a single-table commit would, up to its new metadata file
   (requirements validated, updates applied, file written create-only). Nothing is visible.
2. **Swap** each pointer, in table-uuid order, to the new location with a pending marker
   ``{txn, previous, started_ms}``. Readers still resolve every such pointer to
   ``previous``: the transaction has no decision yet.
3. **Decide**: create ``iceberg/transactions/{txn}.json`` = ``commit``, create-only. Its
   creation is the one commit point: from then on every reader resolves the pending
   pointers to the new locations.

A failed swap (another commit moved a pointer) or any failure before the decision creates
``abort`` and restores the pointers already swapped; the transaction is then prepared again
from the new state if attempts remain (its requirements are validated again), else 409. A
reader or writer that meets a pending marker of an undecided transaction older than the
timeout creates ``abort`` itself; if that beat our ``commit``, the transaction aborted and
we restore and retry as well. Markers of a decided transaction are cleared by each table's
next commit. A crash anywhere leaves each table at its old metadata (no decision: every
marker resolves to ``previous``) or every table at its new one (decision ``commit``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from arco.errors import ArcoError, ObjectNotFoundError, OutcomeUnknownError, VersionMismatchError
from arco.iceberg.errors import (
    BadRequest,
    CommitFailed,
    CommitStateUnknown,
    IdempotencyKeyReused,
    NoSuchTable,
    ServiceUnavailable,
)
from arco.iceberg.pointer import Pending, PointerState, RecentCommit

if TYPE_CHECKING:
    from arco.iceberg.tables import IcebergTables, LoadedTable, TableChange

__all__ = ["commit_transaction"]


def _request_hash(changes: Sequence[TableChange]) -> str:
    from arco.iceberg.tables import request_hash

    return request_hash(
        [str(c.ident) for c in changes],
        [request_hash(c.requirements, c.updates) for c in changes],
    )


def commit_transaction(
    tables: IcebergTables, changes: Sequence[TableChange], *, idempotency_key: str | None = None
) -> list[LoadedTable]:
    """Commit ``changes`` atomically; returns each table's new state, in ``changes`` order.

    CommitFailed (409) if a requirement does not hold or contention outlasts the attempts;
    ServiceUnavailable (503) if storage failed before the decision (nothing was applied);
    CommitStateUnknown (503) if creating the decision had an unknown outcome and reading it
    back failed.
    """
    from arco.iceberg.tables import LoadedTable, apply_updates, validate_requirements

    if not changes:
        raise BadRequest("table-changes: must not be empty")
    resolved: dict[str, tuple[int, TableChange, str, str]] = {}
    for index, change in enumerate(changes):
        namespace, row, table_uuid = tables.lookup(change.ident)
        if table_uuid in resolved:
            raise BadRequest(f"table-changes[{index}]: table {str(change.ident)!r} appears twice")
        resolved[table_uuid] = (index, change, namespace, row.name)
    order = sorted(resolved)
    digest = _request_hash(changes)
    key = idempotency_key
    pointers, files = tables.pointers, tables.files

    for attempt in range(tables.commit_attempts):
        txn = uuid.uuid4().hex
        states: dict[str, PointerState] = {}
        for table_uuid in order:
            states[table_uuid] = tables.read_state(
                table_uuid, str(resolved[table_uuid][1].ident), wait=True
            )
        if key is not None:
            replay = _replay(tables, states, resolved, key, digest)
            if replay is not None:
                return replay
        prepared = []
        for table_uuid in order:
            _, change, _, _ = resolved[table_uuid]
            state = states[table_uuid]
            base = files.read_table(state.location)
            validate_requirements(change.requirements, base, str(change.ident))
            prepared.append((table_uuid, apply_updates(files, state, base, change.updates)))
        locations = {
            table_uuid: files.write_new(p.metadata, p.state.pointer.version + 1)
            if p.changed
            else p.state.location
            for table_uuid, p in prepared
        }

        started = tables.clock.now_ms()
        swapped: list[tuple[str, bytes, str]] = []
        tried: list[str] = []
        try:
            for table_uuid, p in prepared:
                location = locations[table_uuid]
                successor = p.state.successor(
                    location,
                    recent=RecentCommit(key, digest, location) if key is not None else None,
                    pending=Pending(txn, p.state.location, started),
                )
                tried.append(table_uuid)
                token = pointers.swap(table_uuid, successor, p.state.token)
                swapped.append((table_uuid, p.state.raw, token))
        except VersionMismatchError:
            _abort(tables, txn, swapped, tried)
            tables.backoff(attempt)
            continue
        except ObjectNotFoundError:
            _abort(tables, txn, swapped, tried)
            raise NoSuchTable("a table of the transaction was dropped during the commit") from None
        except ArcoError as exc:
            _abort(tables, txn, swapped, tried)
            raise ServiceUnavailable(f"transaction not committed: {exc}") from exc

        try:
            decision = pointers.decide(txn, "commit")
        except OutcomeUnknownError as exc:
            raise CommitStateUnknown(
                f"transaction {txn}: creating its decision had an unknown outcome and reading "
                f"it back failed ({exc})"
            ) from exc
        except ArcoError as exc:
            _abort(tables, txn, swapped, tried)
            raise ServiceUnavailable(f"transaction not committed: {exc}") from exc
        if decision == "abort":  # a reader timed us out first
            _restore(tables, swapped)
            tables.backoff(attempt)
            continue
        for table_uuid in order:
            _, _, namespace, name = resolved[table_uuid]
            tables.sync.schedule(table_uuid, (namespace, name))
        by_uuid = {
            table_uuid: LoadedTable(locations[table_uuid], p.metadata) for table_uuid, p in prepared
        }
        return [by_uuid[u] for u in sorted(order, key=lambda u: resolved[u][0])]
    raise CommitFailed(
        f"transaction: {tables.commit_attempts} attempts met concurrent commits; refresh and retry"
    )


def _replay(
    tables: IcebergTables,
    states: dict[str, PointerState],
    resolved: dict[str, tuple[int, TableChange, str, str]],
    key: str,
    digest: str,
) -> list[LoadedTable] | None:
    """The result of a transaction that committed under ``key`` (409 for another request)."""
    from arco.iceberg.tables import LoadedTable

    hits = {u: s.recent_commit(key) for u, s in states.items()}
    if all(hit is None for hit in hits.values()):
        return None
    if any(hit is not None and hit.request_hash != digest for hit in hits.values()):
        raise IdempotencyKeyReused(
            f"transaction: idempotency key {key!r} was used with a different request"
        )
    out: list[tuple[int, LoadedTable]] = []
    for table_uuid, state in states.items():
        hit = hits[table_uuid]
        location = hit.metadata_location if hit is not None else state.location
        out.append(
            (resolved[table_uuid][0], LoadedTable(location, tables.files.read_table(location)))
        )
    return [loaded for _, loaded in sorted(out, key=lambda item: item[0])]


def _abort(
    tables: IcebergTables, txn: str, swapped: list[tuple[str, bytes, str]], tried: list[str]
) -> None:
    """Decide ``abort`` and restore the pointers swapped so far (``tried``: the swaps sent,
    including one whose outcome is unknown).

    Best effort: if storage fails here, the transaction stays undecided, every reader
    resolves its markers to ``previous``, and the first one after the timeout aborts it.
    """
    if not tried:
        return
    try:
        tables.pointers.decide(txn, "abort")
    except ArcoError:
        return
    _restore(tables, swapped)


def _restore(tables: IcebergTables, swapped: list[tuple[str, bytes, str]]) -> None:
    for table_uuid, original, token in swapped:
        try:
            tables.pointers.swap(table_uuid, original, token)
        except ArcoError:
            continue  # moved on already: a writer resolved the marker and cleared it
