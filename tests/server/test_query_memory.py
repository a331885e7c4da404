"""`arco serve` under memory-bomb queries: the server's process tree (the server, its
forkserver and its query workers) stays within the documented bound above its idle size,
and each bomb gets a 400 naming the limit (issue 10, defect 3)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arco.query.workers import rss_bytes
from serve_support import ServerProcess, serve_process

pytestmark = pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")

LIMIT_MB = 192
#: a worker's allocation between two looks at its memory, plus sampling jitter
SLACK = 128 << 20
H = {"X-Tenant-Id": "acme", "X-Workspace-Id": "main"}

BOMBS = [
    "SELECT repeat('x', 100000000) FROM range(100)",
    "SELECT repeat('x', 100000000 + i * 0) FROM range(30) t(i)",
    "SELECT range(10000000 + i * 0) FROM range(30) t(i)",
    "SELECT list(repeat('y', 1000 + i * 0)) FROM range(3000000) t(i)",
]


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def tree_rss(pid: int) -> int:
    return sum(rss_bytes(p) or 0 for p in tree(pid))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with serve_process(
        f"file://{tmp_path / 'store'}",
        tmp_path / "server.log",
        *("--query-workers", "1", "--query-memory-mb", str(LIMIT_MB)),
    ) as server:
        yield server


def test_memory_bombs_stay_within_the_bound(server: ServerProcess) -> None:
    proc = server.process
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=H, timeout=60) as client:
        assert client.post("/query", json={"sql": "SELECT 1"}).status_code == 200
        time.sleep(0.3)
        idle = tree_rss(proc.pid)
        peak = idle
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, tree_rss(proc.pid))
                time.sleep(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            for sql in BOMBS:
                r = client.post("/query", json={"sql": sql})
                assert r.status_code == 400, (sql, r.text)
                error = r.json()["error"]
                assert error["code"] == "QUERY_MEMORY_LIMIT", (sql, r.text)
                assert f"{LIMIT_MB} MiB" in error["message"]
                assert client.post("/query", json={"sql": "SELECT 7"}).json()["rows"] == [[7]]
        finally:
            stop.set()
            sampler.join()
    grown = peak - idle
    assert grown <= (LIMIT_MB << 20) + SLACK, f"the server grew by {grown >> 20} MiB"
    # (serve_process checks the server's log for unhandled exceptions when it stops)
