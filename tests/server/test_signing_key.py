"""`arco serve --signing-key`: servers sharing one local store and one key honour each
other's /files URLs; without a shared key they do not; a short key is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from serve_support import serve_process

H = {"X-Tenant-Id": "acme", "X-Workspace-Id": "main"}
KEY = "k" * 40


def mint_one(url: str) -> str:
    with httpx.Client(base_url=f"{url}/api/v1", headers=H, timeout=30) as client:
        assert client.post("/namespaces", json={"name": "sales"}).status_code == 201
        minted = client.post("/browser/urls", json={"domain": "catalog"})
        assert minted.status_code == 200, minted.text
        urls = [f["url"] for f in minted.json()["files"]]
    assert urls
    return str(urls[0])


def test_a_shared_key_makes_urls_work_on_every_server(tmp_path: Path) -> None:
    store = f"file://{tmp_path / 'store'}"
    with (
        serve_process(store, tmp_path / "a.log", "--signing-key", KEY) as a,
        serve_process(store, tmp_path / "b.log", "--signing-key", KEY) as b,
        serve_process(store, tmp_path / "c.log") as c,
    ):
        url = mint_one(a.url)
        assert httpx.get(url).status_code == 200
        assert httpx.get(url.replace(a.url, b.url)).status_code == 200
        assert httpx.get(url.replace(a.url, c.url)).status_code == 403


def test_a_short_key_is_refused(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "arco", "--store", f"file://{tmp_path}", "serve"]
    run = subprocess.run(
        [*command, "--dev", "--signing-key", "short"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert run.stderr.strip() == "error: --signing-key: must be at least 32 characters (got 5)"
