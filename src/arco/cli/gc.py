"""``arco gc``: delete unreferenced snapshots, orphan commits, compacted ledger events past
retention, expired quarantine copies, unreferenced Iceberg metadata, the logs of runs that
ended long ago and superseded or failed asset output files."""

from __future__ import annotations

from typing import Annotated

import typer

from arco.cli.context import JsonFlag, current, print_json, table
from arco.core.scope import Scope
from arco.storage import ScopedStore, open_store


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def gc(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be deleted; delete nothing.")
    ] = False,
    as_json: JsonFlag = False,
    keep_versions: Annotated[
        int,
        typer.Option(
            "--keep-versions", min=1, metavar="N", help="Never delete what the last N versions use."
        ),
    ] = 10,
    min_age: Annotated[
        int,
        typer.Option(
            "--min-age", min=0, metavar="SECONDS", help="Never delete anything younger than this."
        ),
    ] = 3600,
    ledger_retention: Annotated[
        int,
        typer.Option(
            "--ledger-retention",
            min=0,
            metavar="SECONDS",
            help="Keep compacted ledger events this long (default: 7 days).",
        ),
    ] = 7 * 86400,
    quarantine_retention: Annotated[
        int | None,
        typer.Option(
            "--quarantine-retention",
            min=0,
            metavar="SECONDS",
            help="Keep quarantined events this long (default: the ledger retention).",
        ),
    ] = None,
    iceberg_retention: Annotated[
        int,
        typer.Option(
            "--iceberg-retention",
            min=0,
            metavar="SECONDS",
            help="Keep unreferenced Iceberg metadata files, orphaned pointers and "
            "transaction decisions this long (default: 7 days).",
        ),
    ] = 7 * 86400,
    logs_retention: Annotated[
        int,
        typer.Option(
            "--logs-retention",
            min=0,
            metavar="SECONDS",
            help="Keep the attempt logs of a run this long after it ended (default: 30 days).",
        ),
    ] = 30 * 86400,
    output_retention: Annotated[
        int,
        typer.Option(
            "--output-retention",
            min=0,
            metavar="SECONDS",
            help="Keep an asset output file this long after a newer materialization of its "
            "partition replaced it, or after its failed attempt's run ended (default: 7 days).",
        ),
    ] = 7 * 86400,
) -> None:
    """Delete what no kept version references (crashed attempts, old snapshots, old events).

    Covers the catalog and lineage domains, the executions domain (tier 2), whose ledger
    events are deleted only once compacted and past the ledger retention, and Iceberg
    metadata: metadata files no pointer keeps (current, metadata log, pending, recent) and
    pointers no catalog row references, past the Iceberg retention (data files never).
    Covers the runs domain like executions (its run_key records are kept), and
    orchestration's files: the logs of runs that ended more than the logs retention ago,
    and asset output files that a newer materialization of their partition replaced, or
    whose attempt failed, more than the output retention ago (never a partition's current
    file, nor one a run still going may read).
    """
    from arco.maintenance.gc import REASONS, collect_garbage

    cli = current(ctx)
    store = ScopedStore(open_store(cli.store_url), Scope(cli.tenant, cli.workspace).prefix)
    with cli.err_console.status("gc: planning ...") as status:
        report = collect_garbage(
            store,
            keep_versions=keep_versions,
            min_age_s=min_age,
            ledger_retention_s=ledger_retention,
            quarantine_retention_s=quarantine_retention,
            iceberg_retention_s=iceberg_retention,
            logs_retention_s=logs_retention,
            output_retention_s=output_retention,
            dry_run=dry_run,
            progress=lambda what: status.update(f"gc: {what}"),
        )
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        print_json(report.to_json())
        return
    summary = report.summary()
    rows = [
        (reason, summary[reason]["count"], _size(summary[reason]["bytes"]))
        for reason in REASONS
        if reason in summary
    ]
    verb = "would delete" if dry_run else "deleted"
    total = sum(item.bytes for item in report.deleted)
    if rows:
        cli.show(table(f"{verb} (by reason)", ["reason", "objects", "bytes"], rows))
    cli.say(f"{verb} {len(report.deleted)} object(s), {_size(total)}")
    kept = ", ".join(f"{k}={v}" for k, v in sorted(report.kept.items())) or "nothing"
    cli.say(f"kept: {kept}")
