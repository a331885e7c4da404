"""Task tokens: scoped to one attempt, short-lived, renewed by heartbeats, and nothing else
of the server's (or anyone's) passes for one."""

from __future__ import annotations

import time

import jwt
import pytest

from arco.core.scope import Scope
from arco.orchestration.dispatch import TaskEnvelope
from arco.server.iceberg_tokens import token_key
from arco.server.task_tokens import TaskTokens, task_token_key

KEY = b"k" * 32
SCOPE = Scope("acme", "prod")


def envelope(*, timeout_s: float | None = None, deadline_s: float | None = None) -> TaskEnvelope:
    start = time.time() if deadline_s is None else deadline_s
    return TaskEnvelope(
        run_id="RUN1",
        task_key="demo/a:materialize",
        attempt=2,
        attempt_id="ATT1",
        asset_key="demo/a",
        entry_point="m:a",
        start_deadline_ms=int(start * 1000),
        timeout_s=timeout_s,
    )


def test_a_token_names_its_attempt_and_scope() -> None:
    tokens = TaskTokens(task_token_key(KEY), default_ttl_s=600)
    claims = tokens.verify(tokens.issue(SCOPE, envelope()))
    assert claims.scope == SCOPE
    assert (claims.run_id, claims.task_key, claims.attempt_id) == (
        "RUN1",
        "demo/a:materialize",
        "ATT1",
    )
    assert claims.ttl_s == 600


def test_expiry_follows_the_timeout_or_the_default_and_heartbeats_renew() -> None:
    tokens = TaskTokens(task_token_key(KEY), default_ttl_s=600)
    now = time.time()
    timed = tokens.verify(tokens.issue(SCOPE, envelope(timeout_s=30, deadline_s=now + 5), now=now))
    assert timed.ttl_s == 30 and timed.expires_at == int(now + 5) + 30
    old = now - 3600
    expired = tokens.issue(SCOPE, envelope(deadline_s=old), now=old)
    with pytest.raises(jwt.ExpiredSignatureError):
        tokens.verify(expired)
    earlier = now - 20  # issued 20 s ago: 10 s left
    claims = tokens.verify(
        tokens.issue(SCOPE, envelope(timeout_s=30, deadline_s=earlier), now=earlier)
    )
    assert claims.expires_at == int(earlier) + 30
    renewed = tokens.verify(tokens.renew(claims, now=now))
    assert renewed.expires_at == int(now) + 30
    assert renewed.attempt_id == claims.attempt_id


def test_other_keys_and_other_tokens_are_refused() -> None:
    tokens = TaskTokens(task_token_key(KEY))
    other = TaskTokens(task_token_key(b"x" * 32))
    with pytest.raises(jwt.InvalidSignatureError):
        tokens.verify(other.issue(SCOPE, envelope()))
    # the server's Iceberg OAuth tokens use a key of their own: never a task token
    user = jwt.encode(
        {"iss": "arco-iceberg", "sub": "c", "exp": int(time.time()) + 60},
        token_key(KEY),
        algorithm="HS256",
    )
    with pytest.raises(jwt.PyJWTError):
        tokens.verify(user)
    # signed with the task key but not a task token (kind, claims)
    claims = {"iss": "arco-task", "iat": int(time.time()), "exp": int(time.time()) + 60}
    forged_kind = jwt.encode({**claims, "arco_kind": "user"}, task_token_key(KEY), "HS256")
    with pytest.raises(ValueError):
        tokens.verify(forged_kind)
    no_scope = jwt.encode({**claims, "arco_kind": "task"}, task_token_key(KEY), "HS256")
    with pytest.raises(ValueError):
        tokens.verify(no_scope)
    unsigned = jwt.encode({**claims, "arco_kind": "task"}, "", algorithm="none")
    with pytest.raises(jwt.PyJWTError):
        tokens.verify(unsigned)
