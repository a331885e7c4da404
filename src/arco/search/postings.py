"""Search postings (one row per token and entity) and prefix search over them.

Pure and storage-free: :func:`postings_for_namespace` / :func:`postings_for_table` turn
catalog entities into :class:`Posting` rows (the ``search_postings`` Parquet table), and
:class:`PrefixIndex` answers queries over any collection of rows.

What is indexed:

* a namespace: its name (field ``name``) and description (``description``);
* a table: its name, its description, and the names of its columns (field ``column``, so
  a table is found by its columns);
* a column: its own name (``name``) and description (``description``).

Ranking: each query token takes the best weight among the entity's postings it is a
prefix of (``name`` 100 > ``description`` 10 > ``column`` 3), times 1.5 when it equals the
posting token; the score is the sum over the distinct query tokens. Every query token must
match (AND). Ties go namespace, table, column, then ``entity_id``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from arco.errors import ValidationError
from arco.search.tokenize import tokenize


class NamespaceText(Protocol):
    """What search reads of a namespace (the catalog's ``Namespace`` has it)."""

    @property
    def namespace_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str | None: ...


class ColumnText(Protocol):
    """What search reads of a column."""

    @property
    def column_id(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str | None: ...


class TableText(Protocol):
    """What search reads of a table and its columns."""

    @property
    def table_id(self) -> str: ...
    @property
    def namespace_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str | None: ...
    @property
    def columns(self) -> Sequence[ColumnText]: ...


EntityKind = Literal["namespace", "table", "column"]
Field = Literal["name", "description", "column"]
_Key = tuple[EntityKind, str]  # (entity_kind, entity_id)

WEIGHT_NAME = 100
WEIGHT_DESCRIPTION = 10
WEIGHT_COLUMN = 3
#: A query token equal to the posting token scores ``weight * EXACT_FACTOR``.
EXACT_FACTOR = 1.5
WEIGHTS: dict[Field, int] = {
    "name": WEIGHT_NAME,
    "description": WEIGHT_DESCRIPTION,
    "column": WEIGHT_COLUMN,
}

LIMIT_MAX = 1000
_KIND_ORDER: dict[str, int] = {"namespace": 0, "table": 1, "column": 2}


@dataclass(frozen=True, slots=True)
class Posting:
    """One ``search_postings`` row: ``token`` occurs in ``field`` of one entity."""

    token: str
    entity_kind: EntityKind
    entity_id: str
    table_id: str | None
    namespace_id: str
    field: Field
    weight: int


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result; ``matched`` lists the entity's indexed tokens that matched."""

    entity_kind: EntityKind
    entity_id: str
    namespace_id: str
    table_id: str | None
    score: float
    matched: list[str] = field(default_factory=list)


class _Builder:
    """Collects postings, dropping repeats of (token, entity, field)."""

    def __init__(self) -> None:
        self.rows: list[Posting] = []
        self._seen: set[tuple[str, str, str, str]] = set()

    def add(
        self,
        text: str | None,
        kind: EntityKind,
        entity_id: str,
        table_id: str | None,
        namespace_id: str,
        field_: Field,
    ) -> None:
        if not text:
            return
        for token in tokenize(text):
            key = (token, kind, entity_id, field_)
            if key not in self._seen:
                self._seen.add(key)
                self.rows.append(
                    Posting(token, kind, entity_id, table_id, namespace_id, field_, WEIGHTS[field_])
                )


def postings_for_namespace(ns: NamespaceText) -> list[Posting]:
    """Postings of a namespace's name and description, in order of appearance."""
    builder = _Builder()
    builder.add(ns.name, "namespace", ns.namespace_id, None, ns.namespace_id, "name")
    builder.add(ns.description, "namespace", ns.namespace_id, None, ns.namespace_id, "description")
    return builder.rows


def postings_for_table(table: TableText) -> list[Posting]:
    """Postings of a table (name, description, column names) and of each of its columns."""
    builder = _Builder()
    tid, nid = table.table_id, table.namespace_id
    columns = sorted(table.columns, key=lambda c: c.position)
    builder.add(table.name, "table", tid, tid, nid, "name")
    builder.add(table.description, "table", tid, tid, nid, "description")
    for column in columns:
        builder.add(column.name, "table", tid, tid, nid, "column")
    for column in columns:
        builder.add(column.name, "column", column.column_id, tid, nid, "name")
        builder.add(column.description, "column", column.column_id, tid, nid, "description")
    return builder.rows


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIMIT_MAX:
        raise ValidationError(
            f"limit: must be an integer between 1 and {LIMIT_MAX} (got {limit!r})"
        )


def query_tokens(query: str) -> list[str]:
    """The distinct tokens of ``query``; ValidationError when it has none."""
    tokens = list(dict.fromkeys(tokenize(query))) if isinstance(query, str) else []
    if not tokens:
        raise ValidationError("q: must contain at least one letter or digit")
    return tokens


class PrefixIndex:
    """In-memory prefix index over postings.

    Built in O(P log P) for P postings (a sorted list of the T distinct tokens plus a dict
    of postings per token). A query of Q tokens costs O(Q log T + M) where M is the number
    of postings whose token starts with a query token, plus O(E log E) to rank the E
    entities that match. Immutable once built; safe to share between threads.
    """

    def __init__(self, postings: Iterable[Posting]) -> None:
        by_token: dict[str, list[Posting]] = {}
        for posting in postings:
            by_token.setdefault(posting.token, []).append(posting)
        self._by_token = by_token
        self._tokens = sorted(by_token)

    def __len__(self) -> int:
        """Number of distinct tokens."""
        return len(self._tokens)

    def _prefixed(self, prefix: str) -> Iterable[str]:
        tokens = self._tokens
        for i in range(bisect_left(tokens, prefix), len(tokens)):
            if not tokens[i].startswith(prefix):
                break
            yield tokens[i]

    def search(self, query: str, limit: int = 20) -> list[Hit]:
        """Entities matching every token of ``query`` by prefix, best first (at most ``limit``)."""
        _check_limit(limit)
        entities: dict[_Key, Posting] = {}
        totals: dict[_Key, float] = {}
        matched: dict[_Key, set[str]] = {}
        for q in query_tokens(query):
            best: dict[_Key, float] = {}
            for token in self._prefixed(q):
                factor = EXACT_FACTOR if token == q else 1.0
                for posting in self._by_token[token]:
                    key = (posting.entity_kind, posting.entity_id)
                    if totals and key not in totals:
                        continue  # already failed an earlier query token (AND)
                    entities.setdefault(key, posting)
                    best[key] = max(best.get(key, 0.0), posting.weight * factor)
                    matched.setdefault(key, set()).add(token)
            totals = {key: totals.get(key, 0.0) + score for key, score in best.items()}
            if not totals:
                return []
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], _KIND_ORDER[kv[0][0]], kv[0][1]))
        hits: list[Hit] = []
        for key, score in ranked[:limit]:
            first = entities[key]
            hits.append(
                Hit(
                    entity_kind=first.entity_kind,
                    entity_id=first.entity_id,
                    namespace_id=first.namespace_id,
                    table_id=first.table_id,
                    score=score,
                    matched=sorted(matched[key]),
                )
            )
        return hits


def search(postings: Iterable[Posting], query: str, *, limit: int = 20) -> list[Hit]:
    """One-shot search: build a :class:`PrefixIndex` over ``postings`` and query it."""
    _check_limit(limit)
    query_tokens(query)
    return PrefixIndex(postings).search(query, limit)
