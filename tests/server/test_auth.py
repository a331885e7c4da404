"""Production authentication: bearer JWTs (HS256, RS256, ES256, PEM or JWKS), token kinds,
the one 401 without detail, startup refusals (settings and ``arco serve``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from arco.cli import app as cli_app
from arco.errors import ValidationError
from arco.server import ServerSettings, create_app
from arco.server.deps import Caller, CallerWorkspace
from arco.server.jwt_auth import JwtAuthenticator, bearer_token
from arco.server.principal import Principal
from arco.server.settings import AuthSettings

SECRET = "test-secret-that-is-long-enough-for-hs256!"
WHOAMI = "/api/v1/_test/whoami"


class _Drop:
    """Marks a claim to leave out (a stable repr: xdist workers must collect equal ids)."""

    def __repr__(self) -> str:
        return "DROP"


DROP = _Drop()


# --- keys and tokens ---------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    private: Any
    public_pem: str


def _pair(private: Any) -> KeyPair:
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return KeyPair(private, pem)


@pytest.fixture(scope="module")
def rsa_key() -> KeyPair:
    return _pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def other_rsa_key() -> KeyPair:
    return _pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def ec_key() -> KeyPair:
    return _pair(ec.generate_private_key(ec.SECP256R1()))


def claims(**overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sub": "alice",
        "tenant": "acme",
        "workspace": "main",
        "exp": int(time.time()) + 300,
    }
    out.update(overrides)
    return {k: v for k, v in out.items() if v is not DROP}


def make_token(key: Any, alg: str, kid: Any = None, **overrides: Any) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims(**overrides), key, algorithm=alg, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], sign: Any = None) -> str:
    """A token built by hand (for what PyJWT refuses to produce): ``sign(signing_input)``
    returns the signature bytes, or None for an empty signature."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{_b64(signature)}"


def hs256_with(secret: bytes) -> Any:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


# --- the app -------------------------------------------------------------------------------


def make_app(tmp_path: Path, auth: AuthSettings, **settings: Any) -> FastAPI:
    """The real app in production mode, plus a tiny authenticated route."""
    app = create_app(
        ServerSettings(
            store_url=f"file://{tmp_path / 'store'}", auth=auth, compactor=False, **settings
        )
    )

    @app.get(WHOAMI)
    def whoami(caller: Caller, ws: CallerWorkspace) -> dict[str, str]:
        assert ws.scope == caller.scope
        return {
            "tenant": caller.tenant,
            "workspace": caller.workspace,
            "subject": caller.subject,
            "kind": caller.kind,
        }

    # ahead of any catch-all route of the real routers
    app.router.routes.insert(0, app.router.routes.pop())
    return app


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def build(auth: AuthSettings, **settings: Any) -> TestClient:
        client = TestClient(make_app(tmp_path / str(len(clients)), auth, **settings))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def call(client: TestClient, token: str | None = None, header: str | None = None) -> Any:
    headers = {"X-Request-Id": "req-1"}
    if header is not None:
        headers["Authorization"] = header
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.get(WHOAMI, headers=headers)


UNAUTHENTICATED = {
    "error": {
        "code": "UNAUTHENTICATED",
        "message": "a valid bearer token is required",
        "request_id": "req-1",
    }
}


def assert_rejected(response: Any, *secrets: str) -> None:
    """The one 401: same body, the Bearer challenge, nothing about why."""
    assert response.status_code == 401, response.text
    assert response.json() == UNAUTHENTICATED
    assert response.headers["WWW-Authenticate"] == "Bearer"
    for secret in secrets:
        assert secret not in response.text


def assert_accepted(response: Any, tenant: str = "acme", workspace: str = "main") -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["tenant"], body["workspace"]) == (tenant, workspace)


# --- algorithms -----------------------------------------------------------------------------


