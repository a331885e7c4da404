"""``arco dev``, ``arco run`` and ``arco runs list|show|cancel|logs|reexecute``: run asset
pipelines and read their history (ADR 015).

``arco dev PATH`` deploys PATH's definitions and runs a selection in this process with the
same semantics as a deployed run (the same ledger, state machine, tables and records),
showing progress live. ``arco run`` triggers a run of the current deployment; with
``--wait`` this process also drives it (controller and executor) to the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table as RichTable

from arco.cli.context import CliContext, JsonFlag, current, fail, fields, print_json, table
from arco.cli.deploy import code_location
from arco.core.partitions import PartitionKey
from arco.core.scope import Scope
from arco.errors import ValidationError
from arco.orchestration.controller import ControllerOptions, waiting_reason
from arco.orchestration.deploy import current as current_deployment
from arco.orchestration.deploy import deploy
from arco.orchestration.discovery import build_manifest, load_definitions
from arco.orchestration.engine import Orchestrator
from arco.orchestration.logs import render_logs
from arco.orchestration.manifest import DefinitionsManifest
from arco.orchestration.partitions import parse_partition
from arco.orchestration.runs import (
    RUN_STATES,
    RUN_TERMINAL,
    SUCCEEDED,
    TASK_STATES,
    Run,
    Runs,
    Task,
)
from arco.orchestration.trigger import RunRequest
from arco.storage import ScopedStore, open_store

runs_app = typer.Typer(
    name="runs",
    help="List, show, cancel and re-execute runs; read their logs.",
    no_args_is_help=True,
)

SelectionArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="SELECTION...",
        help="Assets to run: ns/name, +ns/name (with upstream), ns/name+ (with downstream), "
        "tag:k=v, group:g or * (default: every asset).",
    ),
]
PartitionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--partition",
        "-p",
        help="A partition to run (repeatable): 2026-01-31, a canonical key, or a static value.",
    ),
]
HeartbeatOpt = Annotated[
    float,
    typer.Option(
        "--heartbeat-timeout",
        min=0.5,
        help="Seconds without a heartbeat after which an attempt is failed and retried.",
    ),
]
LeaseOpt = Annotated[
    float,
    typer.Option(
        "--lease-timeout",
        min=0.5,
        help="Seconds a dead controller's lease blocks another from taking over.",
    ),
]
ExecutorOpt = Annotated[
    str,
    typer.Option("--executor", "-e", help="inprocess, pool (all cores) or dask://HOST:PORT."),
]
MaxRunsOpt = Annotated[
    int,
    typer.Option(
        "--max-runs",
        min=1,
        help="Runs of the workspace active at once; the others wait in the queue "
        "(highest priority first, then oldest).",
    ),
]
PoolLimitOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--pool",
        metavar="NAME=N",
        help="At most N attempts at once of tasks in pool NAME (the 'pool' asset tag); repeatable.",
    ),
]


def parse_pool_limits(given: list[str] | None) -> dict[str, int]:
    """``--pool NAME=N`` options as ``{NAME: N}`` (exits with a message if malformed)."""
    limits: dict[str, int] = {}
    for text in given or ():
        name, sep, value = text.partition("=")
        name = name.strip()
        try:
            limit = int(value)
        except ValueError:
            limit = 0
        if not sep or not name or limit < 1:
            fail(f"--pool: must be NAME=N with N at least 1 (got {text!r})")
        limits[name] = limit
    return limits


def controller_options(
    heartbeat_timeout: float,
    lease_timeout: float,
    max_runs: int = ControllerOptions.max_concurrent_runs,
    pools: list[str] | None = None,
) -> ControllerOptions:
    return ControllerOptions(
        heartbeat_timeout_s=heartbeat_timeout,
        lease_ms=int(lease_timeout * 1000),
        max_concurrent_runs=max_runs,
        pool_limits=parse_pool_limits(pools),
        # several passes per lease, so that it is renewed well before it expires
        idle_wait_s=min(ControllerOptions.idle_wait_s, lease_timeout / 4),
    )


def workspace_scope(cli: CliContext) -> Scope:
    return Scope(cli.tenant, cli.workspace)


def _runs(cli: CliContext) -> Runs:
    return Runs.open(cli.store_url, workspace_scope(cli), fold="inline")


def store_of(cli: CliContext) -> ScopedStore:
    """The workspace's part of the store."""
    return ScopedStore(open_store(cli.store_url), workspace_scope(cli).prefix)


def _deployed_code(cli: CliContext) -> str | None:
    """The code location of the current deployment (None when nothing is deployed)."""
    found = current_deployment(store_of(cli))
    return found[0].code_location if found is not None else None


