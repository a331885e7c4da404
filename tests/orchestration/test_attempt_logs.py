"""Attempt logs: output captured per thread (concurrent attempts of one process never mix),
log records included, chunks written while the attempt runs and read back in order."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import pytest

from arco.orchestration.logs import AttemptLog, attempt_log_prefix, read_logs
from arco.storage import ObjectStore, open_store


def _store(tmp_path: Path) -> ObjectStore:
    return open_store(f"file://{tmp_path / 'store'}")


def test_concurrent_attempts_capture_only_their_own_output(tmp_path: Path) -> None:
    store = _store(tmp_path)
    barrier = threading.Barrier(3)

    def attempt(name: str) -> None:
        with AttemptLog(store, "run1", f"attempt-{name}"):
            barrier.wait()
            for i in range(50):
                print(f"{name} line {i}")
                sys.stderr.write(f"{name} err {i}\n")
            logging.getLogger("arco.assets.demo").info("%s logged", name)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    by_attempt: dict[str, str] = {}
    for chunk in read_logs(store, "run1"):
        by_attempt[chunk.attempt_id] = by_attempt.get(chunk.attempt_id, "") + chunk.text
    assert sorted(by_attempt) == ["attempt-a", "attempt-b", "attempt-c"]
    for name in ("a", "b", "c"):
        text = by_attempt[f"attempt-{name}"]
        lines = text.splitlines()
        assert [ln for ln in lines if " line " in ln] == [f"{name} line {i}" for i in range(50)]
        assert [ln for ln in lines if " err " in ln] == [f"{name} err {i}" for i in range(50)]
        assert f"INFO arco.assets.demo: {name} logged" in text
        others = {"a", "b", "c"} - {name}
        assert not any(ln.startswith(tuple(others)) for ln in lines)


def test_output_outside_a_capture_goes_to_the_real_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store(tmp_path)
    with AttemptLog(store, "run2", "attempt-x"):
        print("captured")
    print("not captured")
    texts = [c.text for c in read_logs(store, "run2")]
    assert texts == ["captured\n"]
    out = capsys.readouterr().out
    assert "not captured" in out and "captured\n" not in out.replace("not captured", "")


def test_chunks_are_written_while_the_attempt_runs(tmp_path: Path) -> None:
    store = _store(tmp_path)
    prefix = attempt_log_prefix("run3", "attempt-y")
    with AttemptLog(store, "run3", "attempt-y", flush_every_s=0.05):
        print("first")
        deadline = time.monotonic() + 10
        while not list(store.list(prefix)):
            assert time.monotonic() < deadline, "nothing was written while the attempt ran"
            time.sleep(0.01)
        print("second")
    chunks = list(read_logs(store, "run3"))
    assert len(chunks) >= 2
    assert "".join(c.text for c in chunks) == "first\nsecond\n"
    # following: only what came after the last key read
    assert list(read_logs(store, "run3", after=chunks[-1].key)) == []
    assert [c.key for c in read_logs(store, "run3", after=chunks[0].key)] == [
        c.key for c in chunks[1:]
    ]
