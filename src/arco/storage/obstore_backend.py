"""The port over obstore stores: memory, S3, GCS and Azure.

Conditional writes map directly onto obstore's put modes (``create`` → ``If-None-Match: *``,
``IfVersion`` → ``If-Match`` on S3/Azure, ``x-goog-if-generation-match`` on GCS). Errors are
mapped precisely and their messages never carry credentials, query strings or raw response
bodies.

Give the wrapped store ``retry_config={"max_retries": 0}`` (``open_store`` does): obstore
retries a conditional put after a 5xx without telling us, and a retried create whose first
attempt was applied reports "already exists". :class:`~arco.storage.retry.RetryingStore`
retries instead and resolves such outcomes by reading back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import obstore
import obstore.exceptions as obx
from obstore.store import AzureStore, GCSStore, MemoryStore, S3Store

from arco.errors import (
    ObjectExistsError,
    ObjectNotFoundError,
    OutcomeUnknownError,
    StorageError,
    TransientStorageError,
    UnsupportedOperationError,
    ValidationError,
    VersionMismatchError,
)
from arco.storage.keys import validate_key, validate_prefix
from arco.storage.port import IfVersion, ObjectData, ObjectMeta, PutMode

if TYPE_CHECKING:
    from obstore import PutMode as ObPutMode
    from obstore.store import ObjectStore as AnyObstore

_STATUS_RE = re.compile(r"status code: (\d{3})")
_S3_CODE_RE = re.compile(r"<Code>([A-Za-z0-9]+)</Code>")
_HTTP_KIND_RE = re.compile(r"HttpError \{\s*kind: (\w+)")
_QUERY_RE = re.compile(r"\?[^\s\"'<>]*")
_SECRET_FIELDS = ("secret", "key", "token", "sas", "password", "credential")
_NOT_FOUND: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    getattr(obx, "NotFoundError", FileNotFoundError),
)
_RANGE_ERRORS = ("status code: 416", "Invalid range", "InvalidRange")
# A 404 for the bucket/container is a broken configuration, never "object not found".
_NO_CONTAINER = ("NoSuchBucket", "ContainerNotFound", "bucket does not exist")


def _secrets_of(store: object) -> list[str]:
    config = getattr(store, "config", None)
    if not isinstance(config, dict):
        return []
    return [
        str(value)
        for name, value in config.items()
        if any(s in name.lower() for s in _SECRET_FIELDS) and isinstance(value, str) and value
    ]


class ObstoreStore:
    """An :class:`~arco.storage.port.ObjectStore` over an obstore store.

    The version token is the ETag string exactly as obstore returns it, except on GCS,
    where conditional updates need the object generation, so the token is the generation.
    A missing bucket is a StorageError, not ObjectNotFoundError, wherever the response says
    so (S3 answers ``HEAD`` without a body, so ``head`` cannot tell the two apart).
    """

    def __init__(self, store: AnyObstore | Any, url: str, *, secrets: Iterable[str] = ()) -> None:
        self._store = store
        self._url = url
        self._field: Literal["e_tag", "version"] = (
            "version" if isinstance(store, GCSStore) else "e_tag"
        )
        self._secrets = sorted({*_secrets_of(store), *(s for s in secrets if s)}, key=len)[::-1]
        self._backend = type(store).__name__

    @property
    def url(self) -> str:
        return self._url

    @property
    def store(self) -> AnyObstore:
        """The wrapped obstore store."""
        return self._store

    # --- error mapping ------------------------------------------------------------------

    def _summary(self, exc: BaseException) -> str:
        text = str(exc)
        status = _STATUS_RE.search(text)
        if status:
            code = _S3_CODE_RE.search(text)
            return f"HTTP {status.group(1)}" + (f" ({code.group(1)})" if code else "")
        kind = _HTTP_KIND_RE.search(text)
        if kind:
            return f"HTTP transport error ({kind.group(1)})"
        first = text.split("\n\nDebug source:", 1)[0].replace("\n", " ")
        first = _QUERY_RE.sub("?<redacted>", first)
        for secret in self._secrets:
            first = first.replace(secret, "<redacted>")
        if len(first) > 300:
            first = first[:300] + "..."
        return f"{type(exc).__name__}: {first}"

    def _map(self, exc: BaseException, op: str, key: str, *, write: bool) -> StorageError:
        """Translate an obstore exception into the storage error hierarchy."""
        where = f"{self._backend} {op} of {key!r}"
        text = str(exc)
        status_match = _STATUS_RE.search(text)
        status = int(status_match.group(1)) if status_match else None
        reason_match = _S3_CODE_RE.search(text)
        reason = reason_match.group(1) if reason_match else ""
        if any(marker in text for marker in _NO_CONTAINER):
            return StorageError(f"{where} failed: the bucket/container does not exist")
        if isinstance(exc, _NOT_FOUND):
            return ObjectNotFoundError(f"object {key!r} not found")
        if isinstance(exc, obx.AlreadyExistsError):
            # obstore turns every 409 into AlreadyExists; on S3 a 409 is
            # ConditionalRequestConflict/OperationAborted: rejected, retry.
            if status == 409 and "AlreadyExists" not in reason:
                return TransientStorageError(f"{where} failed: {self._summary(exc)}")
            return ObjectExistsError(f"object {key!r} already exists")
        if isinstance(exc, obx.PreconditionError):
            return VersionMismatchError(f"object {key!r}: expected version is not current")
        summary = self._summary(exc)
        if status is not None:
            if status == 404:
                return ObjectNotFoundError(f"object {key!r} not found")
            # Rejected before being applied: throttling, SlowDown, ConditionalRequestConflict.
            if status in (409, 429, 503):
                return TransientStorageError(f"{where} failed: {summary}")
            if status >= 500 or status == 408:
                if write:
                    return OutcomeUnknownError(f"{where}: outcome unknown after {summary}")
                return TransientStorageError(f"{where} failed: {summary}")
            return StorageError(f"{where} failed: {summary}")
        kind = _HTTP_KIND_RE.search(text)
        headline = text.split("\n\nDebug source:", 1)[0].lower()
        timed_out = "timed out" in headline or "timeout" in headline
        if kind or timed_out:
            if kind and kind.group(1) == "Connect":  # the request never left this host
                return TransientStorageError(f"{where} failed: {summary}")
            if write:
                return OutcomeUnknownError(f"{where}: outcome unknown after {summary}")
            return TransientStorageError(f"{where} failed: {summary}")
        return StorageError(f"{where} failed: {summary}")

    # --- reads --------------------------------------------------------------------------

    def _token(self, meta: Mapping[str, Any], key: str) -> str:
        token = meta.get(self._field)
        if not token:
            raise StorageError(f"{self._backend}: no {self._field} returned for {key!r}")
        return str(token)

    def get(self, key: str) -> ObjectData:
        validate_key(key)
        try:
            result = obstore.get(self._store, key)
            data = bytes(result.bytes())
            meta = result.meta
        except Exception as exc:
            raise self._map(exc, "get", key, write=False) from exc
        return ObjectData(data, self._token(meta, key), len(data), meta["last_modified"])

    def get_range(self, key: str, start: int, end: int) -> bytes:
        validate_key(key)
        if start < 0 or end < start:
            raise ValidationError(f"range [{start}, {end}): need 0 <= start <= end")
        if start == end:
            self.head(key)  # NotFound must still be reported
            return b""
        try:
            return bytes(obstore.get_range(self._store, key, start=start, end=end))
        except Exception as exc:
            past_end = any(marker in str(exc) for marker in _RANGE_ERRORS)
            if past_end and start >= self.head(key).size:
                return b""  # a range past the end is empty, like slicing
            raise self._map(exc, "get_range", key, write=False) from exc

    def head(self, key: str) -> ObjectMeta:
        validate_key(key)
        try:
            meta = obstore.head(self._store, key)
        except Exception as exc:
            raise self._map(exc, "head", key, write=False) from exc
        return ObjectMeta(key, meta["size"], self._token(meta, key), meta["last_modified"])

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[ObjectMeta]:
        validate_prefix(prefix)
        return self._list(prefix, start_after)

    def _list(self, prefix: str, start_after: str | None) -> Iterator[ObjectMeta]:
        # obstore lists whole path segments ("a/b" does not match "a/bc"); the port
        # promises a plain string prefix, so list the parent "directory" and filter.
        parent = prefix.rsplit("/", 1)[0] if "/" in prefix else None
        try:
            listing = obstore.list(self._store, parent, offset=start_after, chunk_size=1000)
            for chunk in listing:
                for meta in chunk:
                    path = meta["path"]
                    if path.startswith(prefix) and (start_after is None or path > start_after):
                        yield ObjectMeta(
                            path, meta["size"], meta.get(self._field) or "", meta["last_modified"]
                        )
        except Exception as exc:
            raise self._map(exc, "list", prefix, write=False) from exc

    # --- writes -------------------------------------------------------------------------

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        validate_key(key)
        ob_mode: ObPutMode
        if mode == "create":
            ob_mode = "create"
        elif mode == "overwrite":
            ob_mode = "overwrite"
        elif isinstance(mode, IfVersion):
            ob_mode = (
                {"version": mode.version} if self._field == "version" else {"e_tag": mode.version}
            )
        else:
            raise ValidationError(f"put mode {mode!r}: must be 'create', 'overwrite' or IfVersion")
        try:
            result = obstore.put(
                self._store,
                key,
                data,
                mode=ob_mode,
                use_multipart=None if mode == "overwrite" else False,
            )
        except Exception as exc:
            err = self._map(exc, "put", key, write=True)
            if isinstance(mode, IfVersion) and isinstance(err, VersionMismatchError):
                try:
                    self.head(key)
                except ObjectNotFoundError:
                    raise ObjectNotFoundError(f"object {key!r} not found") from exc
                except StorageError:
                    pass  # the precondition failed either way
            raise err from exc
        return self._token(result, key)

    def delete(self, key: str) -> None:
        validate_key(key)
        try:
            obstore.delete(self._store, key)
        except Exception as exc:
            err = self._map(exc, "delete", key, write=False)
            if isinstance(err, ObjectNotFoundError):
                return
            raise err from exc

    def sign(self, key: str, ttl_seconds: int) -> str:
        validate_key(key)
        if ttl_seconds <= 0:
            raise ValidationError("ttl_seconds: must be positive")
        store = self._store
        if not isinstance(store, S3Store | GCSStore | AzureStore):
            kind = "memory" if isinstance(store, MemoryStore) else self._backend
            raise UnsupportedOperationError(f"sign: the {kind} store cannot sign URLs")
        try:
            return obstore.sign(store, "GET", key, timedelta(seconds=ttl_seconds))
        except Exception as exc:
            raise self._map(exc, "sign", key, write=False) from exc
