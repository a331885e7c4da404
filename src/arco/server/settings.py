"""Configuration of ``arco serve`` (flags and ``ARCO_*`` environment variables)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from arco.errors import ValidationError

#: every signing algorithm the server can be configured to accept (never ``none``)
SUPPORTED_ALGORITHMS = ("HS256", "RS256", "ES256")


@dataclass(frozen=True)
class AuthSettings:
    """How bearer tokens (JWT) are verified in production mode."""

    #: the accepted algorithms: a fixed list, so a token cannot pick its own
    algorithms: tuple[str, ...] = ("RS256",)
    #: HS256 shared secret
    secret: str | None = None
    #: RS256/ES256 public key (PEM)
    public_key_pem: str | None = None
    #: RS256/ES256 keys from a JWKS document (cached, refreshed on an unknown ``kid``)
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | None = None
    tenant_claim: str = "tenant"
    workspace_claim: str = "workspace"
    subject_claim: str = "sub"
    #: claim naming the token kind (``user`` or ``task``); absent means ``user``
    kind_claim: str = "arco_kind"
    leeway_s: int = 30
    #: seconds a fetched JWKS document is trusted before it is fetched again
    jwks_cache_s: float = 300.0
    #: minimum seconds between refetches triggered by an unknown ``kid`` (so tokens with
    #: made-up key ids cannot turn the server into a load generator against the JWKS host)
    jwks_refresh_cooldown_s: float = 30.0
    #: timeout of one JWKS fetch
    jwks_timeout_s: float = 5.0
    #: allow a plain ``http://`` JWKS URL on a non-loopback host (keys could be forged in
    #: transit; refused unless set)
    allow_insecure_jwks_url: bool = False
    #: tokens longer than this are rejected before they are parsed
    max_token_bytes: int = 8192


@dataclass(frozen=True)
class Limits:
    """Request limits (per tenant rates; sizes in bytes)."""

    max_body_bytes: int = 1 << 20
    max_events_body_bytes: int = 16 << 20
    requests_per_s: float = 200.0
    burst: int = 400
    query_per_s: float = 10.0
    query_burst: int = 20
    mint_per_s: float = 10.0
    mint_burst: int = 20
    query_max_sql_bytes: int = 100_000
    query_max_rows: int = 10_000
    query_timeout_s: float = 10.0
    query_max_result_bytes: int = 32 << 20
    #: memory one query may add to its query worker process (the worker is killed and the
    #: query fails with 400 QUERY_MEMORY_LIMIT above it); also DuckDB's memory limit
    query_memory_bytes: int = 1 << 30
    #: query worker processes (each runs one query at a time); 0 runs queries inside the
    #: server process, where nothing bounds the memory DuckDB does not track
    query_workers: int = 2


@dataclass(frozen=True)
class IcebergClient:
    """An OAuth2 client of the Iceberg REST endpoint (``--iceberg-client
    ID:SECRET:TENANT/WORKSPACE``): ``POST /iceberg/v1/oauth/tokens`` with these client
    credentials returns a short-lived user token for that one scope (production mode)."""

    client_id: str
    secret: str
    tenant: str
    workspace: str

    @classmethod
    def parse(cls, text: str) -> IcebergClient:
        """``ID:SECRET:TENANT/WORKSPACE`` (the secret may not contain ``:``)."""
        from arco.core.scope import Scope

        parts = text.split(":")
        scope_text = parts[-1] if len(parts) == 3 else ""
        tenant, _, workspace = scope_text.partition("/")
        if len(parts) != 3 or not parts[0] or len(parts[1]) < 16 or not workspace:
            raise ValidationError(
                "iceberg_client: must be ID:SECRET:TENANT/WORKSPACE with a secret of at least "
                "16 characters (no ':' in the id or secret)"
            )
        try:
            scope = Scope(tenant, workspace)
        except ValidationError as exc:
            raise ValidationError(f"iceberg_client: {exc.message}") from None
        return cls(parts[0], parts[1], scope.tenant, scope.workspace)


@dataclass(frozen=True)
class OrchestrationSettings:
    """How the server runs tasks (``arco serve --executor ...``; docs/api.md)."""

    #: ``pool`` (default), ``inprocess``, ``http`` (``arco worker`` processes) or
    #: ``dask://HOST:PORT``
    executor: str = "pool"
    #: attempts at once for ``pool`` / ``inprocess`` / ``dask`` (default: theirs)
    capacity: int | None = None
    #: where the server (and, unless told otherwise, its workers) load asset code from
    code_location: str | None = None
    heartbeat_interval_s: float = 10.0
    heartbeat_timeout_s: float = 60.0
    start_timeout_s: float = 120.0
    cancel_grace_s: float = 30.0
    max_concurrent_runs: int = 16
    #: attempts of tasks in a pool (the ``pool`` asset tag) at once per workspace, by pool
    pool_limits: tuple[tuple[str, int], ...] = ()
    #: lifetime of task tokens without an asset timeout, seconds (renewed by heartbeats)
    task_token_ttl_s: float = 3600.0
    #: longest wait of one ``POST /workers/poll``, seconds
    poll_wait_s: float = 20.0
    #: run each workspace's automation controller beside its orchestrator (ADR 017)
    automation: bool = True

    def check(self) -> None:
        """ValidationError naming the setting that is out of bounds."""
        from arco.orchestration.executors.http import HttpExecutor

        known = ("pool", "inprocess", HttpExecutor.name)
        if self.executor not in known and not self.executor.startswith("dask://"):
            raise ValidationError(
                f"executor: must be pool, inprocess, http or dask://HOST:PORT "
                f"(got {self.executor!r})"
            )
        timers = {
            "heartbeat_interval_s": self.heartbeat_interval_s,
            "heartbeat_timeout_s": self.heartbeat_timeout_s,
            "start_timeout_s": self.start_timeout_s,
            "cancel_grace_s": self.cancel_grace_s,
            "task_token_ttl_s": self.task_token_ttl_s,
            "poll_wait_s": self.poll_wait_s,
        }
        for name, value in timers.items():
            if not value > 0:
                raise ValidationError(f"{name}: must be positive (got {value})")
        if self.heartbeat_timeout_s <= self.heartbeat_interval_s:
            raise ValidationError(
                "heartbeat_timeout_s: must be longer than heartbeat_interval_s "
                f"({self.heartbeat_timeout_s} <= {self.heartbeat_interval_s})"
            )
        if self.capacity is not None and self.capacity < 1:
            raise ValidationError(f"capacity: must be at least 1 (got {self.capacity})")


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``create_app`` needs. ``dev=True`` takes the scope from request headers."""

    store_url: str = "file://./.arco"
    host: str = "127.0.0.1"
    port: int = 8181
    dev: bool = False
    #: allow development mode on a non-loopback address (explicit opt-in)
    force_dev: bool = False
    auth: AuthSettings | None = None
    limits: Limits = field(default_factory=Limits)
    #: run the tier-2 compactor loop in the server process
    compactor: bool = True
    compactor_interval_s: float = 2.0
    #: workspaces kept open at most (idle ones beyond it are closed, least recently used)
    max_open_workspaces: int = 256
    #: seconds a ledger event may wait to be folded before /ready reports not ready
    lag_bound_s: float = 300.0
    #: CORS origins allowed to call the API ("*" is refused in production)
    cors_origins: tuple[str, ...] = ()
    #: HMAC key for /files URLs of a local store (random per process if not given)
    signing_key: bytes | None = None
    #: public base URL for minted /files links (default: http://{host}:{port})
    public_url: str | None = None
    #: OAuth2 clients of the Iceberg REST endpoint (production mode; docs/iceberg.md)
    iceberg_clients: tuple[IcebergClient, ...] = ()
    #: lifetime of the tokens ``/iceberg/v1/oauth/tokens`` issues, seconds
    iceberg_token_ttl_s: int = 3600
    #: how runs are executed (``arco serve --executor`` and the timers)
    orchestration: OrchestrationSettings = field(default_factory=OrchestrationSettings)

    def check(self) -> None:
        """Refuse unsafe configurations (raises ValidationError naming the setting)."""
        self.orchestration.check()
        if self.dev:
            if not self.force_dev and not _is_loopback(self.host):
                raise ValidationError(
                    f"--dev: development mode trusts X-Tenant-Id headers and is refused on "
                    f"non-loopback address {self.host!r} (add --force-dev to insist)"
                )
            return
        if self.auth is None:
            raise ValidationError(
                "auth: production mode needs a token key (--jwt-secret, --jwt-public-key or "
                "--jwks-url), or run with --dev on a loopback address"
            )
        unknown = [a for a in self.auth.algorithms if a not in SUPPORTED_ALGORITHMS]
        if not self.auth.algorithms or unknown:
            raise ValidationError(
                f"auth.algorithms: must be a non-empty subset of {', '.join(SUPPORTED_ALGORITHMS)} "
                f"(got {', '.join(self.auth.algorithms) or 'none'})"
            )
        if "HS256" in self.auth.algorithms and not self.auth.secret:
            raise ValidationError("auth.secret: HS256 needs a shared secret")
        asymmetric = [a for a in self.auth.algorithms if a != "HS256"]
        if asymmetric and not (self.auth.public_key_pem or self.auth.jwks_url):
            raise ValidationError(
                f"auth: {', '.join(asymmetric)} needs a public key (PEM) or a JWKS URL"
            )
        _check_auth_details(self.auth)
        if "*" in self.cors_origins:
            raise ValidationError("cors_origins: '*' is refused in production mode")
        if self.store_url.startswith("memory://"):
            raise ValidationError(
                "store: memory:// loses everything on exit; refused in production"
            )
        ids = [c.client_id for c in self.iceberg_clients]
        if len(set(ids)) != len(ids):
            raise ValidationError("iceberg_clients: a client id is given twice")
        if not 60 <= self.iceberg_token_ttl_s <= 86400:
            raise ValidationError("iceberg_token_ttl_s: must be 60..86400 seconds")


