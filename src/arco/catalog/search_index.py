"""Search over the catalog: postings kept in step with every DDL commit, ranked prefix search.

Postings are a table of the catalog domain (``search_postings``), written by the same commit
as the DDL that changed the text they index, so the stored postings are never stale and
never rebuilt from scratch: each commit writes only the postings of the namespaces and
tables it touched (ADR 008). In memory, a version's prefix index is derived from its
entities on the first search and cached with it. Tokenising and ranking live in
:mod:`arco.search`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from arco.catalog.model import Namespace
from arco.catalog.operations import table_view
from arco.catalog.schema import PostingRow
from arco.catalog.state import CatalogState
from arco.metadata.domain import ApplyContext, Changes
from arco.search import Posting, PrefixIndex, postings_for_namespace, postings_for_table


def posting_id(p: Posting) -> str:
    return f"{p.entity_id}|{p.field}|{p.token}"


def _postings(state: CatalogState, owner: str, kind: str) -> dict[str, Posting]:
    """The postings an owner (a namespace, or a table with its columns) produces in ``state``."""
    if kind == "namespace":
        ns = state.namespaces.get(owner)
        found = postings_for_namespace(Namespace.from_row(ns)) if ns else []
    else:
        t = state.tables.get(owner)
        found = postings_for_table(table_view(state, t)) if t else []
    return {posting_id(p): p for p in found}


def _row(p: Posting, version: int) -> PostingRow:
    return PostingRow(
        posting_id=posting_id(p),
        token=p.token,
        entity_kind=p.entity_kind,
        entity_id=p.entity_id,
        table_id=p.table_id,
        namespace_id=p.namespace_id,
        field=p.field,
        weight=p.weight,
        version=version,
    )


def reindex(changes: Changes[CatalogState], ctx: ApplyContext) -> None:
    """Write the posting changes of every namespace and table this commit touched.

    Postings are a pure function of the entities, so the stored ones are those derived from
    the batch's base version; the difference to the new version is what gets written.
    """
    owners: dict[str, Literal["namespace", "table"]] = {}
    for table, rows in changes.delta().items():
        for row, _ in rows:
            if table == "namespaces":
                owners[row.namespace_id] = "namespace"
            elif table in ("tables", "columns"):
                owners[row.table_id] = "table"
    for owner, kind in owners.items():
        old = _postings(changes.base, owner, kind)
        new = _postings(changes.state, owner, kind)
        for pid, p in old.items():
            if pid not in new:
                changes.remove("search_postings", pid, _row(p, ctx.version))
        for pid, p in new.items():
            if old.get(pid) != p:
                changes.upsert("search_postings", pid, _row(p, ctx.version))


def all_postings(state: CatalogState) -> list[Posting]:
    """Every posting of a catalog version, derived from its entities."""
    out = [
        p
        for ns in state.namespaces.values()
        for p in postings_for_namespace(Namespace.from_row(ns))
    ]
    for t in state.tables.values():
        out.extend(postings_for_table(table_view(state, t)))
    return out


class SearchHit(BaseModel):
    """One search result, with the names needed to show it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["namespace", "table", "column"]
    entity_id: str
    namespace: str
    table: str | None
    column: str | None
    score: float
    matched: list[str]


def search(state: CatalogState, query: str, limit: int = 20) -> list[SearchHit]:
    """Ranked prefix search (name over description over column) of one catalog version."""
    index = state.search_index
    if index is None:
        index = PrefixIndex(all_postings(state))
        state.search_index = index  # a pure cache of this immutable version
    out: list[SearchHit] = []
    for hit in index.search(query, limit):
        ns = state.namespaces.get(hit.namespace_id)
        table = state.tables.get(hit.table_id) if hit.table_id else None
        column = state.columns.get(hit.entity_id) if hit.entity_kind == "column" else None
        if ns is None or (hit.table_id and table is None):
            continue  # cannot happen for a consistent version; never show a dangling hit
        out.append(
            SearchHit(
                kind=hit.entity_kind,
                entity_id=hit.entity_id,
                namespace=ns.name,
                table=table.name if table else None,
                column=column.name if column else None,
                score=hit.score,
                matched=list(hit.matched),
            )
        )
    return out
