"""Shared fixtures: a real loopback S3 server (moto), one store per backend, catalogs on the
memory and local backends, and a fake clock (FakeClock and inline_options live in
``catalog_support``, importable from every test module)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from arco.catalog import Catalog
from arco.storage import LocalFileStore, ObjectStore, open_store
from catalog_support import FakeClock, inline_options
from serve_support import free_port

S3_ACCESS_KEY = "arco-test-access-key"
S3_SECRET_KEY = "arco-test-secret-key"
S3_REGION = "us-east-1"


class _UnhandledExceptions(logging.Handler):
    """Remembers the records of exceptions no handler of the application caught (uvicorn
    logs them as "Exception in ASGI application")."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Exception in ASGI application"):
            self.found.append(f"{record.name}: {message}")


@pytest.fixture(autouse=True)
def _no_unhandled_server_exception() -> Iterator[None]:
    """Every server a test runs in this process (uvicorn in a thread, the ASGI app under
    TestClient) handles every exception: none may reach the ASGI server's log."""
    handler = _UnhandledExceptions()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    assert not handler.found, f"an exception reached the ASGI server: {handler.found[0]}"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server in its own process on 127.0.0.1; yields its endpoint URL."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "AWS_DEFAULT_REGION": S3_REGION,
    }
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"moto server exited early:\n{log.read().decode(errors='replace')}")
                try:
                    httpx.get(f"{endpoint}/", timeout=0.5)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        pytest.fail("moto server did not answer within 30 s")
                    time.sleep(0.05)
            yield endpoint
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _s3_options(endpoint: str) -> dict[str, Any]:
    """open_store options for the loopback server."""
    return {
        "endpoint": endpoint,
        "region": S3_REGION,
        "access_key_id": S3_ACCESS_KEY,
        "secret_access_key": S3_SECRET_KEY,
        "allow_http": True,
    }


@pytest.fixture
def s3_options(s3_server: str) -> dict[str, Any]:
    """``open_store`` options (endpoint, region, credentials, allow_http) for the server."""
    return _s3_options(s3_server)


@pytest.fixture(scope="session")
def s3_client(s3_server: str) -> Any:
    """A boto3 S3 client for the loopback server (for raw, out-of-band access in tests)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
    )


@pytest.fixture
def make_bucket(s3_client: Any) -> Callable[[], str]:
    """Creates a fresh, empty bucket per call and returns its name."""

    def make() -> str:
        name = f"arco-test-{uuid.uuid4().hex[:12]}"
        s3_client.create_bucket(Bucket=name)
        return name

    return make


@pytest.fixture
def s3_url(
    make_bucket: Callable[[], str], s3_options: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """A fresh, empty bucket: ``(url, options)`` for ``open_store``."""
    return f"s3://{make_bucket()}", dict(s3_options)


@pytest.fixture(
    params=["memory", "local", pytest.param("s3", marks=pytest.mark.s3)],
)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """The raw backend (no retry wrapper) for memory, local filesystem and S3-on-moto."""
    if request.param == "memory":
        return open_store("memory://", retry=False)
    if request.param == "local":
        return open_store(f"file://{tmp_path}/store", retry=False, fsync=False)
    url, options = request.getfixturevalue("s3_url")
    return open_store(url, retry=False, **options)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def memory_root() -> ObjectStore:
    return open_store("memory://")


# Local stores skip fsync here: durability against power loss is not what these tests check
# (a killed process loses nothing that reached the page cache), and fsync makes each local
# commit ~100 ms on this disk. The storage contract tests keep fsync on.


@pytest.fixture
def local_root(tmp_path: Path) -> ObjectStore:
    return LocalFileStore(tmp_path / "store", fsync=False)


@pytest.fixture(params=["memory", "local"])
def root_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "memory":
        return open_store("memory://")
    return LocalFileStore(tmp_path / "store", fsync=False)


@pytest.fixture
def catalog(root_store: ObjectStore) -> Iterator[Catalog]:
    """A catalog on each backend with frequent inline checkpoints."""
    cat = Catalog(root_store, options=inline_options())
    yield cat
    cat.close()