def test_hs256(client_for: Any) -> None:
    client = client_for(AuthSettings(algorithms=("HS256",), secret=SECRET))
    r = call(client, make_token(SECRET, "HS256"))
    assert_accepted(r)
    assert r.json() == {"tenant": "acme", "workspace": "main", "subject": "alice", "kind": "user"}
    assert_rejected(call(client, make_token(SECRET + "x", "HS256")))


def test_rs256_pem(client_for: Any, rsa_key: KeyPair, other_rsa_key: KeyPair) -> None:
    client = client_for(AuthSettings(algorithms=("RS256",), public_key_pem=rsa_key.public_pem))
    assert_accepted(call(client, make_token(rsa_key.private, "RS256")))
    # a kid is irrelevant without JWKS
    assert_accepted(call(client, make_token(rsa_key.private, "RS256", kid="whatever")))
    assert_rejected(call(client, make_token(other_rsa_key.private, "RS256")))


def test_es256_pem(client_for: Any, ec_key: KeyPair, rsa_key: KeyPair) -> None:
    client = client_for(AuthSettings(algorithms=("ES256",), public_key_pem=ec_key.public_pem))
    assert_accepted(call(client, make_token(ec_key.private, "ES256")))
    # an RS256 token is refused even if its signature is valid for some key
    assert_rejected(call(client, make_token(rsa_key.private, "RS256")))
    # a P-384 key signing "ES256"
    p384 = ec.generate_private_key(ec.SECP384R1())
    forged = forge(
        {"alg": "ES256", "typ": "JWT"},
        claims(),
        lambda data: jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256).sign(data, p384),
    )
    assert_rejected(call(client, forged))


def test_both_asymmetric_algorithms_with_one_pem(
    client_for: Any, rsa_key: KeyPair, ec_key: KeyPair
) -> None:
    client = client_for(
        AuthSettings(algorithms=("RS256", "ES256"), public_key_pem=rsa_key.public_pem)
    )
    assert_accepted(call(client, make_token(rsa_key.private, "RS256")))
    # the RSA key cannot verify ES256: refused before any signature math
    assert_rejected(call(client, make_token(ec_key.private, "ES256")))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS384", "HS512", "RS512", "PS256"])
def test_unaccepted_algorithms(client_for: Any, alg: str) -> None:
    client = client_for(AuthSettings(algorithms=("HS256",), secret=SECRET))
    unsigned = forge({"alg": alg, "typ": "JWT"}, claims())
    assert_rejected(call(client, unsigned))
    # ... also with something in the signature slot
    assert_rejected(call(client, forge({"alg": alg}, claims(), hs256_with(SECRET.encode()))))
    # a header without alg at all
    assert_rejected(call(client, forge({"typ": "JWT"}, claims(), hs256_with(SECRET.encode()))))


def test_alg_none_from_pyjwt(client_for: Any, rsa_key: KeyPair) -> None:
    client = client_for(AuthSettings(algorithms=("RS256",), public_key_pem=rsa_key.public_pem))
    token = jwt.encode(claims(), None, algorithm="none")  # type: ignore[arg-type]
    assert_rejected(call(client, token))
    assert_rejected(call(client, token + "AAAA"))


def test_hs_rs_confusion_rs256_only(client_for: Any, rsa_key: KeyPair) -> None:
    """An HS256 token "signed" with the public key PEM as the HMAC secret."""
    client = client_for(AuthSettings(algorithms=("RS256",), public_key_pem=rsa_key.public_pem))
    for secret in (rsa_key.public_pem.encode(), rsa_key.public_pem.strip().encode()):
        forged = forge({"alg": "HS256", "typ": "JWT"}, claims(), hs256_with(secret))
        assert_rejected(call(client, forged))


