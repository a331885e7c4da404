"""The ``arco`` command line (Typer + Rich)."""

import contextlib
import os
import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Annotated

import typer

from arco.cli import (
    automation,
    deploy,
    events,
    executions,
    gc,
    lineage,
    maintenance,
    namespaces,
    runs,
    search,
    serve,
    tables,
    worker,
)
from arco.cli.context import STORE_ONLY_COMMANDS, ArcoGroup, CliContext, fail

__all__ = ["app", "main"]

app = typer.Typer(
    name="arco",
    cls=ArcoGroup,
    help="Arco: a file-native lakehouse catalog on object storage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(namespaces.app, name="ns")
app.add_typer(tables.app, name="table")
app.command("query")(maintenance.query)
app.command("verify")(maintenance.verify)
app.add_typer(maintenance.bench_app, name="bench")
app.add_typer(events.app, name="events")
app.command("compact")(executions.compact)
app.add_typer(executions.app, name="materializations")
app.command("gc")(gc.gc)
app.add_typer(lineage.app, name="lineage")
app.command("search")(search.search)
app.command("serve")(serve.serve)
app.command("deploy")(deploy.deploy_command)
app.add_typer(deploy.assets_app, name="assets")
app.command("worker")(worker.worker)
app.command("dev")(runs.dev)
app.command("run")(runs.run)
app.add_typer(runs.runs_app, name="runs")
app.add_typer(automation.automation_app, name="automation")
app.add_typer(automation.schedules_app, name="schedules")
app.add_typer(automation.sensors_app, name="sensors")
app.add_typer(automation.backfills_app, name="backfills")


def _version() -> str:
    try:
        return package_version("arco")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"arco {_version()}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    store: Annotated[
        str,
        typer.Option(
            "--store",
            envvar="ARCO_STORE",
            metavar="URL",
            help="Store URL: file://./dir, file:///abs/dir, s3://bucket/prefix, memory://name.",
        ),
    ] = "file://./.arco",
    tenant: Annotated[str, typer.Option(envvar="ARCO_TENANT", help="Tenant.")] = "default",
    workspace: Annotated[str, typer.Option(envvar="ARCO_WORKSPACE", help="Workspace.")] = "default",
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="ARCO_URL",
            metavar="URL",
            help="Talk to an Arco server (http://host:8181) instead of a store; the bearer "
            "token comes from $ARCO_TOKEN (see --token-env).",
        ),
    ] = None,
    token_env: Annotated[
        str,
        typer.Option(
            "--token-env",
            metavar="NAME",
            help="Environment variable holding the bearer token for --url.",
        ),
    ] = "ARCO_TOKEN",
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Arco: a file-native lakehouse catalog on object storage."""
    if url:
        command = ctx.invoked_subcommand
        if command in STORE_ONLY_COMMANDS:
            fail(f"{command} works on a store, not with --url")
        token = os.environ.get(token_env) or None
        ctx.obj = CliContext(store, tenant, workspace, url=url, token=token)
    else:
        ctx.obj = CliContext(store, tenant, workspace)


def main() -> None:
    """Entry point of the ``arco`` script.

    The process ends with ``os._exit`` once the command has finished (the catalog is closed
    by then): pyarrow's native threads can abort the interpreter's final teardown at random
    (``terminate called without an active exception``, status 134), which would turn a
    successful command into a failure.
    """
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    else:  # pragma: no cover - app() always raises SystemExit in standalone mode
        code = 0
    if isinstance(code, str):
        sys.stderr.write(f"{code}\n")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code or 0)
