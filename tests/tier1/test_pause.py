"""A writer process stopped (SIGSTOP) at every step of a commit, past its lease (issue 9).

For each step, writer A (``pause_worker.py``, its own OS process) stops itself there; once
its lease has expired, writer B commits in this process, optionally after ``arco gc`` ran;
then A is resumed (SIGCONT) and finishes. Checked every time:

* liveness: B finishes within ``lease + lock_wait_s`` (plus slack for a loaded machine);
  where A holds the local store's OS lock (``cas``) B fails with a clear error in that time
  instead of waiting forever, and succeeds once A has moved on;
* safety: every acknowledged change is present, no change of A's lands after B's takeover
  fence, the catalog reads cold, and ``verify`` is clean.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from arco.catalog import Catalog, WriterOptions
from arco.errors import ArcoError
from arco.maintenance.gc import collect_garbage
from arco.maintenance.verify import verify_scope
from arco.metadata.commit_log import chain
from arco.storage import ObjectStore, open_store

WORKER = Path(__file__).with_name("pause_worker.py")
LEASE_MS = 1_500
LOCK_WAIT_S = 3.0
SLACK_S = 10.0  # a loaded CI machine
STEPS = ["acquire", "ledger", "delta", "commit", "renew", "manifest", "release"]

pytestmark = pytest.mark.slow


def wait_stopped(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert json.loads(line) == {"stopped": True}, line
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.01)
    raise AssertionError("the worker did not stop")


def writer(store: ObjectStore) -> Catalog:
    options = WriterOptions(
        lease_ms=LEASE_MS,
        lock_wait_s=LOCK_WAIT_S,
        commit_attempts=1,
        checkpoint_every=100_000,
        background_checkpoints=False,
    )
    return Catalog(store, options=options, holder="B")


def run_round(url: str, options: dict[str, Any], step: str, *, gc: bool) -> None:
    store = open_store(url, **options)
    setup = writer(store)
    setup.create_namespace("base")
    setup.close()
    cfg = {
        "url": url,
        "options": options,
        "step": step,
        "lease_ms": LEASE_MS,
        "lock_wait_s": LOCK_WAIT_S,
        "name": "by-a",
    }
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(cfg)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    acked: set[str] = {"base"}
    try:
        wait_stopped(proc)
        time.sleep(LEASE_MS / 1000 + 0.2)  # A's lease runs out while it is stopped
        if gc:
            collect_garbage(store, min_age_s=0)
        b = writer(store)
        started = time.monotonic()
        try:
            b.create_namespace("by-b")
            acked.add("by-b")
        except ArcoError as exc:
            # only a stop inside the local store's compare-and-swap may hold B up, and then
            # B says so within the bound
            assert step == "cas", f"{step}: B failed: {exc}"
            assert "held the object's lock" in exc.message
        assert time.monotonic() - started < LEASE_MS / 1000 + LOCK_WAIT_S + SLACK_S
    finally:
        proc.send_signal(signal.SIGCONT)
    out, _ = proc.communicate(timeout=60)
    result = json.loads(out.strip().splitlines()[-1])
    if result["ok"]:
        acked.add("by-a")
    if "by-b" not in acked:  # A has moved on: B gets through now
        b.create_namespace("by-b")
        acked.add("by-b")
    b.close()

    cold = Catalog(store)
    names = {ns.name for ns in cold.list_namespaces().items}
    assert acked <= names, f"{step}: an acknowledged change is missing"
    assert names <= acked | {"by-a"}
    records = chain(cold.store, "catalog")
    takeover = next(
        (i for i, r in enumerate(records) if r.kind == "fence" and r.holder == "B"), None
    )
    if takeover is not None:
        assert all(r.holder != "A" for r in records[takeover:]), f"{step}: A after the fence"
    report = verify_scope(cold.store)
    assert report.ok, (step, report.to_json())


@pytest.mark.parametrize("gc", [False, True], ids=["no-gc", "gc"])
@pytest.mark.parametrize("step", [*STEPS, "cas"])
def test_pause_at_every_step_on_the_local_store(tmp_path: Path, step: str, gc: bool) -> None:
    run_round(f"file://{tmp_path / 'store'}", {"fsync": False, "lock_timeout_s": 1.0}, step, gc=gc)


@pytest.mark.s3
@pytest.mark.parametrize("gc", [False, True], ids=["no-gc", "gc"])
@pytest.mark.parametrize("step", STEPS)
def test_pause_at_every_step_on_s3(s3_url: tuple[str, dict[str, Any]], step: str, gc: bool) -> None:
    url, options = s3_url
    run_round(url, options, step, gc=gc)
