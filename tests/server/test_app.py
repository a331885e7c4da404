"""The application shell: service routes, request ids, the error shape, body limits, startup checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from fastapi.testclient import TestClient

from arco.errors import StorageError, ValidationError
from arco.server import ServerSettings, create_app
from arco.server.services import Services
from arco.server.settings import AuthSettings, Limits
from arco.storage import FaultyStore, ForwardingStore, open_store

T = TypeVar("T")


def test_health_ready_metrics(dev_client: TestClient) -> None:
    assert dev_client.get("/health").json() == {"status": "ok"}
    ready = dev_client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["storage"] == "ok"
    metrics = dev_client.get("/metrics")
    assert metrics.status_code == 200
    assert "arco_http_requests_total" in metrics.text


def test_request_id_is_echoed_or_generated(dev_client: TestClient) -> None:
    given = dev_client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    made = dev_client.get("/health", headers={"X-Request-Id": "bad id with spaces"})
    assert made.headers["X-Request-Id"] != "bad id with spaces"
    assert len(made.headers["X-Request-Id"]) == 32


def test_unknown_route_uses_the_error_shape(dev_client: TestClient) -> None:
    r = dev_client.get("/api/v1/nope", headers={"X-Request-Id": "r-1"})
    assert r.status_code == 404
    assert r.json() == {
        "error": {"code": "NOT_FOUND", "message": "no such route", "request_id": "r-1"}
    }


def test_oversized_body_is_413_in_the_error_shape(dev_settings: ServerSettings) -> None:
    settings = dataclasses.replace(dev_settings, limits=Limits(max_body_bytes=100))
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/v1/namespaces", content=b"x" * 101, headers={"X-Request-Id": "big"})
        assert r.status_code == 413
        assert r.json()["error"] == {
            "code": "PAYLOAD_TOO_LARGE",
            "message": "request body exceeds 100 bytes",
            "request_id": "big",
        }


def test_a_chunked_body_over_the_limit_is_413_too(
    dev_settings: ServerSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 10, defect 5: without a Content-Length the limit tripped inside the body
    parser, which answered 400 "There was an error parsing the body"."""
    settings = dataclasses.replace(dev_settings, limits=Limits(max_body_bytes=100))

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 10
        yield b'"}'

    with TestClient(create_app(settings)) as client:
        r = client.post("/api/v1/namespaces", content=chunks(), headers={"X-Request-Id": "chunked"})
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 413, r.text
        assert r.json()["error"] == {
            "code": "PAYLOAD_TOO_LARGE",
            "message": "request body exceeds 100 bytes",
            "request_id": "chunked",
        }
        # a Content-Length of thousands of digits is over the limit, not a 500
        huge = client.post(
            "/api/v1/namespaces", content=b"{}", headers={"Content-Length": "9" * 5000}
        )
        assert huge.status_code == 413
        assert client.get("/api/v1/namespaces").status_code == 200  # nothing was created
        assert client.get("/api/v1/namespaces").json()["items"] == []
    assert "Exception in ASGI application" not in caplog.text


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ServerSettings(dev=True, host="0.0.0.0"), r"^--dev: development mode .* non-loopback"),
        (ServerSettings(), r"^auth: production mode needs a token key"),
        (
            ServerSettings(auth=AuthSettings(algorithms=("none",), secret="s")),
            r"^auth.algorithms: must be a non-empty subset",
        ),
        (ServerSettings(auth=AuthSettings(algorithms=("HS256",))), r"^auth.secret: HS256 needs"),
        (ServerSettings(auth=AuthSettings(algorithms=("RS256",))), r"^auth: RS256 needs a public"),
        (
            ServerSettings(
                auth=AuthSettings(algorithms=("HS256",), secret="s"), cors_origins=("*",)
            ),
            r"^cors_origins: '\*' is refused",
        ),
        (
            ServerSettings(
                store_url="memory://x", auth=AuthSettings(algorithms=("HS256",), secret="s")
            ),
            r"^store: memory:// loses everything",
        ),
    ],
)
def test_startup_refuses_unsafe_settings(settings: ServerSettings, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        create_app(settings)


def test_dev_mode_on_other_addresses_needs_force() -> None:
    ServerSettings(dev=True, host="0.0.0.0", force_dev=True).check()


@pytest.mark.parametrize(
    ("path", "shape"),
    [("/api/v1/namespaces", "arco"), ("/iceberg/v1/default.default/namespaces", "iceberg")],
)
def test_an_unexpected_exception_is_a_500_that_never_reaches_the_asgi_server(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    path: str,
    shape: str,
) -> None:
    """A bug in a route is answered 500 in the path's error shape, with the request id; its
    traceback goes to Arco's log once, and nothing to the ASGI server's ("Exception in ASGI
    application", which Starlette's outer error middleware used to trigger by re-raising)."""
    from arco.catalog import Catalog

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Catalog, "list_namespaces", broken)
    monkeypatch.setattr("arco.iceberg.namespaces.IcebergNamespaces.list", broken)
    settings = ServerSettings(store_url=f"file://{tmp_path / 'store'}", dev=True, compactor=False)
    with TestClient(create_app(settings)) as client:
        r = client.get(path, headers={"X-Request-Id": "unexpected"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "unexpected"
    error = r.json()["error"]
    if shape == "arco":
        assert error == {
            "code": "INTERNAL",
            "message": "internal error; see the server log",
            "request_id": "unexpected",
        }
    else:
        assert error["code"] == 500 and "a bug" not in error["message"]
    assert "a bug" in caplog.text  # the traceback, in Arco's log
    assert "Exception in ASGI application" not in caplog.text


def test_ready_probes_storage_with_one_cheap_listing(tmp_path: Path) -> None:
    """/ready lists a prefix nothing has (not the whole store: on a local store that read
    every object, and a probed long-running server slowed down as its store grew); a store
    that fails the listing makes the server not ready."""
    seen: list[tuple[str, str]] = []

    class Recording(ForwardingStore):
        def _forward(self, op: str, key: str, call: Callable[[], T]) -> T:
            seen.append((op, key))
            return call()

    root = Recording(open_store(f"file://{tmp_path / 'store'}"))
    for i in range(50):
        root.put(f"tenant=t/workspace=w/data/{i}", b"x")
    settings = ServerSettings(store_url=f"file://{tmp_path / 'store'}", dev=True, compactor=False)
    with TestClient(create_app(settings, Services.start(settings, root=root))) as client:
        seen.clear()
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["checks"]["storage"] == "ok"
        assert [op for op, _ in seen] == ["list"]
        assert list(root.list(seen[0][1])) == []  # the probe lists nothing

    def list_fails(index: int, op: str, key: str) -> BaseException | None:
        return StorageError("the store is unreachable") if op == "list" else None

    failing = FaultyStore(open_store(f"file://{tmp_path / 'store'}"), fault=list_fails)
    with TestClient(create_app(settings, Services.start(settings, root=failing))) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready"
        assert ready.json()["checks"]["storage"] != "ok"