def test_hs_rs_confusion_with_hs256_and_rs256(client_for: Any, rsa_key: KeyPair) -> None:
    client = client_for(
        AuthSettings(
            algorithms=("HS256", "RS256"), secret=SECRET, public_key_pem=rsa_key.public_pem
        )
    )
    # both legitimate kinds work
    assert_accepted(call(client, make_token(SECRET, "HS256")))
    assert_accepted(call(client, make_token(rsa_key.private, "RS256")))
    # the confusion attack: HS256 keyed with the public key is checked against the secret
    forged = forge(
        {"alg": "HS256", "typ": "JWT"}, claims(), hs256_with(rsa_key.public_pem.encode())
    )
    assert_rejected(call(client, forged))
    # an RS256 header over an HMAC signature made with the secret
    forged = forge({"alg": "RS256", "typ": "JWT"}, claims(), hs256_with(SECRET.encode()))
    assert_rejected(call(client, forged))


# --- claims ---------------------------------------------------------------------------------


@pytest.fixture
def hs_client(client_for: Any) -> TestClient:
    client: TestClient = client_for(AuthSettings(algorithms=("HS256",), secret=SECRET))
    return client


def test_expired_and_missing_exp(hs_client: TestClient) -> None:
    now = int(time.time())
    assert_rejected(call(hs_client, make_token(SECRET, "HS256", exp=now - 3600)))
    assert_rejected(call(hs_client, make_token(SECRET, "HS256", exp=now - 31)))  # past leeway
    assert_accepted(call(hs_client, make_token(SECRET, "HS256", exp=now - 5)))  # within leeway
    assert_rejected(call(hs_client, make_token(SECRET, "HS256", exp=DROP)))
    assert_rejected(call(hs_client, make_token(SECRET, "HS256", exp="tomorrow")))
    assert_rejected(call(hs_client, make_token(SECRET, "HS256", nbf=now + 3600)))


def test_tampered_payload(hs_client: TestClient) -> None:
    token = make_token(SECRET, "HS256")
    header, _, signature = token.split(".")
    other = _b64(json.dumps(claims(tenant="victim")).encode())
    assert_rejected(call(hs_client, f"{header}.{other}.{signature}"))


def test_issuer_and_audience_when_configured(client_for: Any) -> None:
    client = client_for(
        AuthSettings(
            algorithms=("HS256",),
            secret=SECRET,
            issuer="https://idp.example",
            audience="arco",
        )
    )
    good = {"iss": "https://idp.example", "aud": "arco"}
    assert_accepted(call(client, make_token(SECRET, "HS256", **good)))
    assert_accepted(
        call(client, make_token(SECRET, "HS256", iss=good["iss"], aud=["other", "arco"]))
    )
    for bad in (
        {"iss": "https://evil.example"},
        {"iss": "https://idp.example.evil"},
        {"iss": "https://idp"},
        {"iss": DROP},
        {"aud": "other"},
        {"aud": ["other"]},
        {"aud": "arc"},
        {"aud": DROP},
    ):
        assert_rejected(call(client, make_token(SECRET, "HS256", **{**good, **bad})))


def test_issuer_and_audience_ignored_when_not_configured(hs_client: TestClient) -> None:
    token = make_token(SECRET, "HS256", iss="anyone", aud="anything")
    assert_accepted(call(hs_client, token))


@pytest.mark.parametrize(
    "bad",
    [
        {"tenant": DROP},
        {"workspace": DROP},
        {"sub": DROP},
        {"sub": ""},
        {"tenant": ""},
        {"tenant": "ACME"},
        {"tenant": "../other"},
        {"tenant": "a/b"},
        {"workspace": "main space"},
        {"workspace": "-main"},
        {"tenant": "x" * 64},
        {"tenant": 42},
        {"workspace": ["main"]},
        {"tenant": None},
    ],
    ids=repr,
)
def test_missing_or_invalid_scope_claims(hs_client: TestClient, bad: dict[str, Any]) -> None:
    assert_rejected(call(hs_client, make_token(SECRET, "HS256", **bad)))


