"""A tier-2 compactor process stopped between writing its files and publishing them while
``arco gc`` runs (issue 9): after SIGCONT it must not publish what GC deleted.

Fold round: the round's compare-and-swap loses to GC's fence; the compactor folds again from
the new head. Checkpoint: the adoption loses to the fence and abandons its output. Either
way the state equals the model of the appended events and ``verify`` is clean.
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

from arco.executions import EXECUTIONS
from arco.maintenance.gc import collect_garbage
from arco.maintenance.verify import verify_scope
from arco.storage import open_store
from arco.tier2.compactor import Compactor
from arco.tier2.ledger import EventLedger
from executions_support import BASE_MS, fresh_state, mat, model, opts, view

WORKER = Path(__file__).with_name("pause_compactor_worker.py")

pytestmark = pytest.mark.slow


def run(url: str, options: dict[str, Any], mode: str) -> None:
    store = open_store(url, **options)
    ledger = EventLedger(store, "executions")
    events = [mat(i, at=BASE_MS + i) for i in range(8)]
    compactor = Compactor(store, EXECUTIONS, options=opts(checkpoint_every=10**6))
    if mode == "fold":
        compactor.compact(ledger.append(events[:2]))  # a manifest GC can fence
        ledger.append(events[2:])  # for the stopped compactor to fold
    else:
        for event in events[:4]:  # four delta ranges: a merge is due
            compactor.compact(ledger.append([event]))
        events = events[:4]
    compactor.close()
    cfg = {"url": url, "options": options, "mode": mode}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(cfg)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline()) == {"stopped": True}
        time.sleep(1.1)  # its files older than GC's fence by the store's clock (S3: 1 s steps)
        report = collect_garbage(store, min_age_s=0)
        assert "unreferenced_snapshot" in {i.reason for i in report.deleted}, report.to_json()
    finally:
        proc.send_signal(signal.SIGCONT)
    out, _ = proc.communicate(timeout=60)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"], result
    if mode == "checkpoint":
        assert result["result"] is False  # fenced: abandoned
    else:
        assert result["result"]["conflicts"] >= 1 and result["result"]["folded"] == 6
    assert view(fresh_state(store)) == model(events)
    verified = verify_scope(store, lag_bound_s=3600)
    assert verified.ok, verified.to_json()


@pytest.mark.parametrize("mode", ["fold", "checkpoint"])
def test_compactor_stopped_before_its_swap_on_the_local_store(tmp_path: Path, mode: str) -> None:
    run(f"file://{tmp_path / 'store'}", {"fsync": False}, mode)


@pytest.mark.s3
@pytest.mark.parametrize("mode", ["fold", "checkpoint"])
def test_compactor_stopped_before_its_swap_on_s3(
    s3_url: tuple[str, dict[str, Any]], mode: str
) -> None:
    url, options = s3_url
    run(url, options, mode)
