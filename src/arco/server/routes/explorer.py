"""Routes: the browser explorer (a static page; see README "Explorer").

``GET /`` serves the page, ``GET /explorer/{asset}`` its static files (including the
vendored DuckDB-WASM bundle, see ``static/vendor.py``) and ``GET /explorer/config.json``
the view definitions the page builds in DuckDB-WASM: the same merge rule as
:mod:`arco.query.views` (newest version per key, tombstones dropped), taken from it, so the browser
and the ``/query`` endpoint cannot drift apart. No route here touches the catalog: the page
reads the Parquet files through signed URLs (``POST /api/v1/browser/urls``).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from arco.domains.registry import VIEWS
from arco.query.views import INFO_TABLES_VIEW, merged_view_sql
from arco.server.deps import services
from arco.server.errors import ApiError

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"

#: the vendored files the page needs (``static/vendor.py`` puts them there)
VENDORED_ASSETS = (
    "duckdb-wasm/duckdb-browser.mjs",
    "duckdb-wasm/duckdb-browser-eh.worker.js",
    "duckdb-wasm/duckdb-eh.wasm",
    "apache-arrow/Arrow.es2015.min.js",
)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}

#: vendored files are pinned by version and integrity: cache them for a day
VENDOR_CACHE = "public, max-age=86400"
#: the page's own files change with the package: always revalidate (ETag)
PAGE_CACHE = "no-cache"


def assets_vendored() -> bool:
    return all((VENDOR_DIR / name).is_file() for name in VENDORED_ASSETS)


def resolve_asset(asset: str) -> Path | None:
    """The file under ``static/`` that ``asset`` names, or None (traversal, hidden files,
    unknown types and directories all are "not found")."""
    if not asset or asset.endswith("/") or "\\" in asset or "\x00" in asset:
        return None
    parts = PurePosixPath(asset).parts
    if PurePosixPath(asset).is_absolute() or any(p in ("", ".", "..") for p in parts):
        return None
    if any(p.startswith((".", "_")) for p in parts):
        return None
    path = (STATIC_DIR / asset).resolve()
    if not path.is_relative_to(STATIC_DIR) or path.suffix not in CONTENT_TYPES:
        return None
    return path if path.is_file() else None


def _not_found(asset: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"no explorer asset {asset!r}")


@router.get("/")
def index(request: Request) -> Response:
    return _file(request, STATIC_DIR / "index.html", PAGE_CACHE)


@router.get("/explorer/config.json")
def config(request: Request) -> Response:
    body = {
        "dev": services(request).settings.dev,
        "assets_vendored": assets_vendored(),
        "views": view_definitions(),
        # the convenience views of arco.query.views, over the merged views
        "extra_views": [
            "CREATE SCHEMA IF NOT EXISTS info",
            INFO_TABLES_VIEW.strip().replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1),
        ],
    }
    return Response(
        json.dumps(body), media_type="application/json", headers={"Cache-Control": PAGE_CACHE}
    )


@router.api_route("/explorer/{asset:path}", methods=["GET", "HEAD"])
def asset_file(request: Request, asset: str) -> Response:
    path = resolve_asset(asset)
    if path is None:
        raise _not_found(asset)
    cache = VENDOR_CACHE if path.is_relative_to(VENDOR_DIR) else PAGE_CACHE
    return _file(request, path, cache)


def _file(request: Request, path: Path, cache: str) -> Response:
    """The file with its content type, cache policy and an ETag (304 when it matches)."""
    stat = path.stat()
    etag = '"' + hashlib.md5(f"{stat.st_mtime_ns}-{stat.st_size}".encode()).hexdigest() + '"'
    headers = {"Cache-Control": cache, "ETag": etag}
    given = request.headers.get("if-none-match", "")
    if etag in (t.strip() for t in given.split(",")) or given.strip() == "*":
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=CONTENT_TYPES[path.suffix], headers=headers)


@lru_cache(maxsize=1)
def view_definitions() -> list[dict[str, Any]]:
    """Every SQL view of :mod:`arco.query.views`: its domain and Parquet table, the merge SQL with a
    ``{source}`` placeholder and the DuckDB column types (for an empty view when the snapshot
    has no file of that table)."""
    out = []
    con = duckdb.connect(":memory:")
    try:
        for (schema, view), (domain, table) in VIEWS.items():
            spec = domain.specs[table]
            empty = spec.schema.empty_table()
            con.register("empty_view", empty)
            described = con.execute("DESCRIBE empty_view").fetchall()
            con.unregister("empty_view")
            out.append(
                {
                    "schema": schema,
                    "view": view,
                    "domain": domain.name,
                    "table": table,
                    "primary_key": spec.primary_key,
                    "merge_sql": merged_view_sql(table, "{source}", domain),
                    "columns": [{"name": row[0], "type": row[1]} for row in described],
                }
            )
    finally:
        con.close()
    return out
