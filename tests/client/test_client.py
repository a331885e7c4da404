"""``arco.client.Client`` against a real server (uvicorn on loopback) and, for retry timing
only, an httpx stub transport."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from live_server import LiveServer

from arco import errors
from arco.catalog import ColumnSpec, Namespace, Table
from arco.client import (
    Client,
    ConnectionFailedError,
    QueryTimeoutError,
    RateLimitedError,
    RemoteError,
    ServerError,
    UnauthenticatedError,
    was_truncated,
)
from arco.client.errors import RemoteNotFoundError, RemoteTransientStorageError
from arco.core.paging import Page
from arco.executions import Materialization
from arco.lineage import Edge, LineageGraph
from arco.metadata.manifest import Manifest
from arco.server.settings import Limits


def remote(exc: BaseException) -> RemoteError:
    """``exc`` as the client raises it: also a RemoteError, with the HTTP status."""
    assert isinstance(exc, RemoteError), repr(exc)
    return exc


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(tmp_path / "store") as server:
        yield server


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[Client]:
    with Client(live_server.url, tenant="acme", workspace="main", backoff=0.01) as c:
        yield c


def _wait(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


# --- catalog --------------------------------------------------------------------------------


def test_namespaces_create_list_get_update_drop(client: Client) -> None:
    cat = client.catalog
    ns = cat.create_namespace("sales", description="Orders", properties={"owner": "bi"})
    assert isinstance(ns, Namespace)
    assert (ns.name, ns.description, ns.properties) == ("sales", "Orders", {"owner": "bi"})
    for name in ("alpha", "zeta"):
        cat.create_namespace(name)

    assert cat.get_namespace("sales") == ns
    first = cat.list_namespaces(limit=2)
    assert isinstance(first, Page) and [n.name for n in first.items] == ["alpha", "sales"]
    assert first.next_page_token
    rest = cat.list_namespaces(page_token=first.next_page_token, limit=2)
    assert [n.name for n in rest.items] == ["zeta"] and rest.next_page_token is None

    updated = cat.update_namespace(
        "sales", if_match=ns.version, description="All orders", set_properties={"tier": "1"}
    )
    assert updated.description == "All orders"
    assert updated.properties == {"owner": "bi", "tier": "1"}
    assert updated.version > ns.version
    assert cat.snapshot_version() == updated.version

    dropped = cat.drop_namespace("zeta")
    assert dropped.name == "zeta"
    with pytest.raises(errors.NotFoundError):
        cat.get_namespace("zeta")


def test_tables_register_list_get_update_rename_drop(client: Client) -> None:
    cat = client.catalog
    cat.create_namespace("raw")
    cat.create_namespace("sales")
    t = cat.register_table(
        "raw",
        "orders",
        [ColumnSpec(name="id", type="int64", nullable=False), {"name": "amount", "type": "double"}],
        description="Orders",
        properties={"k": "v"},
    )
    assert isinstance(t, Table)
    assert [(c.name, c.type, c.nullable) for c in t.columns] == [
        ("id", "int64", False),
        ("amount", "double", True),
    ]
    assert cat.get_table("raw", "orders") == t
    assert [x.name for x in cat.list_tables("raw").items] == ["orders"]

    changed = cat.update_table(
        "raw",
        "orders",
        if_match=t.version,
        add_columns=[ColumnSpec(name="status", type="string")],
        rename_columns={"amount": "total"},
        set_properties={"x": "y"},
    )
    assert [c.name for c in changed.columns] == ["id", "total", "status"]
    assert changed.properties == {"k": "v", "x": "y"}
    assert [c.name for c in cat.list_columns("raw", "orders")] == ["id", "total", "status"]

    moved = cat.rename_table("raw", "orders", "orders_v2", new_namespace="sales")
    assert (moved.namespace, moved.name, moved.table_id) == ("sales", "orders_v2", t.table_id)
    assert cat.list_tables("raw").items == []
    with pytest.raises(errors.NotFoundError):
        cat.get_table("raw", "orders")

    dropped = cat.drop_table("sales", "orders_v2")
    assert dropped.table_id == t.table_id
    assert cat.list_tables("sales").items == []


def test_names_are_path_encoded(client: Client) -> None:
    ns = client.catalog.create_namespace("Ventes été")
    assert client.catalog.get_namespace("Ventes été") == ns
    client.catalog.register_table("Ventes été", "q?x", [])
    assert client.catalog.get_table("Ventes été", "q?x").name == "q?x"


def test_lineage_and_search(client: Client) -> None:
    cat = client.catalog
    cat.create_namespace("sales", description="Revenue numbers")
    cat.register_table("sales", "orders", [{"name": "customer_id", "type": "int64"}])
    edge = cat.add_lineage_edge("raw/orders", "sales/orders", run_id="run-1")
    assert isinstance(edge, Edge) and (edge.source, edge.target) == ("raw/orders", "sales/orders")
    cat.add_lineage_edge("sales/orders", "bi/report")

    graph = cat.lineage("sales/orders", direction="upstream", depth=2)
    assert isinstance(graph, LineageGraph)
    assert graph.direction == "upstream"
    assert {n.asset for n in graph.nodes} == {"sales/orders", "raw/orders"}
    down = cat.lineage("sales/orders", direction="downstream")
    assert {n.asset for n in down.nodes} == {"sales/orders", "bi/report"}
    assert len(cat.lineage("sales/orders").edges) == 2

    removed = cat.remove_lineage_edge("raw/orders", "sales/orders")
    assert removed.edge_id == edge.edge_id
    assert {n.asset for n in cat.lineage("sales/orders", direction="upstream").nodes} == {
        "sales/orders"
    }
    with pytest.raises(errors.NotFoundError):
        cat.remove_lineage_edge("raw/orders", "sales/orders")

    hits = cat.search("revenue")
    assert [(h.kind, h.namespace) for h in hits] == [("namespace", "sales")]
    assert any(h.kind == "column" and h.column == "customer_id" for h in cat.search("custom"))
    assert len(cat.search("s", limit=1)) == 1


def test_manifests_and_commits(client: Client) -> None:
    with pytest.raises(errors.NotFoundError):
        client.manifest("catalog")
    assert client.catalog.snapshot_version() == 0
    client.catalog.create_namespace("a", idempotency_key="k-a")
    client.catalog.create_namespace("b")
    manifest = client.manifest("catalog")
    assert isinstance(manifest, Manifest) and manifest.snapshot_version == 2
    commits = client.list_commits("catalog", limit=1)
    assert [c.snapshot_version for c in commits.items] == [2] and commits.next_page_token
    older = client.list_commits("catalog", page_token=commits.next_page_token)
    assert [c.snapshot_version for c in older.items] == [1]
    assert older.items[0].operations[0]["idempotency_key"] == "k-a"


def test_scopes_are_isolated(live_server: LiveServer, client: Client) -> None:
    client.catalog.create_namespace("secret")
    with Client(live_server.url, tenant="other") as other:
        with pytest.raises(errors.NotFoundError) as info:
            other.catalog.get_namespace("secret")
        assert other.catalog.list_namespaces().items == []
    with Client(live_server.url, tenant="missing") as missing:
        with pytest.raises(errors.NotFoundError) as missing_info:
            missing.catalog.get_namespace("nothing-here")
    assert remote(info.value).status == remote(missing_info.value).status == 404


# --- errors ---------------------------------------------------------------------------------


def test_error_codes_map_to_typed_exceptions(client: Client) -> None:
    cat = client.catalog
    with pytest.raises(errors.NotFoundError) as nf:
        cat.get_namespace("nope")
    err = nf.value
    assert isinstance(err, RemoteNotFoundError) and isinstance(err, RemoteError)
    assert (err.status, err.code) == (404, "NOT_FOUND")
    assert err.request_id and "nope" in err.message

    ns = cat.create_namespace("sales")
    with pytest.raises(errors.AlreadyExistsError) as ae:
        cat.create_namespace("sales")
    assert (remote(ae.value).status, ae.value.code) == (409, "ALREADY_EXISTS")

    cat.update_namespace("sales", description="v2")
    with pytest.raises(errors.PreconditionFailedError) as pf:
        cat.update_namespace("sales", if_match=ns.version, description="stale")
    assert remote(pf.value).status == 412
    assert cat.get_namespace("sales").description == "v2"

    cat.create_namespace("keyed", idempotency_key="same-key")
    with pytest.raises(errors.IdempotencyConflictError) as ic:
        cat.create_namespace("different", idempotency_key="same-key")
    assert (remote(ic.value).status, ic.value.code) == (409, "IDEMPOTENCY_KEY_REUSED")

    with pytest.raises(errors.ValidationError) as ve:
        cat.register_table("sales", "t", [{"name": "c", "type": "no-such-type"}])
    assert remote(ve.value).status == 400

    cat.register_table("sales", "t", [])
    with pytest.raises(errors.ConflictError):  # a namespace with tables cannot be dropped
        cat.drop_namespace("sales")


def test_idempotency_key_replays_the_original_result(client: Client) -> None:
    first = client.catalog.create_namespace("once", idempotency_key="k1")
    again = client.catalog.create_namespace("once", idempotency_key="k1")
    assert again.namespace_id == first.namespace_id
    assert len(client.catalog.list_namespaces().items) == 1


class LoseFirstResponse(httpx.BaseTransport):
    """Forwards to the real server; the first matching response is read, then 'lost'."""

    def __init__(self, method: str, path: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.method, self.path = method, path
        self.lost = 0
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == self.method and request.url.path == self.path:
            self.keys.append(request.headers.get("Idempotency-Key"))
            if not self.lost:
                response.read()  # the server processed it; the client never sees it
                response.close()
                self.lost += 1
                raise httpx.ReadError("connection reset after the request was processed")
        return response

    def close(self) -> None:
        self.inner.close()


def test_lost_response_is_retried_with_the_same_key(live_server: LiveServer) -> None:
    transport = LoseFirstResponse("POST", "/api/v1/namespaces")
    with Client(live_server.url, tenant="acme", transport=transport, backoff=0.01) as c:
        ns = c.catalog.create_namespace("sales")
        assert transport.lost == 1
        assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1]
        assert transport.keys[0]
        listed = c.catalog.list_namespaces().items
        assert [n.namespace_id for n in listed] == [ns.namespace_id]
        assert c.catalog.snapshot_version() == 1  # one commit, not two


def test_lost_response_of_an_update_and_of_events(live_server: LiveServer) -> None:
    with Client(live_server.url, tenant="acme") as setup:
        setup.catalog.create_namespace("sales")
        setup.catalog.register_table("sales", "orders", [])
    patch = LoseFirstResponse("PATCH", "/api/v1/namespaces/sales/tables/orders")
    with Client(live_server.url, tenant="acme", transport=patch, backoff=0.01) as c:
        t = c.catalog.update_table("sales", "orders", add_columns=[{"name": "a", "type": "int8"}])
        assert [col.name for col in t.columns] == ["a"]
        assert patch.lost == 1 and patch.keys[0] == patch.keys[1]
    events = LoseFirstResponse("POST", "/api/v1/events")
    with Client(live_server.url, tenant="acme", transport=events, backoff=0.01) as c:
        ids = c.append_events(
            [
                {
                    "event_type": "materialization",
                    "asset_key": "sales/orders",
                    "run_id": "r1",
                    "status": "succeeded",
                }
            ]
        )
        assert events.lost == 1 and len(ids) == 1
        _wait(lambda: len(c.executions.list_materializations().items) == 1)
        time.sleep(0.2)
        assert len(c.executions.list_materializations().items) == 1


# --- events and materializations ------------------------------------------------------------


def test_events_and_materializations(client: Client) -> None:
    ids = client.append_events(
        [
            {
                "event_type": "materialization",
                "asset_key": "sales/orders",
                "run_id": "r1",
                "status": "started",
            },
            {
                "event_type": "materialization",
                "asset_key": "sales/orders",
                "run_id": "r1",
                "status": "succeeded",
                "rows": 10,
            },
            {
                "event_type": "materialization",
                "asset_key": "raw/orders",
                "run_id": "r2",
                "status": "failed",
            },
        ]
    )
    assert len(ids) == 3 and len(set(ids)) == 3
    ex = client.executions

    _wait(lambda: len(ex.list_materializations().items) == 3)
    page = ex.list_materializations(asset_key="sales/orders")
    assert sorted(m.status for m in page.items) == ["started", "succeeded"]
    (m,) = ex.list_materializations(asset_key="sales/orders", status="succeeded").items
    assert isinstance(m, Materialization) and (m.run_id, m.rows) == ("r1", 10)
    assert ex.get_materialization(m.materialization_id) == m
    assert [x.run_id for x in ex.list_materializations(status="failed").items] == ["r2"]
    assert ex.list_materializations(run_id="r2").items[0].asset_key == "raw/orders"
    first = ex.list_materializations(limit=1)
    assert len(first.items) == 1 and first.next_page_token
    with pytest.raises(errors.NotFoundError):
        ex.get_materialization("nope")
    with pytest.raises(errors.ValidationError):
        client.append_events([{"event_type": "no_such_type", "x": 1}])
    with pytest.raises(errors.ValidationError):  # rejected client-side, before sending
        client.append_events([{"no_type": 1}])
    assert ex.append(
        [
            {
                "event_type": "materialization",
                "asset_key": "a/b",
                "run_id": "r3",
                "status": "succeeded",
            }
        ]
    )


# --- query and signed URLs ------------------------------------------------------------------


def test_query_returns_an_arrow_table(client: Client) -> None:
    client.catalog.create_namespace("sales")
    client.catalog.create_namespace("raw")
    result = client.query("SELECT name FROM catalog.namespaces ORDER BY name")
    assert isinstance(result, pa.Table)
    assert result.column_names == ["name"]
    assert result.column("name").to_pylist() == ["raw", "sales"]
    as_json = client.query_json("SELECT 1 AS one")
    assert as_json.rows == [[1]] and not as_json.truncated
    assert client.query_csv("SELECT 1 AS one").splitlines()[0] == "one"
    with pytest.raises(errors.ValidationError):
        client.query("DROP TABLE catalog.namespaces")


def test_mint_urls_and_fetch(client: Client) -> None:
    client.catalog.create_namespace("sales")
    minted = client.mint_urls("catalog", ttl_seconds=60)
    assert minted.domain == "catalog" and minted.files
    manifest = client.manifest("catalog")
    assert {f.path for f in minted.files} == {f.path for f in manifest.files}
    one = minted.files[0]
    data = client.fetch(one.url)
    assert len(data) == one.bytes and data[:4] == b"PAR1"
    assert client.fetch(one.url, start=0, end=3) == b"PAR1"
    only = client.mint_urls("catalog", paths=[one.path])
    assert [f.path for f in only.files] == [one.path]


# --- retries (transport-level behaviour, against a stub) ------------------------------------


NS_JSON: dict[str, Any] = {
    "namespace_id": "n1",
    "name": "sales",
    "description": None,
    "properties": {},
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "version": 1,
}


def _err(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code.lower()} now", "request_id": "rid-1"}}
    return httpx.Response(status, json=body, headers=headers)


class Stub:
    """Answers with the queued responses in order; records every request."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(time.monotonic())
        return self.responses.pop(0)

    def client(self, **options: Any) -> Client:
        return Client("http://stub", transport=httpx.MockTransport(self), **options)


