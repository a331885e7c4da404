"""Shared by the orchestration tests: a code location written from source text, deployed to
a fresh local store, and an :class:`~arco.orchestration.engine.Orchestrator` over it with
short timers; for the tests that kill or pause a controller, a pipeline whose middle task
waits for a go file, the ``arco`` command in a child process and a wait for a file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from arco.core.scope import DEFAULT_SCOPE
from arco.orchestration.controller import ControllerOptions
from arco.orchestration.deploy import deploy
from arco.orchestration.discovery import build_manifest, load_definitions
from arco.orchestration.engine import Orchestrator
from arco.storage import ObjectStore, ScopedStore, open_store

#: timers short enough for tests, long enough for a loaded CI machine
FAST = ControllerOptions(
    start_timeout_s=20.0,
    heartbeat_timeout_s=20.0,
    heartbeat_interval_s=0.5,
    cancel_grace_s=10.0,
    max_staleness_s=0.5,
    idle_wait_s=0.2,
)


def write_code(folder: Path, source: str, name: str = "pipeline.py") -> Path:
    """Write ``source`` (dedented) as ``folder/name``; the folder (the code location)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(source))
    return folder


def workspace_store(url: str) -> ObjectStore:
    return ScopedStore(open_store(url), DEFAULT_SCOPE.prefix)


def deploy_code(url: str, code: Path) -> str:
    """Deploy the definitions of ``code`` to the default workspace of ``url``; the
    deployment's fingerprint."""
    manifest = build_manifest(load_definitions(str(code)))
    return deploy(workspace_store(url), manifest, code_location=str(code)).fingerprint


@contextmanager
def orchestrator(
    url: str, code: Path, *, executor: str = "inprocess", **options: Any
) -> Iterator[Orchestrator]:
    """Deploy ``code`` and open an Orchestrator on it (closed after the block)."""
    deploy_code(url, code)
    opts = ControllerOptions(**{**FAST.__dict__, **options})
    with Orchestrator(url, executor=executor, code_location=str(code), options=opts) as orch:
        yield orch


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


#: ``first -> middle -> last`` (namespace ``demo``); ``middle`` writes its pid to
#: ``{signals}/middle-{attempt}``, then waits (60 s at most) for ``{signals}/go``; two attempts.
#: Fill in ``signals`` with ``str.format``.
STALLING_PIPELINE = """
import os, time
from pathlib import Path
import pyarrow as pa
from arco import asset, RetryPolicy

SIGNALS = Path({signals!r})

@asset(namespace="demo")
def first(context):
    return pa.table({{"x": [1, 2]}})

@asset(namespace="demo", retry=RetryPolicy(max_attempts=2, backoff_s=0))
def middle(context, first: pa.Table):
    (SIGNALS / f"middle-{{context.attempt}}").write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not (SIGNALS / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("no go file")
        time.sleep(0.02)
    return first

@asset(namespace="demo")
def last(context, middle: pa.Table):
    return middle
"""

#: a lost attempt and a dead controller are noticed within seconds
CONTROLLER_TIMERS = ["--heartbeat-timeout", "2", "--lease-timeout", "2"]


def arco_process(url: str, *args: str, log: Path, session: bool = False) -> subprocess.Popen[bytes]:
    """``arco --store URL ARGS`` in a child process, its output (both streams) into ``log``;
    ``session``: in a process group of its own (to signal it with its pool workers)."""
    return subprocess.Popen(
        [sys.executable, "-m", "arco", "--store", url, *args],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=session,
    )


def run_stalling_pipeline(url: str, *, log: Path, session: bool = False) -> subprocess.Popen[bytes]:
    """``arco run +demo/last --executor pool --wait`` (of :data:`STALLING_PIPELINE`) with
    :data:`CONTROLLER_TIMERS`: a controller driving a run to its end."""
    return arco_process(
        url,
        "run",
        "+demo/last",
        "--executor",
        "pool",
        "--wait",
        *CONTROLLER_TIMERS,
        log=log,
        session=session,
    )


def wait_for_run(url: str, run_id: str, *, log: Path) -> subprocess.Popen[bytes]:
    """``arco runs wait RUN`` with :data:`CONTROLLER_TIMERS`: a second controller."""
    return arco_process(url, "runs", "wait", run_id, *CONTROLLER_TIMERS, log=log)


def wait_for_file(path: Path, timeout: float = 60.0) -> None:
    """Wait until ``path`` exists (fails the test after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def wait_until(
    what: str, condition: Callable[[], bool], timeout: float, interval: float = 0.05
) -> float:
    """Poll ``condition`` until it holds (an AssertionError naming ``what`` after
    ``timeout`` seconds); the seconds it took."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
        time.sleep(interval)
    return time.monotonic() - start
