"""SIGKILL a streaming DDL writer at random points; restarted writers take over and finish.

The writer (``ddl_worker.py``, mode ``stream``) runs units of three requests with
deterministic idempotency keys and prints every acknowledged result. The parent kills it
after a random (seeded) delay, several rounds in a row, and starts a new writer at the first
unit that was not fully acknowledged; that writer must take over the dead writer's lease
(``lease_ms`` is small) and replay the half-done unit through the idempotency keys.

At the end every acknowledged write is present with the ids it was acknowledged with,
nothing is half-visible (no table without its namespace or columns, no duplicate), the
commit log is contiguous and ``verify`` is clean.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from arco.catalog import Catalog
from arco.maintenance.verify import verify_scope
from arco.metadata.commit_log import CommitRecord
from arco.metadata.commit_log import chain as commit_chain

WORKER = Path(__file__).with_name("ddl_worker.py")
ROUNDS = 7
LEASE_MS = 500
SEED = 20260101


def chain(cat: Catalog) -> list[CommitRecord]:
    return commit_chain(cat.store, "catalog")


def acknowledged(path: Path) -> list[dict[str, Any]]:
    """Complete JSON lines only: a line cut by the kill was never acknowledged."""
    records = []
    for line in path.read_bytes().split(b"\n")[:-1]:
        records.append(json.loads(line))
    return records


def start_writer(tmp_path: Path, url: str, n: int, start: int, stop: int | None) -> Any:
    cfg = {
        "mode": "stream",
        "url": url,
        "store_options": {"fsync": False},
        "start": start,
        "stop": stop,
        "lease_ms": LEASE_MS,
        "lock_wait_s": 30.0,
        "checkpoint_every": 8,
        "ready_file": str(tmp_path / f"ready-{n}"),
    }
    out, err = tmp_path / f"out-{n}.jsonl", tmp_path / f"err-{n}.txt"
    with out.open("wb") as fout, err.open("wb") as ferr:
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps(cfg)],
            stdout=fout,
            stderr=ferr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return proc, out, err


def test_kill9_writers_lose_nothing_acknowledged(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/store"
    rng = random.Random(SEED)
    acks: dict[tuple[int, int], dict[str, Any]] = {}
    next_unit = 0
    replays = 0
    killed_acks = []
    for n in range(ROUNDS + 1):
        final = n == ROUNDS
        proc, out, err = start_writer(tmp_path, url, n, next_unit, next_unit + 3 if final else None)
        try:
            if final:
                assert proc.wait(timeout=60) == 0, err.read_text()
            else:
                ready = tmp_path / f"ready-{n}"
                deadline = time.monotonic() + 30
                while not ready.exists():
                    assert proc.poll() is None, err.read_text()
                    assert time.monotonic() < deadline
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.05, 1.0))
                assert proc.poll() is None, err.read_text()
                os.kill(proc.pid, signal.SIGKILL)
                assert proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        records = acknowledged(out)
        if final:
            assert records[-1] == {"event": "done"}
            records = records[:-1]
        assert all(r["event"] == "ack" for r in records), records
        killed_acks.append(len(records))
        for r in records:
            slot = (r["unit"], r["step"])
            if slot in acks:
                # a replay through the idempotency key returns the original result
                assert r["result"] == acks[slot]["result"], slot
                replays += 1
            acks[slot] = r
        units = {u for u, _ in acks}
        assert units == set(range(len(units)))
        complete = [u for u in units if all((u, s) in acks for s in range(3))]
        next_unit = max(complete, default=-1) + 1
    # the first writers were killed after making progress, not before starting
    assert sum(killed_acks[:-1]) > 0

    cat = Catalog.open(url)
    namespaces = cat.list_namespaces(limit=1000).items
    visible = sorted(int(ns.name[1:]) for ns in namespaces)
    # every unit ever started is complete: nothing half-visible, nothing duplicated
    assert visible == list(range(next_unit))
    for ns in namespaces:
        j = int(ns.name[1:])
        assert ns.properties == {"unit": str(j)}
        tables = cat.list_tables(ns.name).items
        assert [t.name for t in tables] == ["t"]
        t = tables[0]
        assert t.namespace_id == ns.namespace_id
        assert [(c.name, c.type, c.position) for c in t.columns] == [
            ("id", "int64", 0),
            (f"c{j}", "string", 1),
            ("extra", "bool", 2),
        ]
    # every acknowledged write is there with the acknowledged ids
    for (j, step), r in acks.items():
        result = r["result"]
        if step == 0:
            assert cat.get_namespace(f"k{j}").model_dump(mode="json") == result
        else:
            table = cat.get_table(f"k{j}", "t")
            assert table.table_id == result["table_id"]
            assert table.namespace_id == result["namespace_id"]
            got = {c.column_id: c.model_dump(mode="json") for c in table.columns}
            for col in result["columns"]:
                assert got[col["column_id"]] == col
        if step == 2:
            assert cat.get_table(f"k{j}", "t").model_dump(mode="json") == result

    commits = chain(cat)
    assert [c.snapshot_version for c in commits] == list(range(1, len(commits) + 1))
    tokens = [c.fencing_token for c in commits]
    assert tokens == sorted(tokens)
    applied = [o["idempotency_key"] for c in commits for o in c.operations]
    assert len(applied) == len(set(applied)) == 3 * next_unit  # each request applied once
    report = verify_scope(cat.store)
    assert report.ok, report.findings
    fences = sum(1 for c in commits if c.kind == "fence")
    print(
        f"units={next_unit} versions={len(commits)} fences={fences} replays={replays} "
        f"acks per round={killed_acks}"
    )
