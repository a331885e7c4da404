"""A DDL writer that stops itself (SIGSTOP) at one step of its commit (issue 9's pause test).

Run as ``python pause_worker.py CONFIG_JSON``: opens the catalog on ``url`` (with
``options``) as holder ``A``, arms the stop at ``step`` and creates namespace ``name``.
Prints ``{"ok": true}`` or ``{"ok": false, "error": ...}`` once it finishes (after SIGCONT).

Steps: ``acquire`` / ``renew`` / ``release`` (the lock object's put), ``ledger``, ``delta``,
``commit``, ``manifest`` (the writer's own steps), ``cas`` (inside the local store's
compare-and-swap of the manifest: its OS lock held, before the rename).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

from arco.catalog import Catalog, WriterOptions
from arco.errors import ArcoError
from arco.storage import ForwardingStore, ObjectStore, open_store
from arco.storage.port import PutMode


def stop() -> None:
    print(json.dumps({"stopped": True}), flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)


class StopAtLockPut(ForwardingStore):
    """Stops before the lock object's put that is the acquire, the renewal or the release."""

    def __init__(self, inner: ObjectStore, step: str) -> None:
        super().__init__(inner)
        self.step = step
        self.manifest_written = False
        self.lock_puts = 0

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        if "locks/" in key:
            self.lock_puts += 1
            if (
                (self.step == "acquire" and self.lock_puts == 1)
                or (self.step == "renew" and self.lock_puts == 2 and not self.manifest_written)
                or (self.step == "release" and self.manifest_written)
            ):
                stop()
        version = self.inner.put(key, data, mode)
        if "manifests/" in key:
            self.manifest_written = True
        return version


def main() -> None:
    cfg: dict[str, Any] = json.loads(sys.argv[1])
    step: str = cfg["step"]
    lease_ms: int = cfg["lease_ms"]
    store: ObjectStore = open_store(cfg["url"], **cfg["options"])
    if step == "cas":
        real_replace = os.replace

        def replace(src: Any, dst: Any) -> None:
            if str(dst).endswith("catalog.manifest.json"):
                os.replace = real_replace  # once
                stop()
            real_replace(src, dst)

        os.replace = replace  # type: ignore[assignment]
    store = StopAtLockPut(store, step)
    options = WriterOptions(
        lease_ms=lease_ms,
        lock_wait_s=cfg["lock_wait_s"],
        commit_attempts=1,
        checkpoint_every=100_000,
        background_checkpoints=False,
    )
    cat = Catalog(store, options=options, holder="A")

    def on_step(name: str) -> None:
        if name == step:
            stop()
        elif step == "renew" and name == "commit":
            time.sleep(lease_ms * 0.8 / 1000)  # little lease left: the publish renews it

    cat.writer.on_step = on_step
    try:
        cat.create_namespace(cfg["name"])
    except ArcoError as exc:
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc.message}"}))
    else:
        print(json.dumps({"ok": True}))
    finally:
        cat.close()


if __name__ == "__main__":
    main()