def _orchestrator_for(
    cli: CliContext,
    executor: str,
    code_location: str | None,
    heartbeat_timeout: float,
    lease_timeout: float,
    max_runs: int,
    pools: list[str] | None,
) -> Orchestrator:
    """The orchestrator that triggers and drives this workspace's runs of ``executor``
    from this process, with the controller options of the command line."""
    return Orchestrator(
        cli.store_url,
        workspace_scope(cli),
        executor=executor,
        code_location=code_location,
        options=controller_options(heartbeat_timeout, lease_timeout, max_runs, pools),
    )


def partition_keys_of(
    manifest: DefinitionsManifest, given: list[str] | None
) -> tuple[str, ...] | None:
    """Canonical partition keys of ``given``, read with the partitions definitions of the
    deployment's assets (a canonical key is taken as it is)."""
    if not given:
        return None
    partitioned = []
    for a in manifest.assets:
        if a.partitions is not None and a.partitions not in partitioned:
            partitioned.append(a.partitions)
    keys: list[str] = []
    for text in given:
        try:
            keys.append(PartitionKey.parse(text).canonical())
            continue
        except ValidationError:
            pass
        for spec in partitioned:
            try:
                keys.append(parse_partition(spec, text))
                break
            except ValidationError:
                continue
        else:
            fail(f"--partition: {text!r} is not a partition of the selected assets")
    return tuple(keys)


def _progress(run: Run, tasks: list[Task]) -> RichTable:
    counts = dict.fromkeys(TASK_STATES, 0)
    for t in tasks:
        counts[t.state] = counts.get(t.state, 0) + 1
    summary = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n)
    grid = RichTable(title=f"run {run.run_id}: {run.state} ({summary})", expand=False)
    for name in ("task", "state", "attempt", "error"):
        grid.add_column(name)
    shown = (
        [t for t in tasks if t.state not in ("SUCCEEDED", "BLOCKED")][:20]
        if len(tasks) > 20
        else tasks
    )
    for t in shown:
        grid.add_row(t.task_key, t.state, str(t.attempt or ""), (t.error or "")[:80])
    return grid


def _drive(cli: CliContext, orchestrator: Orchestrator, run_id: str, as_json: bool) -> Run:
    """Drive the run to its end, with a live display unless JSON was asked for."""
    if as_json or not cli.console.is_terminal:
        run = orchestrator.wait(run_id)
    else:
        with Live(console=cli.console, refresh_per_second=8, transient=False) as live:
            last = [0.0]

            def show(run: Run) -> None:
                now = time.monotonic()
                if now - last[0] > 0.1 or run.state in RUN_TERMINAL:
                    live.update(_progress(run, orchestrator.runs.tasks(run_id)))
                    last[0] = now

            run = orchestrator.wait(run_id, on_pass=show)
    return run


def _report(cli: CliContext, runs: Runs, run: Run, as_json: bool) -> None:
    tasks = runs.tasks(run.run_id)
    if as_json:
        print_json(
            {
                "run": run.model_dump(mode="json"),
                "tasks": [t.model_dump(mode="json") for t in tasks],
            }
        )
    else:
        cli.show(
            table(
                f"run {run.run_id}: {run.state}",
                ["task", "state", "attempts", "error"],
                [(t.task_key, t.state, t.attempt, t.error) for t in tasks],
            )
        )
    if run.state != SUCCEEDED:
        raise typer.Exit(1)


def _finish(
    cli: CliContext,
    orchestrator: Orchestrator,
    run_id: str,
    as_json: bool,
    triggered: Callable[[Run], str] | None = None,
) -> None:
    """Drive the run to its end and report it (exit 1 unless it succeeded); or, with a
    ``triggered`` message, say that it was triggered and leave it to another process."""
    if triggered is None:
        _report(cli, orchestrator.runs, _drive(cli, orchestrator, run_id, as_json), as_json)
        return
    found = orchestrator.runs.get_run(run_id)
    if as_json:
        print_json(found.model_dump(mode="json"))
    else:
        cli.say(triggered(found))


