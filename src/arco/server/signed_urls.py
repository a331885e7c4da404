"""Signed URLs for the browser read path (spec §4): minting and, for local stores, the
verification behind ``GET/HEAD /files/{key}``.

Only files listed in a domain's **current manifest** can be minted; ledger objects,
manifests, locks, commit records and anything else never can. Paths are checked as safe
relative keys before any storage I/O.

* S3 / GCS / Azure: the store's native presigned GET URL (``ObjectStore.sign``).
* Local stores (``file://``, ``memory://``): ``{base}/files/{store key}?expires=<unix s>&
  signature=<hex>``, where the signature is HMAC-SHA256 with the server's signing key over
  ``"arco-files-v1\\n{key}\\n{expires}"`` (method independent: GET and HEAD), compared in
  constant time. The ``/files`` route re-checks that the key is a data file under a scope.

URLs and signatures are never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from arco.domains.registry import QUERIED
from arco.errors import InvalidKeyError, ObjectNotFoundError, ValidationError
from arco.metadata.manifest import FileEntry, read_manifest
from arco.observability.metrics import URLS_MINTED
from arco.server.errors import ApiError
from arco.server.workspaces import Workspace
from arco.storage.keys import validate_key
from arco.storage.port import ObjectStore

DEFAULT_TTL_S = 900
MAX_TTL_S = 3600
#: most paths one mint request may name
MAX_PATHS = 1000
#: store URL schemes served by this server at /files (no native signing)
LOCAL_SCHEMES = frozenset({"file", "memory"})

_MAC_CONTEXT = b"arco-files-v1\n"
_PART = r"[a-z0-9][a-z0-9_-]{0,62}"
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.=-]*"
#: the only keys /files serves: Parquet data files of a domain's snapshot directories
DATA_KEY_RE = re.compile(
    rf"tenant={_PART}/workspace={_PART}/(?:snapshots|state)/[a-z0-9_]+/{_NAME}/{_NAME}\.parquet"
)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")

#: CORS for the signed public reads (the signature is the authorization)
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Range, Accept-Ranges, Content-Length, ETag",
}
PREFLIGHT_HEADERS = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, If-None-Match, If-Range",
    "Access-Control-Max-Age": "600",
}


def forbidden(message: str) -> ApiError:
    return ApiError(403, "FORBIDDEN", message, dict(CORS_HEADERS))


class FileSigner:
    """HMAC-SHA256 signatures of ``/files`` URLs (see the module docstring)."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValidationError("signing key: must not be empty")
        self._secret = bytes(secret)

    def signature(self, key: str, expires: int) -> str:
        msg = _MAC_CONTEXT + f"{key}\n{expires}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def url(self, base_url: str, key: str, expires: int) -> str:
        path = quote(key, safe="/=")
        return (
            f"{base_url.rstrip('/')}/files/{path}?expires={expires}"
            f"&signature={self.signature(key, expires)}"
        )

    def verify(
        self, key: str, expires: str | None, signature: str | None, now: float | None = None
    ) -> None:
        """Raise 403 unless the URL is a valid, unexpired signature for a data-file key.

        Pure: no storage I/O (the route reads the object only after this returns).
        """
        if not expires or not signature:
            raise forbidden("missing signature or expiry")
        if not expires.isascii() or not expires.isdigit() or len(expires) > 12:
            raise forbidden("malformed expiry")
        if not _HEX64.fullmatch(signature):
            raise forbidden("malformed signature")
        check_data_key(key)
        expected = self.signature(key, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
            raise forbidden("signature does not match")
        if int(expires) < (time.time() if now is None else now):
            raise forbidden("URL has expired")


def check_data_key(key: str) -> None:
    """403 unless ``key`` is a safe key of a snapshot data file under a scope."""
    try:
        validate_key(key)
    except InvalidKeyError as exc:
        raise forbidden("not a servable file") from exc
    if not DATA_KEY_RE.fullmatch(key):
        raise forbidden("not a servable file")


def check_mint_path(path: Any) -> str:
    """A path of a mint request: a safe relative key (no ``..``, no absolute path, no
    backslash, no percent-encoding), checked before any I/O; 403 otherwise."""
    if not isinstance(path, str):
        raise forbidden("paths: each path must be a string")
    try:
        return validate_key(path)
    except InvalidKeyError as exc:
        raise forbidden("paths: a path is not a safe relative key") from exc


def check_ttl(ttl_seconds: int | None) -> int:
    ttl = DEFAULT_TTL_S if ttl_seconds is None else ttl_seconds
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_TTL_S:
        raise ValidationError(f"ttl_seconds: must be an integer from 1 to {MAX_TTL_S}")
    return ttl


@dataclass(frozen=True)
class Minter:
    """Mints URLs for one server: local ``/files`` links or the store's native ones."""

    local: bool
    signer: FileSigner
    #: settings.public_url, or None to use the request's base URL
    public_url: str | None = None

    @classmethod
    def for_store(cls, store_url: str, signing_key: bytes, public_url: str | None) -> Minter:
        scheme = store_url.partition("://")[0].lower()
        return cls(scheme in LOCAL_SCHEMES, FileSigner(signing_key), public_url)

    def mint(
        self,
        ws: Workspace,
        domain: str,
        paths: list[str] | None,
        ttl_seconds: int | None,
        request_base_url: str,
        now: float | None = None,
    ) -> dict[str, Any]:
        """The mint response for ``domain``'s current manifest (see the REST contract)."""
        # everything that can be checked without storage comes first
        if domain not in QUERIED:
            raise ValidationError(f"domain: must be one of {', '.join(QUERIED)}")
        ttl = check_ttl(ttl_seconds)
        wanted: list[str] | None = None
        if paths is not None:
            if len(paths) > MAX_PATHS:
                raise ValidationError(f"paths: at most {MAX_PATHS} paths per request")
            wanted = [check_mint_path(p) for p in paths]
        head = read_manifest(ws.store, domain)
        entries: dict[str, FileEntry] = (
            {} if head is None else {f.path: f for f in head.manifest.files}
        )
        if wanted is None:
            chosen = list(entries.values())
        else:
            missing = [p for p in wanted if p not in entries]
            if missing:
                raise forbidden(f"paths: not all are files of the current {domain} manifest")
            chosen = [entries[p] for p in dict.fromkeys(wanted)]
        issued = time.time() if now is None else now
        expires = int(issued) + ttl
        base = self.public_url or request_base_url
        files = []
        for entry in chosen:
            url = self._url(ws, entry, ttl, expires, base)
            files.append({**entry.model_dump(mode="json"), "url": url})
        if files:
            URLS_MINTED.labels(domain).inc(len(files))
        return {
            "domain": domain,
            "snapshot_version": 0 if head is None else head.manifest.snapshot_version,
            "expires_at": _rfc3339(expires),
            "files": files,
        }

    def _url(self, ws: Workspace, entry: FileEntry, ttl: int, expires: int, base: str) -> str:
        if self.local:
            return self.signer.url(base, ws.scope.prefix + entry.path, expires)
        return ws.store.sign(entry.path, ttl)


def _rfc3339(unix_s: int) -> str:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- serving /files ----------------------------------------------------------------------


@dataclass(frozen=True)
class ByteRange:
    start: int
    #: exclusive
    end: int

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


class Unsatisfiable(Exception):
    """The Range header names no byte of the object (416)."""


#: more digits than any object size has: such a position lies past the end of every object
_MAX_DIGITS = 18


def _position(digits: str) -> int:
    """A byte position of a Range header; absurdly long numbers saturate (no int parse of
    thousands of digits, which Python refuses)."""
    return 10**_MAX_DIGITS if len(digits) > _MAX_DIGITS else int(digits)


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range of a ``Range`` header, None to serve the whole object (no
    header, a malformed one, or several ranges: all allowed by RFC 9110 to be ignored);
    raises Unsatisfiable when the range starts past the end."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (_is_number(first) or first == "") or not (_is_number(last) or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        suffix = _position(last)
        if suffix == 0:
            raise Unsatisfiable
        if size == 0:
            raise Unsatisfiable
        return ByteRange(max(0, size - suffix), size)
    start = _position(first)
    end = size if last == "" else min(_position(last) + 1, size)
    if last != "" and _position(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable
    return ByteRange(start, end)


def etag_of(version: str) -> str:
    """A strong ETag from an object version token (files under snapshots are immutable)."""
    return '"' + hashlib.sha256(version.encode()).hexdigest()[:32] + '"'


@dataclass(frozen=True)
class FileResponse:
    status: int
    body: bytes
    headers: dict[str, str]


def serve_file(
    root: ObjectStore,
    key: str,
    *,
    head_only: bool,
    range_header: str | None,
    if_none_match: str | None,
    expires: int,
    now: float | None = None,
) -> FileResponse:
    """Serve a verified data-file key of the root store: 200 / 206 / 304, with
    ``Accept-Ranges``, ``ETag``, ``Content-Length`` and the CORS headers; 416 (ApiError)
    for an unsatisfiable range, 404 (ApiError) for a missing object."""
    try:
        meta = root.head(key)
    except ObjectNotFoundError:
        raise ApiError(404, "NOT_FOUND", "no such file", dict(CORS_HEADERS)) from None
    etag = etag_of(meta.version)
    remaining = max(0, expires - int(time.time() if now is None else now))
    headers = {
        **CORS_HEADERS,
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Cache-Control": f"private, max-age={min(remaining, MAX_TTL_S)}",
    }
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return FileResponse(304, b"", headers)
    try:
        byte_range = parse_range(range_header, meta.size)
    except Unsatisfiable:
        raise ApiError(
            416,
            "RANGE_NOT_SATISFIABLE",
            f"range is outside the object ({meta.size} bytes)",
            {**headers, "Content-Range": f"bytes */{meta.size}"},
        ) from None
    if byte_range is None:
        headers["Content-Length"] = str(meta.size)
        body = b"" if head_only else root.get(key).data
        return FileResponse(200, body, headers)
    headers["Content-Range"] = byte_range.content_range(meta.size)
    headers["Content-Length"] = str(byte_range.end - byte_range.start)
    body = b"" if head_only else root.get_range(key, byte_range.start, byte_range.end)
    return FileResponse(206, body, headers)
