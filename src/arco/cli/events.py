"""``arco events ...``: append JSONL events to the tier-2 ledger and list ledger entries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from arco.cli.context import CliContext, JsonFlag, current, fail, print_json, table
from arco.cli.executions import check_domain, tier2_ingestor
from arco.core.clock import SYSTEM_CLOCK
from arco.core.scope import Scope
from arco.errors import ValidationError
from arco.storage import ScopedStore, open_store
from arco.tier2.envelope import EventEnvelope, increasing_ids, parse_event
from arco.tier2.ingestor import UnknownEvents
from arco.tier2.ledger import EventLedger

app = typer.Typer(
    name="events", help="Append events to the tier-2 ledger and list them.", no_args_is_help=True
)

_BATCH_INDEX = re.compile(r"events\[(\d+)\]\.")

DomainOpt = Annotated[str, typer.Option("--domain", help="Ledger domain.")]


def _ledger(cli: CliContext, domain: str) -> EventLedger:
    scope = Scope(cli.tenant, cli.workspace)
    return EventLedger(ScopedStore(open_store(cli.store_url), scope.prefix), domain)


def _read_input(file: str) -> bytes:
    if file == "-":
        return typer.get_binary_stream("stdin").read()
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        fail(f"{file}: cannot read ({exc.strerror or exc})")


def _parse_lines(data: bytes, source: str) -> tuple[list[EventEnvelope], list[int]]:
    """Every non-blank line as an event; the first invalid one fails the whole input."""
    now_ms = SYSTEM_CLOCK.now_ms()
    new_id = increasing_ids()

    events: list[EventEnvelope] = []
    numbers: list[int] = []
    for n, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            events.append(parse_event(line, source=source, now_ms=now_ms, new_id=new_id))
        except ValidationError as exc:
            fail(f"line {n}: {exc.message}")
        numbers.append(n)
    return events, numbers


@app.command("append")
def append(
    ctx: typer.Context,
    file: Annotated[
        str, typer.Argument(metavar="FILE.jsonl", help="One event per line; '-' reads stdin.")
    ],
    domain: DomainOpt = "executions",
    source: Annotated[
        str, typer.Option(help="Source recorded on events that do not name one.")
    ] = "arco-cli",
    unknown: Annotated[
        str,
        typer.Option(
            help="Events the domain cannot apply (unknown type or version, invalid payload): "
            "'reject' fails the whole input, 'quarantine' appends them for the compactor to "
            "set aside."
        ),
    ] = "reject",
    fold: Annotated[
        bool,
        typer.Option(
            "--fold/--no-fold", help="Fold the new events into the state before returning."
        ),
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Append events: full envelopes or bare payloads with an event_type.

    Every line is validated before anything is written; one invalid line writes nothing.
    """
    cli = current(ctx)
    check_domain(domain)
    if unknown not in ("reject", "quarantine"):
        fail(f"--unknown: must be 'reject' or 'quarantine' (got {unknown!r})")
    events, numbers = _parse_lines(_read_input(file), source)
    policy: UnknownEvents = "quarantine" if unknown == "quarantine" else "reject"
    try:
        if domain == "executions":
            cli.executions(unknown=policy).append(events, fold="inline" if fold else "off")
        else:
            with tier2_ingestor(cli, domain, policy, "inline" if fold else "off") as ingestor:
                ingestor.append(events)
    except ValidationError as exc:
        m = _BATCH_INDEX.match(exc.message)
        if m is None:
            raise
        fail(f"line {numbers[int(m.group(1))]}: {exc.message[m.end() :]}")
    ids = [e.event_id for e in events]
    if as_json:
        print_json(ids)
    elif not ids:
        cli.say("appended 0 events")
    else:
        noun = "event" if len(ids) == 1 else "events"
        folded = "" if fold else "; not folded yet (run 'arco compact')"
        cli.say(f"appended {len(ids)} {noun} to {domain} (first {ids[0]}, last {ids[-1]}){folded}")


@app.command("list")
def list_(
    ctx: typer.Context,
    domain: DomainOpt = "executions",
    limit: Annotated[
        int, typer.Option(min=1, help="Show at most this many entries (oldest first).")
    ] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List ledger entries in event order (a storage listing: for inspection and repair)."""
    cli = current(ctx)
    ledger = _ledger(cli, domain)
    events = ledger.read_many(ledger.list_keys()[:limit])
    if as_json:
        print_json([e.model_dump() for e in events])
        return
    cli.show(
        table(
            None,
            ["event_id", "event_type", "version", "occurred_at", "source"],
            [(e.event_id, e.event_type, e.event_version, e.occurred_at, e.source) for e in events],
        )
    )
