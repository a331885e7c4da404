"""UrlSigner, open_store configuration (incl. gs:// and az:// without network), CountingStore."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from obstore.store import AzureStore, GCSStore, S3Store

from arco.errors import UnsupportedOperationError, ValidationError
from arco.storage import (
    CountingStore,
    IfVersion,
    LocalFileStore,
    ObjectStore,
    ObstoreStore,
    RetryingStore,
    ScopedStore,
    UrlSigner,
    open_store,
)
from arco.storage.metered import MeteredStore
from arco.storage.url import clear_memory_stores

# --- UrlSigner ------------------------------------------------------------------------


def _parse(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    key = unquote(parts.path.removeprefix("/files/"))
    return key, q["expires"][0], q["sig"][0]


def test_signer_roundtrip() -> None:
    signer = UrlSigner("https://arco.example/", b"s" * 32)
    url = signer.sign("snapshots/catalog/v1/tables.parquet", 300, now=1_000_000)
    assert url.startswith("https://arco.example/files/snapshots/catalog/v1/tables.parquet?")
    key, expires, sig = _parse(url)
    assert expires == "1000300"
    assert signer.verify(key, expires, sig, now=1_000_000)
    assert signer.verify(key, int(expires), sig, now=1_000_300)


def test_signer_rejects_tampering_and_expiry() -> None:
    signer = UrlSigner("https://arco.example", b"s" * 32)
    key, expires, sig = _parse(signer.sign("a/b.parquet", 60, now=1000))
    assert not signer.verify("a/c.parquet", expires, sig, now=1000)  # other key
    assert not signer.verify(key, str(int(expires) + 1), sig, now=1000)  # extended expiry
    assert not signer.verify(key, expires, sig[:-1] + ("0" if sig[-1] != "0" else "1"), now=1000)
    assert not signer.verify(key, expires, "", now=1000)
    assert not signer.verify(key, expires, "zz", now=1000)
    assert not signer.verify(key, expires, "ü" * 64, now=1000)
    assert not signer.verify(key, "not-a-number", sig, now=1000)
    assert not signer.verify(key, expires, sig, now=1061)  # expired
    other = UrlSigner("https://arco.example", b"t" * 32)
    assert not other.verify(key, expires, sig, now=1000)  # other secret


def test_signer_uses_real_clock_by_default() -> None:
    signer = UrlSigner("http://h", b"k")
    key, expires, sig = _parse(signer.sign("k", 5))
    assert abs(int(expires) - (time.time() + 5)) < 3
    assert signer.verify(key, expires, sig)


def test_signer_quotes_keys() -> None:
    signer = UrlSigner("http://h", b"k")
    url = signer.sign("a b/c?d#e.parquet", 60, now=0)
    key, expires, sig = _parse(url)
    assert key == "a b/c?d#e.parquet"
    assert signer.verify(key, expires, sig, now=0)


def test_signer_validation() -> None:
    with pytest.raises(ValidationError):
        UrlSigner("http://h", b"")
    with pytest.raises(ValidationError):
        UrlSigner("http://h", b"k").sign("k", 0)


# --- open_store -----------------------------------------------------------------------


def test_open_store_wraps_in_retrying_and_metered_stores_by_default(tmp_path: Path) -> None:
    store = open_store("memory://")
    assert isinstance(store, RetryingStore)
    assert isinstance(store.inner, MeteredStore)
    assert isinstance(store.inner.inner, ObstoreStore)
    assert isinstance(open_store("memory://", retry=False, metered=False), ObstoreStore)
    local = open_store(f"file://{tmp_path}", retry=False, metered=False)
    assert isinstance(local, LocalFileStore)
    assert isinstance(local, ObjectStore)


def test_memory_urls() -> None:
    clear_memory_stores()
    a = open_store("memory://shared")
    b = open_store("memory://shared")
    a.put("k", b"v")
    assert b.get("k").data == b"v"
    assert a.url == "memory://shared"
    fresh1, fresh2 = open_store("memory://"), open_store("memory://")
    fresh1.put("k", b"v")
    with pytest.raises(Exception):
        fresh2.get("k")
    scoped = open_store("memory://shared/tenant=t/workspace=w", retry=False, metered=False)
    assert isinstance(scoped, ScopedStore)
    scoped.put("x", b"1")
    assert a.get("tenant=t/workspace=w/x").data == b"1"
    with pytest.raises(UnsupportedOperationError):
        a.sign("k", 60)
    clear_memory_stores()
    with pytest.raises(Exception):
        open_store("memory://shared").get("k")


def test_file_urls(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/a/b", fsync=False)
    assert store.url == f"file://{tmp_path.resolve()}/a/b"
    assert (tmp_path / "a" / "b").is_dir()
    signer = UrlSigner("https://x", b"k")
    signed = open_store(f"file://{tmp_path}/a/b", signer=signer)
    assert signed.sign("k", 10).startswith("https://x/files/k?")
    for bad in ("file://relative/path", "file://", "file://host/abs"):
        with pytest.raises(ValidationError):
            open_store(bad)


@pytest.mark.parametrize(
    "url",
    ["ftp://x/y", "http://bucket/x", "S3X://b", "no-scheme", "", "hdfs://nn/path"],
)
def test_unknown_scheme(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        open_store(url)
    assert "scheme" in str(info.value)


def test_unknown_scheme_message_does_not_echo_credentials() -> None:
    with pytest.raises(ValidationError) as info:
        open_store("weird://user:hunter2@host/x")
    assert "hunter2" not in str(info.value)


def test_unknown_options_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        open_store("memory://", bogus=1)
    assert "bogus" in str(info.value)
    with pytest.raises(ValidationError):
        open_store(f"file://{tmp_path}", region="x")


@pytest.mark.parametrize(
    "url",
    [
        "s3://user:secret@bucket/x",
        "s3://bucket/../x",
        "s3://bucket/a//b",
        "s3://bucket/%2e%2e",
        "s3://bucket/x?versionId=1",
        "s3://",
        "gs://bucket/./x",
        "az://cont/.hidden",
    ],
)
def test_bad_cloud_urls(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        open_store(url, region="us-east-1")
    assert "secret" not in str(info.value)


def _assert_fast(fn: Callable[[], ObjectStore]) -> ObjectStore:
    started = time.monotonic()
    store = fn()
    assert time.monotonic() - started < 1.0  # no network round trip (or timeout) involved
    return store


def test_gcs_configuration_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "GOOGLE_SERVICE_ACCOUNT",
        "GOOGLE_SERVICE_ACCOUNT_PATH",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ):
        monkeypatch.delenv(var, raising=False)
    store = _assert_fast(
        lambda: open_store("gs://my-bucket/tenant=t/workspace=w", retry=False, metered=False)
    )
    assert isinstance(store, ObstoreStore)
    assert isinstance(store, ObjectStore)
    assert store.url == "gs://my-bucket/tenant=t/workspace=w"
    assert isinstance(store.store, GCSStore)
    assert store.store.prefix == "tenant=t/workspace=w"
    assert open_store("gs://b").url == "gs://b"
    with pytest.raises(ValidationError) as info:
        open_store("gs://b", service_account_key='{"not": "a key"')
    assert "gs store configuration" in str(info.value)


def test_azure_configuration_without_network() -> None:
    store = _assert_fast(
        lambda: open_store(
            "az://container/tenant=t",
            retry=False,
            metered=False,
            account="myaccount",
            account_key="c2VjcmV0LWtleS1ieXRlcw==",
        )
    )
    assert isinstance(store, ObstoreStore)
    assert store.url == "az://container/tenant=t"
    azure = store.store
    assert isinstance(azure, AzureStore)
    assert azure.prefix == "tenant=t"
    assert azure.config["account_name"] == "myaccount"
    # Signing uses the account key locally: no request is made.
    signed = store.sign("a.parquet", 60)
    assert "myaccount" in signed and "c2VjcmV0" not in signed
    with pytest.raises(ValidationError) as info:
        open_store("az://container", account="a", account_key="not base64!!")
    assert "not base64!!" not in str(info.value)


def test_s3_configuration_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP", "AWS_CONDITIONAL_PUT"):
        monkeypatch.delenv(var, raising=False)
    store = _assert_fast(
        lambda: open_store(
            "s3://bkt/pre/fix",
            retry=False,
            metered=False,
            region="eu-west-1",
            access_key_id="AKIA",
            secret_access_key="shh",
            timeout=5,
        )
    )
    assert isinstance(store, ObstoreStore)
    assert store.url == "s3://bkt/pre/fix"
    s3 = store.store
    assert isinstance(s3, S3Store)
    assert s3.prefix == "pre/fix"
    assert s3.config["conditional_put"] == "etag"
    assert s3.config["region"] == "eu-west-1"
    assert s3.client_options is not None
    assert s3.client_options["allow_http"] in (False, "false")
    assert "shh" not in repr(store.url)


# --- CountingStore --------------------------------------------------------------------


def test_counting_store() -> None:
    counting = CountingStore(open_store("memory://", retry=False))
    v = counting.put("a", b"12345", "create")
    counting.put("a", b"678", IfVersion(v))
    counting.get("a")
    counting.get_range("a", 0, 2)
    counting.head("a")
    list(counting.list())
    counting.delete("a")
    with pytest.raises(Exception):
        counting.get("a")  # failed calls count too
    assert counting.counts == {
        "put": 2,
        "get": 2,
        "get_range": 1,
        "head": 1,
        "list": 1,
        "delete": 1,
    }
    assert counting.total == 8
    assert counting.bytes_written == 8
    assert counting.bytes_read == 5
    assert counting.url == "memory://"
    counting.reset()
    assert counting.total == 0 and counting.bytes_read == 0 and not counting.counts


def test_counting_store_is_thread_safe() -> None:
    counting = CountingStore(open_store("memory://", retry=False))
    counting.put("k", b"v")
    counting.reset()

    def work() -> None:
        for _ in range(500):
            counting.head("k")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counting.counts["head"] == 4000 == counting.total
