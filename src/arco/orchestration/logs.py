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
* chunk numbers only grow; a reader concatenates an attempt's chunks in key order;
* an attempt's last chunk is stored before its end is reported (the capture closes when the
  asset returns), so once an attempt is terminal its log is complete.

Following: :func:`render_logs` prints chunks under ``==> task attempt n (id) <==`` headers and
returns a cursor from which the next call prints only what came since. Attempts run at once
write chunks whose keys interleave in no particular order (an attempt's key sorts by its id,
not by when it writes), so the cursor is not one key but the *positions* still needed: the
last key delivered overall (the mark; every chunk of other attempts up to it was delivered)
plus, for each attempt sorting before the mark that may still write, its last key delivered.
Its first item is the chunk printed last, whose attempt needs no header again. This relies
on attempt ids being ULIDs (an attempt dispatched later sorts after) and on the projection
showing dispatches in order: an attempt the caller's projection shows only after a later
one's output was printed, and which ended before it was shown, would not be followed (the
full read, without a cursor, still has it).
"""

from __future__ import annotations

import io
import logging
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from arco.core.clock import rfc3339_ms
from arco.errors import NotFoundError, ObjectExistsError, ValidationError
from arco.orchestration.runs import ATTEMPT_ACTIVE, Attempt
from arco.storage.port import ObjectStore

__all__ = [
    "LOG_CURSOR_HEADER",
    "AttemptLog",
    "LogChunk",
    "LogPage",
    "attempt_log_prefix",
    "read_logs",
    "render_logs",
    "run_log_prefix",
]

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


#: the response header of ``GET /runs/{run_id}/logs`` that carries the cursor
LOG_CURSOR_HEADER = "X-Arco-Log-Cursor"
#: a cursor item below ``logs/{run_id}/``: nothing, an attempt's folder, or one chunk
_CURSOR_ITEM = re.compile(r"(?:[0-9A-Za-z]{1,64}/(?:[0-9]{6,}\.log)?)?")


@dataclass(frozen=True)
class LogPage:
    """What :func:`render_logs` printed, and the cursor to pass next to get what follows."""

    text: str
    cursor: str


def _parse_cursor(run_id: str, cursor: str) -> list[str]:
    """The items of a cursor of ``run_id`` (ValidationError naming the rule otherwise)."""
    prefix = run_log_prefix(run_id)
    items = cursor.split(",")
    if all(i.startswith(prefix) and _CURSOR_ITEM.fullmatch(i[len(prefix) :]) for i in items):
        return items
    shown = cursor if len(cursor) <= 80 else cursor[:77] + "..."
    raise ValidationError(
        f"after: must be a log cursor of run {run_id!r} as a previous answer returned it "
        f"(keys under {prefix}, comma-separated; got {shown!r})"
    )


def _attempt_of(run_id: str, key: str) -> str:
    return key[len(run_log_prefix(run_id)) :].split("/", 1)[0]


def _header(attempt: Attempt) -> str:
    return f"==> {attempt.task_key} attempt {attempt.attempt} ({attempt.attempt_id}) <==\n"


def render_logs(
    store: ObjectStore,
    run_id: str,
    attempts: Sequence[Attempt],
    *,
    after: str | None = None,
    headers: bool = True,
    others: bool = True,
) -> LogPage:
    """The log text of ``attempts`` (read *before* this call, so that an attempt they show
    terminal has all its chunks stored), and the cursor of what it printed.

    Without ``after``: every chunk, attempt by attempt in the order of ``attempts``. With
    ``after`` (a cursor this function returned for the same run and attempts filter): the
    chunks stored since, the attempt printed last first, then in key order. With
    ``headers``, a ``==> task attempt n (id) <==`` line starts each attempt's text, on a line
    of its own, unless that attempt is the one printed last. Chunks of attempts not in
    ``attempts`` (not yet in the projection) are held back until they are, when ``others``
    says the caller wants every attempt of the run; otherwise they are ignored.
    """
    prefix = run_log_prefix(run_id)
    known = {a.attempt_id: a for a in attempts}
    order = {a.attempt_id: i for i, a in enumerate(attempts)}
    positions: dict[str, str] = {}  # attempt -> its last key delivered (or its folder)
    mark, shown = prefix, ""  # the last key delivered overall; the chunk printed last
    if after is not None:
        items = _parse_cursor(run_id, after)
        mark = max(items)
        shown = items[0] if items[0].endswith(".log") else ""
        positions = {_attempt_of(run_id, i): i for i in items if _attempt_of(run_id, i)}
    start = min([mark, *positions.values()])
    held: set[str] = set()
    fresh: list[tuple[str, str]] = []  # (attempt, key)
    for meta in store.list(prefix, start_after=start if start != prefix else None):
        attempt = _attempt_of(run_id, meta.key)
        if attempt not in known:  # never printed: kept for when it is known (or ignored)
            if others:
                held.add(attempt)
        elif meta.key > positions.get(attempt, mark):
            fresh.append((attempt, meta.key))
    current = _attempt_of(run_id, shown) if shown else None
    if after is None:
        fresh.sort(key=lambda c: (order[c[0]], c[1]))
    else:
        fresh.sort(key=lambda c: (c[0] != current, c[1]))
    parts: list[str] = []
    for attempt, key in fresh:
        try:
            text = store.get(key).data.decode("utf-8", "replace")
        except NotFoundError:  # removed since listed (garbage collection)
            continue
        if headers and attempt != current:
            if shown and not _ends_line(store, parts, shown):
                parts.append("\n")
            parts.append(_header(known[attempt]))
            current = attempt
        parts.append(text)
        positions[attempt] = shown = key
        mark = max(mark, key)
    return LogPage("".join(parts), _cursor(run_id, known, positions, held, mark, shown))


def _ends_line(store: ObjectStore, parts: list[str], shown: str) -> bool:
    """Whether what was printed last (``parts``, or else the chunk ``shown`` that the last
    answer ended with) ends a line."""
    if parts:
        return parts[-1].endswith("\n")
    try:
        return store.get(shown).data.endswith(b"\n")
    except NotFoundError:
        return True


def _cursor(
    run_id: str,
    known: dict[str, Attempt],
    positions: dict[str, str],
    held: set[str],
    mark: str,
    shown: str,
) -> str:
    """The cursor: the chunk printed last, the mark, and the position of every attempt that
    may still store chunks sorting before the mark (one not terminal, or not known yet)."""
    needed: list[str] = []
    for attempt in sorted(set(known) | set(positions) | held):
        pos = positions.get(attempt, attempt_log_prefix(run_id, attempt))
        found = known.get(attempt)
        if pos < mark and (found is None or found.state in ATTEMPT_ACTIVE):
            needed.append(pos)
    if not shown:
        return ",".join([mark, *needed])
    # the chunk printed last is its attempt's position, and the mark when it is the last key
    own = attempt_log_prefix(run_id, _attempt_of(run_id, shown))
    return ",".join([shown, *(i for i in [mark, *needed] if not i.startswith(own))])