def test_configurable_claim_names(client_for: Any) -> None:
    client = client_for(
        AuthSettings(
            algorithms=("HS256",),
            secret=SECRET,
            tenant_claim="org",
            workspace_claim="https://arco/ws",
            subject_claim="email",
            kind_claim="typ",
        )
    )
    token = make_token(
        SECRET,
        "HS256",
        tenant=DROP,
        workspace=DROP,
        org="acme",
        **{"https://arco/ws": "main"},
        email="a@example.com",
    )
    r = call(client, token)
    assert_accepted(r)
    assert r.json()["subject"] == "a@example.com"
    # the default names mean nothing now
    assert_rejected(call(client, make_token(SECRET, "HS256")))
    # the kind claim moved too
    task = make_token(
        SECRET,
        "HS256",
        tenant=DROP,
        workspace=DROP,
        org="acme",
        **{"https://arco/ws": "main"},
        email="a@example.com",
        typ="task",
    )
    assert_rejected(call(client, task))


def test_token_kinds(client_for: Any, tmp_path: Path) -> None:
    auth = AuthSettings(algorithms=("HS256",), secret=SECRET)
    client = client_for(auth)
    assert_accepted(call(client, make_token(SECRET, "HS256", arco_kind="user")))
    assert_accepted(call(client, make_token(SECRET, "HS256")))  # absent = user
    task_token = make_token(SECRET, "HS256", arco_kind="task")
    assert_rejected(call(client, task_token))
    for odd in ("admin", "USER", "", None, 1, ["user"]):
        assert_rejected(call(client, make_token(SECRET, "HS256", arco_kind=odd)))

    # ... and vice versa: where a task token is expected, a user token is refused
    tasks = JwtAuthenticator(auth, expected_kind="task")
    app: FastAPI = client.app

    def task_caller(request: Request) -> Principal:
        return tasks.authenticate(request)

    @app.get("/api/v1/_test/task")
    def task_route(p: Principal = Depends(task_caller)) -> dict[str, str]:
        return {"kind": p.kind, "subject": p.subject}

    app.router.routes.insert(0, app.router.routes.pop())
    headers = {"X-Request-Id": "req-1"}
    r = client.get(
        "/api/v1/_test/task", headers={**headers, "Authorization": f"Bearer {task_token}"}
    )
    assert r.status_code == 200 and r.json() == {"kind": "task", "subject": "alice"}
    for user_token in (
        make_token(SECRET, "HS256"),
        make_token(SECRET, "HS256", arco_kind="user"),
    ):
        r = client.get(
            "/api/v1/_test/task", headers={**headers, "Authorization": f"Bearer {user_token}"}
        )
        assert_rejected(r)


# --- the header -----------------------------------------------------------------------------


def test_malformed_headers_all_get_the_same_401(hs_client: TestClient) -> None:
    valid = make_token(SECRET, "HS256")
    assert_accepted(call(hs_client, header=f"Bearer {valid}"))
    assert_accepted(call(hs_client, header=f"bearer {valid}"))  # the scheme is case-insensitive
    assert_accepted(call(hs_client, header=f"BEARER  {valid} "))
    responses = [call(hs_client)]
    for header in (
        "",
        "Bearer",
        "Bearer ",
        f"Basic {base64.b64encode(b'alice:pw').decode()}",
        f"Token {valid}",
        f"{valid}",
        f"Bearer{valid}",
        f"Bearer {valid} extra",
        f"Bearer {valid}.more",
        "Bearer abc.def",
        "Bearer not-a-jwt",
        "Bearer ....",
        "Bearer " + "a" * 20_000 + "." + "b" * 10 + ".c",
        f"Bearer {valid[:-4]}",
    ):
        responses.append(call(hs_client, header=header))
    for r in responses:
        assert_rejected(r, valid, "expired", "signature", "claim", "algorithm")
    assert len({r.text for r in responses}) == 1


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer a.b.c") == "a.b.c"
    assert bearer_token("bearer   a.b.c  ") == "a.b.c"
    assert bearer_token(None) is None
    assert bearer_token("Bearer a.b.") is None  # unsigned
    assert bearer_token("Bearer a.b.c", max_bytes=4) is None