def _check_auth_details(auth: AuthSettings) -> None:
    """The parts of ``auth`` that would otherwise only fail on the first request."""
    asymmetric = [a for a in auth.algorithms if a != "HS256"]
    if auth.public_key_pem is not None:
        try:
            key = load_pem_public_key(auth.public_key_pem.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValidationError(
                "auth.public_key_pem: not a PEM public key (-----BEGIN PUBLIC KEY-----)"
            ) from None
        usable = [a for a in asymmetric if public_key_fits(key, a)]
        if not usable and not auth.jwks_url:
            kind = type(key).__name__.removeprefix("_")
            raise ValidationError(
                f"auth.public_key_pem: this key ({kind}) cannot verify "
                f"{', '.join(asymmetric) or 'HS256'} tokens (RS256 needs an RSA key, ES256 "
                f"a P-256 key)"
            )
    if auth.jwks_url is not None:
        url = urlsplit(auth.jwks_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValidationError(f"auth.jwks_url: not an http(s) URL ({auth.jwks_url!r})")
        if url.scheme == "http" and not (
            _is_loopback(url.hostname) or auth.allow_insecure_jwks_url
        ):
            raise ValidationError(
                "auth.jwks_url: plain http on a non-loopback host lets anyone on the path "
                "forge keys; use https://"
            )
        if not asymmetric:
            raise ValidationError("auth.jwks_url: JWKS keys need RS256 or ES256 in algorithms")
    for name in ("tenant_claim", "workspace_claim", "subject_claim", "kind_claim"):
        if not getattr(auth, name):
            raise ValidationError(f"auth.{name}: must not be empty")
    if not 0 <= auth.leeway_s <= 300:
        raise ValidationError(f"auth.leeway_s: must be 0..300 seconds (got {auth.leeway_s})")
    if auth.jwks_cache_s <= 0 or auth.jwks_refresh_cooldown_s < 0 or auth.jwks_timeout_s <= 0:
        raise ValidationError(
            "auth.jwks_*: cache and timeout must be positive, the cooldown not negative"
        )


def public_key_fits(key: object, algorithm: str) -> bool:
    """Whether public ``key`` can verify ``algorithm`` signatures."""
    if algorithm == "RS256":
        return isinstance(key, rsa.RSAPublicKey)
    if algorithm == "ES256":
        return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
