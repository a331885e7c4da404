"""The tier-2 event ledger: create-only appends, idempotent retries, listing, many writers."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from arco.errors import (
    ConflictError,
    CorruptStateError,
    OutcomeUnknownError,
    ValidationError,
)
from arco.metadata.layout import ledger_key, ledger_name, parse_ledger_key, parse_ledger_name
from arco.storage import (
    FaultyStore,
    LocalFileStore,
    ObjectStore,
    RetryingStore,
    ScopedStore,
    open_store,
)
from arco.tier2.envelope import EventEnvelope, parse_event
from arco.tier2.ledger import EventLedger

PREFIX = "tenant=t1/workspace=w1/"
NOW_MS = 1_795_957_666_123


def event(i: int, event_id: str | None = None) -> EventEnvelope:
    line: dict[str, object] = {"event_type": "materialization", "seq": i}
    if event_id is not None:
        line = {"event_id": event_id, "event_type": "materialization", "payload": {"seq": i}}
    return parse_event(line, source="test", now_ms=NOW_MS + i)


def fixed_id(i: int) -> str:
    return f"01JQ3Z7W8X9Y0ABCDEFG{i:06d}"


@pytest.fixture(params=["memory", "local"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "memory":
        return open_store("memory://", retry=False)
    return LocalFileStore(tmp_path / "store", fsync=False)


@pytest.fixture
def store(root: ObjectStore) -> ScopedStore:
    return ScopedStore(root, PREFIX)


def test_layout_names_round_trip() -> None:
    eid = fixed_id(1)
    assert ledger_name(eid, "0badc0de") == f"{eid}-0badc0de"
    assert parse_ledger_name(f"{eid}-0badc0de") == (eid, "0badc0de")
    assert parse_ledger_name(eid) == (eid, None)  # tier-1 names: the commit id alone
    for bad in ("junk", f"{eid}-0BADC0DE", f"{eid}-123", f"{eid.lower()}-0badc0de", ""):
        assert parse_ledger_name(bad) is None
    key = ledger_key("executions", ledger_name(eid, "0badc0de"))
    assert key == f"ledger/executions/{eid}-0badc0de.json"
    assert parse_ledger_key("executions", key) == (eid, "0badc0de")
    assert parse_ledger_key("lineage", key) is None
    assert parse_ledger_key("executions", f"ledger/executions/sub/{eid}.json") is None


def test_append_read_round_trip(store: ScopedStore, root: ObjectStore) -> None:
    ledger = EventLedger(store, "executions")
    events = [event(i) for i in range(40)]
    keys = ledger.append(events)
    assert keys == [ledger.key_for(e.event_id) for e in events]
    assert all(k.endswith(f"-{ledger.entropy}.json") for k in keys)
    assert ledger.list_keys() == sorted(keys)
    assert ledger.read_many(keys) == events
    assert ledger.read(keys[0]).to_bytes() == store.get(keys[0]).data
    # keys live under the scope prefix of the root store
    assert sorted(m.key for m in root.list("")) == sorted(PREFIX + k for k in keys)
    assert ledger.append([]) == []


def test_list_keys_after(store: ScopedStore) -> None:
    ledger = EventLedger(store, "executions")
    keys = sorted(ledger.append([event(i) for i in range(5)]))
    assert ledger.list_keys(after=keys[1]) == keys[2:]
    assert ledger.list_keys(after=keys[-1]) == []
    assert EventLedger(store, "lineage").list_keys() == []


def test_two_ledgers_with_the_same_event_ids_never_collide(store: ScopedStore) -> None:
    events = [event(i, fixed_id(i)) for i in range(10)]
    a, b = EventLedger(store, "executions"), EventLedger(store, "executions")
    assert a.entropy != b.entropy
    keys_a, keys_b = a.append(events), b.append(events)
    assert not set(keys_a) & set(keys_b)
    assert len(a.list_keys()) == 20
    ids = Counter(e.event_id for e in a.read_many(a.list_keys()))
    assert ids == Counter({fixed_id(i): 2 for i in range(10)})


def test_same_ledger_retry_is_idempotent(store: ScopedStore) -> None:
    ledger = EventLedger(store, "executions")
    events = [event(i) for i in range(3)]
    assert ledger.append(events) == ledger.append(events)
    assert len(ledger.list_keys()) == 3


def test_same_id_with_different_content_conflicts(store: ScopedStore) -> None:
    ledger = EventLedger(store, "executions", entropy="0badc0de")
    ledger.append([event(1, fixed_id(1))])
    with pytest.raises(ConflictError, match="different event"):
        ledger.append([event(2, fixed_id(1))])
    # a restarted writer reusing the entropy retries idempotently
    again = EventLedger(store, "executions", entropy="0badc0de")
    assert again.append([event(1, fixed_id(1))]) == ledger.list_keys()


def test_duplicate_ids_in_one_batch_are_rejected(store: ScopedStore) -> None:
    ledger = EventLedger(store, "executions")
    with pytest.raises(ValidationError, match=r"^events\[1\]\.event_id: .* twice"):
        ledger.append([event(1, fixed_id(1)), event(1, fixed_id(1))])
    assert ledger.list_keys() == []


@pytest.mark.parametrize("batch", [1, 5])
def test_retry_after_lost_response_succeeds_exactly_once(batch: int) -> None:
    faulty = FaultyStore(open_store("memory://", retry=False), timeout_after_write={0})
    ledger = EventLedger(ScopedStore(faulty, PREFIX), "executions")
    events = [event(i) for i in range(batch)]
    with pytest.raises(OutcomeUnknownError):
        ledger.append(events)
    assert len(ledger.list_keys()) == batch  # every write was applied, one response lost
    keys = ledger.append(events)  # the caller retries the whole batch
    assert sorted(keys) == ledger.list_keys()
    assert ledger.read_many(keys) == events
    # each retried create found an object and read it back: our own bytes, so success
    assert len(faulty.op_indices("put")) == 2 * batch
    assert len(faulty.op_indices("get")) == 2 * batch  # batch read-backs + read_many


def test_retrying_store_resolves_a_lost_response_in_place() -> None:
    faulty = FaultyStore(open_store("memory://", retry=False), timeout_after_write={0})
    store = ScopedStore(RetryingStore(faulty, base_delay=0.0), PREFIX)
    ledger = EventLedger(store, "executions")
    keys = ledger.append([event(1)])
    assert ledger.list_keys() == keys


def test_invalid_names_are_skipped_with_a_warning(
    store: ScopedStore, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = EventLedger(store, "executions")
    keys = ledger.append([event(1)])
    tier1 = ledger_key("executions", fixed_id(7))
    store.put(tier1, event(7, fixed_id(7)).to_bytes())
    for junk in ("junk.json", "sub/x.json", f"{fixed_id(8).lower()}-0badc0de.json", "x.txt"):
        store.put(f"ledger/executions/{junk}", b"{}")
    with caplog.at_level(logging.WARNING, logger="arco.tier2.ledger"):
        listed = ledger.list_keys()
    assert listed == sorted([*keys, tier1])
    assert len([r for r in caplog.records if "not a ledger object name" in r.message]) == 4
    assert ledger.read(tier1).event_id == fixed_id(7)


def test_read_rejects_foreign_keys_and_corrupt_objects(store: ScopedStore) -> None:
    ledger = EventLedger(store, "executions")
    with pytest.raises(ValidationError, match="not a ledger key"):
        ledger.read("manifests/catalog.manifest.json")
    bad = ledger.key_for(fixed_id(1))
    store.put(bad, b'{"event_type": 1}')
    with pytest.raises(CorruptStateError, match=r"ledger object .*: event_id: is required"):
        ledger.read(bad)
    moved = ledger.key_for(fixed_id(2))
    store.put(moved, event(3, fixed_id(3)).to_bytes())
    with pytest.raises(CorruptStateError, match="holds event_id"):
        ledger.read(moved)


def test_constructor_validates_domain_and_entropy(store: ScopedStore) -> None:
    for domain in ("", "Exec", "a/b", "../x", "x" * 64):
        with pytest.raises(ValidationError, match=r"^domain: "):
            EventLedger(store, domain)
    for entropy in ("", "0BADC0DE", "123", "0badc0de0"):
        with pytest.raises(ValidationError, match=r"^entropy: "):
            EventLedger(store, "executions", entropy=entropy)


_WRITER = """
import pathlib, sys, time
from arco.tier2.envelope import parse_event
from arco.tier2.ledger import EventLedger
from arco.storage import LocalFileStore, ScopedStore

