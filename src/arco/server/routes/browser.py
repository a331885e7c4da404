"""Routes: the browser read path, ``POST /browser/urls`` (signed URLs, spec §4)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from arco.server.deps import Caller, CallerWorkspace, services
from arco.server.signed_urls import DEFAULT_TTL_S, MAX_TTL_S, Minter

router = APIRouter(tags=["browser"])


class MintRequest(BaseModel):
    # strict: booleans are not numbers (``ttl_seconds: true`` was taken as 1 s)
    model_config = ConfigDict(extra="forbid", strict=True)

    domain: str = Field(description="catalog, lineage or executions")
    paths: list[str] | None = Field(
        default=None,
        description="manifest paths to sign (default: every file of the current manifest)",
    )
    ttl_seconds: int | None = Field(
        default=None, description=f"URL lifetime (default {DEFAULT_TTL_S}, max {MAX_TTL_S})"
    )


class SignedFile(BaseModel):
    path: str
    table: str
    kind: str
    from_version: int
    version: int
    rows: int
    bytes: int
    sha256: str
    url: str


class MintResponse(BaseModel):
    domain: str
    snapshot_version: int
    expires_at: str
    files: list[SignedFile]


@router.post(
    "/browser/urls",
    summary="Mint signed GET URLs for the files of a domain's current manifest",
    response_model=MintResponse,
    responses={
        400: {"description": "unknown domain, bad ttl_seconds or too many paths"},
        403: {"description": "a path is not a file of the current manifest (or is unsafe)"},
        429: {"description": "mint rate limit reached"},
    },
)
def mint_urls(
    body: MintRequest, request: Request, caller: Caller, ws: CallerWorkspace
) -> dict[str, Any]:
    svc = services(request)
    svc.rate_limiter.charge(caller.tenant, "mint")
    minter = Minter.for_store(svc.settings.store_url, svc.signing_key, svc.settings.public_url)
    return minter.mint(ws, body.domain, body.paths, body.ttl_seconds, str(request.base_url))
