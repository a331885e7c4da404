"""The per-table pointer: its JSON, compare-and-swap, read-back, and pending resolution."""

from __future__ import annotations

import pytest

from arco.core.clock import ManualClock
from arco.errors import (
    CorruptStateError,
    ObjectExistsError,
    ObjectNotFoundError,
    OutcomeUnknownError,
    TransientStorageError,
    VersionMismatchError,
)
from arco.iceberg.pointer import (
    MAX_RECENT,
    Pending,
    Pointer,
    PointerMoved,
    PointerState,
    PointerStore,
    RecentCommit,
)
from arco.metadata.layout import iceberg_pointer_key, iceberg_transaction_key
from arco.storage import FaultyStore, ObjectStore, open_store

UUID = "0b8e5f0e-4c0e-4a57-9a43-7f6b5d0a1c11"


@pytest.fixture
def store(root_store: ObjectStore) -> ObjectStore:
    return root_store


def pointers(store: ObjectStore, clock: ManualClock | None = None) -> PointerStore:
    return PointerStore(store, clock=clock or ManualClock(), txn_timeout_ms=1_000)


def test_pointer_json_round_trips_and_is_canonical() -> None:
    pointer = Pointer(
        "file:///w/t/metadata/00001-x.metadata.json",
        3,
        Pending("txn1", "file:///w/t/metadata/00000-y.metadata.json", 42),
        (RecentCommit("key", "hash", "file:///w/t/metadata/00001-x.metadata.json"),),
    )
    data = pointer.to_bytes()
    assert Pointer.from_bytes(data) == pointer
    assert data == Pointer.from_bytes(data).to_bytes()
    assert data.startswith(b'{"metadata_location":')
    assert Pointer.from_bytes(Pointer("loc").to_bytes()) == Pointer("loc", 0, None, ())


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"{}",
        b'{"metadata_location": 1, "version": 0, "pending": null, "recent": []}',
        b'{"metadata_location": "x", "version": true, "pending": null, "recent": []}',
        b'{"metadata_location": "x", "version": 0, "pending": {"txn": "t"}, "recent": []}',
    ],
)
def test_a_broken_pointer_is_corrupt_state(data: bytes) -> None:
    with pytest.raises(CorruptStateError, match="not a valid Iceberg pointer"):
        Pointer.from_bytes(data)


def test_create_read_swap(store: ObjectStore) -> None:
    ps = pointers(store)
    ps.create(UUID, Pointer("a"))
    with pytest.raises(ObjectExistsError):
        ps.create(UUID, Pointer("other"))
    state = ps.read(UUID)
    assert (state.location, state.pointer.version, state.undecided) == ("a", 0, False)
    token = ps.swap(UUID, state.successor("b"), state.token)
    assert ps.read(UUID).location == "b"
    assert ps.read(UUID).token == token
    with pytest.raises(VersionMismatchError):
        ps.swap(UUID, state.successor("c"), state.token)  # the token read before "b"
    assert ps.read(UUID).pointer.version == 1
    with pytest.raises(ObjectNotFoundError):
        ps.read("no-such-uuid")


def test_a_swap_of_unknown_outcome_is_read_back(store: ObjectStore) -> None:
    faulty = FaultyStore(store)
    ps = pointers(faulty)
    ps.create(UUID, Pointer("a"))
    state = ps.read(UUID)
    faulty.timeout_after_write = {len(faulty.ops)}  # the next op: the swap, applied
    token = ps.swap(UUID, state.successor("b"), state.token)
    assert ps.read(UUID).token == token and ps.read(UUID).location == "b"


def test_a_swap_of_unknown_outcome_that_did_not_apply_is_pointer_moved(store: ObjectStore) -> None:
    ps = pointers(store)
    ps.create(UUID, Pointer("a"))
    state = ps.read(UUID)
    ps.swap(UUID, state.successor("other writer"), state.token)
    lost = FaultyStore(store, fail_ops={0: OutcomeUnknownError("lost")})
    with pytest.raises(PointerMoved) as caught:
        pointers(lost).swap(UUID, state.successor("b"), state.token)
    assert caught.value.current.metadata_location == "other writer"


def test_unknown_outcome_and_a_failed_read_back_stay_unknown(store: ObjectStore) -> None:
    ps = pointers(store)
    ps.create(UUID, Pointer("a"))
    state = ps.read(UUID)
    down = FaultyStore(
        store, fail_ops={0: OutcomeUnknownError("lost"), 1: TransientStorageError("down")}
    )
    with pytest.raises(OutcomeUnknownError):
        pointers(down).swap(UUID, state.successor("b"), state.token)


def _pending(ps: PointerStore, txn: str, started_ms: int) -> None:
    state = ps.read(UUID)
    ps.swap(
        UUID, state.successor("new", pending=Pending(txn, state.location, started_ms)), state.token
    )


