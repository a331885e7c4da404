"""``arco serve``: the REST API, signed file URLs, the explorer and the compactor loop."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from arco.cli.context import current, fail

if TYPE_CHECKING:
    from arco.server.settings import Limits


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to bind.")] = 8181,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help="Development mode: no tokens; the scope comes from X-Tenant-Id / "
            "X-Workspace-Id headers. Loopback addresses only.",
        ),
    ] = False,
    force_dev: Annotated[
        bool, typer.Option("--force-dev", help="Allow --dev on a non-loopback address.")
    ] = False,
    compactor: Annotated[
        bool,
        typer.Option(
            "--compactor/--no-compactor",
            help="Fold tier-2 events in this process (else run 'arco compact --watch').",
        ),
    ] = True,
    jwt_secret: Annotated[
        str | None, typer.Option(envvar="ARCO_JWT_SECRET", help="HS256 shared secret.")
    ] = None,
    jwt_public_key: Annotated[
        Path | None, typer.Option(help="PEM public key for RS256/ES256 tokens.")
    ] = None,
    jwks_url: Annotated[
        str | None, typer.Option(envvar="ARCO_JWKS_URL", help="JWKS URL for RS256/ES256 keys.")
    ] = None,
    jwt_algorithm: Annotated[
        list[str] | None,
        typer.Option(help="Accepted algorithm (repeatable): HS256, RS256, ES256."),
    ] = None,
    jwt_issuer: Annotated[str | None, typer.Option(help="Required 'iss' claim.")] = None,
    jwt_audience: Annotated[str | None, typer.Option(help="Required 'aud' claim.")] = None,
    cors_origin: Annotated[
        list[str] | None, typer.Option(help="Allowed CORS origin (repeatable).")
    ] = None,
    public_url: Annotated[
        str | None, typer.Option(help="Base URL clients reach this server at (for file links).")
    ] = None,
    signing_key: Annotated[
        str | None,
        typer.Option(
            envvar="ARCO_SIGNING_KEY",
            help="Key of the /files URLs of a local store (at least 32 characters); share it "
            "between servers on one store, or URLs minted by one fail on another (default: "
            "random per process).",
        ),
    ] = None,
    query_workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            envvar="ARCO_QUERY_WORKERS",
            help="Query worker processes, one query each at a time (default 2); 0 runs "
            "queries in the server process, without the memory bound.",
        ),
    ] = None,
    query_memory_mb: Annotated[
        int | None,
        typer.Option(
            min=16,
            envvar="ARCO_QUERY_MEMORY_MB",
            help="Memory one query may use, MiB (default 1024); above it the query fails "
            "with QUERY_MEMORY_LIMIT.",
        ),
    ] = None,
    iceberg_client: Annotated[
        list[str] | None,
        typer.Option(
            envvar="ARCO_ICEBERG_CLIENTS",
            help="OAuth2 client of the Iceberg REST endpoint, ID:SECRET:TENANT/WORKSPACE "
            "(repeatable; the environment variable takes them space-separated): "
            "credential=ID:SECRET gets a short-lived token for that scope (production mode).",
        ),
    ] = None,
    query_timeout_s: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            envvar="ARCO_QUERY_TIMEOUT_S",
            help="Wall-clock limit of one query, seconds (default 10).",
        ),
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            envvar="ARCO_EXECUTOR",
            help="Where runs' tasks execute: pool (worker processes of this server), "
            "inprocess, http (arco worker processes poll for them) or dask://HOST:PORT.",
        ),
    ] = "pool",
    code: Annotated[
        str | None,
        typer.Option(
            "--code",
            metavar="PATH",
            help="Where asset code is loaded from (a folder, .py file or module; default: "
            "the deployment's code location).",
        ),
    ] = None,
    task_capacity: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Tasks at once for pool/inprocess/dask (default: theirs), shared fairly "
            "between the workspaces that have work.",
        ),
    ] = None,
    max_runs: Annotated[
        int,
        typer.Option(
            "--max-runs",
            min=1,
            help="Runs of a workspace active at once; the others wait in the queue "
            "(highest priority first, then oldest).",
        ),
    ] = 16,
    pool: Annotated[
        list[str] | None,
        typer.Option(
            "--pool",
            metavar="NAME=N",
            help="At most N attempts at once of a workspace's tasks in pool NAME (the "
            "'pool' asset tag); repeatable.",
        ),
    ] = None,
    heartbeat_interval: Annotated[
        float, typer.Option(min=0.01, help="Seconds between a running task's heartbeats.")
    ] = 10.0,
    heartbeat_timeout: Annotated[
        float,
        typer.Option(
            min=0.02, help="Seconds without a heartbeat after which a task's attempt fails."
        ),
    ] = 60.0,
    start_timeout: Annotated[
        float,
        typer.Option(
            min=0.1, help="Seconds a dispatched attempt may wait for a worker to start it."
        ),
    ] = 120.0,
    cancel_grace: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds a cancelled run's attempts have to stop."),
    ] = 30.0,
    task_token_ttl: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="Lifetime of HTTP workers' task tokens without an asset timeout, seconds "
            "(each heartbeat renews it).",
        ),
    ] = 3600.0,
    automation: Annotated[
        bool,
        typer.Option(
            "--automation/--no-automation",
            help="Run each workspace's automation controller (schedules, sensors, "
            "backfills) beside its orchestrator.",
        ),
    ] = True,
) -> None:
    """Run the HTTP API (and the explorer at /) on the --store."""
    import uvicorn

    from arco.cli.runs import parse_pool_limits
    from arco.errors import ValidationError
    from arco.server import ServerSettings, create_app
    from arco.server.logs import configure
    from arco.server.settings import AuthSettings, IcebergClient, OrchestrationSettings

    cli = current(ctx)
    auth = None
    if jwt_secret or jwt_public_key or jwks_url:
        algorithms = tuple(jwt_algorithm or (["HS256"] if jwt_secret else ["RS256"]))
        try:
            pem = jwt_public_key.read_text() if jwt_public_key else None
        except OSError as exc:
            fail(f"--jwt-public-key: cannot read {jwt_public_key} ({exc.strerror or exc})")
        auth = AuthSettings(
            algorithms=algorithms,
            secret=jwt_secret,
            public_key_pem=pem,
            jwks_url=jwks_url,
            issuer=jwt_issuer,
            audience=jwt_audience,
        )
    try:
        clients = tuple(IcebergClient.parse(c) for c in iceberg_client or ())
    except ValidationError as exc:
        fail(f"--iceberg-client: {exc.message}")
    settings = ServerSettings(
        store_url=cli.store_url,
        host=host,
        port=port,
        dev=dev,
        force_dev=force_dev,
        auth=auth,
        compactor=compactor,
        cors_origins=tuple(cors_origin or ()),
        public_url=public_url,
        signing_key=_signing_key(signing_key),
        limits=_limits(query_workers, query_memory_mb, query_timeout_s),
        iceberg_clients=clients,
        orchestration=OrchestrationSettings(
            executor=executor,
            capacity=task_capacity,
            code_location=code,
            heartbeat_interval_s=heartbeat_interval,
            heartbeat_timeout_s=heartbeat_timeout,
            start_timeout_s=start_timeout,
            cancel_grace_s=cancel_grace,
            task_token_ttl_s=task_token_ttl,
            max_concurrent_runs=max_runs,
            pool_limits=tuple(sorted(parse_pool_limits(pool).items())),
            automation=automation,
        ),
    )
    settings.check()
    app = create_app(settings)
    configure()
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    cli.err_console.print(
        f"arco: serving {cli.store_url} at http://{shown}:{port}/ "
        f"(explorer at http://{shown}:{port}/, API at /api/v1, Iceberg REST at /iceberg, "
        f"{'development' if dev else 'production'} mode)",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


def _limits(workers: int | None, memory_mb: int | None, timeout_s: float | None) -> Limits:
    """The server's default limits with the options given on the command line."""
    from arco.server.settings import Limits

    given: dict[str, Any] = {
        "query_workers": workers,
        "query_memory_bytes": None if memory_mb is None else memory_mb << 20,
        "query_timeout_s": timeout_s,
    }
    return Limits(**{k: v for k, v in given.items() if v is not None})


def _signing_key(value: str | None) -> bytes | None:
    if value is None:
        return None
    if len(value) < 32:
        fail(f"--signing-key: must be at least 32 characters (got {len(value)})")
    return value.encode()