def dev(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(metavar="PATH", help="A folder, a .py file or a module.")],
    selection: SelectionArg = None,
    partition: PartitionOpt = None,
    executor: ExecutorOpt = "inprocess",
    heartbeat_timeout: HeartbeatOpt = 60.0,
    lease_timeout: LeaseOpt = 15.0,
    max_runs: MaxRunsOpt = ControllerOptions.max_concurrent_runs,
    pool: PoolLimitOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Deploy PATH and run a selection of its assets here, showing progress live."""
    cli = current(ctx)
    location = code_location(path)
    manifest = build_manifest(load_definitions(path))
    deployed = deploy(store_of(cli), manifest, code_location=location)
    chosen = list(selection or ["*"])
    request = RunRequest(
        selection=tuple(chosen),
        partitions=partition_keys_of(manifest, partition),
        executor=executor,
    )
    options = (heartbeat_timeout, lease_timeout, max_runs, pool)
    with _orchestrator_for(cli, executor, location, *options) as orch:
        _finish(cli, orch, orch.trigger(request, deployment=deployed.fingerprint), as_json)


def run(
    ctx: typer.Context,
    selection: SelectionArg = None,
    partition: PartitionOpt = None,
    run_key: Annotated[
        str | None,
        typer.Option(
            "--run-key",
            help="Idempotency key: the same key and "
            "request give the same run; another request with it is refused.",
        ),
    ] = None,
    executor: ExecutorOpt = "pool",
    priority: Annotated[int, typer.Option(help="Higher runs leave the queue first.")] = 0,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Drive the run here until it ends.")
    ] = False,
    code: Annotated[
        str | None,
        typer.Option(
            "--code",
            help="Where to load asset code from (default: the deployment's code location).",
        ),
    ] = None,
    heartbeat_timeout: HeartbeatOpt = 60.0,
    lease_timeout: LeaseOpt = 15.0,
    max_runs: MaxRunsOpt = ControllerOptions.max_concurrent_runs,
    pool: PoolLimitOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Trigger a run of the current deployment (and with --wait, run it here)."""
    cli = current(ctx)
    found = current_deployment(store_of(cli))
    if found is None:
        fail("nothing is deployed to this workspace (run: arco deploy PATH)")
    pointer, manifest = found
    chosen = list(selection or ["*"])
    request = RunRequest(
        selection=tuple(chosen),
        partitions=partition_keys_of(manifest, partition),
        executor=executor,
        priority=priority,
        run_key=run_key,
    )
    options = (heartbeat_timeout, lease_timeout, max_runs, pool)
    with _orchestrator_for(cli, executor, code or pointer.code_location, *options) as orch:
        run_id = orch.trigger(request, deployment=pointer.fingerprint)

        def said(new: Run) -> str:
            return f"triggered run {run_id} ({new.task_count} task(s), {new.state})"

        _finish(cli, orch, run_id, as_json, None if wait else said)


