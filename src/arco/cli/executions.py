"""``arco compact`` and ``arco materializations ...``: the tier-2 executions domain."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from arco.cli.context import (
    CliContext,
    JsonFlag,
    LimitOpt,
    PageTokenOpt,
    current,
    fail,
    fields,
    print_json,
    print_listing,
)
from arco.core.clock import rfc3339_ms
from arco.core.paging import Page
from arco.core.scope import Scope
from arco.domains.registry import EVENTS, TIER2
from arco.executions import Materialization
from arco.storage import ScopedStore, open_store
from arco.tier2.compactor import CompactionResult, Compactor, CompactorOptions
from arco.tier2.ingestor import FoldMode, Ingestor, UnknownEvents

app = typer.Typer(
    name="materializations",
    help="Materializations folded from execution events.",
    no_args_is_help=True,
)


def check_domain(domain: str) -> None:
    if domain not in TIER2:
        fail(
            f"--domain: {domain!r} is not a tier-2 domain "
            f"(tier-2 domains: {', '.join(sorted(TIER2))})"
        )


def tier2_ingestor(
    cli: CliContext, domain: str, unknown: UnknownEvents = "reject", fold: FoldMode = "inline"
) -> Ingestor:
    """An ingestor (and its compactor) of a tier-2 domain other than ``executions``, on the
    store (``--store`` only; checkpoints inline, so the process never exits mid-way)."""
    scope = Scope(cli.tenant, cli.workspace)
    store = ScopedStore(open_store(cli.store_url), scope.prefix)
    options = CompactorOptions(background_checkpoints=False)
    compactor: Compactor[Any] = Compactor(store, EVENTS[domain], options=options)
    return Ingestor(store, EVENTS[domain], unknown=unknown, fold=fold, compactor=compactor)


def _summary(result: CompactionResult) -> str:
    if not result.folded and not result.pruned:
        return "nothing to fold"
    parts = [f"{n} {outcome}" for outcome, n in sorted(result.outcomes.items())]
    if result.pruned:
        parts.append(f"{result.pruned} forgotten")
    versions = result.versions
    at = (
        f"version {versions[-1]}"
        if len(versions) == 1
        else f"versions {versions[0]}..{versions[-1]}"
    )
    return f"folded {result.folded} ledger objects ({', '.join(parts)}) into {at}"


def compact(
    ctx: typer.Context,
    domain: Annotated[str, typer.Option("--domain", help="Tier-2 domain.")] = "executions",
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep folding every --interval seconds until Ctrl-C.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between passes with --watch.")
    ] = 2.0,
    as_json: JsonFlag = False,
) -> None:
    """Fold every ledger event not yet folded (anti-entropy pass), once or continuously.

    With ``--watch --json`` each pass prints one JSON object per line. SIGINT or SIGTERM
    ends the watch after the running pass.
    """
    cli = current(ctx)
    check_domain(domain)
    ingestor: Ingestor | None = None
    if domain == "executions":
        compactor = cli.executions().compactor
    else:
        ingestor = tier2_ingestor(cli, domain)
        compactor = ingestor.compactor
    try:
        _compact(cli, compactor, watch, interval, as_json)
    finally:
        if ingestor is not None:
            ingestor.close()


def _compact(
    cli: CliContext, compactor: Compactor[Any], watch: bool, interval: float, as_json: bool
) -> None:
    if not watch:
        result = compactor.anti_entropy()
        if as_json:
            print_json(result.to_json())
        else:
            cli.say(_summary(result))
        return
    stop = threading.Event()

    def report(result: CompactionResult) -> None:
        if as_json:  # one JSON object per line and pass
            typer.echo(json.dumps({"at": rfc3339_ms(int(time.time() * 1000)), **result.to_json()}))
        elif result.folded or result.pruned:
            cli.say(_summary(result))

    with _stop_on_signals(stop):
        compactor.watch(interval, stop, on_pass=report)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop``: the running pass finishes, then the command exits 0."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _cli(ctx: typer.Context) -> CliContext:
    return current(ctx)


@app.command("list")
def list_(
    ctx: typer.Context,
    asset: Annotated[
        str | None, typer.Option("--asset", metavar="NS/NAME", help="Only this asset.")
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", metavar="RUN_ID", help="Only this run.")
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="Only this status: started, succeeded or failed.")
    ] = None,
    limit: LimitOpt = 100,
    page_token: PageTokenOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """List materializations, newest event first."""
    cli = _cli(ctx)
    executions = cli.executions()

    def fetch(token: str | None) -> Page[Materialization]:
        return executions.list_materializations(
            asset_key=asset, run_id=run, status=status, page_token=token, limit=limit
        )

    def row(m: Materialization) -> tuple[object, ...]:
        return (
            m.asset_key,
            m.partition_key or "",
            m.run_id,
            m.status,
            m.rows,
            m.bytes,
            m.completed_at or m.started_at or m.occurred_at,
            m.materialization_id,
        )

    print_listing(
        cli,
        fetch,
        page_token,
        as_json,
        ["asset", "partition", "run", "status", "rows", "bytes", "at", "materialization_id"],
        row,
    )


@app.command("show")
def show(
    ctx: typer.Context,
    materialization_id: Annotated[str, typer.Argument(metavar="MATERIALIZATION_ID")],
    as_json: JsonFlag = False,
) -> None:
    """Show one materialization."""
    cli = _cli(ctx)
    m = cli.executions().get_materialization(materialization_id)
    if as_json:
        print_json(m)
        return
    cli.show(fields(m.materialization_id, m.model_dump().items()))
