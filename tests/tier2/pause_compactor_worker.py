"""A tier-2 compactor that stops itself (SIGSTOP) between writing files and publishing them.

Run as ``python pause_compactor_worker.py CONFIG_JSON``: on ``url`` (with ``options``) it
folds the ledger's events (``mode`` ``fold``) or merges the state's delta files (``mode``
``checkpoint``), stopping at the round's or the adoption's ``manifest`` step. Prints
``{"stopped": true}`` before stopping and ``{"ok": ..., "result": ...}`` when done.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from arco.errors import ArcoError
from arco.executions import EXECUTIONS
from arco.storage import open_store
from arco.tier2.compactor import Compactor, CompactorOptions


def main() -> None:
    cfg: dict[str, Any] = json.loads(sys.argv[1])
    store = open_store(cfg["url"], **cfg["options"])
    options = CompactorOptions(background_checkpoints=False, checkpoint_every=10**6)
    compactor = Compactor(store, EXECUTIONS, options=options, holder="paused")
    stopped: list[bool] = []

    def on_step(step: str) -> None:
        if step == "manifest" and not stopped:
            stopped.append(True)
            print(json.dumps({"stopped": True}), flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)

    compactor.on_step = on_step
    try:
        if cfg["mode"] == "fold":
            result: Any = compactor.anti_entropy().to_json()
        else:
            result = compactor.checkpoint()
    except ArcoError as exc:
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc.message}"}))
    else:
        print(json.dumps({"ok": True, "result": result}))
    finally:
        compactor.close()


if __name__ == "__main__":
    main()
