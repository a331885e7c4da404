"""An Iceberg writer process that reaches Arco only through the REST protocol.

Run as ``python rest_worker.py CONFIG_JSON`` (see ``process_support.run_workers``): opens
pyiceberg's ``RestCatalog`` on ``url`` (an ``arco serve`` endpoint), signals readiness,
waits for the start signal, then appends ``commits`` batches of ``rows`` rows to its table,
the ids of a batch naming it. A CommitFailedException (another writer moved main) appends
again on a refreshed table. pyiceberg (0.12+) also retries a failed append itself after a
refresh and logs each retry; ``attempts`` counts those too. Prints
``{"event": "ack", "first_id", "attempts"}`` per acknowledged append,
``{"event": "error", ...}`` per append given up, ``{"event": "done"}``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyiceberg.catalog import load_catalog
from pyiceberg.exceptions import CommitFailedException

from iceberg_support import rows
from process_support import emit

MAX_ATTEMPTS = 200


class RetryCounter(logging.Handler):
    """Counts the retries pyiceberg makes inside one ``append`` (it logs each one)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("Commit failed due to a concurrent update"):
            self.retries += 1


def wait_for_go(cfg: dict[str, Any]) -> None:
    Path(cfg["ready_file"]).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not os.path.exists(cfg["go_file"]):
        if time.monotonic() > deadline:
            raise SystemExit("go file never appeared")
        time.sleep(0.002)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    catalog = load_catalog("arco", type="rest", uri=cfg["url"], warehouse=cfg["warehouse"])
    table = catalog.load_table(cfg["table"])
    wait_for_go(cfg)
    w = cfg["worker"]
    counter = RetryCounter()
    logging.getLogger("pyiceberg.table").addHandler(counter)
    for j in range(cfg["commits"]):
        first_id = (w * 1_000 + j) * 100
        counter.retries = 0
        for attempts in range(1, MAX_ATTEMPTS + 1):
            try:
                table.append(rows(cfg["rows"], start=first_id))
            except CommitFailedException:
                table = catalog.load_table(cfg["table"])
                time.sleep(0.005 * min(attempts, 20))
                continue
            emit({"event": "ack", "first_id": first_id, "attempts": attempts + counter.retries})
            break
        else:
            emit({"event": "error", "first_id": first_id, "error": "gave up"})
    emit({"event": "done"})


if __name__ == "__main__":
    main()
