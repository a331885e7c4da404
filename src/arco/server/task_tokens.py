"""Task tokens: the short-lived credentials of HTTP workers' callbacks (spec §3).

When the server hands an attempt to a worker (``POST /workers/poll``), the envelope carries
a token that authorizes the ``started`` / ``heartbeat`` / ``completed`` callbacks of that
one attempt and nothing else:

* an HS256 JWT signed with a key derived from the server's signing key
  (``--signing-key``: servers sharing it accept each other's tokens; random per process
  otherwise), under a derivation label of its own, so no other token of the server (file
  URLs, Iceberg OAuth tokens) can pass for one, nor one for them;
* claims: ``iss`` = ``arco-task``, ``arco_kind`` = ``task``, ``tenant``, ``workspace``,
  ``run_id``, ``task_key``, ``attempt_id``, ``iat``, ``exp`` and ``ttl``;
* it expires ``ttl`` seconds after the attempt's start deadline, where ``ttl`` is the
  asset's timeout or the server's default (``--task-token-ttl``); each accepted heartbeat
  answers with a renewed token (``exp`` = now + ``ttl``), so an attempt that keeps beating
  keeps a valid token however long it runs, and a token that leaks stops working ``ttl``
  after its attempt stops beating;
* the callback routes accept only these tokens (a user token is refused there, and a
  task token is refused everywhere else), check the signature, ``iss``, ``exp`` (a few
  seconds of leeway) and that ``attempt_id`` is the one of the path: a forged or expired
  token is 401, a valid token of another attempt 403.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import jwt

from arco.core.scope import Scope
from arco.errors import ValidationError
from arco.orchestration.dispatch import TaskEnvelope

__all__ = ["TASK_ISSUER", "TaskClaims", "TaskTokens", "task_token_key"]

#: the ``iss`` of task tokens
TASK_ISSUER = "arco-task"
_KIND = "task"
_LEEWAY_S = 5
_ALGORITHM = "HS256"


def task_token_key(signing_key: bytes) -> bytes:
    """The HS256 key of task tokens, derived from the server's signing key."""
    return hmac.new(signing_key, b"arco task tokens v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class TaskClaims:
    """What a verified task token authorizes."""

    scope: Scope
    run_id: str
    task_key: str
    attempt_id: str
    #: seconds a renewed token lives
    ttl_s: int
    expires_at: int


class TaskTokens:
    """Issue, renew and verify task tokens (see the module docstring)."""

    def __init__(self, key: bytes, *, default_ttl_s: float = 3600.0) -> None:
        if not key:
            raise ValidationError("task token key: must not be empty")
        if default_ttl_s <= 0:
            raise ValidationError("task token ttl: must be positive")
        self._key = key
        self.default_ttl_s = default_ttl_s

    def _encode(
        self,
        scope: Scope,
        run_id: str,
        task_key: str,
        attempt_id: str,
        ttl_s: int,
        expires_at: int,
        now: int,
    ) -> str:
        claims = {
            "iss": TASK_ISSUER,
            "sub": f"attempt:{attempt_id}",
            "arco_kind": _KIND,
            "tenant": scope.tenant,
            "workspace": scope.workspace,
            "run_id": run_id,
            "task_key": task_key,
            "attempt_id": attempt_id,
            "ttl": ttl_s,
            "iat": now,
            "exp": expires_at,
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def issue(self, scope: Scope, envelope: TaskEnvelope, *, now: float | None = None) -> str:
        """The token of ``envelope``'s attempt: valid until ``ttl`` after its start deadline
        (``ttl``: the attempt's timeout, else the default)."""
        moment = int(time.time() if now is None else now)
        ttl = max(1, int(envelope.timeout_s or self.default_ttl_s))
        start_by = max(moment, envelope.start_deadline_ms // 1000)
        return self._encode(
            scope,
            envelope.run_id,
            envelope.task_key,
            envelope.attempt_id,
            ttl,
            start_by + ttl,
            moment,
        )

    def renew(self, claims: TaskClaims, *, now: float | None = None) -> str:
        """A token for the same attempt valid ``ttl`` from now (never shorter than the
        one it replaces)."""
        moment = int(time.time() if now is None else now)
        return self._encode(
            claims.scope,
            claims.run_id,
            claims.task_key,
            claims.attempt_id,
            claims.ttl_s,
            max(claims.expires_at, moment + claims.ttl_s),
            moment,
        )

    def verify(self, token: str) -> TaskClaims:
        """The claims of a valid task token (raises ``jwt.PyJWTError`` or ValueError)."""
        header = jwt.get_unverified_header(token)
        if header.get("alg") != _ALGORITHM:
            raise jwt.InvalidAlgorithmError("not a task token")
        raw: dict[str, Any] = jwt.decode(
            token,
            self._key,
            algorithms=[_ALGORITHM],
            issuer=TASK_ISSUER,
            leeway=_LEEWAY_S,
            options={"require": ["exp", "iss", "iat"]},
        )
        if raw.get("arco_kind") != _KIND:
            raise ValueError("not a task token")
        fields = ("tenant", "workspace", "run_id", "task_key", "attempt_id")
        values = [raw.get(name) for name in fields]
        if not all(isinstance(v, str) and v for v in values):
            raise ValueError("task token claims missing")
        ttl, exp = raw.get("ttl"), raw.get("exp")
        if not isinstance(ttl, int) or ttl < 1 or not isinstance(exp, int):
            raise ValueError("task token ttl missing")
        try:
            scope = Scope(str(values[0]), str(values[1]))
        except ValidationError:
            raise ValueError("task token scope invalid") from None
        return TaskClaims(scope, str(values[2]), str(values[3]), str(values[4]), ttl, exp)
