"""``arco verify``, ``arco query`` and ``arco bench ...``."""

import csv
import importlib.util
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from arco.cli.context import CliContext, JsonFlag, current, fail, jsonable, print_json, table

bench_app = typer.Typer(name="bench", help="Benchmarks.", no_args_is_help=True)

#: what ``arco bench catalog`` and ``arco bench iceberg`` compare against (pyiceberg's
#: SqlCatalog on SQLite): not a dependency of Arco, but of its ``bench`` extra
CATALOG_PEER_MODULES = ("sqlalchemy",)


def verify(
    ctx: typer.Context,
    as_json: JsonFlag = False,
    lag_bound: Annotated[
        int | None,
        typer.Option(
            "--lag-bound",
            min=0,
            metavar="SECONDS",
            help="Flag tier-2 events not compacted after this long (default: 300).",
        ),
    ] = None,
) -> None:
    """Check the scope's stored metadata for consistency; exit 1 on any finding."""
    from arco.maintenance.verify import verify_scope

    cli = current(ctx)
    store = cli.catalog.store
    extra: dict[str, Any] = {} if lag_bound is None else {"lag_bound_s": lag_bound}
    with cli.err_console.status("verifying ...") as status:
        report = verify_scope(
            store, progress=lambda what: status.update(f"verifying {what}"), **extra
        )
    findings = list(report.findings)
    for w in report.warnings:
        typer.echo(f"warning: {w.domain}: {w.code}: {w.message}", err=True)
    if as_json:
        print_json(report.to_json())
    else:
        checked = ", ".join(f"{k}={v}" for k, v in report.checked.items()) or "nothing"
        cli.say(f"checked: {checked}")
        if findings:
            rows = [(f.domain, f.code, f.key, f.message) for f in findings]
            cli.show(table("findings", ["domain", "code", "key", "message"], rows))
        else:
            cli.say("ok: no findings")
    if findings or not report.ok:
        fail(f"verify: {len(findings)} finding(s)")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(jsonable(value))
    converted = jsonable(value)
    return converted if isinstance(converted, str) else str(value)


def query(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(metavar="SQL", help="A read-only SQL statement.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as a JSON array.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print rows as CSV.")] = False,
) -> None:
    """Run SQL (DuckDB) over the catalog's Parquet, e.g. SELECT * FROM info.tables."""
    if as_json and as_csv:
        raise typer.BadParameter("--json and --csv are mutually exclusive")
    cli = current(ctx)
    if cli.remote:
        from arco.client import was_truncated

        result = cli.client.query(sql)  # Arrow IPC from the server's query endpoint
        if was_truncated(result):
            typer.echo(
                f"warning: the server's limits cut the result to {len(result)} rows", err=True
            )
    else:
        from arco.query.views import run_query

        result = run_query(cli.local_catalog, sql)
    names = [str(n) for n in result.column_names]
    rows: list[dict[str, Any]] = result.to_pylist()
    if as_json:
        print_json(rows)
    elif as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow([_cell(row[n]) for n in names])
        typer.echo(buffer.getvalue(), nl=False)
    else:
        cli.show(table(None, names, ([_cell(row[n]) or None for n in names] for row in rows)))
        cli.say(f"{len(rows)} row(s)")


