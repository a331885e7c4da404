"""In-memory state of the ``executions`` domain, copy-on-write like the tier-1 states."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arco.executions.schema import MaterializationRow
from arco.metadata.domain import apply_delta
from arco.metadata.layered import LayeredMap
from arco.tier2.ingested import IngestedState


class ExecutionsState(IngestedState):
    """Materializations and the ledger objects folded so far, at ``version``."""

    def __init__(self) -> None:
        super().__init__()
        self.materializations: LayeredMap[str, MaterializationRow] = LayeredMap()

    def copy(self) -> ExecutionsState:
        new = self._derive()
        new.materializations = self.materializations.derive()
        return new

    # --- mutation (only on a private copy) -------------------------------------------------

    def upsert(self, table: str, row: Any) -> None:
        if table == "materializations":
            self.materializations.set(row.materialization_id, row)
        else:
            self._upsert_ingested(row)

    def remove(self, table: str, key: str) -> None:
        if table == "materializations":
            self.materializations.delete(key)
        else:
            self._remove_ingested(key)

    def apply(
        self, delta: Mapping[str, Sequence[tuple[Any, bool]]], primary_keys: Mapping[str, str]
    ) -> None:
        """Apply delta rows in place (call on a copy); the newest version of a row wins."""
        apply_delta(self, delta, primary_keys)
