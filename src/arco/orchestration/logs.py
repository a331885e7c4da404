"""Attempt logs: what an asset prints and logs, captured per attempt and kept on the store.

Layout: ``logs/{run_id}/{attempt_id}/{seq:06d}.log``, create-only chunks written at most
every ``flush_every_s`` while the attempt runs and once at its end, so a reader following a
run sees output as it comes and a crash loses at most the last interval. Invariants:

* capture is per *thread*: ``sys.stdout``/``sys.stderr`` are replaced once per process by
  routers that send a write to the capture of the writing thread, or to the original stream
  when that thread captures nothing, so concurrent attempts of one process never mix their
  output (threads an asset starts itself are not captured);
* log records of the ``arco.assets`` loggers (``context.log``) and of any logger, emitted on
  a capturing thread, are captured as ``time level logger: message`` lines;
* chunk numbers only grow; a reader concatenates an attempt's chunks in key order.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from arco.core.clock import rfc3339_ms
from arco.errors import ObjectExistsError
from arco.storage.port import ObjectStore

__all__ = ["AttemptLog", "LogChunk", "attempt_log_prefix", "read_logs", "run_log_prefix"]

LOGS = "logs/"
_local = threading.local()
_install_lock = threading.Lock()
_installed: list[bool] = []  # non-empty once the routers are in place


def run_log_prefix(run_id: str) -> str:
    """Where every attempt log of a run is kept."""
    return f"{LOGS}{run_id}/"


def attempt_log_prefix(run_id: str, attempt_id: str) -> str:
    """Where the chunks of one attempt's log are kept."""
    return f"{LOGS}{run_id}/{attempt_id}/"


class _Router(io.TextIOBase):
    """A process-wide stream that writes to the calling thread's capture, if any."""

    def __init__(self, original: IO[str]) -> None:
        self.original = original

    def write(self, text: str) -> int:
        capture: AttemptLog | None = getattr(_local, "capture", None)
        if capture is None:
            return self.original.write(text)
        capture.write(text)
        return len(text)

    def flush(self) -> None:
        if getattr(_local, "capture", None) is None:
            self.original.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")


class _CaptureHandler(logging.Handler):
    """Sends records emitted on a capturing thread to its capture."""

    def emit(self, record: logging.LogRecord) -> None:
        capture: AttemptLog | None = getattr(_local, "capture", None)
        if capture is None:
            return
        try:
            stamp = rfc3339_ms(int(record.created * 1000))
            line = f"{stamp} {record.levelname} {record.name}: {record.getMessage()}"
            if record.exc_info:
                line += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception:  # a broken record must not break the asset
            return
        capture.write(line + "\n")


def _install() -> None:
    """Route ``sys.stdout``/``sys.stderr`` through capture routers (again whenever something
    replaced them since, as test runners do) and add the log handler once."""
    with _install_lock:
        if not isinstance(sys.stdout, _Router):
            sys.stdout = _Router(sys.stdout)
        if not isinstance(sys.stderr, _Router):
            sys.stderr = _Router(sys.stderr)
        if _installed:
            return
        logging.getLogger().addHandler(_CaptureHandler(logging.DEBUG))
        assets = logging.getLogger("arco.assets")
        if assets.level == logging.NOTSET:
            assets.setLevel(logging.INFO)
        _installed.append(True)


class AttemptLog:
    """Capture the output of the current thread for one attempt (a context manager)."""

    def __init__(
        self, store: ObjectStore, run_id: str, attempt_id: str, *, flush_every_s: float = 1.0
    ) -> None:
        self.store = store
        self.prefix = attempt_log_prefix(run_id, attempt_id)
        self.flush_every_s = flush_every_s
        self._buffer: list[str] = []
        self._lock = threading.Lock()
        self._seq = 0
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    def write(self, text: str) -> None:
        with self._lock:
            self._buffer.append(text)

    def __enter__(self) -> AttemptLog:
        _install()
        self._previous = getattr(_local, "capture", None)
        _local.capture = self
        self._flusher = threading.Thread(target=self._loop, name="arco-log-flush", daemon=True)
        self._flusher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        _local.capture = self._previous
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=10)
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_every_s):
            self.flush()

    def flush(self) -> None:
        """Write what was captured since the last flush as the next chunk (errors are
        reported on the original stderr: losing a log must not fail the attempt)."""
        with self._lock:
            if not self._buffer:
                return
            text, self._buffer = "".join(self._buffer), []
            seq = self._seq
            self._seq += 1
        key = f"{self.prefix}{seq:06d}.log"
        try:
            self.store.put(key, text.encode("utf-8", "replace"), "create")
        except ObjectExistsError:
            pass
        except Exception as exc:
            original = sys.__stderr__
            if original is not None:
                original.write(f"arco: could not store log chunk {key}: {exc}\n")


@dataclass(frozen=True)
class LogChunk:
    """One stored chunk: the attempt it belongs to, its key and text."""

    attempt_id: str
    key: str
    text: str


def read_logs(
    store: ObjectStore,
    run_id: str,
    *,
    attempt_ids: set[str] | None = None,
    after: str | None = None,
) -> Iterator[LogChunk]:
    """The log chunks of a run (of ``attempt_ids`` only, if given) in key order, those
    after the key ``after`` only (for following)."""
    prefix = run_log_prefix(run_id)
    for key in sorted(meta.key for meta in store.list(prefix, start_after=after)):
        attempt_id = key[len(prefix) :].split("/", 1)[0]
        if attempt_ids is not None and attempt_id not in attempt_ids:
            continue
        yield LogChunk(attempt_id, key, store.get(key).data.decode("utf-8", "replace"))
