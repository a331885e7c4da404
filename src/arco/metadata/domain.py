"""What the generic tier-1 machinery needs to know about one domain.

A domain (``catalog`` now; ``lineage`` next) is a set of published Parquet tables, an
in-memory state that those tables' rows are folded into, and the codec of its operation
results (stored with idempotency keys). Snapshot loading, compaction and the commit path
work on any :class:`DomainSpec`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from arco.core import canonical_json
from arco.errors import PreconditionFailedError
from arco.metadata.layout import Tier
from arco.metadata.parquet import TIMESTAMP, TableSpec, field, schema_of

#: the rows one commit (or file) writes, per table name: (row, deleted)
Delta = dict[str, list[tuple[Any, bool]]]


@dataclass(frozen=True, slots=True)
class ApplyContext:
    """What every operation of one commit shares."""

    version: int
    now_ms: int


@dataclass(frozen=True, slots=True)
class IdempotencyRow:
    """A request applied under an idempotency key, with its original result."""

    idempotency_key: str
    request_hash: str
    operation: str
    result: str
    created_at: int
    version: int


#: every tier-1 domain keeps its idempotency keys in a table of this shape
IDEMPOTENCY = TableSpec(
    "idempotency",
    IdempotencyRow,
    "idempotency_key",
    schema_of(
        [
            field("idempotency_key", pa.string()),
            field("request_hash", pa.string()),
            field("operation", pa.string()),
            field("result", pa.string()),
            field("created_at", TIMESTAMP),
            field("version", pa.int64()),
        ]
    ),
)


def check_if_match(what: str, expected: int | None, actual: int) -> None:
    """PreconditionFailedError unless ``expected`` is None or equals ``actual``."""
    if expected is not None and expected != actual:
        raise PreconditionFailedError(
            f"{what}: if_match expected version {expected}, current version is {actual}"
        )


class RequestModel(BaseModel):
    """Base of tier-1 request models: frozen, strict about unknown fields, hashable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: optional fields where "not given" differs from ``None`` (None clears the value)
    presence_fields: ClassVar[tuple[str, ...]] = ()

    #: ETag expectation: the entity's ``version`` (updates, drops, renames) or the domain's
    #: snapshot version (creates)
    if_match: int | None = None

    def request_hash(self) -> str:
        """Hash of the normalised request: equal for every spelling of the same request."""
        body = self.model_dump(mode="json")
        for name in self.presence_fields:
            if name not in self.model_fields_set:
                body[name] = {"not_given": True}
        return canonical_json.canonical_hash(body)


#: what a request's ``apply`` returns (the entity it created, changed or removed)
R_co = TypeVar("R_co", covariant=True)


class Request(Protocol[R_co]):
    """A tier-1 operation: validated, hashed, then applied under the domain lock.

    Generic in its result: :meth:`arco.tier1.writer.DomainWriter.submit` returns what
    ``apply`` does (``Request[Namespace]`` gives a ``Namespace``).
    """

    @property
    def op(self) -> str: ...

    def validated(self) -> Self: ...

    def request_hash(self) -> str: ...

    def apply(self, changes: Any, ctx: ApplyContext) -> R_co: ...

    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


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
    #: a short text naming what an operation result is about (for commit records)
    describe_result: Callable[[Any], str]
    #: keeps derived rows (e.g. search postings) in step with a batch's changes, in the
    #: same commit; called once per commit after every request was applied
    derive: Callable[[Changes[Any], ApplyContext], None] | None = None
    #: derived tables the loader does not fold into the state: they are written, compacted,
    #: verified and queryable by SQL, but readers recompute them from the entities instead
    lazy_tables: frozenset[str] = frozenset()
    #: 1: DDL through the lock and writer; 2: events through the ledger and compactor
    tier: Tier = 1
    specs: dict[str, TableSpec[Any]] = dataclasses.field(init=False)
    primary_keys: dict[str, str] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        specs = {t.name: t for t in self.tables}
        object.__setattr__(self, "specs", specs)
        object.__setattr__(self, "primary_keys", {n: t.primary_key for n, t in specs.items()})


def apply_delta(
    state: Any, delta: Mapping[str, Sequence[tuple[Any, bool]]], primary_keys: Mapping[str, str]
) -> None:
    """Fold delta rows into ``state`` (a private copy), tables in the domain's order.

    A state exposes each table as a mapping attribute of the same name. A row replaces the
    present one only if it is not older: a merged delta may repeat rows a cached state
    already has, and the newest version always wins.
    """
    for table, pk in primary_keys.items():
        rows = delta.get(table)
        if not rows:
            continue
        current: Mapping[str, Any] = getattr(state, table)
        for row, deleted in rows:
            key = getattr(row, pk)
            existing = current.get(key)
            if existing is not None and existing.version > row.version:
                continue
            if deleted:
                state.remove(table, key)
            else:
                state.upsert(table, row)


class Changes(Generic[S]):
    """Records the rows a commit writes while applying them to a private state copy."""

    def __init__(self, base: S) -> None:
        #: the version the batch started from (unchanged)
        self.base = base
        self.state: S = base.copy()
        self._rows: dict[str, dict[str, tuple[Any, bool]]] = {}

    def upsert(self, table: str, key: str, row: Any) -> None:
        self.state.upsert(table, row)
        self._rows.setdefault(table, {})[key] = (row, False)

    def remove(self, table: str, key: str, row: Any) -> None:
        self.state.remove(table, key)
        self._rows.setdefault(table, {})[key] = (row, True)

    @property
    def empty(self) -> bool:
        return not self._rows

    def domain_version(self, ctx: ApplyContext) -> int:
        """The domain version a create's ``if_match`` is compared with: the head version, or
        the version being written once an earlier request of the batch changed something."""
        return ctx.version - 1 if self.empty else ctx.version

    def delta(self) -> Delta:
        return {table: list(rows.values()) for table, rows in self._rows.items() if rows}
