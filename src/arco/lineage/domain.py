"""The lineage domain: edges between assets, with its own lock and manifest."""

from __future__ import annotations

from arco.lineage.operations import decode_result, describe_result, encode_result
from arco.lineage.schema import EDGES
from arco.lineage.state import LineageState
from arco.metadata.domain import IDEMPOTENCY, DomainSpec

LINEAGE = DomainSpec(
    name="lineage",
    tables=(EDGES, IDEMPOTENCY),
    new_state=LineageState,
    encode_result=encode_result,
    decode_result=decode_result,
    describe_result=describe_result,
)
