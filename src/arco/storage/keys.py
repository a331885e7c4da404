"""Key validation and the scoped store that confines every key to one prefix."""

from __future__ import annotations

import re
from collections.abc import Iterator

from arco.errors import InvalidKeyError, StorageError
from arco.storage.forwarding import ForwardingStore
from arco.storage.port import ObjectData, ObjectMeta, ObjectStore, PutMode

#: S3's limit; checking it here gives the same rule on every backend.
MAX_KEY_BYTES = 1024
#: anything that may make a key invalid: a forbidden character, an empty segment, a
#: segment starting with "." (which includes "." and "..")
_SUSPECT = re.compile(r"[\\%\x00-\x1f\x7f\ud800-\udfff]|//|/\.")


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe relative object key, else raise InvalidKeyError.

    A key is ``/``-separated segments. Rejected: empty keys, a leading ``/``, ``\\``, ``%``
    (no percent-encoding tricks), control characters, empty segments (``a//b``, trailing
    ``/``), ``.``/``..`` segments, and segments starting with ``.`` (reserved for backend
    internals such as temp and lock files).
    """
    if not isinstance(key, str):
        raise InvalidKeyError(f"key: must be a string, got {type(key).__name__}")
    if not key:
        raise InvalidKeyError("key: must not be empty")
    if len(key.encode("utf-8", errors="surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"key: must be at most {MAX_KEY_BYTES} bytes of UTF-8")
    if key.startswith("/"):
        raise InvalidKeyError(f"key {key!r}: must be relative (no leading '/')")
    if _SUSPECT.search(key) is None and not key.startswith(".") and not key.endswith("/"):
        return key  # the common case, in one scan; the checks below name what is wrong
    for ch in key:
        if ch == "\\":
            raise InvalidKeyError(f"key {key!r}: must not contain '\\'")
        if ch == "%":
            raise InvalidKeyError(f"key {key!r}: must not contain '%'")
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise InvalidKeyError(f"key {key!r}: must not contain control characters")
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise InvalidKeyError(f"key {key!r}: must be valid Unicode (lone surrogate)")
    for segment in key.split("/"):
        if not segment:
            raise InvalidKeyError(f"key {key!r}: must not contain an empty segment")
        if segment in (".", ".."):
            raise InvalidKeyError(f"key {key!r}: must not contain a '.' or '..' segment")
        if segment.startswith("."):
            raise InvalidKeyError(
                f"key {key!r}: segments must not start with '.' (reserved for internals)"
            )
    return key


def validate_prefix(prefix: str) -> str:
    """Validate a ``list`` prefix: empty, or a valid key optionally followed by one ``/``.

    The last segment may be partial (``ledger/cat`` matches ``ledger/catalog/...``).
    """
    if prefix == "":
        return prefix
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


class ScopedStore(ForwardingStore):
    """An :class:`ObjectStore` that confines every key under ``prefix``.

    Relative keys are validated before the prefix is prepended, so no key can name an
    object outside the prefix; keys returned by ``head`` and ``list`` have it removed. It
    overrides every operation of the port: none may reach the inner store unscoped.
    """

    def __init__(self, inner: ObjectStore, prefix: str) -> None:
        if not prefix.endswith("/"):
            raise InvalidKeyError(f"scope prefix {prefix!r}: must end with '/'")
        validate_key(prefix[:-1])
        super().__init__(inner)
        self._prefix = prefix

    @property
    def prefix(self) -> str:
        """The scope prefix, ending with ``/``."""
        return self._prefix

    @property
    def url(self) -> str:
        return f"{self._inner.url.rstrip('/')}/{self._prefix.rstrip('/')}"

    def _full(self, key: str) -> str:
        return self._prefix + validate_key(key)

    def get(self, key: str) -> ObjectData:
        return self._inner.get(self._full(key))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self._inner.get_range(self._full(key), start, end)

    def head(self, key: str) -> ObjectMeta:
        meta = self._inner.head(self._full(key))
        return ObjectMeta(key, meta.size, meta.version, meta.last_modified)

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        return self._inner.put(self._full(key), data, mode)

    def delete(self, key: str) -> None:
        self._inner.delete(self._full(key))

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[ObjectMeta]:
        full = self._prefix + validate_prefix(prefix)
        after = None if start_after is None else self._prefix + start_after
        return self._strip(self._inner.list(full, start_after=after))

    def _strip(self, metas: Iterator[ObjectMeta]) -> Iterator[ObjectMeta]:
        n = len(self._prefix)
        for meta in metas:
            if not meta.key.startswith(self._prefix):
                raise StorageError(f"list returned key outside scope {self._prefix!r}")
            yield ObjectMeta(meta.key[n:], meta.size, meta.version, meta.last_modified)

    def sign(self, key: str, ttl_seconds: int) -> str:
        return self._inner.sign(self._full(key), ttl_seconds)
