"""Shared by the multi-process tests: the worker-side protocol and the parent that runs it.

A worker script (``python WORKER CONFIG_JSON``) opens the catalog with
:func:`open_and_wait`, which touches ``ready_file`` and blocks until ``go_file`` exists, so
all workers race at once; it prints one JSON line per outcome with :func:`run_op` and ends
with ``{"event": "done"}``. :func:`run_workers` starts the processes, releases them
together and returns each one's records.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from arco.catalog import Catalog, WriterOptions
from arco.errors import ArcoError

MAX_RETRIES = 50

# --- worker side ------------------------------------------------------------------------


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
    sys.stdout.flush()


def call(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``fn``, retrying retryable errors; returns (result, attempts)."""
    for attempt in range(1, MAX_RETRIES + 1):
        try:
            return fn(), attempt
        except ArcoError as exc:
            if not exc.retryable or attempt == MAX_RETRIES:
                raise
            time.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


def run_op(op: str, key: str, fn: Callable[[], Any], **info: Any) -> Any:
    """Run one request and print its final outcome (``ack`` or ``error``)."""
    try:
        result, attempts = call(fn)
    except ArcoError as exc:
        emit(
            {
                "event": "error",
                "op": op,
                "key": key,
                "error": type(exc).__name__,
                "message": str(exc),
                **info,
            }
        )
        return None
    emit(
        {
            "event": "ack",
            "op": op,
            "key": key,
            "attempts": attempts,
            "result": result.model_dump(mode="json"),
            **info,
        }
    )
    return result


def case_variant(rng: random.Random, text: str) -> str:
    return "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in text)


def open_and_wait(cfg: dict[str, Any]) -> Catalog:
    """Open the catalog the config names, signal readiness, wait for the start signal."""
    options = WriterOptions(
        lease_ms=cfg.get("lease_ms", 15_000),
        lock_wait_s=cfg.get("lock_wait_s", 60.0),
        checkpoint_every=cfg.get("checkpoint_every", 32),
    )
    cat = Catalog.open(cfg["url"], options=options, **cfg.get("store_options", {}))
    if cfg.get("ready_file"):
        with open(cfg["ready_file"], "w") as f:
            f.write(str(os.getpid()))
    go = cfg.get("go_file")
    if go:
        deadline = time.monotonic() + 60
        while not os.path.exists(go):
            if time.monotonic() > deadline:
                raise SystemExit("go file never appeared")
            time.sleep(0.002)
    return cat


# --- parent side ------------------------------------------------------------------------


def run_workers(
    worker: Path,
    tmp_path: Path,
    url: str,
    store_options: dict[str, Any],
    configs: list[dict[str, Any]],
) -> list[list[dict[str, Any]]]:
    """Start one process per config, release them together, return each one's records."""
    go = tmp_path / "go"
    procs: list[tuple[subprocess.Popen[bytes], Path, Path, Path]] = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for cfg in configs:
        w = cfg["worker"]
        ready = tmp_path / f"ready-{w}"
        out, err = tmp_path / f"out-{w}.jsonl", tmp_path / f"err-{w}.txt"
        full = {
            **cfg,
            "url": url,
            "store_options": store_options,
            "ready_file": str(ready),
            "go_file": str(go),
        }
        with out.open("wb") as fout, err.open("wb") as ferr:
            proc = subprocess.Popen(
                [sys.executable, str(worker), json.dumps(full)], stdout=fout, stderr=ferr, env=env
            )
        procs.append((proc, ready, out, err))
    try:
        deadline = time.monotonic() + 60
        while not all(ready.exists() for _, ready, _, _ in procs):
            for proc, _, _, err in procs:
                assert proc.poll() is None, f"worker died early:\n{err.read_text()}"
            assert time.monotonic() < deadline, "workers did not get ready"
            time.sleep(0.01)
        go.touch()
        for proc, _, _, err in procs:
            rc = proc.wait(timeout=120)
            assert rc == 0, f"worker exited with {rc}:\n{err.read_text()}"
    finally:
        for proc, _, _, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = []
    for _, _, out, _ in procs:
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert records and records[-1] == {"event": "done"}
        results.append(records[:-1])
    return results


# --- a process stopped while holding a local store object's OS lock ----------------------

_HOLD_AND_STOP = textwrap.dedent(
    """
    import fcntl, os, signal, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)  # a laptop lid closed inside the CAS
    """
)


def local_lock_file(root: Path, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()
    path = root / ".locks" / digest[:2] / f"{digest}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def stopped_lock_holder(root: Path, key: str) -> Iterator[subprocess.Popen[str]]:
    """Another OS process that holds ``key``'s lock and is stopped (SIGSTOP)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_AND_STOP, str(local_lock_file(root, key))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.kill()  # SIGKILL ends a stopped process too, releasing its lock
        proc.wait()
