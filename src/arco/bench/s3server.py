"""A throwaway loopback S3 server (moto) for benchmarks.

moto is imported lazily (only its availability is checked here); the server itself runs in a
subprocess bound to ``127.0.0.1`` on a free port, so it never shares the GIL with the code
being measured.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from arco.bench.common import free_port

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


def moto_available() -> bool:
    """True when ``moto[server]`` can be imported in this interpreter."""
    return (
        importlib.util.find_spec("moto") is not None
        and importlib.util.find_spec("flask") is not None
    )


@dataclass
class S3Server:
    """A running moto server; use :func:`start_s3_server` (or ``with S3Server.start():``)."""

    port: int
    process: subprocess.Popen[bytes]
    buckets: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def store_options(self) -> dict[str, Any]:
        """Options for ``open_store("s3://bucket", **options)``."""
        return {
            "endpoint": self.endpoint,
            "region": REGION,
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            "allow_http": True,
        }

    def create_bucket(self, name: str) -> str:
        response = httpx.put(f"{self.endpoint}/{name}", timeout=10.0)
        if response.status_code not in (200, 409):
            raise RuntimeError(f"moto: creating bucket {name!r} failed: {response.status_code}")
        self.buckets.append(name)
        return name

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    @classmethod
    def start(cls, *, timeout_s: float = 30.0) -> S3Server:
        return start_s3_server(timeout_s=timeout_s)

    def __enter__(self) -> S3Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_s3_server(*, timeout_s: float = 30.0) -> S3Server:
    """Start ``python -m moto.server`` on a free loopback port and wait until it answers."""
    if not moto_available():
        raise RuntimeError("moto[server] is not installed")
    port = free_port()
    env = dict(os.environ)
    env.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    env.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    env.setdefault("AWS_DEFAULT_REGION", REGION)
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    server = S3Server(port, process)
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with code {process.returncode}")
        try:
            httpx.get(f"{server.endpoint}/moto-api/", timeout=1.0)
            return server
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("moto server did not start in time") from None
            time.sleep(0.1)
