"""``arco automation run`` and ``arco schedules|sensors|backfills ...`` (ADR 017): run the
automation controller of a workspace, and read and steer its schedules, sensors and
backfills. They work on the store (``--store``)."""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated, Any

import typer

from arco.cli.context import CliContext, JsonFlag, current, fail, fields, print_json, table
from arco.cli.runs import (
    HeartbeatOpt,
    LeaseOpt,
    controller_options,
    store_of,
    workspace_scope,
)
from arco.core.clock import SYSTEM_CLOCK, rfc3339_ms
from arco.errors import ArcoError
from arco.orchestration.automation import (
    Automation,
)
from arco.orchestration.automation.controller import AutomationOptions
from arco.orchestration.automation.operations import (
    BackfillAction,
    control_backfill,
    create_backfill,
    push_message,
    schedule_infos,
    sensor_infos,
    set_status,
)
from arco.orchestration.automation.service import AutomationService
from arco.orchestration.deploy import current as current_deployment
from arco.orchestration.engine import Orchestrator
from arco.orchestration.manifest import DefinitionsManifest
from arco.storage import open_store

automation_app = typer.Typer(
    name="automation", help="Run the automation controller of a workspace.", no_args_is_help=True
)
schedules_app = typer.Typer(
    name="schedules", help="Cron schedules: list, ticks, pause, resume.", no_args_is_help=True
)
sensors_app = typer.Typer(
    name="sensors", help="Sensors: list, pause, resume, push a message.", no_args_is_help=True
)
backfills_app = typer.Typer(
    name="backfills",
    help="Backfills: create, list, show, pause, resume, cancel, retry.",
    no_args_is_help=True,
)


def _automation(cli: CliContext) -> Automation:
    if cli.remote:
        fail("this command works on the store: give --store (not --url)")
    return Automation(open_store(cli.store_url), workspace_scope(cli), fold="inline")


def _manifest(cli: CliContext) -> DefinitionsManifest:
    found = current_deployment(store_of(cli))
    if found is None:
        fail(
            f"nothing is deployed to tenant {cli.tenant!r}, workspace {cli.workspace!r} "
            "(run: arco deploy PATH)"
        )
    return found[1]


def _times(item: dict[str, Any]) -> dict[str, Any]:
    """``*_at`` fields (ms) as RFC 3339 text."""
    return {
        k: rfc3339_ms(v) if k.endswith("_at") and isinstance(v, int) else v for k, v in item.items()
    }


# --- automation run ---------------------------------------------------------------------------


@automation_app.command("run")
def run_automation(
    ctx: typer.Context,
    executor: Annotated[
        str,
        typer.Option(help="Where the runs it triggers execute: inprocess, pool, dask://H:P."),
    ] = "pool",
    code: Annotated[
        str | None,
        typer.Option(help="The code location (default: the current deployment's)."),
    ] = None,
    heartbeat_timeout: HeartbeatOpt = 60.0,
    lease_timeout: LeaseOpt = 15.0,
) -> None:
    """Run the automation controller (schedules, sensors, backfills, conditions) and the
    runs it triggers until interrupted. Several may run: one acts, the others stand by."""
    cli = current(ctx)
    if cli.remote:
        fail("automation run works on the store: give --store (not --url)")
    found = current_deployment(store_of(cli))
    location = code if code is not None else (found[0].code_location if found else None)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with (
        Orchestrator(
            cli.store_url,
            workspace_scope(cli),
            executor=executor,
            code_location=location,
            options=controller_options(heartbeat_timeout, lease_timeout),
        ) as orch,
        AutomationService(
            orch,
            options=AutomationOptions(
                lease_ms=int(lease_timeout * 1000), idle_wait_s=min(1.0, lease_timeout / 4)
            ),
        ) as service,
    ):
        orch.start()
        service.start()
        cli.say(f"automation of {cli.tenant}/{cli.workspace} running (executor {executor})")
        leading: bool | None = None
        while not stop.wait(0.5):
            now = service.controller.holds_lease
            if now != leading:
                cli.say("acting (holds the automation lease)" if now else "standing by")
                leading = now
    cli.say("stopped")


# --- schedules --------------------------------------------------------------------------------


