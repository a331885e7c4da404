"""Native presigned URLs: on S3 (moto on loopback) the mint endpoint hands out the store's
own presigned GET URLs for exactly the manifest's files, and they serve those bytes."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from arco.catalog import Catalog, ColumnSpec
from arco.core.scope import Scope
from arco.server import ServerSettings, create_app
from arco.server.services import Services
from arco.storage import open_store

pytestmark = pytest.mark.s3


def test_s3_mint_returns_presigned_urls_that_serve_the_manifest_files(
    s3_url: tuple[str, dict[str, Any]],
) -> None:
    url, options = s3_url
    root = open_store(url, **options)
    with Catalog(root, Scope("default", "default")) as catalog:
        catalog.create_namespace("sales")
        catalog.register_table("sales", "orders", columns=[ColumnSpec(name="id", type="int64")])
    settings = ServerSettings(store_url=url, dev=True, compactor=False)
    with TestClient(create_app(settings, Services.start(settings, root=root))) as client:
        minted = client.post("/api/v1/browser/urls", json={"domain": "catalog", "ttl_seconds": 120})
        assert minted.status_code == 200, minted.text
        files = minted.json()["files"]
        assert files
        scoped = Catalog(root, Scope("default", "default")).store
        for entry in files:
            link = urlsplit(entry["url"])
            assert link.netloc == urlsplit(options["endpoint"]).netloc  # the store, not us
            query = parse_qs(link.query)
            assert query["X-Amz-Expires"] == ["120"] and "X-Amz-Signature" in query
            body = httpx.get(entry["url"], timeout=30)
            assert body.status_code == 200
            assert body.content == scoped.get(entry["path"]).data
        # anything not in the manifest is refused, whatever the backend
        refused = client.post(
            "/api/v1/browser/urls",
            json={"domain": "catalog", "paths": ["manifests/catalog.manifest.json"]},
        )
        assert refused.status_code == 403
