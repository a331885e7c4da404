"""`arco serve` as a real OS process on a free loopback port, its log kept in a file and
checked when it stops: no unhandled exception may reach it (issue 10: no "Exception in ASGI
application" in any server log of a suite run)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

#: what an unhandled exception leaves in a server's log
UNHANDLED = ("Exception in ASGI application", "Traceback (most recent call last)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unhandled_in(text: str) -> list[str]:
    """The lines of ``text`` that show an unhandled exception."""
    return [line for line in text.splitlines() if any(mark in line for mark in UNHANDLED)]


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def serve_process(
    store_url: str, log: Path, *options: str, dev: bool = True
) -> Iterator[ServerProcess]:
    """``arco --store STORE_URL serve --dev --port P OPTIONS...`` until the block ends
    (``dev=False``: production mode, the options name the token key); then its log must
    show no unhandled exception."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "arco",
                "--store",
                store_url,
                "serve",
                *(["--dev"] if dev else []),
                "--port",
                str(port),
                *options,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ARCO_URL": ""},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass  # not listening yet: poll again until the deadline
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield ServerProcess(url, process, log)
    finally:
        process.terminate()
        process.wait(timeout=30)
    found = unhandled_in(log.read_text(errors="replace"))
    assert not found, f"the server log ({log}) shows an unhandled exception: {found[0]}"
