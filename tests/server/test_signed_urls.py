"""POST /api/v1/browser/urls and GET/HEAD /files/{key}: signed reads of manifest files."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest
from fastapi.testclient import TestClient

from arco.core.scope import Scope
from arco.query.views import merged_view_sql
from arco.server import ServerSettings, create_app
from arco.server.services import Services
from arco.server.settings import Limits
from arco.server.workspaces import Workspace
from arco.storage import CountingStore, open_store

MINT = "/api/v1/browser/urls"
A = {"X-Tenant-Id": "acme", "X-Workspace-Id": "main"}


@pytest.fixture
def root(tmp_path: Path) -> CountingStore:
    return CountingStore(open_store(f"file://{tmp_path / 'store'}"))


@pytest.fixture
def client(tmp_path: Path, root: CountingStore) -> Iterator[TestClient]:
    settings = ServerSettings(
        store_url=f"file://{tmp_path / 'store'}",
        dev=True,
        compactor=False,
        limits=Limits(mint_burst=1000),
    )
    services = Services.start(dataclasses.replace(settings, signing_key=b"s" * 32), root=root)
    with TestClient(create_app(settings, services)) as c:
        ws: Workspace = services.workspaces.get(Scope("acme", "main"))
        ws.catalog.create_namespace("sales")
        ws.catalog.register_table("sales", "orders", [{"name": "id", "type": "int64"}])
        ws.catalog.register_table("sales", "refunds", [{"name": "id", "type": "int64"}])
        yield c


def mint(client: TestClient, **body: Any) -> Any:
    return client.post(MINT, json={"domain": "catalog", **body}, headers=A)


def local(url: str) -> str:
    """The path and query of a minted URL (TestClient talks to the app in-process)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts.path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_mint_lists_the_current_manifest(client: TestClient) -> None:
    r = mint(client)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["domain"] == "catalog" and body["snapshot_version"] >= 3
    assert body["expires_at"].endswith("Z")
    tables = {f["table"] for f in body["files"]}
    assert {"namespaces", "tables", "columns"} <= tables
    for f in body["files"]:
        assert f["url"].startswith("http://testserver/files/tenant=acme/workspace=main/")
        assert set(f) == {
            "path", "table", "kind", "from_version", "version", "rows", "bytes", "sha256", "url"
        }  # fmt: skip
    one = body["files"][0]["path"]
    only = mint(client, paths=[one]).json()["files"]
    assert [f["path"] for f in only] == [one]


def test_ttl_default_and_cap(client: TestClient) -> None:
    now = time.time()
    url = mint(client).json()["files"][0]["url"]
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    assert now + 890 <= expires <= now + 910
    assert mint(client, ttl_seconds=3600).status_code == 200
    for bad in (3601, 0, -5):
        r = mint(client, ttl_seconds=bad)
        assert r.status_code == 400, bad
    assert client.post(MINT, json={"domain": "nope"}, headers=A).status_code == 400


def test_fetch_range_head_and_duckdb_reads_the_rows(client: TestClient, tmp_path: Path) -> None:
    files = mint(client).json()["files"]
    tables = [f for f in files if f["table"] == "tables"]
    downloaded = []
    for i, f in enumerate(tables):
        r = client.get(local(f["url"]))
        assert r.status_code == 200 and len(r.content) == f["bytes"]
        assert r.headers["accept-ranges"] == "bytes" and r.headers["etag"]
        assert r.headers["access-control-allow-origin"] == "*"
        path = tmp_path / f"t{i}.parquet"
        path.write_bytes(r.content)
        downloaded.append(str(path))
    con = duckdb.connect()
    source = f"read_parquet({downloaded!r})"
    names = con.execute(f"SELECT name FROM ({merged_view_sql('tables', source)}) ORDER BY 1")
    assert names.fetchall() == [("orders",), ("refunds",)]

    f = tables[0]
    whole = client.get(local(f["url"])).content
    part = client.get(local(f["url"]), headers={"Range": "bytes=4-9"})
    assert part.status_code == 206 and part.content == whole[4:10]
    assert part.headers["content-range"] == f"bytes 4-9/{len(whole)}"
    tail = client.get(local(f["url"]), headers={"Range": "bytes=-8"})
    assert tail.status_code == 206 and tail.content == whole[-8:]  # the Parquet footer
    open_end = client.get(local(f["url"]), headers={"Range": f"bytes={len(whole) - 3}-"})
    assert open_end.content == whole[-3:]
    unsat = client.get(local(f["url"]), headers={"Range": f"bytes={len(whole)}-"})
    assert unsat.status_code == 416
    assert unsat.headers["content-range"] == f"bytes */{len(whole)}"
    head = client.head(local(f["url"]))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(whole))
    etag = head.headers["etag"]
    again = client.get(local(f["url"]), headers={"If-None-Match": etag})
    assert again.status_code == 304
    pre = client.options(
        local(f["url"]),
        headers={"Origin": "http://x.example", "Access-Control-Request-Method": "GET"},
    )
    assert pre.status_code == 204 and "Range" in pre.headers["access-control-allow-headers"]