def test_no_auth_header_does_not_reach_storage(hs_client: TestClient) -> None:
    """A rejected request opens no workspace (the dependency fails first)."""
    assert_rejected(call(hs_client, make_token(SECRET, "HS256", arco_kind="task")))
    services = hs_client.app.state.services  # type: ignore[attr-defined]
    assert list(services.workspaces) == []


# --- JWKS -----------------------------------------------------------------------------------


@dataclass
class JwksServer:
    url: str
    document: dict[str, Any]
    hits: list[float] = field(default_factory=list)
    up: bool = True


def jwk(pair: KeyPair, kid: str, alg: str, **extra: Any) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
    out: dict[str, Any] = json.loads(algorithm.to_jwk(pair.private.public_key()))
    return {**out, "kid": kid, "alg": alg, "use": "sig", **extra}


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer(url="", document={"keys": []})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(time.monotonic())
            if not state.up or self.path != "/.well-known/jwks.json":
                self.send_response(503 if not state.up else 404)
                self.end_headers()
                return
            body = json.dumps(state.document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_jwks_rotation(
    client_for: Any, jwks_server: JwksServer, rsa_key: KeyPair, ec_key: KeyPair
) -> None:
    jwks_server.document = {"keys": [jwk(rsa_key, "k1", "RS256")]}
    client = client_for(
        AuthSettings(
            algorithms=("RS256", "ES256"), jwks_url=jwks_server.url, jwks_refresh_cooldown_s=0
        )
    )
    assert_accepted(call(client, make_token(rsa_key.private, "RS256", kid="k1")))
    assert_accepted(
        call(client, make_token(rsa_key.private, "RS256", kid="k1", tenant="beta")), "beta"
    )
    assert len(jwks_server.hits) == 1  # cached

    # rotation: k1 retired, k2 (an EC key) published; the new kid triggers one refetch
    jwks_server.document = {"keys": [jwk(ec_key, "k2", "ES256")]}
    assert_accepted(call(client, make_token(ec_key.private, "ES256", kid="k2")))
    assert len(jwks_server.hits) == 2
    assert_accepted(call(client, make_token(ec_key.private, "ES256", kid="k2")))
    assert len(jwks_server.hits) == 2
    # the retired key stopped verifying with the refetch
    assert_rejected(call(client, make_token(rsa_key.private, "RS256", kid="k1")))
    # an unknown kid: refetched, still unknown -> 401
    hits = len(jwks_server.hits)
    assert_rejected(call(client, make_token(ec_key.private, "ES256", kid="k9")))
    assert len(jwks_server.hits) == hits + 1
    # a JWKS token must name its key
    assert_rejected(call(client, make_token(ec_key.private, "ES256")))
    # k2 is an ES256 key: a token naming it with another algorithm is refused
    assert_rejected(call(client, make_token(rsa_key.private, "RS256", kid="k2")))


def test_jwks_key_algorithm_and_use_are_enforced(
    client_for: Any, jwks_server: JwksServer, rsa_key: KeyPair
) -> None:
    jwks_server.document = {
        "keys": [
            jwk(rsa_key, "enc", "RS256", use="enc"),
            {"kty": "oct", "kid": "sym", "k": _b64(SECRET.encode()), "alg": "HS256"},
            jwk(rsa_key, "ok", "RS256"),
        ]
    }
    client = client_for(
        AuthSettings(
            algorithms=("HS256", "RS256"),
            secret=SECRET,
            jwks_url=jwks_server.url,
            jwks_refresh_cooldown_s=0,
        )
    )
    assert_accepted(call(client, make_token(rsa_key.private, "RS256", kid="ok")))
    assert_rejected(call(client, make_token(rsa_key.private, "RS256", kid="enc")))
    # a symmetric key published in the JWKS is never used (HS256 uses the secret only)
    forged = forge({"alg": "RS256", "kid": "sym"}, claims(), hs256_with(SECRET.encode()))
    assert_rejected(call(client, forged))


def test_jwks_refetch_cooldown_and_cache_lifetime(
    client_for: Any, jwks_server: JwksServer, rsa_key: KeyPair, other_rsa_key: KeyPair
) -> None:
    """Unknown kids refetch at most once per cooldown; the document is refetched when its
    cache lifetime ends; a JWKS outage keeps the known keys working."""
    jwks_server.document = {"keys": [jwk(rsa_key, "k1", "RS256")]}
    auth = AuthSettings(
        algorithms=("RS256",),
        jwks_url=jwks_server.url,
        jwks_cache_s=300,
        jwks_refresh_cooldown_s=30,
    )
    client = client_for(auth)
    now = [1000.0]
    services = client.app.state.services
    services.authenticator = JwtAuthenticator(auth, clock=lambda: now[0])

    assert_accepted(call(client, make_token(rsa_key.private, "RS256", kid="k1")))
    assert len(jwks_server.hits) == 1
    jwks_server.document = {
        "keys": [jwk(rsa_key, "k1", "RS256"), jwk(other_rsa_key, "k2", "RS256")]
    }
    now[0] += 1
    # within the cooldown: made-up kids cost the JWKS host nothing
    for i in range(20):
        assert_rejected(call(client, make_token(other_rsa_key.private, "RS256", kid=f"x{i}")))
    assert_rejected(call(client, make_token(other_rsa_key.private, "RS256", kid="k2")))
    assert len(jwks_server.hits) == 1
    now[0] += 30
    assert_accepted(call(client, make_token(other_rsa_key.private, "RS256", kid="k2")))
    assert len(jwks_server.hits) == 2
    # known keys are served from the cache until it expires
    now[0] += 299
    assert_accepted(call(client, make_token(rsa_key.private, "RS256", kid="k1")))
    assert len(jwks_server.hits) == 2
    now[0] += 1
    jwks_server.up = False
    assert_accepted(call(client, make_token(rsa_key.private, "RS256", kid="k1")))
    assert len(jwks_server.hits) == 3  # tried, failed, kept the keys it had
    now[0] += 1  # within the cooldown after a failed attempt: no new attempt
    assert_accepted(call(client, make_token(rsa_key.private, "RS256", kid="k1")))
    assert len(jwks_server.hits) == 3


def test_jwks_unreachable_is_401_not_500(client_for: Any, rsa_key: KeyPair) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as probe:
        port = probe.server_address[1]
    url = f"http://127.0.0.1:{port}/jwks.json"  # nothing listens there any more
    client = client_for(AuthSettings(algorithms=("RS256",), jwks_url=url, jwks_timeout_s=2))
    assert_rejected(call(client, make_token(rsa_key.private, "RS256", kid="k1")))


def test_pem_and_jwks_together(
    client_for: Any, jwks_server: JwksServer, rsa_key: KeyPair, other_rsa_key: KeyPair
) -> None:
    """Tokens with a kid use the JWKS, tokens without one the PEM key."""
    jwks_server.document = {"keys": [jwk(other_rsa_key, "k1", "RS256")]}
    client = client_for(
        AuthSettings(
            algorithms=("RS256",),
            public_key_pem=rsa_key.public_pem,
            jwks_url=jwks_server.url,
            jwks_refresh_cooldown_s=0,
        )
    )
    assert_accepted(call(client, make_token(rsa_key.private, "RS256")))
    assert_accepted(call(client, make_token(other_rsa_key.private, "RS256", kid="k1")))
    assert_rejected(call(client, make_token(other_rsa_key.private, "RS256")))
    assert_rejected(call(client, make_token(rsa_key.private, "RS256", kid="k1")))


# --- startup refusals -----------------------------------------------------------------------


def test_settings_refuse_unusable_keys(rsa_key: KeyPair, ec_key: KeyPair) -> None:
    def check(**auth: Any) -> None:
        ServerSettings(auth=AuthSettings(**auth)).check()

    with pytest.raises(ValidationError, match=r"^auth.public_key_pem: not a PEM public key"):
        check(algorithms=("RS256",), public_key_pem="-----BEGIN PUBLIC KEY-----\nnope\n")
    private_pem = rsa_key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(ValidationError, match=r"^auth.public_key_pem: not a PEM public key"):
        check(algorithms=("RS256",), public_key_pem=private_pem)
    with pytest.raises(
        ValidationError, match=r"^auth.public_key_pem: this key .* cannot verify RS256"
    ):
        check(algorithms=("RS256",), public_key_pem=ec_key.public_pem)
    with pytest.raises(ValidationError, match=r"cannot verify ES256"):
        check(algorithms=("ES256",), public_key_pem=rsa_key.public_pem)
    with pytest.raises(ValidationError, match=r"^auth.jwks_url: plain http"):
        check(algorithms=("RS256",), jwks_url="http://idp.example/jwks.json")
    with pytest.raises(ValidationError, match=r"^auth.jwks_url: not an http\(s\) URL"):
        check(algorithms=("RS256",), jwks_url="file:///etc/jwks.json")
    with pytest.raises(ValidationError, match=r"^auth.tenant_claim: must not be empty"):
        check(algorithms=("HS256",), secret=SECRET, tenant_claim="")
    with pytest.raises(ValidationError, match=r"^auth.leeway_s"):
        check(algorithms=("HS256",), secret=SECRET, leeway_s=-1)
    # accepted: https anywhere, http on loopback, http elsewhere when explicitly allowed
    check(algorithms=("RS256",), jwks_url="https://idp.example/jwks.json")
    check(algorithms=("RS256",), jwks_url="http://127.0.0.1:9/jwks.json")
    check(algorithms=("RS256",), jwks_url="http://localhost:9/jwks.json")
    check(
        algorithms=("RS256",),
        jwks_url="http://idp.internal/jwks.json",
        allow_insecure_jwks_url=True,
    )
    check(algorithms=("RS256", "ES256"), public_key_pem=ec_key.public_pem)


def _serve(tmp_path: Path, *args: str) -> Any:
    runner = CliRunner()
    return runner.invoke(
        cli_app, ["--store", f"file://{tmp_path / 'store'}", "serve", *args], catch_exceptions=False
    )


def _one_line_error(result: Any, pattern: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert re.search(pattern, lines[0]), lines[0]


def test_serve_refuses_dev_mode_on_a_public_address(tmp_path: Path) -> None:
    result = _serve(tmp_path, "--host", "0.0.0.0", "--dev")
    _one_line_error(result, r"--dev: development mode .* non-loopback address '0.0.0.0'")


def test_serve_refuses_production_without_a_key(tmp_path: Path) -> None:
    _one_line_error(_serve(tmp_path), r"auth: production mode needs a token key")


def test_serve_refuses_bad_keys_and_algorithms(tmp_path: Path, ec_key: KeyPair) -> None:
    _one_line_error(
        _serve(tmp_path, "--jwt-secret", SECRET, "--jwt-algorithm", "none"),
        r"auth.algorithms: must be a non-empty subset",
    )
    pem = tmp_path / "key.pem"
    pem.write_text("not a key")
    _one_line_error(
        _serve(tmp_path, "--jwt-public-key", str(pem)), r"auth.public_key_pem: not a PEM"
    )
    pem.write_text(ec_key.public_pem)
    _one_line_error(_serve(tmp_path, "--jwt-public-key", str(pem)), r"cannot verify RS256")
    _one_line_error(
        _serve(tmp_path, "--jwks-url", "http://idp.example/jwks.json"),
        r"auth.jwks_url: plain http",
    )
    _one_line_error(
        _serve(tmp_path, "--jwt-secret", SECRET, "--cors-origin", "*"),
        r"cors_origins: '\*' is refused",
    )
