"""What the generic tier-1 machinery needs to know about one domain.

A domain (``catalog`` now; ``lineage`` next) is a set of published Parquet tables, an
in-memory state that those tables' rows are folded into, and the codec of its operation
results (stored with idempotency keys). Snapshot loading, compaction and the commit path
work on any :class:`DomainSpec`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, Self, TypeVar

from arco.parquet import TableSpec

#: the rows one commit (or file) writes, per table name: (row, deleted)
Delta = dict[str, list[tuple[Any, bool]]]


class DomainState(Protocol):
    """The in-memory state of one domain version (see :class:`arco.catalog.state.CatalogState`)."""

    version: int
    checkpoint_version: int

    @property
    def idempotency(self) -> Mapping[str, Any]: ...

    def copy(self) -> Self: ...

    def upsert(self, table: str, row: Any) -> None: ...

    def remove(self, table: str, key: str) -> None: ...

    def apply(
        self, delta: Mapping[str, Sequence[tuple[Any, bool]]], primary_keys: Mapping[str, str]
    ) -> None: ...

    def rows(self, table: str) -> Iterable[Any]: ...


S = TypeVar("S", bound=DomainState)


@dataclass(frozen=True)
class DomainSpec(Generic[S]):
    """A tier-1 domain: its name, tables (parents before children), state and result codec."""

    name: str
    tables: tuple[TableSpec[Any], ...]
    new_state: Callable[[], S]
    encode_result: Callable[[Any], dict[str, Any]]
    decode_result: Callable[[dict[str, Any]], Any]
    specs: dict[str, TableSpec[Any]] = field(init=False)
    primary_keys: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        specs = {t.name: t for t in self.tables}
        object.__setattr__(self, "specs", specs)
        object.__setattr__(self, "primary_keys", {n: t.primary_key for n, t in specs.items()})
