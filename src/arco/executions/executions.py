"""``Executions``: the library API of the executions domain (append, fold, list)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from arco.core.assets import AssetKey
from arco.core.paging import DEFAULT_PAGE, Page, Sorted, paginate
from arco.core.scope import DEFAULT_SCOPE, Scope
from arco.errors import (
    NotFoundError,
    ValidationError,
)
from arco.executions.domain import EXECUTIONS
from arco.executions.model import Materialization
from arco.executions.payloads import MATERIALIZATION_STATUSES
from arco.executions.schema import MaterializationRow
from arco.executions.state import ExecutionsState
from arco.metadata.layout import request_record_key
from arco.storage import ScopedStore, open_store
from arco.storage.port import ObjectStore
from arco.tier2.compactor import CompactionResult, Compactor, CompactorOptions
from arco.tier2.envelope import EventEnvelope
from arco.tier2.ingestor import FoldMode, Ingestor, UnknownEvents
from arco.tier2.requests import record_request

__all__ = ["Executions"]

# newest first: keys ascend as occurred_at descends (ms fit in 15 digits until year 33658)
_MAX_MS = 10**15 - 1


def _newest_first(row: MaterializationRow) -> str:
    return f"{_MAX_MS - row.occurred_at:016d}/{row.materialization_id}"


class Executions:
    """Append execution events and read the materializations folded from them, for one
    ``(tenant, workspace)`` scope of an object store.

    ``store`` is the *root* store; like :class:`arco.catalog.Catalog`, the executions scope
    it themselves, so no key outside ``tenant={t}/workspace={w}/`` can ever be formed.
    """

    def __init__(
        self,
        store: ObjectStore,
        scope: Scope = DEFAULT_SCOPE,
        *,
        fold: FoldMode = "background",
        unknown: UnknownEvents = "reject",
        options: CompactorOptions | None = None,
        linger_s: float = 0.0,
    ) -> None:
        self.scope = scope
        self.root_store = store
        self.store: ObjectStore = ScopedStore(store, scope.prefix)
        self.compactor: Compactor[ExecutionsState] = Compactor(
            self.store, EXECUTIONS, options=options
        )
        self._ingestor = Ingestor(
            self.store,
            EXECUTIONS,
            unknown=unknown,
            fold=fold,
            compactor=self.compactor,
            linger_s=linger_s,
        )
        self._sorted: tuple[int, Sorted[MaterializationRow]] | None = None
        self._mutex = threading.Lock()

    @classmethod
    def open(cls, url: str, scope: Scope = DEFAULT_SCOPE, **options: Any) -> Executions:
        """Open the executions of a workspace on a store URL."""
        return cls(open_store(url), scope, **options)

    def close(self) -> None:
        """Fold what was appended, then stop background work."""
        self._ingestor.close()

    def __enter__(self) -> Executions:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- writes -------------------------------------------------------------------------

    def append(self, events: Sequence[EventEnvelope], *, fold: FoldMode | None = None) -> list[str]:
        """Append events to the ledger (see :class:`arco.tier2.ingestor.Ingestor`); their keys."""
        return self._ingestor.append(events, fold=fold)

    def append_once(
        self, events: Sequence[EventEnvelope], idempotency_key: str, request_hash: str
    ) -> list[str]:
        """Append ``events`` under a request-level idempotency key; their event ids.

        The first request stores a create-only record of its events (``request_hash``
        identifies the request body) and then appends them. A request with the same key
        and hash gets the recorded event ids, and their events are appended again: appends
        are at-least-once and the compactor folds copies of an event once, so a request
        that failed after its record was written is completed by its retry. The same key
        with another hash is IdempotencyConflictError. Invalid events fail the request
        before anything is written.
        """
        if self._ingestor.unknown == "reject":
            for i, event in enumerate(events):
                try:
                    self._ingestor.domain.check(event)
                except ValidationError as exc:
                    raise ValidationError(f"events[{i}].{exc.message}") from None
        events, _ = record_request(
            self.store,
            request_record_key(EXECUTIONS.name, idempotency_key),
            request_hash,
            events,
            extra={"idempotency_key": idempotency_key},
            conflict=lambda _: (
                f"idempotency_key: {idempotency_key!r} was already used with a different request"
            ),
        )
        self.append(events)
        return [e.event_id for e in events]

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything appended so far has been folded; False on timeout."""
        return self._ingestor.flush(timeout)

    def compact(self) -> CompactionResult:
        """One anti-entropy pass: fold every ledger object not folded yet."""
        return self.compactor.anti_entropy()

    def compact_periodic(self) -> CompactionResult:
        """One pass of a compaction loop (:meth:`Compactor.periodic_pass`)."""
        return self.compactor.periodic_pass()

    # --- reads --------------------------------------------------------------------------

    def state(self) -> ExecutionsState:
        return self.compactor.head()[1]

    def get_materialization(self, materialization_id: str) -> Materialization:
        row = self.state().materializations.get(materialization_id)
        if row is None:
            raise NotFoundError(f"materialization {materialization_id!r} does not exist")
        return Materialization.from_row(row)

    def list_materializations(
        self,
        *,
        asset_key: str | None = None,
        run_id: str | None = None,
        status: str | None = None,
        page_token: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page[Materialization]:
        """Materializations, newest event first, optionally filtered."""
        if asset_key is not None:
            asset_key = str(AssetKey.parse(asset_key))
        if status is not None and status not in MATERIALIZATION_STATUSES:
            raise ValidationError(
                f"status: must be one of {', '.join(MATERIALIZATION_STATUSES)} (got {status!r})"
            )
        ordered = self._ordered(self.state())
        if asset_key is not None or run_id is not None or status is not None:
            keep = [
                i
                for i, row in enumerate(ordered.rows)
                if (asset_key is None or row.asset_key == asset_key)
                and (run_id is None or row.run_id == run_id)
                and (status is None or row.status == status)
            ]
            ordered = Sorted([ordered.keys[i] for i in keep], [ordered.rows[i] for i in keep])
        rows, token = paginate(ordered, page_token, limit)
        return Page[Materialization](
            items=[Materialization.from_row(r) for r in rows], next_page_token=token
        )

    def _ordered(self, state: ExecutionsState) -> Sorted[MaterializationRow]:
        with self._mutex:
            if self._sorted is not None and self._sorted[0] == state.version:
                return self._sorted[1]
        keyed = sorted((_newest_first(r), r) for r in state.materializations.values())
        ordered = Sorted([k for k, _ in keyed], [r for _, r in keyed])
        with self._mutex:
            self._sorted = (state.version, ordered)
        return ordered


if TYPE_CHECKING:
    from arco.executions.api import ExecutionsApi

    def _implements_executions_api(executions: Executions) -> ExecutionsApi:
        """mypy checks that :class:`Executions` implements :class:`ExecutionsApi`."""
        return executions