def test_429_and_503_are_retried_after_retry_after_with_the_same_key() -> None:
    stub = Stub(
        _err(429, "RATE_LIMITED", {"Retry-After": "1"}),
        _err(503, "STORAGE_UNAVAILABLE", {"Retry-After": "0"}),
        httpx.Response(201, json=NS_JSON),
    )
    with stub.client(backoff=5.0) as c:  # Retry-After wins over the (long) backoff
        ns = c.catalog.create_namespace("sales")
    assert ns.namespace_id == "n1"
    assert len(stub.requests) == 3
    keys = {r.headers["Idempotency-Key"] for r in stub.requests}
    assert len(keys) == 1 and keys != {""}
    assert stub.times[1] - stub.times[0] >= 0.95
    assert stub.times[2] - stub.times[1] < 1.0


def test_given_idempotency_key_is_sent_on_every_attempt() -> None:
    stub = Stub(_err(503, "LOCK_TIMEOUT"), httpx.Response(201, json=NS_JSON))
    with stub.client(backoff=0.01) as c:
        c.catalog.create_namespace("sales", idempotency_key="mine")
    assert [r.headers["Idempotency-Key"] for r in stub.requests] == ["mine", "mine"]


def test_retries_give_up_with_the_typed_error() -> None:
    stub = Stub(*(_err(429, "RATE_LIMITED", {"Retry-After": "0"}) for _ in range(3)))
    with stub.client(retries=2) as c, pytest.raises(RateLimitedError) as info:
        c.catalog.list_namespaces()
    assert len(stub.requests) == 3
    assert (info.value.status, info.value.code, info.value.request_id) == (
        429,
        "RATE_LIMITED",
        "rid-1",
    )
    stub = Stub(_err(503, "STORAGE_UNAVAILABLE"), _err(503, "STORAGE_UNAVAILABLE"))
    with stub.client(retries=1, backoff=0.01) as c, pytest.raises(RemoteTransientStorageError):
        c.catalog.get_namespace("x")
    assert isinstance(RemoteTransientStorageError("m"), errors.TransientStorageError)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (_err(404, "NOT_FOUND"), errors.NotFoundError),
        (_err(401, "UNAUTHENTICATED"), UnauthenticatedError),
        (_err(504, "QUERY_TIMEOUT"), QueryTimeoutError),
        (_err(500, "INTERNAL"), ServerError),
        (httpx.Response(500, text="<html>proxy error</html>"), ServerError),
        (_err(418, "SOMETHING_NEW"), RemoteError),
    ],
)
def test_non_retryable_errors_are_raised_at_once(
    response: httpx.Response, expected: type[Exception]
) -> None:
    stub = Stub(response)
    with stub.client(backoff=0.01) as c, pytest.raises(expected) as info:
        c.catalog.get_namespace("x")
    assert len(stub.requests) == 1
    assert isinstance(info.value, RemoteError) and info.value.status == response.status_code


