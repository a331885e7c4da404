"""The browser explorer: static serving (fast, in-process) and an end-to-end run in real
headless Debian Chromium against ``arco serve`` on loopback, checking that what the page
computes with DuckDB-WASM from signed URLs equals the catalog's content (library calls and
server-side DuckDB)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from arco.catalog import Catalog
from arco.core.scope import Scope
from arco.domains.registry import VIEWS
from arco.query.views import merged_view_sql, run_query
from arco.server import ServerSettings, create_app
from arco.server.routes.explorer import STATIC_DIR, assets_vendored
from serve_support import free_port

CHROMIUM = os.environ.get("ARCO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
needs_assets = pytest.mark.skipif(
    not assets_vendored(),
    reason="DuckDB-WASM assets not vendored: run python src/arco/server/static/vendor.py (needs npm)",
)

# --- static serving (fast) ------------------------------------------------------------------


def test_index_page_is_served(dev_client: TestClient) -> None:
    r = dev_client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    assert "/explorer/explorer.mjs" in r.text
    assert "X-Request-Id".lower() in {k.lower() for k in r.headers}


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [
        ("explorer.mjs", "text/javascript"),
        ("arrow-shim.mjs", "text/javascript"),
        ("explorer.css", "text/css"),
        ("index.html", "text/html"),
    ],
)
def test_page_assets_have_their_content_types(
    dev_client: TestClient, asset: str, content_type: str
) -> None:
    r = dev_client.get(f"/explorer/{asset}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(content_type)
    assert r.content == (STATIC_DIR / asset).read_bytes()


@needs_assets
def test_vendored_wasm_is_application_wasm_and_cached(dev_client: TestClient) -> None:
    r = dev_client.head("/explorer/vendor/duckdb-wasm/duckdb-eh.wasm")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/wasm"
    assert int(r.headers["content-length"]) > 1_000_000
    assert "max-age" in r.headers["cache-control"]
    r = dev_client.get(
        "/explorer/vendor/duckdb-wasm/duckdb-eh.wasm", headers={"Range": "bytes=0-3"}
    )
    assert r.content[:4] == b"\0asm"
    worker = dev_client.get("/explorer/vendor/duckdb-wasm/duckdb-browser-eh.worker.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    etag = worker.headers["etag"]
    again = dev_client.get(
        "/explorer/vendor/duckdb-wasm/duckdb-browser-eh.worker.js",
        headers={"If-None-Match": etag},
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    "asset",
    [
        "../routes/explorer.py",
        "..%2froutes%2fexplorer.py",
        "%2e%2e/%2e%2e/server/app.py",
        "vendor/../../routes/explorer.py",
        "vendor.py",  # not a served type
        "vendor",  # a directory
        "vendor/duckdb-wasm/VENDORED.json/",
        ".hidden.js",
        "nope.js",
        "..\\routes\\explorer.py",
        "/etc/passwd",
        "//etc/passwd",
    ],
)
def test_no_traversal_and_only_known_files(dev_client: TestClient, asset: str) -> None:
    r = dev_client.get(f"/explorer/{asset}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NOT_FOUND"


def test_config_carries_the_servers_merge_rule(dev_client: TestClient) -> None:
    body = dev_client.get("/explorer/config.json").json()
    assert body["dev"] is True
    assert body["assets_vendored"] == assets_vendored()
    got = {(v["schema"], v["view"]): v for v in body["views"]}
    assert set(got) == set(VIEWS)
    for key, (domain, table) in VIEWS.items():
        assert got[key]["merge_sql"] == merged_view_sql(table, "{source}", domain)
        assert [c["name"] for c in got[key]["columns"]] == domain.specs[table].schema.names


# --- end to end in headless Chromium --------------------------------------------------------

SCOPE = Scope("acme", "lab")
SQL = (
    "SELECT namespace, table_name, column_count, format FROM info.tables "
    "ORDER BY namespace, table_name"
)


def _populate(catalog: Catalog) -> None:
    catalog.create_namespace("sales", description="Orders and the customers who place them")
    catalog.create_namespace("marketing")
    catalog.create_namespace("scratch")
    catalog.register_table(
        "sales",
        "orders",
        [
            {"name": "id", "type": "int64", "nullable": False},
            {"name": "customer", "type": "string"},
            {"name": "amount", "type": "decimal128(12, 2)"},
        ],
        description="One row per order",
    )
    catalog.register_table(
        "sales", "customers", [{"name": "id", "type": "int64"}, {"name": "name", "type": "string"}]
    )
    catalog.register_table(
        "sales",
        "売上高",
        [
            {"name": "地域", "type": "string", "description": "販売地域"},
            {"name": "金額", "type": "int64"},
        ],
        description="月別の売上高",
    )
    catalog.register_table("marketing", "campaigns", [{"name": "id", "type": "int64"}])
    catalog.register_table("scratch", "tmp", [{"name": "x", "type": "int32"}])
    # newer versions and tombstones: the page must show the merged state only
    catalog.update_table(
        "sales",
        "orders",
        add_columns=[{"name": "status", "type": "string", "nullable": False}],
        rename_columns={"customer": "customer_name"},
    )
    catalog.drop_table("scratch", "tmp")
    catalog.drop_namespace("scratch")
    catalog.add_lineage_edge("sales/customers", "sales/orders", run_id="run-1")
    catalog.add_lineage_edge("sales/orders", "marketing/campaigns")
    catalog.add_lineage_edge("sales/売上高", "marketing/campaigns")
    catalog.add_lineage_edge("marketing/campaigns", "sales/customers")
    catalog.remove_lineage_edge("marketing/campaigns", "sales/customers")


class _Server:
    def __init__(self, settings: ServerSettings) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings),
                host=settings.host,
                port=settings.port,
                log_level="warning",
                lifespan="on",
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Catalog]]:
    if not Path(CHROMIUM).is_file() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"headless Chromium not found at {CHROMIUM} (.ci/run installs it)")
    if not assets_vendored():
        pytest.skip("DuckDB-WASM assets not vendored: run python src/arco/server/static/vendor.py")
    pytest.importorskip("playwright", reason="the playwright package is a test extra")
    store_url = f"file://{tmp_path_factory.mktemp('explorer') / 'store'}"
    catalog = Catalog.open(store_url, SCOPE)
    _populate(catalog)
    port = free_port()
    settings = ServerSettings(
        store_url=store_url,
        port=port,
        dev=True,
        compactor=False,
        public_url=f"http://127.0.0.1:{port}",
    )
    with _Server(settings):
        yield f"http://127.0.0.1:{port}", catalog
    catalog.close()


@pytest.fixture(scope="module")
def page(served: tuple[str, Catalog]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    base, _ = served
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            pg = browser.new_page()
            pg.on("pageerror", lambda exc: errors.append(str(exc)))
            pg.goto(f"{base}/?tenant={SCOPE.tenant}&workspace={SCOPE.workspace}&autoload")
            pg.wait_for_function(
                "['ready', 'error'].includes(document.getElementById('status').dataset.state)",
                timeout=90_000,
            )
            status = pg.locator("#status")
            assert status.get_attribute("data-state") == "ready", (status.inner_text(), errors)
            yield pg
        finally:
            browser.close()


def _texts(page: Any, selector: str, attr: str) -> list[str]:
    return list(page.eval_on_selector_all(selector, f"els => els.map(e => e.dataset.{attr})"))


def _select_table(page: Any, namespace: str, table: str) -> None:
    page.locator(f'button.table-link[data-namespace="{namespace}"][data-table="{table}"]').click()
    page.wait_for_selector(f'#detail-section[data-selected="{namespace}/{table}"]')


@pytest.mark.slow
def test_namespaces_and_tables_equal_the_catalog(page: Any, served: tuple[str, Catalog]) -> None:
    _, catalog = served
    namespaces = [ns.name for ns in catalog.list_namespaces(limit=1000).items]
    assert namespaces == ["marketing", "sales"]
    assert _texts(page, "#namespaces > li.namespace", "namespace") == namespaces
    for ns in namespaces:
        tables = [t.name for t in catalog.list_tables(ns, limit=1000).items]
        shown = _texts(page, f'#namespaces > li[data-namespace="{ns}"] li.table', "table")
        assert shown == tables
    assert "売上高" in _texts(page, "li.table", "table")


@pytest.mark.slow
@pytest.mark.parametrize(("namespace", "table"), [("sales", "売上高"), ("sales", "orders")])
def test_columns_equal_the_catalog(
    page: Any, served: tuple[str, Catalog], namespace: str, table: str
) -> None:
    _, catalog = served
    _select_table(page, namespace, table)
    rows = page.eval_on_selector_all(
        "#columns tbody tr.column",
        "rows => rows.map(r => [r.querySelector('.column-name').textContent,"
        " r.querySelector('.column-type').textContent])",
    )
    expected = [[c.name, c.type] for c in catalog.list_columns(namespace, table)]
    assert rows == expected
    if table == "orders":
        assert [r[0] for r in rows] == ["id", "customer_name", "amount", "status"]


@pytest.mark.slow
def test_lineage_equals_the_catalog(page: Any, served: tuple[str, Catalog]) -> None:
    _, catalog = served
    _select_table(page, "sales", "orders")
    shown = set(
        map(
            tuple,
            page.eval_on_selector_all(
                "#lineage-edges li.lineage-edge",
                "els => els.map(e => [e.dataset.source, e.dataset.target])",
            ),
        )
    )
    graph = catalog.lineage("sales/orders", direction="both", depth=3)
    assert shown == {(e.source, e.target) for e in graph.edges}
    assert ("sales/customers", "sales/orders") in shown
    assert ("marketing/campaigns", "sales/customers") not in shown  # removed
    nodes = set(
        page.eval_on_selector_all("#lineage-graph g.node", "g => g.map(n => n.dataset.asset)")
    )
    assert nodes == {n.asset for n in graph.nodes}


@pytest.mark.slow
@pytest.mark.parametrize("query", ["売上", "order", "sales cust"])
def test_search_equals_the_catalog(page: Any, served: tuple[str, Catalog], query: str) -> None:
    _, catalog = served
    page.evaluate("delete document.getElementById('search-results').dataset.query")
    page.fill("#search", query)
    page.click("#search-form button")
    page.wait_for_function(
        "q => document.getElementById('search-results').dataset.query === q", arg=query
    )
    shown = page.eval_on_selector_all(
        "#search-results li.search-hit", "els => els.map(e => [e.dataset.kind, e.dataset.name])"
    )
    expected = [
        [h.kind, ".".join(p for p in (h.namespace, h.table, h.column) if p is not None)]
        for h in catalog.search(query)
    ]
    assert expected
    assert shown == expected


@pytest.mark.slow
def test_sql_box_equals_server_side_duckdb(page: Any, served: tuple[str, Catalog]) -> None:
    _, catalog = served
    page.fill("#sql", SQL)
    page.evaluate("document.getElementById('sql-status').dataset.state = 'idle'")
    page.click("#run-sql")
    page.wait_for_function(
        "['ready', 'error'].includes(document.getElementById('sql-status').dataset.state)"
    )
    assert page.locator("#sql-status").get_attribute("data-state") == "ready"
    header = page.eval_on_selector_all("#sql-result thead th", "ths => ths.map(t => t.textContent)")
    cells = page.eval_on_selector_all(
        "#sql-result tbody tr",
        "rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.textContent))",
    )
    expected = run_query(catalog, SQL)
    assert header == expected.column_names
    assert cells == [[str(v) for v in row.values()] for row in expected.to_pylist()]
    assert len(cells) == 4


def test_config_reports_missing_assets(
    dev_client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from arco.server.routes import explorer

    monkeypatch.setattr(explorer, "VENDOR_DIR", tmp_path / "nothing")
    assert dev_client.get("/explorer/config.json").json()["assets_vendored"] is False


def test_vendoring_refuses_a_tarball_with_the_wrong_integrity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("arco_vendor", STATIC_DIR / "vendor.py")
    assert spec is not None and spec.loader is not None
    vendor = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "arco_vendor", vendor)  # dataclasses look it up
    spec.loader.exec_module(vendor)
    pkg = vendor.PACKAGES[0]
    with pytest.raises(RuntimeError, match="integrity mismatch"):
        vendor.extract(pkg, b"not the pinned tarball", tmp_path)
    assert not (tmp_path / pkg.target).exists()
    assert not vendor.is_vendored(pkg, tmp_path)
