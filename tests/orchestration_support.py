"""Shared by the orchestration tests: a code location written from source text, deployed to
a fresh local store, and an :class:`~arco.orchestration.engine.Orchestrator` over it with
short timers."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
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
