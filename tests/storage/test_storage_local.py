"""Local filesystem backend: cross-process CAS and create-only races, and its specifics."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from arco.errors import (
    ObjectNotFoundError,
    StorageBusyError,
    StorageError,
    UnsupportedOperationError,
    VersionMismatchError,
)
from arco.storage import IfVersion, LocalFileStore, UrlSigner, open_store
from process_support import local_lock_file, stopped_lock_holder

PROCESSES = 8

# Each worker waits for the go-file so that all processes contend at once.
CAS_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from arco.errors import VersionMismatchError
    from arco.storage import IfVersion, LocalFileStore

    root, key, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    store = LocalFileStore(root, fsync=False)
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    written, conflicts = [], 0
    for _ in range(n):
        while True:
            cur = store.get(key)
            nxt = int(cur.data) + 1
            try:
                store.put(key, str(nxt).encode(), IfVersion(cur.version))
            except VersionMismatchError:
                conflicts += 1
                continue
            written.append(nxt)
            break
    print(json.dumps({"written": written, "conflicts": conflicts}), flush=True)
    """
)

CREATE_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from arco.errors import ObjectExistsError
    from arco.storage import LocalFileStore

    root, key, me, go = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    store = LocalFileStore(root, fsync=False)
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    try:
        store.put(key, me.encode(), "create")
        won = True
    except ObjectExistsError:
        won = False
    print(json.dumps({"me": me, "won": won}), flush=True)
    """
)


def _run_workers(
    script: str, args_per_worker: list[list[str]], go: Path
) -> list[dict[str, object]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for args in args_per_worker
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            assert line.strip() == "ready", p.stderr.read() if p.stderr else line
        go.touch()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_multiprocess_cas_counter_has_no_lost_updates(tmp_path: Path) -> None:
    root = tmp_path / "store"
    LocalFileStore(root, fsync=False).put("counter", b"0", "create")
    n = 50
    results = _run_workers(
        CAS_WORKER,
        [[str(root), "counter", str(n), str(tmp_path / "go")] for _ in range(PROCESSES)],
        tmp_path / "go",
    )
    final = int(LocalFileStore(root).get("counter").data)
    assert final == PROCESSES * n
    written = [v for r in results for v in r["written"]]  # type: ignore[attr-defined]
    # Every increment is owned by exactly one process: no value was written twice.
    assert sorted(written) == list(range(1, PROCESSES * n + 1))
    assert sum(r["conflicts"] for r in results) > 0  # type: ignore[misc]  # there was contention


def test_multiprocess_create_exactly_one_winner(tmp_path: Path) -> None:
    root = tmp_path / "store"
    LocalFileStore(root, fsync=False)
    results = _run_workers(
        CREATE_WORKER,
        [
            [str(root), "locks/catalog.lock.json", f"w{i}", str(tmp_path / "go")]
            for i in range(PROCESSES)
        ],
        tmp_path / "go",
    )
    winners = [r["me"] for r in results if r["won"]]
    assert len(winners) == 1
    assert LocalFileStore(root).get("locks/catalog.lock.json").data == str(winners[0]).encode()


def test_threaded_cas_and_delete_do_not_race(tmp_path: Path) -> None:
    """Delete takes the per-key lock: a CAS either wins before it or sees NotFound."""
    store = LocalFileStore(tmp_path, fsync=False)
    outcomes: list[str] = []
    lock = threading.Lock()

    def cas_loop() -> None:
        for _ in range(200):
            try:
                cur = store.get("k")
                store.put("k", cur.data + b"x", IfVersion(cur.version))
                r = "ok"
            except ObjectNotFoundError:
                r = "gone"
            except VersionMismatchError:
                r = "conflict"
            with lock:
                outcomes.append(r)

    churn_errors: list[StorageError] = []

    def churn() -> None:
        # Only this thread creates "k", right after deleting it, and a CAS that runs after the
        # delete sees NotFound: nothing can bring "k" back in between, so every create must
        # succeed (an ObjectExistsError would be a CAS resurrecting the deleted key). Errors
        # are collected for the assertion below: one raised in a thread would not fail the test.
        for _ in range(100):
            store.delete("k")
            try:
                store.put("k", b"", "create")
            except StorageError as exc:
                churn_errors.append(exc)

    store.put("k", b"")
    threads = [threading.Thread(target=cas_loop) for _ in range(3)] + [
        threading.Thread(target=churn)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 600
    assert churn_errors == []
    assert not list(tmp_path.rglob(".tmp-*"))


def test_no_temp_files_left_and_list_skips_internals(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "s", fsync=True)
    v = store.put("a/b", b"1", "create")
    store.put("a/b", b"2", IfVersion(v))
    store.put("a/c", b"3")
    assert not list((tmp_path / "s").rglob(".tmp-*"))
    (tmp_path / "s" / "a" / ".tmp-leftover").write_bytes(b"junk")
    assert [m.key for m in store.list()] == ["a/b", "a/c"]
    assert (tmp_path / "s" / ".locks").is_dir()


def test_sweep_temp_files(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path, fsync=False)
    store.put("a/b", b"1")
    stale = tmp_path / "a" / ".tmp-dead"
    stale.write_bytes(b"junk")
    assert store.sweep_temp_files(older_than_seconds=3600) == 0
    assert store.sweep_temp_files(older_than_seconds=-1) == 1
    assert not stale.exists()
    assert store.get("a/b").data == b"1"


def test_version_is_content_md5_and_aba_safe(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path, fsync=False)
    v1 = store.put("k", b"same")
    v2 = store.put("k", b"different")
    v3 = store.put("k", b"same")
    assert v1 == v3 == hashlib.md5(b"same").hexdigest()
    # Same bytes, same token: a CAS against it compares content, so there is no ABA hazard.
    store.put("k", b"next", IfVersion(v3))
    with pytest.raises(VersionMismatchError):
        store.put("k", b"again", IfVersion(v2))


def test_delete_prunes_empty_directories(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "s", fsync=False)
    store.put("x/y/z", b"1")
    store.put("x/keep", b"1")
    store.delete("x/y/z")
    assert not (tmp_path / "s" / "x" / "y").exists()
    assert (tmp_path / "s" / "x" / "keep").exists()
    store.put("x/y/z", b"2", "create")
    assert store.get("x/y/z").data == b"2"


def test_file_directory_collision_is_a_storage_error(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path, fsync=False)
    store.put("a/b", b"1")
    with pytest.raises(StorageError) as info:
        store.put("a", b"2")
    assert not isinstance(info.value, ObjectNotFoundError)
    with pytest.raises(StorageError) as info:
        store.put("a", b"2", "create")
    assert not isinstance(info.value, ObjectNotFoundError)
    store.put("f", b"file")
    with pytest.raises(StorageError):
        store.put("f/child", b"x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_permission_error_is_not_not_found(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path, fsync=False)
    store.put("p/x", b"1")
    (tmp_path / "p" / "x").chmod(0)
    try:
        with pytest.raises(StorageError) as info:
            store.get("p/x")
        assert not isinstance(info.value, ObjectNotFoundError)
        assert "p/x" in str(info.value)
    finally:
        (tmp_path / "p" / "x").chmod(0o644)


def test_unreadable_directory_fails_list(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    store = LocalFileStore(tmp_path, fsync=False)
    store.put("d/x", b"1")
    (tmp_path / "d").chmod(0)
    try:
        with pytest.raises(StorageError):
            list(store.list())
    finally:
        (tmp_path / "d").chmod(0o755)


def test_local_url_and_sign(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "r")
    assert store.url == f"file://{(tmp_path / 'r').resolve()}"
    with pytest.raises(UnsupportedOperationError):
        store.sign("a", 60)
    signer = UrlSigner("https://arco.example", b"k" * 32)
    signed = LocalFileStore(tmp_path / "r", signer=signer)
    url = signed.sign("a/b.parquet", 60)
    assert url.startswith("https://arco.example/files/a/b.parquet?expires=")


def test_relative_file_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("file://./rel/store", retry=False)
    store.put("k", b"v")
    assert (tmp_path / "rel" / "store" / "k").read_bytes() == b"v"
    assert store.url == f"file://{(tmp_path / 'rel' / 'store').resolve()}"


def test_reader_sees_whole_versions_during_writes(tmp_path: Path) -> None:
    """Readers never observe a torn object while a writer replaces it."""
    store = LocalFileStore(tmp_path, fsync=False)
    a, b = b"A" * 200_000, b"B" * 300_000
    store.put("k", a)
    stop = time.monotonic() + 0.5

    def writer() -> None:
        while time.monotonic() < stop:
            store.put("k", b)
            store.put("k", a)

    t = threading.Thread(target=writer)
    t.start()
    while time.monotonic() < stop:
        got = store.get("k")
        assert got.data in (a, b)
        assert got.version == hashlib.md5(got.data).hexdigest()
    t.join()


def test_os_errors_other_than_missing_are_storage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Works as root too: inject the OSError instead of relying on file permissions."""
    import errno

    import arco.storage.local as local_mod

    store = LocalFileStore(tmp_path, fsync=False)
    store.put("p/x", b"1")

    def broken_open(*args: object, **kwargs: object) -> object:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(local_mod, "open", broken_open, raising=False)
    for op in (
        lambda: store.get("p/x"),
        lambda: store.head("p/x"),
        lambda: store.get_range("p/x", 0, 1),
        lambda: store.put("p/x", b"2", IfVersion("v")),
    ):
        with pytest.raises(StorageError) as info:
            op()
        assert not isinstance(info.value, ObjectNotFoundError)
        assert "p/x" in str(info.value) and "EIO" in str(info.value)