root, writer, go = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
store = ScopedStore(LocalFileStore(root, fsync=False), "tenant=t1/workspace=w1/")
ledger = EventLedger(store, "executions")
events = []
for i in range(200):
    line = {"event_type": "materialization", "payload": {"writer": writer, "seq": i}}
    if writer < 2:  # writers 0 and 1 append the very same event ids
        line["event_id"] = f"01JQ3Z7W8X9Y0ABCDEFG{i:06d}"
    events.append(parse_event(line, source=f"w{writer}", now_ms=1_795_957_666_123))
deadline = time.monotonic() + 30
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.002)
ledger.append(events)
"""


def test_four_processes_append_concurrently(tmp_path: Path) -> None:
    root = tmp_path / "store"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(root), str(w), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(4)
    ]
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    ledger = EventLedger(ScopedStore(LocalFileStore(root, fsync=False), PREFIX), "executions")
    keys = ledger.list_keys()
    assert len(keys) == len(set(keys)) == 800
    events = ledger.read_many(keys)
    written = Counter((e.payload["writer"], e.payload["seq"]) for e in events)
    assert len(written) == 800 and set(written.values()) == {1}
    entropies = {parse_ledger_key("executions", k)[1] for k in keys}  # type: ignore[index]
    assert len(entropies) == 4
    assert len({e.event_id for e in events}) == 600  # 200 ids shared by writers 0 and 1
