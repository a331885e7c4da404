"""In-memory state of the ``executions`` domain, copy-on-write like the tier-1 states."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from arco.executions.schema import MaterializationRow
from arco.metadata.domain import apply_delta
from arco.metadata.layered import LayeredMap
from arco.tier2.ingested import FOLDED, IngestedRow


class ExecutionsState:
    """Materializations and the ledger objects folded so far, at ``version``."""

    def __init__(self) -> None:
        self.version = 0
        self.checkpoint_version = 0
        self.materializations: LayeredMap[str, MaterializationRow] = LayeredMap()
        self.ingested: LayeredMap[str, IngestedRow] = LayeredMap()
        # dedupe key -> the ledger object whose copy of the event was folded
        self._by_dedupe_key: LayeredMap[str, str] = LayeredMap()

    def copy(self) -> ExecutionsState:
        new = ExecutionsState.__new__(ExecutionsState)
        new.version = self.version
        new.checkpoint_version = self.checkpoint_version
        new.materializations = self.materializations.derive()
        new.ingested = self.ingested.derive()
        new._by_dedupe_key = self._by_dedupe_key.derive()
        return new

    @property
    def idempotency(self) -> Mapping[str, Any]:
        """Tier-2 domains keep no request idempotency table (events dedupe via ``ingested``)."""
        return {}

    def first_copy(self, dedupe_key: str) -> str | None:
        """The ledger object whose copy of ``dedupe_key`` was folded, while it is remembered."""
        found: str | None = self._by_dedupe_key.get(dedupe_key)
        return found

    def rows(self, table: str) -> Iterable[Any]:
        source: LayeredMap[str, Any] = getattr(self, table)
        return list(source.values())

    # --- mutation (only on a private copy) -------------------------------------------------

    def upsert(self, table: str, row: Any) -> None:
        if table == "materializations":
            self.materializations.set(row.materialization_id, row)
            return
        old = self.ingested.get(row.name)
        if old is not None:
            self._unindex(old)
        self.ingested.set(row.name, row)
        if row.dedupe_key is not None and row.outcome in FOLDED:
            self._by_dedupe_key.set(row.dedupe_key, row.name)

    def remove(self, table: str, key: str) -> None:
        if table == "materializations":
            self.materializations.delete(key)
            return
        old = self.ingested.get(key)
        if old is not None:
            self.ingested.delete(key)
            self._unindex(old)

    def _unindex(self, row: IngestedRow) -> None:
        if row.dedupe_key is not None and self._by_dedupe_key.get(row.dedupe_key) == row.name:
            self._by_dedupe_key.delete(row.dedupe_key)

    def apply(
        self, delta: Mapping[str, Sequence[tuple[Any, bool]]], primary_keys: Mapping[str, str]
    ) -> None:
        """Apply delta rows in place (call on a copy); the newest version of a row wins."""
        apply_delta(self, delta, primary_keys)