def test_pending_resolves_by_the_decision(store: ObjectStore) -> None:
    clock = ManualClock(10_000)
    ps = pointers(store, clock)
    ps.create(UUID, Pointer("old"))
    _pending(ps, "t1", clock.now_ms())
    state = ps.read(UUID)
    assert (state.location, state.undecided, state.decision) == ("old", True, None)
    assert ps.decide("t1", "commit") == "commit"
    state = ps.read(UUID)
    assert (state.location, state.undecided, state.decision) == ("new", False, "commit")
    # the first decision stands
    assert ps.decide("t1", "abort") == "commit"
    assert ps.decision("t1") == "commit"


def test_aborted_pending_resolves_to_previous(store: ObjectStore) -> None:
    clock = ManualClock(10_000)
    ps = pointers(store, clock)
    ps.create(UUID, Pointer("old"))
    _pending(ps, "t2", clock.now_ms())
    assert ps.decide("t2", "abort") == "abort"
    assert ps.read(UUID).location == "old"
    assert ps.decide("t2", "commit") == "abort"


def test_an_expired_undecided_transaction_is_aborted_by_a_reader(store: ObjectStore) -> None:
    clock = ManualClock(10_000)
    ps = pointers(store, clock)
    ps.create(UUID, Pointer("old"))
    _pending(ps, "t3", clock.now_ms())
    assert ps.read(UUID).location == "old"
    assert ps.decision("t3") is None  # young: readers leave it undecided
    clock.advance(1_001)
    state = ps.read(UUID)
    assert (state.location, state.decision) == ("old", "abort")
    assert ps.decision("t3") == "abort"


def test_a_writer_waits_for_the_decision_then_aborts_after_the_timeout(store: ObjectStore) -> None:
    clock = ManualClock(10_000)
    ps = pointers(store, clock)
    ps.create(UUID, Pointer("old"))
    _pending(ps, "t4", clock.now_ms())
    state = ps.read(UUID, wait=True)  # ManualClock: each poll advances time
    assert state.decision == "abort" and state.location == "old"
    assert clock.now_ms() > 10_000 + 1_000


def test_a_writer_waiting_sees_a_commit(store: ObjectStore) -> None:
    clock = ManualClock(10_000)
    ps = pointers(store, clock)
    ps.create(UUID, Pointer("old"))
    _pending(ps, "t5", clock.now_ms())

    class Deciding(ManualClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            ps.decide("t5", "commit")  # the coordinator decides while we wait

    waiting = PointerStore(store, clock=Deciding(10_000), txn_timeout_ms=1_000)
    state = waiting.read(UUID, wait=True)
    assert (state.location, state.decision) == ("new", "commit")


def test_decision_objects(store: ObjectStore) -> None:
    ps = pointers(store)
    assert ps.decision("nope") is None
    store.put(iceberg_transaction_key("bad"), b'{"decision": "maybe"}', "create")
    with pytest.raises(CorruptStateError):
        ps.decision("bad")
    # a decision whose create had an unknown outcome is read back
    faulty = FaultyStore(store, timeout_after_write={0})
    assert pointers(faulty).decide("t6", "abort") == "abort"


def test_recent_commits_and_successor() -> None:
    entries = tuple(RecentCommit(f"k{i}", "h", f"loc{i}") for i in range(MAX_RECENT))
    pointer = Pointer("loc", 5, None, entries)
    state = PointerState(pointer, "tok", pointer.to_bytes(), "loc")
    assert state.recent_commit("k3") == entries[3]
    nxt = state.successor("new", recent=RecentCommit("k-new", "h", "new"))
    assert nxt.version == 6 and nxt.pending is None
    assert len(nxt.recent) == MAX_RECENT and nxt.recent[-1].idempotency_key == "k-new"
    assert nxt.recent[0].idempotency_key == "k1"  # the oldest fell out

    # an entry of an aborted (or undecided) transaction does not count and is dropped
    pending = Pointer("txn-loc", 6, Pending("t", "loc", 0), (RecentCommit("kt", "h", "txn-loc"),))
    aborted = PointerState(pending, "tok", pending.to_bytes(), "loc", "abort")
    assert aborted.recent_commit("kt") is None
    assert aborted.successor("after").recent == ()
    committed = PointerState(pending, "tok", pending.to_bytes(), "txn-loc", "commit")
    assert committed.recent_commit("kt") is not None
    assert committed.successor("after").recent == pending.recent


def test_pointer_key_layout() -> None:
    assert iceberg_pointer_key(UUID) == f"iceberg/pointers/{UUID}.json"
    assert iceberg_transaction_key("t") == "iceberg/transactions/t.json"


def test_local_store_swaps_pointers(tmp_path: object) -> None:
    store = open_store(f"file://{tmp_path}/s", retry=False, fsync=False)
    ps = pointers(store)
    ps.create(UUID, Pointer("a"))
    state = ps.read(UUID)
    ps.swap(UUID, state.successor("b"), state.token)
    with pytest.raises(VersionMismatchError):
        ps.swap(UUID, state.successor("c"), state.token)
