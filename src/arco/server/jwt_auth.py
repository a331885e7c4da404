"""Production authentication: ``Authorization: Bearer <JWT>`` (HS256, RS256, ES256).

The accepted algorithms are fixed by configuration, never chosen by the token: an HS256
token is checked with the shared secret only, an RS256/ES256 token with the configured
public key or the JWKS key named by its ``kid`` (and that key must be of the token's
algorithm). ``exp`` is required; ``iss`` and ``aud`` are enforced when configured. The
token kind (``arco_kind`` claim, absent = ``user``) must be the one this authenticator
expects. Every failure is the same 401 without detail; the reason goes to the log (its
class name only, never the token).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Request

from arco.core.scope import Scope
from arco.errors import ValidationError
from arco.server.auth import unauthenticated
from arco.server.principal import Principal, TokenKind
from arco.server.settings import SUPPORTED_ALGORITHMS, AuthSettings, public_key_fits

log = logging.getLogger("arco.server.auth")

#: JWS compact serialization: three base64url parts (the signature may not be empty here)
_COMPACT_RE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_KINDS: tuple[TokenKind, ...] = ("user", "task")
_MAX_SUBJECT = 256


class TokenRejected(Exception):
    """A token failed a check of ours (as opposed to PyJWT's); the name says which."""


class JwtAuthenticator:
    """Verifies bearer tokens of one kind (``user`` for the API)."""

    def __init__(
        self,
        settings: AuthSettings,
        expected_kind: TokenKind = "user",
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.expected_kind = expected_kind
        self._algorithms = frozenset(a for a in settings.algorithms if a in SUPPORTED_ALGORITHMS)
        self._pem_key: Any = (
            load_pem_public_key(settings.public_key_pem.encode())
            if settings.public_key_pem
            else None
        )
        self._jwks = JwksCache(settings, clock=clock) if settings.jwks_url else None

    def authenticate(self, request: Request) -> Principal:
        token = bearer_token(request.headers.get("Authorization"), self.settings.max_token_bytes)
        request_id = getattr(request.state, "request_id", None)
        if token is None:
            log.debug("rejected request: no bearer token", extra={"request_id": request_id})
            raise unauthenticated()
        try:
            return self._principal(self.verify(token))
        except (jwt.PyJWTError, TokenRejected, ValueError, TypeError, KeyError) as exc:
            log.info(
                "rejected token: %s",
                type(exc).__name__,
                extra={"request_id": request_id, "reason": str(exc)[:200]},
            )
            raise unauthenticated() from None

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token`` (raises PyJWTError or TokenRejected)."""
        s = self.settings
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise jwt.InvalidAlgorithmError("algorithm not accepted")
        key = self._key_for(alg, header.get("kid"))
        required = ["exp"]
        if s.issuer is not None:
            required.append("iss")
        if s.audience is not None:
            required.append("aud")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            issuer=s.issuer,
            audience=s.audience,
            leeway=s.leeway_s,
            options={
                "require": required,
                "verify_signature": True,
                "verify_exp": True,
                "verify_aud": s.audience is not None,
                "verify_iss": s.issuer is not None,
            },
        )
        return claims

    def _key_for(self, alg: str, kid: object) -> Any:
        """The one key that may verify an ``alg`` token: never chosen by the token beyond
        naming a JWKS key of that same algorithm."""
        if alg == "HS256":
            if not self.settings.secret:
                raise TokenRejected("no HS256 secret configured")
            return self.settings.secret
        if self._jwks is not None and (self._pem_key is None or kid is not None):
            if not isinstance(kid, str) or not kid:
                raise TokenRejected("JWKS tokens must name their key (kid)")
            jwk = self._jwks.key(kid)
            if jwk.algorithm_name != alg:
                raise TokenRejected(f"key {kid!r} is for {jwk.algorithm_name}, not {alg}")
            return jwk.key
        if self._pem_key is None or not public_key_fits(self._pem_key, alg):
            raise TokenRejected(f"no {alg} key configured")
        return self._pem_key

    def _principal(self, claims: dict[str, Any]) -> Principal:
        s = self.settings
        tenant = claims.get(s.tenant_claim)
        workspace = claims.get(s.workspace_claim)
        subject = claims.get(s.subject_claim)
        kind = claims.get(s.kind_claim, "user")
        if not isinstance(tenant, str) or not isinstance(workspace, str):
            raise TokenRejected("tenant or workspace claim missing")
        if not isinstance(subject, str) or not subject or len(subject) > _MAX_SUBJECT:
            raise TokenRejected("subject claim missing or invalid")
        if kind not in _KINDS or kind != self.expected_kind:
            raise TokenRejected(f"token kind {kind!r} is not {self.expected_kind!r}")
        try:
            scope = Scope(tenant, workspace)
        except ValidationError:
            raise TokenRejected("tenant or workspace claim is not a valid name") from None
        return Principal(scope.tenant, scope.workspace, subject, self.expected_kind)


class JwksCache:
    """The keys of a JWKS document, fetched once per ``jwks_cache_s``; an unknown ``kid``
    refetches at most once per ``jwks_refresh_cooldown_s`` (key rotation), so a flood of
    made-up key ids costs the JWKS host nothing. Keys removed from the document stop
    verifying at the next fetch."""

    def __init__(self, settings: AuthSettings, clock: Callable[[], float] = time.monotonic) -> None:
        assert settings.jwks_url is not None
        self._client = jwt.PyJWKClient(
            settings.jwks_url,
            cache_keys=False,
            cache_jwk_set=False,
            timeout=settings.jwks_timeout_s,
        )
        self._lifespan = settings.jwks_cache_s
        self._cooldown = settings.jwks_refresh_cooldown_s
        self._now = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        #: how many documents were fetched (for tests and metrics)
        self.fetches = 0

    def key(self, kid: str) -> jwt.PyJWK:
        """The signing key ``kid`` (PyJWKClientError if the document does not have it)."""
        with self._lock:
            now = self._now()
            needed = (
                self._fetched_at is None
                or now - self._fetched_at >= self._lifespan
                or kid not in self._keys
            )
            allowed = self._attempted_at is None or now - self._attempted_at >= self._cooldown
            if needed and allowed:
                self._refresh(now)
            found = self._keys.get(kid)
        if found is None:
            raise jwt.PyJWKClientError("no JWKS key with this kid")
        return found

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        try:
            jwk_set = self._client.get_jwk_set(refresh=True)
        except jwt.PyJWTError as exc:
            # keep serving the keys we have (a JWKS outage must not log everyone out)
            log.warning("JWKS fetch failed: %s", type(exc).__name__)
            return
        self.fetches += 1
        self._keys = {
            k.key_id: k
            for k in jwk_set.keys
            if k.key_id and k.public_key_use in ("sig", None) and k.algorithm_name != "HS256"
        }
        self._fetched_at = now


def bearer_token(header: str | None, max_bytes: int = 8192) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if it is one (scheme
    case-insensitive, RFC 7235) and has the shape of a signed JWT."""
    if not header or len(header) > max_bytes + 16:
        return None
    scheme, _, rest = header.partition(" ")
    token = rest.strip()
    if scheme.lower() != "bearer" or len(token) > max_bytes:
        return None
    if _COMPACT_RE.fullmatch(token) is None:
        return None
    return token