@schedules_app.command("list")
def list_schedules(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The schedules of the current deployment: status, last tick, next tick."""
    cli = current(ctx)
    manifest = _manifest(cli)
    with _automation(cli) as automation:
        items = schedule_infos(manifest, automation.state(), SYSTEM_CLOCK.now_ms())
    if as_json:
        print_json([_times(i.model_dump(mode="json")) for i in items])
        return
    keys = [
        "name",
        "cron",
        "timezone",
        "status",
        "last_tick_at",
        "last_tick_status",
        "next_tick_at",
    ]
    rows = [[_times(i.model_dump())[k] for k in keys] for i in items]
    cli.show(table("schedules", keys, rows))


@schedules_app.command("ticks")
def schedule_ticks(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The schedule.")],
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """A schedule's ticks, newest first: requested (with the runs), skipped, failed."""
    cli = current(ctx)
    with _automation(cli) as automation:
        ticks = automation.ticks(name, limit)
    if as_json:
        print_json([t.model_dump(mode="json") for t in ticks])
        return
    rows = [
        (t.instant, t.status, ", ".join(t.run_ids) or None, t.skipped_count or None, t.reason)
        for t in ticks
    ]
    cli.show(table(f"ticks of {name}", ["instant", "status", "runs", "skipped", "reason"], rows))


def _set_status(ctx: typer.Context, kind: str, name: str, status: str) -> None:
    cli = current(ctx)
    manifest = _manifest(cli)
    try:
        with _automation(cli) as automation:
            set_status(automation, manifest, kind, name, status)  # type: ignore[arg-type]
    except ArcoError as exc:
        fail(exc.message)
    cli.say(f"{kind} {name} {status}")


@schedules_app.command("pause")
def pause_schedule(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Stop a schedule's ticks (ticks while paused are never run)."""
    _set_status(ctx, "schedule", name, "paused")


@schedules_app.command("resume")
def resume_schedule(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Start a paused schedule again, from now."""
    _set_status(ctx, "schedule", name, "running")


# --- sensors ----------------------------------------------------------------------------------


@sensors_app.command("list")
def list_sensors(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The sensors of the current deployment: kind, status, cursor, last evaluation, error."""
    cli = current(ctx)
    manifest = _manifest(cli)
    with _automation(cli) as automation:
        items = sensor_infos(manifest, automation.state())
    if as_json:
        print_json([_times(i.model_dump(mode="json")) for i in items])
        return
    keys = ["name", "kind", "status", "cursor", "last_evaluated_at", "last_error"]
    cli.show(table("sensors", keys, [[_times(i.model_dump())[k] for k in keys] for i in items]))


@sensors_app.command("pause")
def pause_sensor(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Stop evaluating a sensor."""
    _set_status(ctx, "sensor", name, "paused")


@sensors_app.command("resume")
def resume_sensor(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Evaluate a paused sensor again."""
    _set_status(ctx, "sensor", name, "running")


@sensors_app.command("push")
def push_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A push sensor.")],
    message_id: Annotated[
        str, typer.Option("--message-id", help="Its id: a message pushed twice runs once.")
    ],
    payload: Annotated[
        str | None, typer.Option(help="A JSON object kept with the message.")
    ] = None,
) -> None:
    """Push a message to a push sensor: one run of its target per message id."""
    cli = current(ctx)
    manifest = _manifest(cli)
    try:
        body = {} if payload is None else json.loads(payload)
    except ValueError as exc:
        fail(f"--payload: must be a JSON object ({exc})")
    if not isinstance(body, dict):
        fail("--payload: must be a JSON object")
    try:
        with _automation(cli) as automation:
            push_message(automation, manifest, name, message_id, body)
    except ArcoError as exc:
        fail(exc.message)
    cli.say(f"pushed {message_id} to {name}")


# --- backfills --------------------------------------------------------------------------------


@backfills_app.command("create")
def create_backfill_command(
    ctx: typer.Context,
    assets: Annotated[list[str], typer.Argument(metavar="ASSET...", help="namespace/name")],
    partition: Annotated[
        list[str] | None, typer.Option("--partition", "-p", help="A partition; repeatable.")
    ] = None,
    first: Annotated[
        str | None, typer.Option("--from", help="The first partition of a range.")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="The last partition (inclusive).")
    ] = None,
    chunk_size: Annotated[int, typer.Option(min=1, max=10_000)] = 1,
    max_in_flight: Annotated[int, typer.Option(min=1, max=1_000)] = 1,
    backfill_id: Annotated[str | None, typer.Option("--id", help="Default: a new id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Backfill partitions of assets: split into chunks of --chunk-size partitions, at most
    --max-in-flight runs at once; the automation controller launches them."""
    cli = current(ctx)
    manifest = _manifest(cli)
    try:
        with _automation(cli) as automation:
            backfill = create_backfill(
                automation,
                manifest,
                assets,
                partitions=partition,
                first=first,
                last=last,
                chunk_size=chunk_size,
                max_in_flight=max_in_flight,
                backfill_id=backfill_id,
            )
    except ArcoError as exc:
        fail(exc.message)
    if as_json:
        print_json(backfill.model_dump(mode="json"))
        return
    cli.say(
        f"backfill {backfill.backfill_id}: {backfill.partition_count} partition(s) in {backfill.chunk_count} "
        f"chunk(s), at most {max_in_flight} run(s) at once"
    )


def _progress(done: int, total: int, width: int = 20) -> str:
    filled = 0 if total == 0 else round(width * done / total)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


@backfills_app.command("list")
def list_backfills(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="Only backfills in this state.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Backfills, newest first, with their progress."""
    cli = current(ctx)
    with _automation(cli) as automation:
        items = automation.list_backfills(state=state)
    if as_json:
        print_json([b.model_dump(mode="json") for b in items])
        return
    rows = [
        (
            b.backfill_id,
            b.state,
            ", ".join(b.assets),
            _progress(b.succeeded + b.failed + b.cancelled, b.chunk_count),
            b.failed or None,
            b.created_at,
        )
        for b in items
    ]
    cli.show(table("backfills", ["id", "state", "assets", "chunks", "failed", "created"], rows))


@backfills_app.command("show")
def show_backfill(
    ctx: typer.Context, backfill_id: Annotated[str, typer.Argument()], as_json: JsonFlag = False
) -> None:
    """One backfill and its chunks."""
    cli = current(ctx)
    with _automation(cli) as automation:
        backfill = automation.get_backfill(backfill_id)
    if as_json:
        print_json(backfill.model_dump(mode="json"))
        return
    chunks = backfill.chunks or []
    cli.show(
        fields(
            f"backfill {backfill_id}",
            [
                ("state", backfill.state),
                ("assets", ", ".join(backfill.assets)),
                ("progress", _progress(sum(c.state in _ENDED for c in chunks), len(chunks))),
                ("max_in_flight", backfill.max_in_flight),
                ("reason", backfill.reason),
            ],
        )
    )
    rows = [
        (c.index, ", ".join(c.partitions), c.state, c.try_number, c.run_id, c.error) for c in chunks
    ]
    cli.show(table("chunks", ["chunk", "partitions", "state", "try", "run", "error"], rows))


_ENDED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


def _control(ctx: typer.Context, backfill_id: str, action: BackfillAction) -> None:
    cli = current(ctx)
    try:
        with _automation(cli) as automation:
            after = control_backfill(automation, backfill_id, action)
    except ArcoError as exc:
        fail(exc.message)
    cli.say(f"backfill {backfill_id}: {after.state}")


@backfills_app.command("pause")
def pause_backfill(ctx: typer.Context, backfill_id: Annotated[str, typer.Argument()]) -> None:
    """Launch no more chunks (those running finish)."""
    _control(ctx, backfill_id, "pause")


@backfills_app.command("resume")
def resume_backfill(ctx: typer.Context, backfill_id: Annotated[str, typer.Argument()]) -> None:
    """Launch chunks again."""
    _control(ctx, backfill_id, "resume")


@backfills_app.command("cancel")
def cancel_backfill(ctx: typer.Context, backfill_id: Annotated[str, typer.Argument()]) -> None:
    """Launch no more chunks and cancel the runs in flight; the backfill ends CANCELLED."""
    _control(ctx, backfill_id, "cancel")


@backfills_app.command("retry")
def retry_backfill(ctx: typer.Context, backfill_id: Annotated[str, typer.Argument()]) -> None:
    """Run the failed chunks of a FAILED backfill again (a new try of each)."""
    _control(ctx, backfill_id, "retry")