@runs_app.command("list")
def list_runs(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option(help=f"Only runs in this state ({', '.join(RUN_STATES)}).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    max_runs: MaxRunsOpt = ControllerOptions.max_concurrent_runs,
    pool: PoolLimitOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """List runs, newest first (a waiting run says why it waits: its place in the queue, a
    retry backoff, pool or executor capacity; give the controllers' --max-runs and --pool
    limits to have them named)."""
    cli = current(ctx)
    if cli.remote:
        items = cli.client.list_runs(state=state, limit=limit).items
        if as_json:
            print_json([r.model_dump(mode="json") for r in items])
            return
        rows = [
            (r.run_id, r.state, r.executor, r.task_count, r.created_at, r.reason) for r in items
        ]
        cli.show(table("runs", ["run", "state", "executor", "tasks", "created", "reason"], rows))
        return
    runs = _runs(cli)
    page = runs.list_runs(state=state, limit=limit)
    if as_json:
        print_json([r.model_dump(mode="json") for r in page.items])
        return
    now = runs.state()
    options = ControllerOptions(max_concurrent_runs=max_runs, pool_limits=parse_pool_limits(pool))
    rows = []
    for r in page.items:
        reason = r.reason
        row = now.runs.get(r.run_id)
        if r.state not in RUN_TERMINAL and row is not None:
            reason = waiting_reason(now, row, options)
        rows.append((r.run_id, r.state, r.executor, r.task_count, r.created_at, reason))
    cli.show(table("runs", ["run", "state", "executor", "tasks", "created", "reason"], rows))


@runs_app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    as_json: JsonFlag = False,
) -> None:
    """Show a run and its tasks."""
    cli = current(ctx)
    found: Run
    if cli.remote:
        detail = cli.client.get_run(run_id)
        found, tasks = Run.model_validate(detail.model_dump(exclude={"tasks"})), detail.tasks
    else:
        runs = _runs(cli)
        found = runs.get_run(run_id)
        tasks = runs.tasks(run_id)
    if as_json:
        print_json(
            {
                "run": found.model_dump(mode="json"),
                "tasks": [t.model_dump(mode="json") for t in tasks],
            }
        )
        return
    cli.show(fields(f"run {found.run_id}", list(found.model_dump().items())))
    cli.show(
        table(
            "tasks",
            ["task", "state", "attempts", "error"],
            [(t.task_key, t.state, t.attempt, t.error) for t in tasks],
        )
    )


@runs_app.command("cancel")
def cancel_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    reason: Annotated[str | None, typer.Option(help="Recorded with the request.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Cancel a run: waiting tasks are cancelled, running ones are told to stop."""
    from arco.orchestration.runs import run_cancel_requested

    cli = current(ctx)
    found: Run
    if cli.remote:
        detail = cli.client.cancel_run(run_id, reason)
        found = Run.model_validate(detail.model_dump(exclude={"tasks"}))
    else:
        runs = _runs(cli)
        found = runs.get_run(run_id)
        if found.state not in RUN_TERMINAL:
            runs.append([run_cancel_requested(run_id, reason)], fold="inline")
            found = runs.get_run(run_id)
    if as_json:
        print_json(found.model_dump(mode="json"))
        return
    cli.say(f"run {run_id}: {found.state}")


@runs_app.command("logs")
def run_logs(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="Only this task's attempts (task key).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")
    ] = False,
) -> None:
    """Print what the run's attempts printed and logged, attempt by attempt (following:
    as it comes, with a header again where the attempt changes)."""
    cli = current(ctx)
    fetch: Callable[[str | None], tuple[str, str]]
    state: Callable[[], str]
    if cli.remote:
        client = cli.client

        def fetch(after: str | None) -> tuple[str, str]:
            page = client.run_logs(run_id, task=task, after=after)
            return page, page.cursor

        def state() -> str:
            return client.get_run(run_id).state

    else:
        runs = _runs(cli)
        runs.get_run(run_id)  # NotFoundError for an unknown run
        store = store_of(cli)

        def fetch(after: str | None) -> tuple[str, str]:
            # the attempts are read before the chunks (render_logs), as the server does
            attempts = runs.attempts(run_id, task)
            page = render_logs(store, run_id, attempts, after=after, others=task is None)
            return page.text, page.cursor

        def state() -> str:
            runs.compact_periodic()  # what other processes appended
            return runs.get_run(run_id).state

    _print_logs(cli, fetch, state if follow else None)


def _print_logs(
    cli: CliContext,
    fetch: Callable[[str | None], tuple[str, str]],
    state: Callable[[], str] | None,
) -> None:
    """Print the logs ``fetch`` reads (from a cursor); with ``state``, follow them: read
    again from the last cursor every half second until the run has ended."""
    cursor: str | None = None
    ends_line = True
    while True:
        # the state before the read: once the run is seen ended, one more read has it all
        ended = state is None or state() in RUN_TERMINAL
        text, cursor = fetch(cursor)
        if text:
            cli.console.out(text, end="", highlight=False)
            ends_line = text.endswith("\n")
        if ended:
            break
        time.sleep(0.5)
    if not ends_line:
        cli.console.out("", highlight=False)


@runs_app.command("reexecute")
def reexecute(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    from_failure: Annotated[
        bool,
        typer.Option(
            "--from-failure/--all",
            help="Run only the tasks that did not succeed, reusing the others' outputs.",
        ),
    ] = True,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            "-s",
            metavar="KEY",
            help="Re-run only the run's tasks of these assets (repeatable; ns/name, "
            "ns/name+, +ns/name, tag:k=v, group:g), reusing the outputs of their upstream "
            "tasks in the run.",
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait")] = False,
    heartbeat_timeout: HeartbeatOpt = 60.0,
    lease_timeout: LeaseOpt = 15.0,
    max_runs: MaxRunsOpt = ControllerOptions.max_concurrent_runs,
    pool: PoolLimitOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a finished run again: from its failure (default), entirely, or a subset."""
    cli = current(ctx)
    parent = _runs(cli).get_run(run_id)
    options = (heartbeat_timeout, lease_timeout, max_runs, pool)
    with _orchestrator_for(cli, parent.executor, _deployed_code(cli), *options) as orch:
        new_id = orch.reexecute(run_id, from_failure=from_failure, select=select)

        def said(new: Run) -> str:
            return f"triggered run {new_id} (re-executes {run_id}; {new.task_count} task(s))"

        _finish(cli, orch, new_id, as_json, None if wait else said)


@runs_app.command("wait")
def wait_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    code: Annotated[
        str | None, typer.Option("--code", help="Where to load asset code from.")
    ] = None,
    heartbeat_timeout: HeartbeatOpt = 60.0,
    lease_timeout: LeaseOpt = 15.0,
    max_runs: MaxRunsOpt = ControllerOptions.max_concurrent_runs,
    pool: PoolLimitOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Drive a run to its end from this process (e.g. after its controller died)."""
    cli = current(ctx)
    found = _runs(cli).get_run(run_id)
    options = (heartbeat_timeout, lease_timeout, max_runs, pool)
    with _orchestrator_for(cli, found.executor, code or _deployed_code(cli), *options) as orch:
        _finish(cli, orch, run_id, as_json)
