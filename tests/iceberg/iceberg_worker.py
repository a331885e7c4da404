"""An Iceberg writer process for the multi-process commit race.

Run as ``python iceberg_worker.py CONFIG_JSON`` (see ``process_support``): opens the
catalog, waits for the start signal, then makes ``commits`` logical commits to one table.

* ``mode = "service"``: each logical commit is an append (a snapshot whose summary names the
  commit, ``commit = w{worker}-c{j}``) with pyiceberg's append requirements. CommitFailed
  (another writer moved main) reloads the table and builds the append again; an unknown or
  transient outcome retries the identical request with the same idempotency key.
* ``mode = "pyiceberg"``: each logical commit is ``Table.append`` of rows whose ids name the
  commit, through pyiceberg's own Transaction machinery (which itself retries on
  CommitFailedException); the worker appends again after a CommitFailedException.

It prints ``{"event": "ack", ...}`` per acknowledged commit, ``{"event": "error", ...}`` per
commit given up, and ``{"event": "done"}`` at the end.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

# the tests directory, for process_support and iceberg_support (this file runs as a script)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyiceberg.exceptions import CommitFailedException

from arco.errors import ArcoError
from arco.iceberg import IcebergTables, TableIdent
from arco.iceberg.errors import CommitFailed
from iceberg_support import PyIcebergCatalog, append_requirements, append_updates, rows
from process_support import emit, open_and_wait

MAX_ATTEMPTS = 200


def service_commits(svc: IcebergTables, ident: TableIdent, cfg: dict[str, Any]) -> None:
    w = cfg["worker"]
    rng = random.Random(cfg["seed"])
    for j in range(cfg["commits"]):
        commit = f"w{w}-c{j}"
        attempts = 0
        request = None
        while True:
            attempts += 1
            if attempts > MAX_ATTEMPTS:
                emit({"event": "error", "commit": commit, "error": "gave up"})
                break
            if request is None:
                md = svc.load_table(ident).metadata
                snapshot_id = w * 10_000_000 + j * 1_000 + attempts
                request = (append_requirements(md), append_updates(md, snapshot_id, commit=commit))
            try:
                result = svc.commit_table(ident, *request, idempotency_key=commit)
            except CommitFailed:
                request = None  # someone else moved main: build the append again
                time.sleep(rng.uniform(0, 0.005 * min(attempts, 20)))
                continue
            except ArcoError as exc:
                if not exc.retryable:
                    emit(
                        {
                            "event": "error",
                            "commit": commit,
                            "error": type(exc).__name__,
                            "message": str(exc),
                        }
                    )
                    break
                time.sleep(0.01)
                continue  # the same request, the same key
            emit(
                {
                    "event": "ack",
                    "commit": commit,
                    "attempts": attempts,
                    "snapshot_id": result.metadata.current_snapshot_id,
                }
            )
            break


def pyiceberg_appends(svc: IcebergTables, ident: TableIdent, cfg: dict[str, Any]) -> None:
    w = cfg["worker"]
    catalog = PyIcebergCatalog(svc)
    name = ".".join((*ident.namespace, ident.name))
    for j in range(cfg["commits"]):
        commit = f"w{w}-c{j}"
        first_id = (w * 1_000 + j) * 10
        for attempts in range(1, MAX_ATTEMPTS + 1):
            try:
                catalog.load_table(name).append(rows(cfg["rows"], start=first_id))
            except CommitFailedException:
                time.sleep(0.01)
                continue
            except ArcoError as exc:
                emit(
                    {
                        "event": "error",
                        "commit": commit,
                        "error": type(exc).__name__,
                        "message": str(exc),
                    }
                )
                break
            emit({"event": "ack", "commit": commit, "attempts": attempts, "first_id": first_id})
            break
        else:
            emit({"event": "error", "commit": commit, "error": "gave up"})


def main() -> None:
    cfg = json.loads(sys.argv[1])
    catalog = open_and_wait(cfg)
    svc = IcebergTables(catalog, sync=cfg.get("sync", "inline"))
    ident = TableIdent(tuple(cfg["namespace"]), cfg["table"])
    if cfg["mode"] == "service":
        service_commits(svc, ident, cfg)
    else:
        pyiceberg_appends(svc, ident, cfg)
    svc.close()
    catalog.close()
    emit({"event": "done"})


if __name__ == "__main__":
    main()
