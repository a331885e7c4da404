"""``open_store(url)``: pick and configure a backend from a URL.

=========================  ===============================================================
``memory://``              a fresh in-process store
``memory://name[/prefix]`` the named in-process store (same object on every call)
``file:///abs/path``       :class:`LocalFileStore` (``file://./rel`` for a relative path)
``s3://bucket[/prefix]``   S3 or an S3-compatible server, with conditional writes
``gs://bucket[/prefix]``   Google Cloud Storage
``az://container[/pfx]``   Azure Blob Storage
=========================  ===============================================================

Cloud stores are built with obstore's own retries disabled and, like every store returned
here unless ``retry=False``, wrapped in :class:`RetryingStore`, so that a conditional write
is retried in one place that resolves unknown outcomes by reading back.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from obstore.store import AzureStore, GCSStore, MemoryStore, S3Store

from arco.errors import ValidationError
from arco.storage.keys import ScopedStore, validate_key
from arco.storage.local import DEFAULT_LOCK_TIMEOUT_S, LocalFileStore
from arco.storage.metered import MeteredStore
from arco.storage.obstore_backend import ObstoreStore
from arco.storage.port import ObjectStore
from arco.storage.retry import RetryingStore
from arco.storage.signing import UrlSigner

if TYPE_CHECKING:
    from obstore.store import AzureConfig, ClientConfig, GCSConfig, S3Config

_SCHEMES = ("memory", "file", "s3", "gs", "az")
_BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_MEMORY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_NO_RETRIES: Any = {"max_retries": 0}

_memory_stores: dict[str, MemoryStore] = {}
_memory_lock = threading.Lock()


def open_store(url: str, **options: Any) -> ObjectStore:
    """Open the store named by ``url``; see the module docstring for the schemes.

    Common options: ``retry`` (default True: wrap in RetryingStore), ``retry_attempts``,
    ``metered`` (default True: report request latency and errors as Prometheus metrics).
    ``file``: ``fsync``, ``signer``. ``s3``: ``endpoint``, ``region``, ``access_key_id``,
    ``secret_access_key``, ``session_token``, ``allow_http``, ``skip_signature``,
    ``virtual_hosted_style_request``, ``timeout``, ``connect_timeout`` (unset values come
    from ``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``). ``gs``: ``service_account``,
    ``service_account_key``, ``application_credentials``, ``base_url``, ``skip_signature``.
    ``az``: ``account``, ``account_key``, ``sas_key``, ``client_id``, ``client_secret``,
    ``tenant_id``, ``endpoint``, ``use_emulator``, ``use_azure_cli``, ``skip_signature``.
    Unknown options are rejected.
    """
    opts = dict(options)
    retry = bool(opts.pop("retry", True))
    metered = bool(opts.pop("metered", True))
    attempts = int(opts.pop("retry_attempts", 5))
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValidationError(
            "store url: must be scheme://..., with scheme one of " + ", ".join(_SCHEMES)
        )
    scheme = scheme.lower()
    builder = _BUILDERS.get(scheme)
    if builder is None:
        raise ValidationError(
            f"store url scheme {scheme[:20]!r}: must be one of " + ", ".join(_SCHEMES)
        )
    store = builder(rest, opts)
    if opts:
        raise ValidationError(f"store options {sorted(opts)}: not supported for {scheme}://")
    if metered:  # every attempt is measured: the meter sits under the retries
        store = MeteredStore(store, scheme)
    return RetryingStore(store, attempts=attempts) if retry else store


def clear_memory_stores() -> None:
    """Forget every named in-process store (tests)."""
    with _memory_lock:
        _memory_stores.clear()


# --- builders (each pops the options it understands) ------------------------------------


def _split_prefix(scheme: str, rest: str) -> tuple[str, str]:
    """``bucket/pre/fix`` → (``bucket``, ``pre/fix``); rejects credentials, queries, bad keys."""
    parts = urlsplit(f"{scheme}://{rest}")
    if "@" in parts.netloc:
        raise ValidationError(
            f"{scheme} url: credentials must be passed as options, never in the URL"
        )
    if parts.query or parts.fragment:
        raise ValidationError(f"{scheme} url: must not have a query or fragment")
    bucket = parts.netloc
    if not _BUCKET_RE.match(bucket):
        raise ValidationError(f"{scheme} url: bucket/container name {bucket!r} is invalid")
    prefix = parts.path.strip("/")
    if prefix:
        validate_key(prefix)
    return bucket, prefix


def _memory(rest: str, opts: dict[str, Any]) -> ObjectStore:
    if not rest:
        return ObstoreStore(MemoryStore(), "memory://")
    name, _, prefix = rest.partition("/")
    if not _MEMORY_NAME_RE.match(name):
        raise ValidationError(f"memory url: store name {name!r} must match [A-Za-z0-9._-]+")
    with _memory_lock:
        mem = _memory_stores.setdefault(name, MemoryStore())
    store: ObjectStore = ObstoreStore(mem, f"memory://{name}")
    prefix = prefix.strip("/")
    if prefix:
        store = ScopedStore(store, prefix + "/")
    return store


def _file(rest: str, opts: dict[str, Any]) -> ObjectStore:
    if not (rest.startswith("/") or rest == "." or rest.startswith(("./", "../"))):
        raise ValidationError("file url: must be file:///absolute/path or file://./relative/path")
    signer = opts.pop("signer", None)
    if signer is not None and not isinstance(signer, UrlSigner):
        raise ValidationError("file option signer: must be a UrlSigner")
    return LocalFileStore(
        Path(rest),
        fsync=bool(opts.pop("fsync", True)),
        signer=signer,
        lock_timeout_s=float(opts.pop("lock_timeout_s", DEFAULT_LOCK_TIMEOUT_S)),
    )


def _take(opts: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Pop ``option -> config key`` pairs that are set."""
    out: dict[str, Any] = {}
    for option, key in names.items():
        value = opts.pop(option, None)
        if value is not None:
            out[key] = value
    return out