def test_expired_and_tampered_urls_are_forbidden(client: TestClient) -> None:
    # long enough for the first GET on a loaded machine (1 s was not); waited out below
    url = mint(client, ttl_seconds=5).json()["files"][0]["url"]
    assert client.get(local(url)).status_code == 200
    sig = parse_qs(urlsplit(url).query)["signature"][0]
    exp = parse_qs(urlsplit(url).query)["expires"][0]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    cases = {
        "tampered signature": with_query(url, signature=flipped),
        "longer expiry": with_query(url, expires=str(int(exp) + 3600)),
        "no signature": urlsplit(url).path + f"?expires={exp}",
        "no expiry": urlsplit(url).path + f"?signature={sig}",
        "junk signature": with_query(url, signature="zz"),
    }
    path = urlsplit(url).path
    other = path.replace("tenant=acme", "tenant=evil")
    cases["tampered key (other tenant)"] = with_query(url).replace(path, other)
    cases["tampered key (other file)"] = with_query(url).replace(path, path[:-9] + "x.parquet")
    for name, target in cases.items():
        r = client.get(target)
        assert r.status_code == 403, (name, r.text)
        assert r.json()["error"]["code"] == "FORBIDDEN"
    time.sleep(max(0.0, int(exp) - time.time()) + 1.1)
    r = client.get(local(url))
    assert r.status_code == 403 and "expired" in r.json()["error"]["message"]


def test_files_never_serves_non_data_keys_even_if_signed(client: TestClient) -> None:
    from arco.server.signed_urls import FileSigner

    signer = FileSigner(b"s" * 32)
    expires = int(time.time()) + 60
    for key in (
        "tenant=acme/workspace=main/manifests/catalog.manifest.json",
        "tenant=acme/workspace=main/locks/catalog.lock.json",
        "tenant=acme/workspace=main/ledger/catalog/x.json",
        "tenant=acme/workspace=main/commits/catalog/x.json",
        "tenant=acme/workspace=main/snapshots/catalog/../../../x.parquet",
    ):
        url = signer.url("http://testserver", key, expires)
        r = client.get(local(url))
        assert r.status_code == 403, key


def test_traversal_is_rejected_before_any_io(client: TestClient, root: CountingStore) -> None:
    bad = [
        "../manifests/catalog.manifest.json",
        "snapshots/../manifests/catalog.manifest.json",
        "/etc/passwd",
        "snapshots\\catalog\\x.parquet",
        "snapshots/%2e%2e/manifests/catalog.manifest.json",
        "snapshots/catalog/.hidden.parquet",
        "",
    ]
    for path in bad:
        root.reset()
        r = mint(client, paths=[path])
        assert r.status_code == 403, (path, r.text)
        assert root.total == 0, (path, root.counts)
    # /files: encoded dot segments and a signature over the traversal key
    from arco.server.signed_urls import FileSigner

    expires = int(time.time()) + 60
    key = "tenant=acme/workspace=main/snapshots/catalog/%2e%2e/x.parquet"
    sig = FileSigner(b"s" * 32).signature(key, expires)
    root.reset()
    r = client.get(f"/files/{key}?expires={expires}&signature={sig}")
    assert r.status_code == 403 and root.total == 0


def test_non_manifest_paths_are_forbidden(client: TestClient) -> None:
    for path in (
        "manifests/catalog.manifest.json",
        "locks/catalog.lock.json",
        "snapshots/catalog/v000000000001-XXXX/delta-tables.parquet",
    ):
        r = mint(client, paths=[path])
        assert r.status_code == 403, path
    # a file of the lineage manifest is not a file of the catalog manifest
    ws_files = mint(client).json()["files"]
    r = client.post(MINT, json={"domain": "lineage", "paths": [ws_files[0]["path"]]}, headers=A)
    assert r.status_code == 403
    # another workspace cannot mint acme's files
    other = {"X-Tenant-Id": "acme", "X-Workspace-Id": "other"}
    r = client.post(MINT, json={"domain": "catalog", "paths": [ws_files[0]["path"]]}, headers=other)
    assert r.status_code == 403


def test_mint_rate_class(tmp_path: Path) -> None:
    settings = ServerSettings(
        store_url=f"file://{tmp_path / 's'}",
        dev=True,
        compactor=False,
        limits=Limits(mint_burst=1, mint_per_s=0.001),
    )
    with TestClient(create_app(settings)) as c:
        codes = [c.post(MINT, json={"domain": "catalog"}, headers=A).status_code for _ in range(2)]
        assert codes == [200, 429]


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("bytes=" + "9" * 5000 + "-", 416),  # starts past every end
        ("bytes=0-" + "9" * 5000, 206),  # the end saturates: the rest of the object
        ("bytes=-" + "9" * 5000, 206),  # a suffix longer than the object: all of it
        ("bytes=\xb2-3", 200),  # latin-1 '²' is a digit to str.isdigit, not to int()
    ],
)
def test_absurd_range_headers_get_416_or_a_body_never_500(
    client: TestClient, header: str, status: int
) -> None:
    """Issue 10, defect 4: a 5000-digit position overflowed Python's int parsing (500)."""
    f = mint(client).json()["files"][0]
    r = client.get(local(f["url"]), headers={"Range": header.encode("latin-1")})
    assert r.status_code == status, r.text
    if status != 416:
        assert len(r.content) == f["bytes"]


def test_booleans_are_not_numbers_for_ttl_seconds(client: TestClient) -> None:
    """Issue 10, defect 8: ``true`` was coerced to a 1-second TTL."""
    r = mint(client, ttl_seconds=True)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "VALIDATION_FAILED"
    assert "ttl_seconds" in r.json()["error"]["message"]
