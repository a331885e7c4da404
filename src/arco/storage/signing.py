"""HMAC-signed, time-limited GET URLs for backends without native signing (local files)."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

from arco.errors import ValidationError


class UrlSigner:
    """Signs ``{base_url}/files/{key}?expires=<unix>&sig=<hex>`` URLs.

    The signature is HMAC-SHA256 over ``f"{key}\\n{expires}"`` with ``secret``; the server
    that serves ``/files/`` checks it with :meth:`verify`.
    """

    def __init__(self, base_url: str, secret: bytes) -> None:
        if not secret:
            raise ValidationError("signer secret: must not be empty")
        if not base_url:
            raise ValidationError("signer base_url: must not be empty")
        self._base_url = base_url.rstrip("/")
        self._secret = bytes(secret)

    @property
    def base_url(self) -> str:
        return self._base_url

    def _mac(self, key: str, expires: int) -> str:
        msg = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def sign(self, key: str, ttl_seconds: int, *, now: float | None = None) -> str:
        """A URL for ``key`` valid for ``ttl_seconds`` from ``now`` (default: the clock)."""
        if ttl_seconds <= 0:
            raise ValidationError("ttl_seconds: must be positive")
        expires = int(time.time() if now is None else now) + int(ttl_seconds)
        sig = self._mac(key, expires)
        return f"{self._base_url}/files/{quote(key, safe='/')}?expires={expires}&sig={sig}"

    def verify(self, key: str, expires: int | str, sig: str, now: float | None = None) -> bool:
        """True iff ``sig`` is this signer's signature for ``(key, expires)`` and not expired."""
        try:
            exp = int(expires)
        except (TypeError, ValueError):
            return False
        current = time.time() if now is None else now
        if exp < current:
            return False
        if not isinstance(sig, str) or not sig.isascii():
            return False
        return hmac.compare_digest(self._mac(key, exp), sig.lower())
