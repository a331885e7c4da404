"""The Iceberg endpoint's OAuth2 clients and tokens: the ``--iceberg-client`` setting, what
an issued token is (and is not), HTTP Basic client authentication, rate limits."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from arco.cli import app as cli_app
from arco.errors import ValidationError
from arco.server import ServerSettings, create_app
from arco.server.iceberg_tokens import ISSUER, TokenIssuer, token_key
from arco.server.settings import AuthSettings, IcebergClient, Limits

CLIENT = IcebergClient("etl", "client-secret-0123456789", "acme", "main")


def test_client_setting_parses_and_refuses() -> None:
    assert IcebergClient.parse("etl:client-secret-0123456789:acme/main") == CLIENT
    for bad in (
        "etl:short:acme/main",
        "etl:client-secret-0123456789",
        "etl:client-secret-0123456789:acme",
        ":client-secret-0123456789:acme/main",
        "etl:client-secret-0123456789:Acme/main",
        "e:t:l:client-secret-0123456789:acme/main",
    ):
        with pytest.raises(ValidationError, match="iceberg_client"):
            IcebergClient.parse(bad)
    twice = ServerSettings(
        store_url="file:///tmp/x",
        auth=AuthSettings(algorithms=("HS256",), secret="s" * 32),
        iceberg_clients=(CLIENT, CLIENT),
    )
    with pytest.raises(ValidationError, match="twice"):
        twice.check()


def test_cli_refuses_a_malformed_client(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app,
        [
            "--store",
            f"file://{tmp_path}",
            "serve",
            "--jwt-secret",
            "s" * 32,
            "--iceberg-client",
            "etl:short:acme/main",
        ],
    )
    assert result.exit_code == 1
    assert "--iceberg-client" in result.output


def test_issued_tokens() -> None:
    issuer = TokenIssuer((CLIENT,), token_key(b"k" * 32), ttl_s=60)
    assert issuer.client("etl", CLIENT.secret) == CLIENT
    assert issuer.client("etl", CLIENT.secret + "x") is None
    assert issuer.client("nobody", CLIENT.secret) is None
    token = issuer.issue(CLIENT)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == ISSUER and claims["arco_kind"] == "user"
    assert claims["exp"] - claims["iat"] == 60
    who = issuer.verify(token)
    assert (who.tenant, who.workspace, who.subject) == ("acme", "main", "iceberg-client:etl")
    # another server key, an expired token, a task token: refused
    other = TokenIssuer((CLIENT,), token_key(b"o" * 32), ttl_s=60)
    with pytest.raises(jwt.InvalidSignatureError):
        other.verify(token)
    key = token_key(b"k" * 32)
    expired = jwt.encode({**claims, "exp": int(time.time()) - 120}, key, algorithm="HS256")
    with pytest.raises(jwt.ExpiredSignatureError):
        issuer.verify(expired)
    task = jwt.encode({**claims, "arco_kind": "task"}, key, algorithm="HS256")
    with pytest.raises(ValueError):
        issuer.verify(task)


def test_basic_client_authentication_and_rate_limits(tmp_path: Path) -> None:
    settings = ServerSettings(
        store_url=f"file://{tmp_path / 'store'}",
        compactor=False,
        auth=AuthSettings(algorithms=("HS256",), secret="s" * 32),
        iceberg_clients=(CLIENT,),
        limits=Limits(requests_per_s=0.01, burst=3),
    )
    with TestClient(create_app(settings)) as c:
        basic = base64.b64encode(f"etl:{CLIENT.secret}".encode()).decode()
        r = c.post(
            "/iceberg/v1/oauth/tokens",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert r.status_code == 200, r.text
        assert r.headers["Cache-Control"] == "no-store"
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        statuses = [
            c.get("/iceberg/v1/acme.main/namespaces", headers=auth).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]  # the token request took one from the bucket
        limited = c.get("/iceberg/v1/acme.main/namespaces", headers=auth)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["type"] == "TooManyRequestsException"
        # without a configured issuer's token, nothing else gets in
        forged = jwt.encode(
            {"iss": ISSUER, "sub": "x", "tenant": "acme", "workspace": "main", "exp": 2**40},
            "s" * 32,
            algorithm="HS256",
        )
        r = c.get("/iceberg/v1/acme.main/namespaces", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401 and r.json()["error"]["type"] == "NotAuthorizedException"
