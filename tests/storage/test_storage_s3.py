"""S3 backend against the loopback moto server: conditional headers, races, lost responses."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from arco.errors import (
    ObjectExistsError,
    ObjectNotFoundError,
    OutcomeUnknownError,
    StorageError,
    TransientStorageError,
    VersionMismatchError,
)
from arco.storage import IfVersion, ObjectStore, RetryingStore, open_store

S3_SECRET_KEY = "arco-test-secret-key"  # the one tests/conftest.py gives the server

# --- a recording, fault-injecting HTTP proxy in front of moto --------------------------


@dataclass
class Proxy:
    upstream: str
    options: dict[str, Any]
    make_bucket: Callable[[], str]
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    #: Methods whose next request is forwarded (applied!) but whose response is dropped.
    drop_response: list[str] = field(default_factory=list)
    #: Seconds to stall before dropping (to trigger a client timeout instead of a reset).
    stall: float = 0.0
    #: Methods whose next request gets this status without being forwarded.
    reject: dict[str, int] = field(default_factory=dict)
    url: str = ""


@pytest.fixture
def proxy(
    s3_server: str, s3_options: dict[str, Any], make_bucket: Callable[[], str]
) -> Iterator[Proxy]:
    state = Proxy(upstream=s3_server, options=s3_options, make_bucket=make_bucket)
    client = httpx.Client(base_url=s3_server, timeout=10)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = dict(self.headers.items())
            with lock:
                state.requests.append((self.command, self.path, headers))
                status = state.reject.pop(self.command, None)
                drop = self.command in state.drop_response
                if drop:
                    state.drop_response.remove(self.command)
            if status is not None:
                code = {409: "ConditionalRequestConflict", 503: "SlowDown"}.get(status, "Internal")
                msg = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                return
            upstream = client.request(self.command, self.path, headers=headers, content=body)
            if drop:
                time.sleep(state.stall)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(upstream.status_code)
            for k, v in upstream.headers.items():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(upstream.content)))
            self.end_headers()
            self.wfile.write(upstream.content)

        do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        client.close()


def _proxied_store(proxy: Proxy, retry: bool = False, **extra: Any) -> ObjectStore:
    opts = {**proxy.options, "endpoint": proxy.url, **extra}
    return open_store(f"s3://{proxy.make_bucket()}", retry=retry, **opts)


# --- conditional writes are really conditional headers ---------------------------------


@pytest.mark.s3
def test_s3_sends_if_none_match_and_if_match(proxy: Proxy) -> None:
    store = _proxied_store(proxy)
    proxy.requests.clear()
    v1 = store.put("m.json", b"1", "create")
    (method, path, headers) = proxy.requests[-1]
    assert method == "PUT" and path.endswith("/m.json")
    assert {k.lower(): v for k, v in headers.items()}["if-none-match"] == "*"

    store.put("m.json", b"2", IfVersion(v1))
    lowered = {k.lower(): v for k, v in proxy.requests[-1][2].items()}
    assert lowered["if-match"] == v1
    assert "if-none-match" not in lowered

    store.put("m.json", b"3", "overwrite")
    lowered = {k.lower(): v for k, v in proxy.requests[-1][2].items()}
    assert "if-match" not in lowered and "if-none-match" not in lowered


@pytest.mark.s3
def test_s3_preconditions_enforced_by_server(
    s3_url: tuple[str, dict[str, Any]], s3_client: Any
) -> None:
    url, options = s3_url
    store = open_store(url, retry=False, **options)
    bucket = url.removeprefix("s3://")
    raw = s3_client
    raw.put_object(Bucket=bucket, Key="k", Body=b"from-boto")
    with pytest.raises(ObjectExistsError):
        store.put("k", b"mine", "create")
    current = store.head("k").version
    raw.put_object(Bucket=bucket, Key="k", Body=b"changed-behind-our-back")
    with pytest.raises(VersionMismatchError):
        store.put("k", b"mine", IfVersion(current))
    assert raw.get_object(Bucket=bucket, Key="k")["Body"].read() == b"changed-behind-our-back"


@pytest.mark.s3
def test_s3_threaded_cas_counter(s3_url: tuple[str, dict[str, Any]]) -> None:
    url, options = s3_url
    store = open_store(url, **options)
    store.put("counter", b"0", "create")
    threads, n = 8, 20
    written: list[int] = []
    lock = threading.Lock()

    # Each write carries bytes unique to its writer, as every conditional write of Arco does
    # (commit ids, ledger entropy): the retrying store takes an object holding exactly our
    # bytes for our own earlier attempt, so two workers writing the same "n+1" after a
    # transient error (moto under load) would both count it.
    def worker(w: int) -> None:
        for i in range(n):
            while True:
                cur = store.get("counter")
                nxt = int(cur.data.split()[0]) + 1
                try:
                    store.put("counter", f"{nxt} {w}-{i}".encode(), IfVersion(cur.version))
                except VersionMismatchError:
                    continue
                with lock:
                    written.append(nxt)
                break

    ts = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert int(store.get("counter").data.split()[0]) == threads * n
    assert sorted(written) == list(range(1, threads * n + 1))


@pytest.mark.s3
def test_s3_create_race_one_winner(s3_url: tuple[str, dict[str, Any]]) -> None:
    url, options = s3_url
    store = open_store(url, **options)
    results: dict[int, bool] = {}
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            store.put("lock.json", f"w{i}".encode(), "create")
            results[i] = True
        except ObjectExistsError:
            results[i] = False

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    winners = [i for i, won in results.items() if won]
    assert len(winners) == 1
    assert store.get("lock.json").data == f"w{winners[0]}".encode()


@pytest.mark.s3
def test_s3_url_prefix(
    make_bucket: Callable[[], str], s3_options: dict[str, Any], s3_client: Any
) -> None:
    bucket = make_bucket()
    store = open_store(f"s3://{bucket}/tenant=t/workspace=w", **s3_options)
    assert store.url == f"s3://{bucket}/tenant=t/workspace=w"
    store.put("manifests/catalog.json", b"{}", "create")
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["tenant=t/workspace=w/manifests/catalog.json"]
    assert [m.key for m in store.list()] == ["manifests/catalog.json"]
    assert [m.key for m in store.list("manifests/cat")] == ["manifests/catalog.json"]


@pytest.mark.s3
def test_s3_env_configuration(
    make_bucket: Callable[[], str], s3_options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = make_bucket()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_options["endpoint"])
    monkeypatch.setenv("AWS_REGION", s3_options["region"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_options["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_options["secret_access_key"])
    store = open_store(f"s3://{bucket}")
    store.put("k", b"v", "create")
    assert store.get("k").data == b"v"


@pytest.mark.s3
def test_s3_sign_produces_working_url(s3_url: tuple[str, dict[str, Any]]) -> None:
    url, options = s3_url
    store = open_store(url, **options)
    store.put("files/a.parquet", b"PAR1data")
    signed = store.sign("files/a.parquet", 60)
    assert "X-Amz-Signature=" in signed and S3_SECRET_KEY not in signed
    assert httpx.get(signed).content == b"PAR1data"


# --- lost responses, throttling and unreachable servers --------------------------------


@pytest.mark.s3
def test_s3_lost_put_response_is_outcome_unknown(proxy: Proxy) -> None:
    store = _proxied_store(proxy)
    proxy.drop_response.append("PUT")
    with pytest.raises(OutcomeUnknownError) as info:
        store.put("k", b"applied", "create")
    assert S3_SECRET_KEY not in str(info.value)
    assert store.get("k").data == b"applied"  # it was applied after all


@pytest.mark.s3
def test_s3_put_timeout_is_outcome_unknown(proxy: Proxy) -> None:
    store = _proxied_store(proxy, timeout=0.3)
    proxy.drop_response.append("PUT")
    proxy.stall = 1.0
    with pytest.raises(OutcomeUnknownError):
        store.put("k", b"applied", "create")


@pytest.mark.s3
def test_s3_retrying_store_resolves_lost_create_by_reading_back(proxy: Proxy) -> None:
    store = _proxied_store(proxy, retry=True)
    proxy.drop_response.append("PUT")
    version = store.put("ledger/e1.json", b"event-1", "create")
    assert store.head("ledger/e1.json").version == version
    # Someone else's object is still a conflict, even after an unknown outcome.
    store.put("ledger/e2.json", b"theirs", "create")
    proxy.drop_response.append("PUT")
    with pytest.raises(ObjectExistsError):
        store.put("ledger/e2.json", b"mine", "create")


@pytest.mark.s3
def test_s3_retrying_store_resolves_lost_cas_by_reading_back(proxy: Proxy) -> None:
    store = _proxied_store(proxy, retry=True)
    v1 = store.put("manifest.json", b"v1", "create")
    proxy.drop_response.append("PUT")
    v2 = store.put("manifest.json", b"v2", IfVersion(v1))
    assert store.get("manifest.json").data == b"v2"
    assert store.get("manifest.json").version == v2


@pytest.mark.s3
def test_s3_throttling_is_transient_and_retried(proxy: Proxy) -> None:
    raw = _proxied_store(proxy)
    raw.put("k", b"v")
    proxy.reject["GET"] = 503
    with pytest.raises(TransientStorageError) as info:
        raw.get("k")
    assert not isinstance(info.value, OutcomeUnknownError)
    assert "503" in str(info.value) and "SlowDown" in str(info.value)
    proxy.reject["PUT"] = 503
    with pytest.raises(TransientStorageError) as info:
        raw.put("k2", b"v", "create")
    assert not isinstance(info.value, OutcomeUnknownError)  # rejected, not applied
    v = raw.put("k4", b"v")
    for mode in ("create", IfVersion(v), "overwrite"):
        proxy.reject["PUT"] = 409  # ConditionalRequestConflict: rejected, retry
        with pytest.raises(TransientStorageError) as info:
            raw.put("k4", b"w", mode)
        assert not isinstance(info.value, OutcomeUnknownError)
        assert "ConditionalRequestConflict" in str(info.value)
    proxy.reject["PUT"] = 500
    with pytest.raises(OutcomeUnknownError):
        raw.put("k2", b"v", "create")

    retrying = RetryingStore(raw, base_delay=0.001)
    proxy.reject["GET"] = 503
    assert retrying.get("k").data == b"v"
    proxy.reject["PUT"] = 503
    retrying.put("k3", b"v", "create")
    assert raw.get("k3").data == b"v"


def test_s3_unreachable_server_is_transient_without_secrets() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    secret = "TOP-SECRET-VALUE-123"
    store = open_store(
        "s3://bucket",
        retry=False,
        endpoint=f"http://127.0.0.1:{port}",
        region="us-east-1",
        access_key_id="AKIAEXAMPLE",
        secret_access_key=secret,
        session_token="SESSION-TOKEN-XYZ",
    )
    for op in (lambda: store.get("k"), lambda: store.put("k", b"v", "create")):
        with pytest.raises(TransientStorageError) as info:
            op()
        # Connection refused: the request never left, so the outcome is known.
        assert not isinstance(info.value, OutcomeUnknownError)
        text = str(info.value)
        assert secret not in text and "SESSION-TOKEN-XYZ" not in text
        assert "\n" not in text


def test_s3_hanging_server_times_out() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    conns: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conns.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        store = open_store(
            "s3://bucket",
            retry=False,
            endpoint=f"http://127.0.0.1:{server.getsockname()[1]}",
            region="us-east-1",
            access_key_id="a",
            secret_access_key="b",
            timeout=0.2,
        )
        with pytest.raises(OutcomeUnknownError):
            store.put("k", b"v", "create")
        with pytest.raises(TransientStorageError) as info:
            store.get("k")
        assert not isinstance(info.value, OutcomeUnknownError)
    finally:
        server.close()
        for c in conns:
            c.close()


@pytest.mark.s3
def test_s3_missing_bucket_is_not_object_not_found(s3_options: dict[str, Any]) -> None:
    """A 404 for the bucket must never read as "object missing" (i.e. as empty state)."""
    store = open_store("s3://no-such-bucket-arco", retry=False, **s3_options)
    for op in (
        lambda: store.get("k"),
        lambda: store.get_range("k", 0, 2),
        lambda: store.put("k", b"v"),
        lambda: store.put("k", b"v", "create"),
        lambda: store.put("k", b"v", IfVersion("x")),
        lambda: store.delete("k"),
        lambda: list(store.list()),
    ):
        with pytest.raises(StorageError) as info:
            op()
        assert not isinstance(info.value, ObjectNotFoundError), info.value
        assert "does not exist" in str(info.value)


@pytest.mark.s3
def test_s3_if_version_on_deleted_object(s3_url: tuple[str, dict[str, Any]]) -> None:
    url, options = s3_url
    store = open_store(url, retry=False, **options)
    v = store.put("k", b"v")
    store.delete("k")
    with pytest.raises(ObjectNotFoundError):
        store.put("k", b"w", IfVersion(v))
