"""The ``executions`` domain: what ran, folded from the tier-2 ledger by the compactor."""

from __future__ import annotations

from typing import Any

from arco.executions.payloads import MaterializationV1, default_materialization_id
from arco.executions.schema import MATERIALIZATIONS, MaterializationRow
from arco.executions.state import ExecutionsState
from arco.metadata.domain import Changes, DomainSpec
from arco.tier2.compactor import EventType, Fold, Tier2Domain
from arco.tier2.ingested import INGESTED, Outcome


def _no_results(_: Any) -> Any:
    raise TypeError("the executions domain has no request results (it is written by events)")


def fold_materialization(fold: Fold, payload: MaterializationV1, changes: Changes[Any]) -> Outcome:
    """Replace the materialization's row unless it already holds a newer event."""
    mid = payload.materialization_id or default_materialization_id(fold.dedupe_key)
    state: ExecutionsState = changes.state
    current = state.materializations.get(mid)
    if current is not None and current.event_order >= fold.event_order:
        return "superseded"
    row = MaterializationRow(
        materialization_id=mid,
        asset_key=payload.asset_key,
        table_id=payload.table_id,
        partition_key=payload.partition_key,
        run_id=payload.run_id,
        status=payload.status,
        rows=payload.rows,
        bytes=payload.bytes,
        code_version=payload.code_version,
        started_at=payload.started_ms(),
        completed_at=payload.completed_ms(),
        event_id=fold.event.event_id,
        occurred_at=fold.occurred_ms,
        event_order=fold.event_order,
        version=fold.ctx.version,
    )
    changes.upsert("materializations", mid, row)
    return "applied"


EXECUTIONS_SPEC = DomainSpec(
    name="executions",
    tables=(MATERIALIZATIONS, INGESTED),
    new_state=ExecutionsState,
    encode_result=_no_results,
    decode_result=_no_results,
    describe_result=_no_results,
    tier=2,
)

EXECUTIONS: Tier2Domain[ExecutionsState] = Tier2Domain(
    EXECUTIONS_SPEC,
    (EventType("materialization", 1, MaterializationV1.from_payload, fold_materialization),),
)
