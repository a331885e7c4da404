"""Routes: the commit history (audit trail) of a domain (see docs/api.md)."""

from __future__ import annotations

from fastapi import APIRouter

from arco.core.paging import Page
from arco.metadata.commit_log import list_commits
from arco.server.deps import CallerWorkspace
from arco.server.routes.manifests import ManifestDomain
from arco.server.wire import (
    API_DEPENDENCIES,
    DEFAULT_LIMIT,
    CommitSummary,
    Limit,
    PageToken,
    error_responses,
)

router = APIRouter(tags=["commits"], dependencies=API_DEPENDENCIES)


@router.get(
    "/commits/{domain}",
    response_model=Page[CommitSummary],
    summary="The commits of a domain, newest first",
    description="Who committed what and when: the hash-chained commit records behind the "
    "current manifest. A domain never written has no commits.",
    responses=error_responses(400),
)
def commits(
    domain: ManifestDomain,
    ws: CallerWorkspace,
    page_token: PageToken = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[CommitSummary]:
    records, token = list_commits(ws.store, domain, page_token=page_token, limit=limit)
    items = [
        CommitSummary(
            commit_id=r.commit_id,
            kind=r.kind,
            snapshot_version=r.snapshot_version,
            holder=r.holder,
            committed_at=r.committed_at,
            operations=r.operations,
        )
        for r in records
    ]
    return Page[CommitSummary](items=items, next_page_token=token)
