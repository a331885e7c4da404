"""Several `arco serve` processes on one store: every acknowledged write is there exactly
once, both serve the same state, and tier-2 events are folded once by two compactor loops."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from arco.core.scope import Scope
from arco.maintenance.verify import verify_scope
from arco.storage import ScopedStore, open_store

SERVERS = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    store_url = f"file://{tmp_path / 'store'}"
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    for _ in range(SERVERS):
        port = _free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "arco",
                    "--store",
                    store_url,
                    "serve",
                    "--dev",
                    "--port",
                    str(port),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "ARCO_URL": ""},
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        for url in urls:
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass  # not listening yet: poll again until the deadline
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield store_url, urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def test_two_servers_share_one_store_safely(servers: tuple[str, list[str]]) -> None:
    store_url, urls = servers
    names = [f"ns{i:02d}" for i in range(24)]

    def create(i: int) -> tuple[str, int]:
        url = urls[i % len(urls)]
        r = httpx.post(
            f"{url}/api/v1/namespaces",
            json={"name": names[i]},
            headers={"Idempotency-Key": f"create-{i}"},
            timeout=60,
        )
        return names[i], r.status_code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(len(names))))
    assert all(status == 201 for _, status in results), results
    # both servers see every namespace, each exactly once
    for url in urls:
        listed = httpx.get(f"{url}/api/v1/namespaces", params={"limit": 1000}).json()["items"]
        assert sorted(n["name"] for n in listed) == names
    # tier 2: events posted to both servers are folded exactly once by two compactor loops
    payload = {"event_type": "materialization", "asset_key": "a/b", "status": "succeeded"}
    posted: list[str] = []
    for i in range(10):
        r = httpx.post(
            f"{urls[i % 2]}/api/v1/events",
            json={"events": [{**payload, "run_id": f"r{i}"}]},
            timeout=60,
        )
        assert r.status_code == 202, r.text
        posted += r.json()["event_ids"]
    deadline = time.monotonic() + 60
    seen: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        seen = httpx.get(f"{urls[0]}/api/v1/materializations", params={"limit": 1000}).json()[
            "items"
        ]
        if len(seen) == len(posted):
            break
        time.sleep(0.2)
    assert sorted(m["event_id"] for m in seen) == sorted(posted)  # type: ignore[type-var]
    report = verify_scope(ScopedStore(open_store(store_url), Scope("default", "default").prefix))
    assert report.ok, report.to_json()
