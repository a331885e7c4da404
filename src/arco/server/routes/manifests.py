"""Routes: the current manifest of a domain (see docs/api.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Response

from arco.domains.registry import NAMES
from arco.errors import NotFoundError
from arco.metadata.manifest import Manifest, read_manifest
from arco.server.deps import CallerWorkspace
from arco.server.wire import API_DEPENDENCIES, error_responses, set_etag

router = APIRouter(tags=["manifests"], dependencies=API_DEPENDENCIES)

# every registered domain has a manifest of its own (an enum in the OpenAPI document)
if TYPE_CHECKING:
    ManifestDomain = str
else:
    ManifestDomain = Literal[NAMES]


@router.get(
    "/manifests/{domain}",
    response_model=Manifest,
    summary="The current manifest of a domain: its version and Parquet files",
    description="`ETag` is the snapshot version. 404 if the domain was never written.",
    responses=error_responses(400, 404, etag=200),
)
def get_manifest(domain: ManifestDomain, ws: CallerWorkspace, response: Response) -> Manifest:
    stored = read_manifest(ws.store, domain)
    if stored is None:
        raise NotFoundError(f"domain {domain!r} has no manifest yet (nothing was written)")
    set_etag(response, stored.manifest.snapshot_version)
    return stored.manifest
