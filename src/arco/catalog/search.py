"""Search over the catalog: postings kept in step with every DDL commit, ranked prefix search.

Postings are a table of the catalog domain (``search_postings``), written by the same commit
as the DDL that changed the text they index, so search is never stale and never rebuilt
from scratch: each commit re-derives only the postings of the namespaces and tables it
touched (ADR 008). Tokenising and ranking live in :mod:`arco.search`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import BaseModel, ConfigDict

from arco.catalog.model import Namespace
from arco.catalog.operations import table_view
from arco.catalog.schema import PostingRow
from arco.catalog.state import CatalogState
from arco.domain import ApplyContext, Changes
from arco.search import Posting, PrefixIndex, postings_for_namespace, postings_for_table


def posting_id(p: Posting) -> str:
    return f"{p.entity_id}|{p.field}|{p.token}"


def reindex(changes: Changes[CatalogState], ctx: ApplyContext) -> None:
    """Bring the postings of every namespace and table this commit changed up to date."""
    owners: dict[str, Literal["namespace", "table"]] = {}
    for table, rows in changes.delta().items():
        for row, _ in rows:
            if table == "namespaces":
                owners[row.namespace_id] = "namespace"
            elif table in ("tables", "columns"):
                owners[row.table_id] = "table"
    state = changes.state
    for owner, kind in owners.items():
        if kind == "namespace":
            ns = state.namespaces.get(owner)
            wanted = postings_for_namespace(Namespace.from_row(ns)) if ns else []
        else:
            t = state.tables.get(owner)
            wanted = postings_for_table(table_view(state, t)) if t else []
        new = {posting_id(p): p for p in wanted}
        old = {r.posting_id: r for r in state.postings_of(owner)}
        for pid, row in old.items():
            if pid not in new:
                changes.remove("search_postings", pid, replace(row, version=ctx.version))
        for pid, p in new.items():
            current = old.get(pid)
            if current is not None and (current.weight, current.namespace_id, current.table_id) == (
                p.weight,
                p.namespace_id,
                p.table_id,
            ):
                continue
            row = PostingRow(
                posting_id=pid,
                token=p.token,
                entity_kind=p.entity_kind,
                entity_id=p.entity_id,
                table_id=p.table_id,
                namespace_id=p.namespace_id,
                field=p.field,
                weight=p.weight,
                version=ctx.version,
            )
            changes.upsert("search_postings", pid, row)


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
        index = PrefixIndex(
            Posting(
                token=r.token,
                entity_kind=r.entity_kind,
                entity_id=r.entity_id,
                table_id=r.table_id,
                namespace_id=r.namespace_id,
                field=r.field,
                weight=r.weight,
            )
            for r in state.search_postings.values()
        )
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
