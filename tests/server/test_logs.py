"""Structured JSON logs: request id, tenant and workspace on every access line; never a
token, a signature or a signed URL."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from arco.server import ServerSettings, create_app
from arco.server.deps import Caller
from arco.server.logs import REDACTED, JsonFormatter, bind, redact
from arco.server.settings import AuthSettings

SECRET = "log-test-secret-that-is-long-enough!"
SIGNATURE = "c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ"
leaky = logging.getLogger("arco.test.leaky")


def make_token(**extra: Any) -> str:
    claims = {"sub": "alice", "tenant": "acme", "workspace": "main", "exp": int(time.time()) + 300}
    return jwt.encode({**claims, **extra}, SECRET, algorithm="HS256")


class Lines(logging.Handler):
    """Every record, formatted by the real JsonFormatter."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app: FastAPI = create_app(
        ServerSettings(
            store_url=f"file://{tmp_path / 'store'}",
            auth=AuthSettings(algorithms=("HS256",), secret=SECRET),
            compactor=False,
        )
    )

    @app.get("/api/v1/_test/whoami")
    def whoami(caller: Caller) -> dict[str, str]:
        return {"tenant": caller.tenant}

    @app.get("/api/v1/_test/careless")
    def careless(request: Request, caller: Caller) -> dict[str, str]:
        # code that logs what it should not: the formatter still redacts it
        leaky.warning("fetching %s with %s", request.url, request.headers.get("Authorization"))
        leaky.info(
            "extra fields too", extra={"url": str(request.url), "headers": dict(request.headers)}
        )
        return {"tenant": caller.tenant}

    app.router.routes.insert(0, app.router.routes.pop())
    app.router.routes.insert(0, app.router.routes.pop())
    with TestClient(app) as c:
        yield c


def _no_secrets(handler: Lines, *secrets: str) -> None:
    assert handler.lines
    for line in handler.lines:
        for secret in secrets:
            assert secret not in line, line


def test_access_line_has_request_id_and_scope_but_no_secrets(
    client: TestClient, lines: Lines
) -> None:
    token = make_token()
    r = client.get(
        f"/api/v1/_test/whoami?expires=1900000000&signature={SIGNATURE}",
        headers={"Authorization": f"Bearer {token}", "X-Request-Id": "log-req-1"},
    )
    assert r.status_code == 200
    access = [e for e in lines.parsed() if e["logger"] == "arco.server.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == "log-req-1"
    assert (entry["tenant"], entry["workspace"]) == ("acme", "main")
    assert entry["route"] == "/api/v1/_test/whoami"  # the template, not the raw path
    assert (entry["status"], entry["method"], entry["level"]) == (200, "GET", "info")
    assert entry["ts"].endswith("Z")
    _no_secrets(lines, token, SIGNATURE, token.split(".")[2])


def test_signed_file_urls_are_not_logged(client: TestClient, lines: Lines) -> None:
    token = make_token()
    for path in (
        f"/files/tenant=acme/workspace=main/catalog/x.parquet?expires=1&signature={SIGNATURE}",
        f"/files/nope?signature={SIGNATURE}",
    ):
        client.get(path, headers={"Authorization": f"Bearer {token}", "X-Request-Id": "f-1"})
    access = [e for e in lines.parsed() if e["logger"] == "arco.server.access"]
    assert len(access) == 2 and all(e["request_id"] == "f-1" for e in access)
    _no_secrets(lines, token, SIGNATURE)


def test_rejected_tokens_are_not_logged(client: TestClient, lines: Lines) -> None:
    for token in (make_token(arco_kind="task"), make_token(exp=1), make_token() + "x"):
        r = client.get(
            "/api/v1/_test/whoami",
            headers={"Authorization": f"Bearer {token}", "X-Request-Id": "bad-1"},
        )
        assert r.status_code == 401
        _no_secrets(lines, token, token.split(".")[1])
    entries = lines.parsed()
    rejected = [e for e in entries if e["logger"] == "arco.server.auth"]
    # the reason is in the server log (not in the response)
    assert {e["msg"] for e in rejected} >= {
        "rejected token: TokenRejected",
        "rejected token: ExpiredSignatureError",
    }
    assert all(e["request_id"] == "bad-1" for e in rejected)
    access = [e for e in entries if e["logger"] == "arco.server.access"]
    assert [e["status"] for e in access] == [401, 401, 401]
    assert all(e["request_id"] == "bad-1" and e["tenant"] is None for e in access)


def test_careless_log_calls_are_redacted(client: TestClient, lines: Lines) -> None:
    token = make_token()
    r = client.get(
        f"/api/v1/_test/careless?signature={SIGNATURE}&X-Amz-Signature=abc123def",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200
    _no_secrets(lines, token, SIGNATURE, "abc123def")
    leaked = [e for e in lines.parsed() if e["logger"] == "arco.test.leaky"]
    assert len(leaked) == 2
    assert REDACTED in leaked[0]["msg"] and "/api/v1/_test/careless" in leaked[0]["msg"]
    assert leaked[1]["headers"]["authorization"] == f"Bearer {REDACTED}"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /files/a.parquet?expires=1&signature=s3cr3tSig", "s3cr3tSig"),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F1"
            "&X-Amz-Security-Token=TOKENX&X-Amz-Signature=deadbeef",
            "deadbeef",
        ),
        ("https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAEXAMPLE&x=1", "AKIAEXAMPLE"),
        ("https://b.s3.amazonaws.com/k?X-Amz-Security-Token=TOKENX", "TOKENX"),
        ("https://storage.googleapis.com/b/k?X-Goog-Signature=0badc0de", "0badc0de"),
        ("https://a.blob.core.windows.net/c/k?sv=2022&sig=AzureSig%3D", "AzureSig"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnop"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln in a message", "eyJzdWIiOiJ4In0"),
        ("url?access_token=at-123456&x=1", "at-123456"),
    ],
)
def test_redact(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert REDACTED in out


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "a valid bearer token is required; design=ok; expires=17; GET /api/v1/namespaces"
    assert redact(text) == text


def test_bound_context_is_added_to_every_line(lines: Lines) -> None:
    log = logging.getLogger("arco.test.bound")
    with bind(request_id="ctx-1", tenant="acme", workspace="main"):
        log.info("inside")
        log.info("own value wins", extra={"tenant": "beta"})
    log.info("outside")
    inside, own, outside = lines.parsed()[-3:]
    assert (inside["request_id"], inside["tenant"], inside["workspace"]) == (
        "ctx-1",
        "acme",
        "main",
    )
    assert own["tenant"] == "beta" and own["request_id"] == "ctx-1"
    assert "request_id" not in outside


def test_exceptions_are_logged_by_type_with_a_redacted_traceback(lines: Lines) -> None:
    log = logging.getLogger("arco.test.exc")
    try:
        raise RuntimeError(f"failed to fetch /files/x?signature={SIGNATURE}")
    except RuntimeError:
        log.exception("boom")
    entry = lines.parsed()[-1]
    assert entry["exc_type"] == "RuntimeError" and entry["level"] == "error"
    assert "RuntimeError" in entry["exc"]
    assert SIGNATURE not in lines.lines[-1]