def _flatten(prefix: str, value: Any, out: list[tuple[str, object]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out.append((prefix, json.dumps(jsonable(value)) if isinstance(value, list) else value))


BenchJson = Annotated[
    Path | None,
    typer.Option("--json", metavar="FILE", help="Also write the results to FILE as JSON."),
]


def _show_results(
    cli: CliContext, title: str, results: dict[str, Any], json_path: Path | None
) -> None:
    """A benchmark's figures as one table, and where its JSON went."""
    figures: list[tuple[str, object]] = []
    _flatten("", results, figures)
    cli.show(table(title, ["figure", "value"], figures))
    if json_path is not None:
        cli.say(f"results written to {json_path}")


def _importable(name: str) -> bool:
    """True when ``import name`` can find the module (without importing it)."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _require_peers(command: str, modules: tuple[str, ...]) -> None:
    """Fail at once, before any benchmarking, when the ``bench`` extra is not installed."""
    if not all(_importable(name) for name in modules):
        fail(f"{command} needs the benchmark peers: pip install 'arco[bench]'")


@bench_app.command("catalog")
def bench_catalog(
    ctx: typer.Context,
    json_path: BenchJson = None,
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes, a few seconds.")] = False,
    s3: Annotated[
        bool, typer.Option("--s3/--no-s3", help="Include the loopback S3 (moto) runs.")
    ] = True,
) -> None:
    """Benchmark catalog reads and writes and print the figures."""
    _require_peers("arco bench catalog", CATALOG_PEER_MODULES)
    from arco.bench.catalog import run_catalog_bench  # type: ignore[import-not-found,unused-ignore]

    cli = current(ctx)
    results = run_catalog_bench(json_path, quick=quick, s3=s3, console=cli.console)
    _show_results(cli, "catalog benchmark", results, json_path)


@bench_app.command("ingest")
def bench_ingest(
    ctx: typer.Context,
    json_path: BenchJson = None,
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes, under 20 s.")] = False,
    s3: Annotated[
        bool | None,
        typer.Option(
            "--s3/--no-s3", help="Include the loopback S3 (moto) runs (default: not with --quick)."
        ),
    ] = None,
) -> None:
    """Benchmark the tier-2 event path (append, compaction, visibility lag) and print the figures."""
    from arco.bench.ingest import run_ingest_bench  # type: ignore[import-not-found,unused-ignore]

    cli = current(ctx)
    results = run_ingest_bench(json_path, quick=quick, s3=s3, console=cli.console)
    _show_results(cli, "ingest benchmark", results, json_path)


@bench_app.command("api")
def bench_api(
    ctx: typer.Context,
    json_path: BenchJson = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="50 tables, short windows, under 30 s.")
    ] = False,
    clients: Annotated[
        int, typer.Option("--clients", min=1, max=256, help="Concurrent clients (threads).")
    ] = 16,
) -> None:
    """Benchmark the REST API on loopback against the library and DuckDB; print the figures."""
    from arco.bench.api import run_api_bench  # type: ignore[import-not-found,unused-ignore]

    cli = current(ctx)
    results = run_api_bench(json_path, quick=quick, clients=clients, console=cli.console)
    _show_results(cli, "api benchmark", results, json_path)


@bench_app.command("iceberg")
def bench_iceberg(
    ctx: typer.Context,
    json_path: BenchJson = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Few samples, short windows, under a minute.")
    ] = False,
) -> None:
    """Benchmark the Iceberg REST endpoint against pyiceberg's SqlCatalog on SQLite.

    Exits 1 when a check of the acknowledged appends failed.
    """
    _require_peers("arco bench iceberg", CATALOG_PEER_MODULES)
    from arco.bench.iceberg import run_iceberg_bench, summary  # type: ignore[import-not-found,unused-ignore]

    cli = current(ctx)
    results = run_iceberg_bench(json_path, quick=quick, console=cli.console)
    _show_results(cli, "iceberg benchmark", summary(results), json_path)
    if not results["ok"]:
        fail(f"iceberg: {'; '.join(results['failures'])}")


@bench_app.command("orchestration")
def bench_orchestration(
    ctx: typer.Context,
    json_path: BenchJson = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="1,000 assets only, a few seconds.")
    ] = False,
) -> None:
    """Benchmark the planner on layered graphs of 1,000 and 10,000 assets (and Dagster's,
    when it is installed); print the figures."""
    from arco.bench.orchestration import run_orchestration_bench, summary  # type: ignore[import-not-found,unused-ignore]

    cli = current(ctx)
    results = run_orchestration_bench(json_path, quick=quick, console=cli.console)
    _show_results(cli, "orchestration benchmark", summary(results), json_path)


@bench_app.command("soak")
def bench_soak(
    ctx: typer.Context,
    json_path: BenchJson = None,
    duration: Annotated[
        int,
        typer.Option("--duration", min=1, metavar="SECONDS", help="How long the load runs."),
    ] = 60,
    clients: Annotated[int, typer.Option("--clients", min=1, max=64, help="Client processes.")] = 4,
    rate: Annotated[
        float,
        typer.Option("--rate", min=0.0, help="Requests/s of each client (0: as fast as answered)."),
    ] = 5.0,
    materialization_pool: Annotated[
        int,
        typer.Option(
            "--materialization-pool",
            min=0,
            metavar="N",
            help="Events of each client reuse N materialization ids, so the data stops "
            "growing (0: every event a new materialization).",
        ),
    ] = 0,
) -> None:
    """Run a server under a steady mixed load; check it stays correct, flat and clean.

    Exits 1 on any 5xx, unanswered request, verify finding or missing acknowledged write.
    """
    from arco.bench.soak import run_soak_bench, summary  # type: ignore[import-not-found,unused-ignore]

    cli = current(ctx)
    results = run_soak_bench(
        json_path,
        duration_s=duration,
        clients=clients,
        rate_per_client=rate,
        materialization_pool=materialization_pool,
        console=cli.console,
    )
    _show_results(cli, "soak benchmark", summary(results), json_path)
    if not results["ok"]:
        fail(f"soak: {'; '.join(results['failures'])}")
