"""``arco worker --url SERVER``: run the attempts a server dispatches to HTTP workers
(``arco serve --executor http``); the protocol is in :mod:`arco.orchestration.worker`."""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from arco.cli.context import current, fail


def worker(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="The server (http://host:8181); default: the global --url / $ARCO_URL.",
        ),
    ] = None,
    code: Annotated[
        str | None,
        typer.Option(
            "--code",
            metavar="PATH",
            help="Where the asset code is (folder, .py file or module; default: the "
            "server's code location).",
        ),
    ] = None,
    capacity: Annotated[
        int, typer.Option(min=1, max=1024, help="Attempts run at once (one process each).")
    ] = 1,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="ARCO_TOKEN",
            help="Bearer token of the workspace (production mode).",
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--data-store",
            metavar="URL",
            help="The store URL this worker reaches the data at, if not the server's.",
        ),
    ] = None,
    worker_id: Annotated[
        str | None, typer.Option("--id", help="This worker's id (default: host:pid:random).")
    ] = None,
) -> None:
    """Poll a server for task attempts and run them (Ctrl-C stops; running attempts are
    then retried elsewhere after the heartbeat timeout)."""
    from arco.orchestration.worker import Worker, WorkerConfig, WorkerError

    cli = current(ctx)
    server = url or cli.url
    if not server:
        fail("worker: name the server with --url (or $ARCO_URL)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per callback otherwise
    process = Worker(
        server,
        token=token,
        tenant=cli.tenant,
        workspace=cli.workspace,
        code_location=code,
        store_url=store,
        capacity=capacity,
        worker_id=worker_id,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)

    def ready(config: WorkerConfig) -> None:
        cli.err_console.print(
            f"arco: worker {process.worker_id} (pid {os.getpid()}) polling {server} for "
            f"{config.tenant}/{config.workspace}, {capacity} slot(s)",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )

    try:
        process.run(stop, on_ready=ready)
    except WorkerError as exc:
        fail(exc.message)
    except KeyboardInterrupt:
        stop.set()
