"""Production authentication: ``Authorization: Bearer <JWT>`` (HS256, RS256, ES256).

The accepted algorithms are fixed by configuration, never chosen by the token: an HS256
token is checked with the shared secret only, an RS256/ES256 token with the configured
public key or the JWKS key named by its ``kid``. ``exp`` is required; ``iss`` and ``aud``
are enforced when configured. Every failure is the same 401 without detail.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
from fastapi import Request

from arco.errors import ValidationError
from arco.scope import Scope
from arco.server.auth import unauthenticated
from arco.server.principal import Principal, TokenKind
from arco.server.settings import AuthSettings

log = logging.getLogger("arco.server.auth")


class JwtAuthenticator:
    """Verifies bearer tokens of one kind (``user`` for the API)."""

    def __init__(self, settings: AuthSettings, expected_kind: TokenKind = "user") -> None:
        self.settings = settings
        self.expected_kind = expected_kind
        self._jwks = (
            jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300)
            if settings.jwks_url
            else None
        )

    def authenticate(self, request: Request) -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated()
        try:
            claims = self.verify(token.strip())
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            log.info("rejected token: %s", type(exc).__name__)
            raise unauthenticated() from None
        return self._principal(claims)

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token`` (raises a PyJWTError on any problem)."""
        s = self.settings
        alg = jwt.get_unverified_header(token).get("alg")
        if not isinstance(alg, str) or alg not in s.algorithms:
            raise jwt.InvalidAlgorithmError("algorithm not accepted")
        key: Any
        if alg == "HS256":
            key = s.secret
        elif self._jwks is not None and (s.public_key_pem is None or _has_kid(token)):
            key = self._jwks.get_signing_key_from_jwt(token).key
        else:
            key = s.public_key_pem
        if not key:
            raise jwt.InvalidKeyError("no key for this algorithm")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            issuer=s.issuer,
            audience=s.audience,
            leeway=s.leeway_s,
            options={
                "require": ["exp"],
                "verify_aud": s.audience is not None,
                "verify_iss": s.issuer is not None,
            },
        )
        return claims

    def _principal(self, claims: dict[str, Any]) -> Principal:
        s = self.settings
        tenant = claims.get(s.tenant_claim)
        workspace = claims.get(s.workspace_claim)
        subject = claims.get(s.subject_claim)
        kind = claims.get(s.kind_claim, "user")
        if not all(isinstance(v, str) and v for v in (tenant, workspace, subject)):
            raise unauthenticated()
        if kind != self.expected_kind:
            raise unauthenticated()
        try:
            scope = Scope(str(tenant), str(workspace))
        except ValidationError:
            raise unauthenticated() from None
        return Principal(scope.tenant, scope.workspace, str(subject), self.expected_kind)


def _has_kid(token: str) -> bool:
    return bool(jwt.get_unverified_header(token).get("kid"))