def test_list_walk_error_is_not_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    store = LocalFileStore(tmp_path, fsync=False)
    store.put("d/x", b"1")
    real_walk = os.walk

    def failing_walk(
        top: str | os.PathLike[str],
        topdown: bool = True,
        onerror: Callable[[OSError], object] | None = None,
        followlinks: bool = False,
    ) -> Iterator[tuple[str, list[str], list[str]]]:
        assert onerror is not None
        onerror(PermissionError(errno.EACCES, "Permission denied", str(top)))
        return real_walk(top, topdown=topdown, followlinks=followlinks)

    monkeypatch.setattr(os, "walk", failing_walk)
    with pytest.raises(StorageError) as info:
        list(store.list())
    assert not isinstance(info.value, ObjectNotFoundError)


# --- a process stopped while holding an object's OS lock (issue 9, defect 1) --------------


@pytest.mark.parametrize("mode", ["cas", "overwrite", "delete"])
def test_a_stopped_lock_holder_delays_others_by_a_bound_not_forever(
    tmp_path: Path, mode: str
) -> None:
    root = tmp_path / "store"
    store = LocalFileStore(root, fsync=False, lock_timeout_s=0.5)
    version = store.put("manifests/m.json", b"v1", "create")
    with stopped_lock_holder(root, "manifests/m.json"):
        started = time.monotonic()
        with pytest.raises(StorageBusyError, match=r"held the object's lock for over 0\.5 s"):
            if mode == "cas":
                store.put("manifests/m.json", b"v2", IfVersion(version))
            elif mode == "overwrite":
                store.put("manifests/m.json", b"v2")
            else:
                store.delete("manifests/m.json")
        assert time.monotonic() - started < 5
        assert store.get("manifests/m.json").data == b"v1"  # nothing was written
        assert not [p for p in (root / "manifests").iterdir() if p.name.startswith(".tmp-")]
        # readers and creates never take the lock
        assert store.get("manifests/m.json").version == version
        store.put("manifests/other.json", b"x", "create")
    # the holder is gone: the same CAS goes through
    assert store.put("manifests/m.json", b"v2", IfVersion(version))


def test_the_data_is_written_and_fsynced_before_the_lock_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    store = LocalFileStore(root, fsync=True)
    version = store.put("m", b"v1", "create")
    lock_path = local_lock_file(root, "m")
    free_at_fsync: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        # a second open file description conflicts with a held flock, even in this process
        probe = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(probe, fcntl.LOCK_UN)
            free_at_fsync.append(True)
        except BlockingIOError:
            free_at_fsync.append(False)
        finally:
            os.close(probe)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    store.put("m", b"v2", IfVersion(version))
    assert free_at_fsync and all(free_at_fsync)  # file and directory fsyncs: outside