def _client_options(opts: dict[str, Any]) -> dict[str, Any]:
    client: dict[str, Any] = {}
    for name in ("timeout", "connect_timeout"):
        value = opts.pop(name, None)
        if value is not None:
            client[name] = timedelta(seconds=value) if isinstance(value, int | float) else value
    allow_http = opts.pop("allow_http", None)
    if allow_http is not None:
        client["allow_http"] = _truthy(allow_http)
    return client


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _build(scheme: str, factory: Callable[[], Any]) -> Any:
    try:
        return factory()
    except Exception as exc:
        # Configuration errors only; the message is cut before obstore's debug dump.
        reason = str(exc).split("\n", 1)[0][:200]
        raise ValidationError(f"{scheme} store configuration is invalid: {reason}") from exc


def _s3(rest: str, opts: dict[str, Any]) -> ObjectStore:
    bucket, prefix = _split_prefix("s3", rest)
    env = os.environ
    config: dict[str, Any] = {
        "endpoint": opts.pop("endpoint", None) or env.get("AWS_ENDPOINT_URL"),
        "region": opts.pop("region", None)
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION"),
        "access_key_id": opts.pop("access_key_id", None) or env.get("AWS_ACCESS_KEY_ID"),
        "secret_access_key": opts.pop("secret_access_key", None)
        or env.get("AWS_SECRET_ACCESS_KEY"),
        "session_token": opts.pop("session_token", None) or env.get("AWS_SESSION_TOKEN"),
    }
    config = {k: v for k, v in config.items() if v}
    config.update(
        _take(
            opts,
            {
                "skip_signature": "skip_signature",
                "virtual_hosted_style_request": "virtual_hosted_style_request",
            },
        )
    )
    # If-None-Match: * for create, If-Match: <etag> for IfVersion.
    config["conditional_put"] = "etag"
    client = _client_options(opts)
    if "allow_http" not in client:
        endpoint = str(config.get("endpoint", ""))
        client["allow_http"] = endpoint.startswith("http://") or _truthy(
            env.get("AWS_ALLOW_HTTP", "")
        )
    s3 = _build(
        "s3",
        lambda: S3Store(
            bucket,
            prefix=prefix or None,
            config=cast("S3Config", config),
            client_options=cast("ClientConfig", client),
            retry_config=_NO_RETRIES,
        ),
    )
    url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    return ObstoreStore(s3, url)


def _gs(rest: str, opts: dict[str, Any]) -> ObjectStore:
    bucket, prefix = _split_prefix("gs", rest)
    config = _take(
        opts,
        {
            "service_account": "service_account",
            "service_account_path": "service_account",
            "service_account_key": "service_account_key",
            "application_credentials": "application_credentials",
            "base_url": "base_url",
            "skip_signature": "skip_signature",
        },
    )
    client = _client_options(opts)
    gcs = _build(
        "gs",
        lambda: GCSStore(
            bucket,
            prefix=prefix or None,
            config=cast("GCSConfig", config),
            client_options=cast("ClientConfig", client),
            retry_config=_NO_RETRIES,
        ),
    )
    url = f"gs://{bucket}/{prefix}" if prefix else f"gs://{bucket}"
    return ObstoreStore(gcs, url)


def _az(rest: str, opts: dict[str, Any]) -> ObjectStore:
    container, prefix = _split_prefix("az", rest)
    config = _take(
        opts,
        {
            "account": "account_name",
            "account_name": "account_name",
            "account_key": "account_key",
            "sas_key": "sas_key",
            "client_id": "client_id",
            "client_secret": "client_secret",
            "tenant_id": "tenant_id",
            "endpoint": "endpoint",
            "use_emulator": "use_emulator",
            "use_azure_cli": "use_azure_cli",
            "skip_signature": "skip_signature",
        },
    )
    client = _client_options(opts)
    azure = _build(
        "az",
        lambda: AzureStore(
            container,
            prefix=prefix or None,
            config=cast("AzureConfig", config),
            client_options=cast("ClientConfig", client),
            retry_config=_NO_RETRIES,
        ),
    )
    url = f"az://{container}/{prefix}" if prefix else f"az://{container}"
    return ObstoreStore(azure, url)


_BUILDERS: dict[str, Callable[[str, dict[str, Any]], ObjectStore]] = {
    "memory": _memory,
    "file": _file,
    "s3": _s3,
    "gs": _gs,
    "az": _az,
}
