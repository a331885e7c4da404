"""Tokens of the Iceberg REST endpoint's OAuth2 client-credentials flow (docs/iceberg.md).

Engines configured with ``credential=ID:SECRET`` (pyiceberg, Spark, Trino, DuckDB) post it to
``/iceberg/v1/oauth/tokens``. In production mode the server knows its clients
(``--iceberg-client ID:SECRET:TENANT/WORKSPACE``); a known client gets a short-lived HS256
JWT for its one scope, signed with a key of this server (derived from ``--signing-key``, so
servers sharing that key accept each other's tokens; random per process otherwise). The
server's authenticator accepts these tokens next to the ones of the configured identity
provider (:class:`IssuedTokens` in front of it): they are ordinary ``user`` tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

import jwt
from fastapi import Request

from arco.core.scope import Scope
from arco.errors import ValidationError
from arco.server.auth import Authenticator, unauthenticated
from arco.server.jwt_auth import bearer_token
from arco.server.principal import Principal
from arco.server.settings import IcebergClient

__all__ = ["ISSUER", "IssuedTokens", "TokenIssuer", "token_key"]

log = logging.getLogger("arco.server.auth")

#: the ``iss`` of the tokens this server issues (and the only ones its key verifies)
ISSUER = "arco-iceberg"
_LEEWAY_S = 30


def token_key(signing_key: bytes) -> bytes:
    """The HS256 key of issued tokens, derived from the server's signing key."""
    return hmac.new(signing_key, b"arco iceberg oauth tokens v1", hashlib.sha256).digest()


class TokenIssuer:
    """Checks client credentials (constant time) and issues / verifies scope tokens."""

    def __init__(self, clients: tuple[IcebergClient, ...], key: bytes, ttl_s: int) -> None:
        self._clients = {c.client_id: c for c in clients}
        self._key = key
        self.ttl_s = ttl_s

    def client(self, client_id: str, secret: str) -> IcebergClient | None:
        """The configured client with these credentials, or None."""
        found = self._clients.get(client_id)
        # compare even for an unknown id, so timing does not tell which ids exist
        expected = found.secret if found is not None else "\0" * 32
        ok = hmac.compare_digest(secret.encode("utf-8"), expected.encode("utf-8"))
        return found if ok and found is not None else None

    def issue(self, client: IcebergClient) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": f"iceberg-client:{client.client_id}",
            "tenant": client.tenant,
            "workspace": client.workspace,
            "arco_kind": "user",
            "iat": now,
            "exp": now + self.ttl_s,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        """The principal of an issued token (raises PyJWTError or ValueError)."""
        claims: dict[str, Any] = jwt.decode(
            token,
            self._key,
            algorithms=["HS256"],
            issuer=ISSUER,
            leeway=_LEEWAY_S,
            options={"require": ["exp", "iss", "sub"]},
        )
        if claims.get("arco_kind", "user") != "user":
            raise ValueError("not a user token")
        try:
            scope = Scope(str(claims["tenant"]), str(claims["workspace"]))
        except (KeyError, ValidationError):
            raise ValueError("tenant or workspace claim invalid") from None
        return Principal(scope.tenant, scope.workspace, str(claims["sub"]), "user")


def _issued_by_us(token: str) -> bool:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return header.get("alg") == "HS256" and claims.get("iss") == ISSUER


class IssuedTokens:
    """The server's authenticator, also accepting the tokens :class:`TokenIssuer` issued
    (recognised by their ``iss``; any other token goes to the configured one)."""

    def __init__(self, issuer: TokenIssuer, fallback: Authenticator) -> None:
        self.issuer = issuer
        self.fallback = fallback

    def authenticate(self, request: Request) -> Principal:
        token = bearer_token(request.headers.get("Authorization"))
        if token is None or not _issued_by_us(token):
            return self.fallback.authenticate(request)
        try:
            return self.issuer.verify(token)
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            log.info("rejected token: %s", type(exc).__name__)
            raise unauthenticated() from None
