"""``arco deploy PATH`` and ``arco assets list|show|status``: deploy a code location's
definitions to the workspace, read back the current deployment (ADR 015) and the status of
each asset partition (ADR 017)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from arco.cli.context import CliContext, JsonFlag, current, fail, fields, print_json, table
from arco.core.clock import SYSTEM_CLOCK, rfc3339_ms
from arco.core.scope import Scope
from arco.executions import Executions
from arco.orchestration.deploy import DeploymentPointer, deploy
from arco.orchestration.deploy import current as current_deployment
from arco.orchestration.discovery import build_manifest, load_definitions
from arco.orchestration.manifest import (
    AssetSpec,
    DefinitionsManifest,
    MultiPartitionsSpec,
    PartitionsSpec,
    StaticPartitionsSpec,
)
from arco.orchestration.runs import Runs
from arco.orchestration.status import STATUSES, PartitionStatus, Status, workspace_statuses
from arco.storage import ObjectStore, ScopedStore, open_store

assets_app = typer.Typer(
    name="assets",
    help="List and show the assets of the current deployment.",
    no_args_is_help=True,
)


def _store(cli: CliContext) -> ObjectStore:
    return ScopedStore(open_store(cli.store_url), Scope(cli.tenant, cli.workspace).prefix)


def describe_partitions(spec: PartitionsSpec | None) -> str | None:
    """One line about a partitions definition (``daily from 2026-01-01 (UTC)``)."""
    if spec is None:
        return None
    if isinstance(spec, MultiPartitionsSpec):
        return " x ".join(describe_partitions(d) or "" for d in spec.dimensions)
    if isinstance(spec, StaticPartitionsSpec):
        return f"{spec.dimension}: {', '.join(spec.values)}"
    until = f" to {spec.end}" if spec.end else ""
    return f"{spec.dimension}: {spec.kind} from {spec.start}{until} ({spec.timezone})"


def code_location(path: str) -> str:
    """Where a deployment's code is loaded from: PATH made absolute (a module name as is)."""
    candidate = Path(path)
    if path.endswith(".py") or "/" in path or candidate.exists():
        return str(candidate.resolve())
    return path


def deploy_command(
    ctx: typer.Context,
    path: Annotated[
        str, typer.Argument(metavar="PATH", help="A folder, a .py file or a dotted module name.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Deploy the @asset definitions of PATH to the workspace (idempotent)."""
    cli = current(ctx)
    store = _store(cli)  # first: with --url this fails before any user code is imported
    manifest = build_manifest(load_definitions(path))
    result = deploy(store, manifest, code_location=code_location(path))
    status = "created" if result.created else "unchanged" if result.unchanged else "activated"
    if as_json:
        print_json(
            {
                "fingerprint": result.fingerprint,
                "assets": len(manifest.assets),
                "version": result.version,
                "status": status,
                "previous": result.previous,
            }
        )
        return
    cli.say(
        f"{status}: deployment {result.fingerprint} "
        f"({len(manifest.assets)} asset(s), version {result.version})"
    )


def _current(cli: CliContext) -> tuple[DeploymentPointer, DefinitionsManifest]:
    found = current_deployment(_store(cli))
    if found is None:
        fail(
            f"nothing is deployed to tenant {cli.tenant!r}, workspace {cli.workspace!r} "
            "(run: arco deploy PATH)"
        )
    return found


@assets_app.command("list")
def list_assets(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the assets of the current deployment."""
    cli = current(ctx)
    pointer, manifest = _current(cli)
    if as_json:
        print_json(
            {
                "fingerprint": pointer.fingerprint,
                "version": pointer.version,
                "assets": [a.model_dump(mode="json") for a in manifest.assets],
            }
        )
        return
    rows = [
        (
            a.key,
            ", ".join(a.deps) or None,
            describe_partitions(a.partitions),
            a.group,
            len(a.checks),
        )
        for a in manifest.assets
    ]
    title = f"deployment {pointer.fingerprint[:12]} (version {pointer.version})"
    cli.show(table(title, ["key", "deps", "partitions", "group", "checks"], rows))


def asset_fields(a: AssetSpec) -> list[tuple[str, object]]:
    """The rows of ``arco assets show``."""
    retry = a.retry
    return [
        ("key", a.key),
        ("description", a.description),
        ("entry_point", a.entry_point),
        ("deps", ", ".join(a.deps) or None),
        ("partitions", describe_partitions(a.partitions)),
        ("group", a.group),
        ("owners", ", ".join(a.owners) or None),
        ("tags", a.tags or None),
        ("code_version", a.code_version),
        (
            "retry",
            f"{retry.max_attempts} attempt(s), backoff {retry.backoff_s}s x{retry.factor} "
            f"(max {retry.max_backoff_s}s, jitter {retry.jitter})",
        ),
        ("timeout_s", a.timeout_s),
        ("resources", ", ".join(a.resources) or None),
    ]


def _param(value: object) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


@assets_app.command("show")
def show_asset(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY", help="Asset key: namespace/name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one asset of the current deployment."""
    cli = current(ctx)
    pointer, manifest = _current(cli)
    found = [a for a in manifest.assets if a.key == key]
    if not found:
        fail(f"asset {key!r} is not in the current deployment ({pointer.fingerprint[:12]})")
    spec = found[0]
    if as_json:
        print_json(spec.model_dump(mode="json"))
        return
    rows = [
        (
            c.name,
            c.kind,
            ", ".join(f"{k}={_param(v)}" for k, v in sorted(c.params.items())),
            "yes" if c.blocking else "no",
        )
        for c in spec.checks
    ]
    cli.show(fields(f"asset {spec.key}", asset_fields(spec)))
    if rows:
        cli.show(table("checks", ["name", "kind", "params", "blocking"], rows))


@assets_app.command("status")
def asset_status(
    ctx: typer.Context,
    keys: Annotated[
        list[str] | None,
        typer.Argument(metavar="[ASSET]...", help="Only these assets (namespace/name)."),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help=f"Only partitions in this status ({', '.join(STATUSES)})."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The status of each partition of the deployed assets: missing, materialized, stale
    (and why) or failed (its last task failed after its newest materialization)."""
    cli = current(ctx)
    if status is not None and status not in STATUSES:
        fail(f"--status: must be one of {', '.join(STATUSES)} (got {status!r})")
    wanted: Status | None = status
    if cli.remote:
        items = cli.client.asset_status(keys or None, status=wanted)
    else:
        scope = Scope(cli.tenant, cli.workspace)
        root = open_store(cli.store_url)
        with (
            Executions(root, scope, fold="inline") as executions,
            Runs(root, scope, fold="inline") as runs,
        ):
            items = workspace_statuses(
                ScopedStore(root, scope.prefix),
                executions.state(),
                runs.state(),
                now_ms=SYSTEM_CLOCK.now_ms(),
                assets=keys or None,
                status=wanted,
            )
    if as_json:
        print_json([s.model_dump(mode="json") for s in items])
        return
    cli.show(
        table(
            "partition status",
            ["asset", "partition", "status", "materialized", "reason"],
            [_status_row(s) for s in items],
        )
    )


def _status_row(s: PartitionStatus) -> tuple[object, ...]:
    at = None if s.materialized_at is None else rfc3339_ms(s.materialized_at)
    return (s.asset_key, s.partition_key or None, s.status, at, s.reason)
