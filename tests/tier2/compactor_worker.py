"""A tier-2 writer + compactor process for the multi-process compactor race.

Run as ``python compactor_worker.py CONFIG_JSON`` (see :func:`process_support.run_workers`).
The worker opens the store, touches ``ready_file``, waits for ``go_file`` so that all
workers race at once, then for each of its batches (lists of envelopes as JSON): appends the
batch with its own ledger, folds the new keys by the fast path, and every
``anti_entropy_every`` batches runs an anti-entropy pass (which folds the other workers'
events too). It prints one ``{"event": "pass", ...}`` line per call with the versions it
published and its outcomes, and ``{"event": "done"}`` at the end.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# the tests directory, for process_support (this file runs as a script)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arco.executions import EXECUTIONS
from arco.storage import open_store
from arco.tier2.compactor import CompactionResult, Compactor, CompactorOptions
from arco.tier2.envelope import EventEnvelope
from arco.tier2.ledger import EventLedger
from process_support import emit


def report(kind: str, result: CompactionResult) -> None:
    emit({"event": "pass", "kind": kind, **result.to_json()})


def main(cfg: dict[str, Any]) -> None:
    store = open_store(cfg["url"], **cfg.get("store_options", {}))
    options = CompactorOptions(
        max_batch=cfg.get("max_batch", 10_000),
        checkpoint_every=cfg.get("checkpoint_every", 8),
        background_checkpoints=False,
        read_workers=4,
    )
    compactor = Compactor(store, EXECUTIONS, options=options, holder=f"w{cfg['worker']}")
    ledger = EventLedger(store, "executions")
    batches = [[EventEnvelope.from_object(e) for e in batch] for batch in cfg["batches"]]
    with open(cfg["ready_file"], "w") as f:
        f.write(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not os.path.exists(cfg["go_file"]):
        if time.monotonic() > deadline:
            raise SystemExit("go file never appeared")
        time.sleep(0.002)
    every = cfg.get("anti_entropy_every", 3)
    for i, batch in enumerate(batches):
        keys = ledger.append(batch)
        report("fast", compactor.compact(keys))
        if i % every == every - 1:
            report("anti", compactor.anti_entropy())
    report("anti", compactor.anti_entropy())
    emit({"event": "commits", "commits": compactor.commits})
    emit({"event": "done"})


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
