"""Routes: ``GET/HEAD /files/{key}`` -- signed reads of a local store's snapshot files.

No bearer token: the HMAC signature in the query string is the authorization (see
:mod:`arco.server.signed_urls`). Only Parquet data files under a scope's snapshot
directories are ever served; the access log records the route template, never the URL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from arco.server.deps import services
from arco.server.signed_urls import PREFLIGHT_HEADERS, FileSigner, forbidden, serve_file

router = APIRouter(tags=["files"])

_RESPONSES: dict[int | str, dict[str, str]] = {
    206: {"description": "the requested byte range"},
    304: {"description": "not modified (If-None-Match)"},
    403: {"description": "missing, malformed, tampered or expired signature, or not a data file"},
    404: {"description": "the file no longer exists"},
    416: {"description": "range not satisfiable"},
}


_DOC = {
    "response_class": Response,
    "responses": {
        200: {"content": {"application/octet-stream": {}}, "description": "the file"},
        **_RESPONSES,
    },
}


@router.get(
    "/files/{key:path}",
    summary="Read a snapshot file through a signed URL (Range supported)",
    operation_id="get_file",
    **_DOC,  # type: ignore[arg-type]
)
@router.head(
    "/files/{key:path}",
    summary="Size and ETag of a snapshot file through a signed URL",
    operation_id="head_file",
    **_DOC,  # type: ignore[arg-type]
)
def get_file(
    key: str,
    request: Request,
    expires: str | None = None,
    signature: str | None = None,
    range: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    svc = services(request)
    if svc.settings.store_url.partition("://")[0].lower() not in ("file", "memory"):
        raise forbidden("this server signs native store URLs; /files is not served")
    FileSigner(svc.signing_key).verify(key, expires, signature)
    assert expires is not None  # verified above
    served = serve_file(
        svc.root,
        key,
        head_only=request.method == "HEAD",
        range_header=range,
        if_none_match=if_none_match,
        expires=int(expires),
    )
    return Response(
        served.body,
        status_code=served.status,
        headers=served.headers,
        media_type="application/octet-stream" if served.status != 304 else None,
    )


@router.options("/files/{key:path}", include_in_schema=False)
def preflight(key: str) -> Response:
    return Response(status_code=204, headers=PREFLIGHT_HEADERS)
