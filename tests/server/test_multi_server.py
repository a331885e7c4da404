"""Several `arco serve` processes on one store: every acknowledged write is there exactly
once, both serve the same state, and tier-2 events are folded once by two compactor loops."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from arco.core.scope import Scope
from arco.maintenance.verify import verify_scope
from arco.storage import ScopedStore, open_store
from serve_support import serve_process

SERVERS = 2


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    store_url = f"file://{tmp_path / 'store'}"
    with ExitStack() as stack:
        running = [
            stack.enter_context(serve_process(store_url, tmp_path / f"server-{i}.log"))
            for i in range(SERVERS)
        ]
        yield store_url, [server.url for server in running]


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