def test_connection_errors_are_retried_then_raised() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", retries=2, backoff=0.01) as c:
        with pytest.raises(ConnectionFailedError) as info:
            c.catalog.list_namespaces()
    assert info.value.retryable and info.value.status == 0


def test_headers_token_tenant_and_base_url() -> None:
    stub = Stub(httpx.Response(200, json={"items": [], "next_page_token": None}))
    with Client(
        "http://stub/api/v1/",
        token="tok",
        tenant="t",
        workspace="w",
        transport=httpx.MockTransport(stub),
    ) as c:
        assert c.catalog.list_namespaces(limit=5).items == []
    (req,) = stub.requests
    assert req.url.path == "/api/v1/namespaces" and req.url.params["limit"] == "5"
    assert "page_token" not in req.url.params
    assert req.headers["Authorization"] == "Bearer tok"
    assert (req.headers["X-Tenant-Id"], req.headers["X-Workspace-Id"]) == ("t", "w")
    assert req.headers["X-Request-Id"]
    assert "Idempotency-Key" not in req.headers  # reads carry none


def test_query_reports_truncation(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "s", limits=Limits(query_max_rows=2)) as live:
        with Client(live.url) as c:
            for name in ("a", "b", "c"):
                c.catalog.create_namespace(name)
            cut = c.query("SELECT name FROM catalog.namespaces ORDER BY name")
            assert cut.column("name").to_pylist() == ["a", "b"] and was_truncated(cut)
            whole = c.query("SELECT name FROM catalog.namespaces WHERE name = 'a'")
            assert whole.num_rows == 1 and not was_truncated(whole)
            assert c.query_json("SELECT name FROM catalog.namespaces").truncated


@pytest.mark.slow  # waits out a real Retry-After (>= 1 s) twice
def test_real_rate_limit_is_waited_out(tmp_path: Path) -> None:
    limits = Limits(query_per_s=1.0, query_burst=1)
    with LiveServer(tmp_path / "s", limits=limits) as live:
        with Client(live.url, retries=0) as once:
            once.query("SELECT 1")
            with pytest.raises(RateLimitedError) as info:
                once.query("SELECT 1")
            assert info.value.status == 429 and info.value.retry_after is not None
        with Client(live.url) as patient:
            started = time.monotonic()  # back to back: one of them waits for Retry-After
            for _ in range(2):
                assert patient.query("SELECT 1 AS x").column("x").to_pylist() == [1]
            assert time.monotonic() - started >= 0.9  # Retry-After (>= 1 s) was honoured
