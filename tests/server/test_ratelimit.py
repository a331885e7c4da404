"""Per-tenant token buckets: burst then 429 with Retry-After, refill, isolation, one
request = one token, rejected (401) requests take nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from arco.server import ServerSettings, create_app
from arco.server.deps import Caller, CallerWorkspace
from arco.server.errors import ApiError
from arco.server.ratelimit import RateLimiter
from arco.server.settings import AuthSettings, Limits

SECRET = "rate-limit-test-secret-long-enough!!"
ROUTE = "/api/v1/_test/whoami"
BURST = 5


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def token(tenant: str = "acme", secret: str = SECRET, **extra: Any) -> str:
    claims = {"sub": "u", "tenant": tenant, "workspace": "main", "exp": int(time.time()) + 300}
    return jwt.encode({**claims, **extra}, secret, algorithm="HS256")


def headers(tenant: str = "acme", secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(tenant, secret)}", "X-Request-Id": "rl-1"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(tmp_path: Path, clock: FakeClock) -> Iterator[TestClient]:
    limits = Limits(requests_per_s=1.0, burst=BURST, query_per_s=0.5, query_burst=2)
    app: FastAPI = create_app(
        ServerSettings(
            store_url=f"file://{tmp_path / 'store'}",
            auth=AuthSettings(algorithms=("HS256",), secret=SECRET),
            compactor=False,
            limits=limits,
        )
    )
    app.state.services.rate_limiter = RateLimiter(limits, clock=clock)

    @app.get(ROUTE)
    def whoami(caller: Caller, ws: CallerWorkspace, again: Caller) -> dict[str, str]:
        # three uses of the caller in one request: still one token
        assert caller is again and ws.scope == caller.scope
        return {"tenant": caller.tenant}

    @app.post("/api/v1/_test/query")
    def query(caller: Caller) -> dict[str, str]:
        app.state.services.rate_limiter.charge(caller.tenant, "query")
        return {"tenant": caller.tenant}

    app.router.routes.insert(0, app.router.routes.pop())
    app.router.routes.insert(0, app.router.routes.pop())
    with TestClient(app) as c:
        yield c


def through(client: TestClient, n: int, tenant: str = "acme") -> int:
    """How many of ``n`` requests got through (the others must be 429s)."""
    ok = 0
    for _ in range(n):
        r = client.get(ROUTE, headers=headers(tenant))
        assert r.status_code in (200, 429), r.text
        ok += r.status_code == 200
    return ok


def test_burst_then_429_with_retry_after(client: TestClient) -> None:
    for _ in range(BURST):
        assert client.get(ROUTE, headers=headers()).status_code == 200
    r = client.get(ROUTE, headers=headers())
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    assert r.headers["X-Request-Id"] == "rl-1"
    assert r.json() == {
        "error": {
            "code": "RATE_LIMITED",
            "message": "rate limit of this tenant exceeded (request class); retry after 1s",
            "request_id": "rl-1",
        }
    }


def test_one_request_takes_exactly_one_token(client: TestClient) -> None:
    assert through(client, 3 * BURST) == BURST


def test_refill_over_time(client: TestClient, clock: FakeClock) -> None:
    assert through(client, BURST + 2) == BURST
    clock.advance(0.5)
    assert through(client, 3) == 0  # half a token
    clock.advance(0.5)
    assert through(client, 3) == 1
    clock.advance(2.0)
    assert through(client, 5) == 2
    clock.advance(3600)  # capped at the burst
    assert through(client, 3 * BURST) == BURST


def test_tenants_are_isolated(client: TestClient) -> None:
    assert through(client, 2 * BURST, "acme") == BURST
    assert through(client, 2 * BURST, "beta") == BURST
    assert client.get(ROUTE, headers=headers("acme")).status_code == 429


def test_rejected_requests_take_no_tokens(client: TestClient) -> None:
    for _ in range(3 * BURST):
        # a token that claims tenant acme but is signed with the wrong secret
        r = client.get(ROUTE, headers=headers("acme", secret=SECRET + "-wrong"))
        assert r.status_code == 401
        # no token at all
        assert client.get(ROUTE).status_code == 401
    assert through(client, 2 * BURST, "acme") == BURST


def test_query_class_is_stricter_and_also_takes_a_request_token(
    client: TestClient, clock: FakeClock
) -> None:
    ok = [client.post("/api/v1/_test/query", headers=headers()).status_code for _ in range(4)]
    assert ok == [200, 200, 429, 429]
    r = client.post("/api/v1/_test/query", headers=headers())
    assert r.headers["Retry-After"] == "2"  # 0.5 tokens per second
    assert "query class" in r.json()["error"]["message"]
    # each of the five requests took a request token (the 429s of the query class too)
    assert through(client, BURST) == 0
    clock.advance(2.0)
    assert client.post("/api/v1/_test/query", headers=headers()).status_code == 200


# --- the limiter alone --------------------------------------------------------------------


def test_retry_after_rounds_up() -> None:
    clock = FakeClock()
    limiter = RateLimiter(Limits(requests_per_s=0.25, burst=1), clock=clock)
    limiter.charge("t", "request")
    with pytest.raises(ApiError) as info:
        limiter.charge("t", "request")
    assert (info.value.status, info.value.headers["Retry-After"]) == (429, "4")
    clock.advance(1.5)
    with pytest.raises(ApiError) as info:
        limiter.charge("t", "request")
    assert info.value.headers["Retry-After"] == "3"  # 2.5 s, rounded up
    clock.advance(2.5)
    limiter.charge("t", "request")


def test_clock_stepping_back_refills_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(Limits(requests_per_s=1.0, burst=2), clock=clock)
    limiter.charge("t")
    limiter.charge("t")
    clock.advance(-100)
    assert limiter.available("t") == 0.0
    clock.advance(101)
    assert limiter.available("t") == pytest.approx(1.0)


def test_concurrent_charges_are_counted_exactly() -> None:
    limiter = RateLimiter(Limits(requests_per_s=0.0, burst=100), clock=lambda: 0.0)
    granted: list[int] = []
    denied: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = refused = 0
        for _ in range(50):
            try:
                limiter.charge("t")
                mine += 1
            except ApiError:  # expected once the burst of 100 is spent; counted below
                refused += 1
        with lock:
            granted.append(mine)
            denied.append(refused)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 100
    assert sum(denied) == 8 * 50 - 100


def test_idle_buckets_are_forgotten_without_losing_state(monkeypatch: Any) -> None:
    import arco.server.ratelimit as module

    monkeypatch.setattr(module, "_MAX_BUCKETS", 3)
    clock = FakeClock()
    limiter = RateLimiter(
        Limits(requests_per_s=1.0, burst=1, query_per_s=0.001, query_burst=1), clock=clock
    )
    limiter.charge("busy", "query")  # empty for a long time
    for i in range(10):
        limiter.charge(f"t{i}")
        clock.advance(1.0)  # each request bucket is full again a second later
    assert len(limiter._buckets) <= 3
    # the exhausted tenant is still exhausted (its bucket was kept)
    with pytest.raises(ApiError):
        limiter.charge("busy", "query")
