"""A local-filesystem backend with the same guarantees as the cloud stores, across processes.

* Version token: hex MD5 of the content. Content-addressed tokens cannot suffer ABA from
  reused inodes or coarse mtimes, and a CAS check compares against the real bytes.
* Every write goes to a hidden temp file in the target directory and is then published
  atomically: ``os.replace`` (overwrite, CAS) or ``os.link`` (create-only; fails if present).
* Mutations other than create (overwrite, CAS, delete) hold an exclusive ``flock`` on a
  per-key lock file under ``<root>/.locks/``, so check-then-replace is atomic with respect
  to every other process using the same root. Readers never lock: a published file is
  never modified in place, so one open file descriptor always sees one whole version.
* The flock is held only around compare + rename (or unlink): the data is written and
  fsynced before, the directory fsynced after. It is taken without blocking and retried
  until ``lock_timeout_s``; a process stopped while holding it (SIGSTOP, a suspended VM)
  therefore delays others by at most that bound, after which they fail with
  :class:`~arco.errors.StorageBusyError` instead of waiting forever.

POSIX only (``fcntl.flock``, ``os.link``).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, NoReturn

from arco.errors import (
    ObjectExistsError,
    ObjectNotFoundError,
    StorageBusyError,
    StorageError,
    UnsupportedOperationError,
    ValidationError,
    VersionMismatchError,
)
from arco.storage.keys import validate_key, validate_prefix
from arco.storage.port import IfVersion, ObjectData, ObjectMeta, PutMode
from arco.storage.signing import UrlSigner

_TMP_PREFIX = ".tmp-"
_LOCK_DIR = ".locks"
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.EISDIR)
#: default bound on waiting for another process's per-key lock (held only around a rename)
DEFAULT_LOCK_TIMEOUT_S = 5.0


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC)


def _fail(op: str, key: str, exc: OSError) -> NoReturn:
    """Map an OSError: a missing path is ObjectNotFoundError, anything else StorageError."""
    if exc.errno in _MISSING:
        raise ObjectNotFoundError(f"object {key!r} not found") from exc
    name = errno.errorcode.get(exc.errno or 0, "?")
    raise StorageError(f"local {op} of {key!r} failed: {name} {exc.strerror}") from exc


class LocalFileStore:
    """Objects stored as files under ``root`` (see the module docstring for the protocol)."""

    def __init__(
        self,
        root: Path | str,
        fsync: bool = True,
        signer: UrlSigner | None = None,
        *,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    ) -> None:
        self._root = Path(root).expanduser().resolve()
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create store root {str(self._root)!r}: {exc}") from exc
        self._fsync = fsync
        self._signer = signer
        self._lock_timeout_s = lock_timeout_s

    @property
    def url(self) -> str:
        return f"file://{self._root}"

    @property
    def root(self) -> Path:
        return self._root

    # --- paths and helpers --------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*validate_key(key).split("/"))

    def _fsync_dir(self, path: Path) -> None:
        if not self._fsync:
            return
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _makedirs(self, directory: Path) -> None:
        missing: list[Path] = []
        d = directory
        while d != self._root and not d.is_dir():
            missing.append(d)
            d = d.parent
        for d in reversed(missing):
            try:
                d.mkdir()
            except FileExistsError:
                if not d.is_dir():
                    raise
                continue
            self._fsync_dir(d.parent)

    def _write_temp(self, directory: Path, data: bytes) -> Path:
        """Write ``data`` to a new hidden temp file in ``directory`` (created if needed)."""
        for _ in range(10):
            self._makedirs(directory)
            tmp = directory / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:
                continue  # a concurrent delete pruned the (empty) directory; recreate it
            try:
                with open(fd, "wb", closefd=True) as f:
                    f.write(data)
                    f.flush()
                    if self._fsync:
                        os.fsync(f.fileno())
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return tmp
        raise StorageError(f"could not create a temp file in {str(directory)!r}")

    @contextmanager
    def _locked(self, key: str, op: str) -> Iterator[None]:
        digest = hashlib.sha256(key.encode()).hexdigest()
        lock_dir = self._root / _LOCK_DIR / digest[:2]
        lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_dir / f"{digest}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            deadline = time.monotonic() + self._lock_timeout_s
            pause = 0.0005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StorageBusyError(
                            f"local {op} of {key!r}: another process has held the object's lock "
                            f"for over {self._lock_timeout_s:g} s (stopped or hung?)"
                        ) from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.02)
            yield
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def _prune_dirs(self, directory: Path) -> None:
        """Remove now-empty parent directories (best effort; rmdir refuses non-empty ones)."""
        d = directory
        while d != self._root:
            try:
                d.rmdir()
            except OSError:
                return
            d = d.parent

    @staticmethod
    def _read(f: BinaryIO) -> tuple[bytes, os.stat_result]:
        st = os.fstat(f.fileno())
        return f.read(), st

    # --- reads --------------------------------------------------------------------------

    def get(self, key: str) -> ObjectData:
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                data, st = self._read(f)
        except OSError as exc:
            _fail("get", key, exc)
        return ObjectData(data, _md5(data), len(data), _mtime(st))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        if start < 0 or end < start:
            raise ValidationError(f"range [{start}, {end}): need 0 <= start <= end")
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                f.seek(start)
                return f.read(end - start)
        except OSError as exc:
            _fail("get_range", key, exc)

    def head(self, key: str) -> ObjectMeta:
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                version = hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False))
        except OSError as exc:
            _fail("head", key, exc)
        return ObjectMeta(key, st.st_size, version.hexdigest(), _mtime(st))

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[ObjectMeta]:
        validate_prefix(prefix)
        return self._list(prefix, start_after)

    def _list(self, prefix: str, start_after: str | None) -> Iterator[ObjectMeta]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._root.joinpath(*base.split("/")) if base else self._root

        def on_error(exc: OSError) -> None:
            if exc.errno not in _MISSING:  # vanished directories are simply empty
                _fail("list", prefix, exc)

        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start, onerror=on_error):
            rel = Path(dirpath).relative_to(self._root).as_posix()
            rel = "" if rel == "." else rel + "/"
            dirnames[:] = [
                d
                for d in dirnames
                if not d.startswith(".")
                and ((rel + d + "/").startswith(prefix) or prefix.startswith(rel + d + "/"))
            ]
            for name in filenames:
                key = rel + name
                if name.startswith(".") or not key.startswith(prefix):
                    continue
                if start_after is not None and key <= start_after:
                    continue  # before heading it: a head reads the whole file
                try:
                    validate_key(key)
                except ValidationError:
                    continue  # not addressable through the port (created by something else)
                keys.append(key)
        keys.sort()
        for key in keys:
            try:
                yield self.head(key)
            except ObjectNotFoundError:
                continue  # deleted while listing

    # --- writes -------------------------------------------------------------------------

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        path = self._path(key)
        data = bytes(data)
        if mode == "create":
            self._create(key, path, data)
        elif mode == "overwrite" or isinstance(mode, IfVersion):
            self._replace(key, path, data, mode)
        else:
            raise ValidationError(f"put mode {mode!r}: must be 'create', 'overwrite' or IfVersion")
        return _md5(data)

    def _replace(self, key: str, path: Path, data: bytes, mode: PutMode) -> None:
        """Write and fsync a temp file, then (locked) check ``mode`` and rename it in place."""
        try:
            tmp = self._write_temp(path.parent, data)
        except OSError as exc:
            _fail_write("put", key, exc)
        try:
            with self._locked(key, "put"):
                if isinstance(mode, IfVersion):
                    self._check_version(key, path, mode)
                try:
                    os.replace(tmp, path)
                except OSError as exc:
                    _fail_write("put", key, exc)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._fsync_dir(path.parent)

    @staticmethod
    def _check_version(key: str, path: Path, mode: IfVersion) -> None:
        try:
            with open(path, "rb") as f:
                current = hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False))
        except OSError as exc:
            _fail("put", key, exc)
        if current.hexdigest() != mode.version:
            raise VersionMismatchError(f"object {key!r}: version {mode.version!r} is not current")

    def _create(self, key: str, path: Path, data: bytes) -> None:
        try:
            tmp = self._write_temp(path.parent, data)
        except OSError as exc:
            _fail_write("put", key, exc)
        try:
            os.link(tmp, path)
        except FileExistsError as exc:
            if path.is_dir():
                raise StorageError(
                    f"object {key!r}: the local backend has a directory at that name"
                ) from exc
            raise ObjectExistsError(f"object {key!r} already exists") from exc
        except OSError as exc:
            _fail_write("put", key, exc)
        finally:
            tmp.unlink(missing_ok=True)
        self._fsync_dir(path.parent)

    def delete(self, key: str) -> None:
        path = self._path(key)
        with self._locked(key, "delete"):
            try:
                os.unlink(path)
            except OSError as exc:
                if exc.errno in _MISSING:
                    return
                _fail("delete", key, exc)
        self._fsync_dir(path.parent)
        self._prune_dirs(path.parent)

    def sign(self, key: str, ttl_seconds: int) -> str:
        validate_key(key)
        if self._signer is None:
            raise UnsupportedOperationError("sign: this local store has no URL signer configured")
        return self._signer.sign(key, ttl_seconds)

    # --- maintenance --------------------------------------------------------------------

    def sweep_temp_files(
        self, older_than_seconds: float = 3600.0, now: Callable[[], float] = time.time
    ) -> int:
        """Delete temp files left behind by crashed writers; returns how many were removed."""
        cutoff = now() - older_than_seconds
        removed = 0
        for dirpath, dirnames, filenames in os.walk(self._root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if not name.startswith(_TMP_PREFIX):
                    continue
                p = Path(dirpath) / name
                try:
                    if p.stat().st_mtime < cutoff:
                        p.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed


def _fail_write(op: str, key: str, exc: OSError) -> NoReturn:
    """Writes never report ObjectNotFoundError for a path problem: it is a storage failure."""
    if exc.errno in (errno.EISDIR, errno.ENOTDIR, errno.EEXIST):
        raise StorageError(
            f"local {op} of {key!r} failed: the path collides with an existing file or directory"
        ) from exc
    name = errno.errorcode.get(exc.errno or 0, "?")
    raise StorageError(f"local {op} of {key!r} failed: {name} {exc.strerror}") from exc
