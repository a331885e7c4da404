"""RetryingStore (backoff, read-back resolution) and FaultyStore (crashes, injected faults)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from arco.errors import (
    InvalidKeyError,
    ObjectExistsError,
    ObjectNotFoundError,
    OutcomeUnknownError,
    StorageBusyError,
    StorageError,
    TransientStorageError,
    VersionMismatchError,
)
from arco.storage import (
    FaultyStore,
    ForwardingStore,
    IfVersion,
    ObjectMeta,
    ObjectStore,
    RetryingStore,
    SimulatedCrash,
    open_store,
)


def _mem() -> ObjectStore:
    return open_store("memory://", retry=False)


def _retrying(inner: ObjectStore, attempts: int = 5) -> tuple[RetryingStore, list[float]]:
    sleeps: list[float] = []
    store = RetryingStore(inner, attempts=attempts, rng=random.Random(7), sleep=sleeps.append)
    return store, sleeps


# --- RetryingStore: resolving unknown outcomes by reading back --------------------------


def test_lost_create_response_resolved_as_ours() -> None:
    faulty = FaultyStore(_mem(), timeout_after_write={0})
    store, _ = _retrying(faulty)
    version = store.put("ledger/e.json", b"event", "create")
    assert faulty.ops[:3] == [
        (0, "put", "ledger/e.json"),
        (1, "put", "ledger/e.json"),
        (2, "get", "ledger/e.json"),
    ]
    assert faulty.inner.get("ledger/e.json").version == version


def test_lost_create_response_but_object_is_someone_elses() -> None:
    inner = _mem()
    faulty = FaultyStore(inner, timeout_after_write={0})
    store, _ = _retrying(faulty)

    # Our write is "applied", then another writer replaces it before our retry.
    def sneak(index: int, op: str, key: str) -> BaseException | None:
        if index == 1:
            inner.put(key, b"theirs")
        return None

    faulty.fault = sneak
    with pytest.raises(ObjectExistsError):
        store.put("k", b"mine", "create")
    assert inner.get("k").data == b"theirs"


def test_lost_cas_response_resolved_as_ours() -> None:
    inner = _mem()
    v1 = inner.put("manifest", b"v1")
    faulty = FaultyStore(inner, timeout_after_write={0})
    store, _ = _retrying(faulty)
    v2 = store.put("manifest", b"v2", IfVersion(v1))
    assert inner.get("manifest").data == b"v2"
    assert inner.get("manifest").version == v2


def test_lost_cas_response_and_a_competing_commit() -> None:
    inner = _mem()
    v1 = inner.put("manifest", b"v1")
    faulty = FaultyStore(inner, fail_ops={0: OutcomeUnknownError("lost")})  # not applied

    def competitor(index: int, op: str, key: str) -> BaseException | None:
        if index == 1:
            inner.put(key, b"v2-theirs")
        return None

    faulty.fault = competitor
    store, _ = _retrying(faulty)
    with pytest.raises(VersionMismatchError):
        store.put("manifest", b"v2-mine", IfVersion(v1))
    assert inner.get("manifest").data == b"v2-theirs"


def test_a_competitors_identical_bytes_are_taken_for_ours() -> None:
    # The documented limit of reading back: a conditional write must carry bytes unique to
    # its writer. Here ours failed (not applied) and a competitor wrote the very same bytes;
    # the retry cannot tell them apart and reports success. (A CAS counter writing bare
    # numbers loses an increment this way; Arco's manifests carry their commit id.)
    inner = _mem()
    v1 = inner.put("counter", b"1")
    faulty = FaultyStore(inner, fail_ops={0: TransientStorageError("reset")})

    def competitor(index: int, op: str, key: str) -> BaseException | None:
        if index == 1:
            inner.put(key, b"2", IfVersion(v1))
        return None

    faulty.fault = competitor
    store, _ = _retrying(faulty)
    version = store.put("counter", b"2", IfVersion(v1))
    assert version == inner.get("counter").version  # "ours", though it was theirs


def test_precondition_failure_without_uncertainty_is_not_read_back() -> None:
    inner = _mem()
    inner.put("k", b"same")
    faulty = FaultyStore(inner)
    store, _ = _retrying(faulty)
    with pytest.raises(ObjectExistsError):
        store.put("k", b"same", "create")  # identical bytes, but no earlier attempt
    assert [op for _, op, _ in faulty.ops] == ["put"]


def test_transient_errors_retried_with_bounded_jittered_backoff() -> None:
    inner = _mem()
    inner.put("k", b"v")
    faulty = FaultyStore(
        inner, fail_ops={0: TransientStorageError("503"), 1: TransientStorageError("503")}
    )
    store, sleeps = _retrying(faulty)
    assert store.get("k").data == b"v"
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.02 and 0 <= sleeps[1] <= 0.04


def test_backoff_is_capped() -> None:
    faulty = FaultyStore(_mem(), transient_rate=1.0, seed=1)
    sleeps: list[float] = []
    store = RetryingStore(faulty, attempts=12, base_delay=0.1, max_delay=0.5, sleep=sleeps.append)
    with pytest.raises(TransientStorageError):
        store.get("k")
    assert len(faulty.ops) == 12
    assert len(sleeps) == 11 and max(sleeps) <= 0.5


def test_non_transient_errors_never_retried() -> None:
    for exc in (
        ObjectNotFoundError("nf"),
        StorageError("boom"),
        VersionMismatchError("vm"),
        InvalidKeyError("bad"),
    ):
        faulty = FaultyStore(_mem(), fail_ops={0: exc})
        store, sleeps = _retrying(faulty)
        with pytest.raises(type(exc)):
            store.get("k")
        assert len(faulty.ops) == 1 and sleeps == []


def test_conditional_put_exhausting_attempts_reports_outcome_unknown() -> None:
    faulty = FaultyStore(_mem(), fail_ops={i: OutcomeUnknownError("t/o") for i in range(3)})
    store, _ = _retrying(faulty, attempts=3)
    with pytest.raises(OutcomeUnknownError):
        store.put("k", b"v", "create")


def test_conditional_put_exhausting_plain_transient_errors() -> None:
    faulty = FaultyStore(_mem(), transient_rate=1.0, seed=3)
    store, _ = _retrying(faulty, attempts=3)
    with pytest.raises(TransientStorageError) as info:
        store.put("k", b"v", "create")
    assert not isinstance(info.value, OutcomeUnknownError)


def test_read_back_failing_is_outcome_unknown() -> None:
    faulty = FaultyStore(_mem(), timeout_after_write={0})
    faulty.fault = lambda i, op, key: TransientStorageError("down") if op == "get" else None
    store, _ = _retrying(faulty, attempts=2)
    with pytest.raises(OutcomeUnknownError):
        store.put("k", b"v", "create")


def test_overwrite_and_delete_retried_plainly() -> None:
    inner = _mem()
    faulty = FaultyStore(
        inner, fail_ops={0: OutcomeUnknownError("t/o"), 2: TransientStorageError("503")}
    )
    store, _ = _retrying(faulty)
    store.put("k", b"v", "overwrite")
    store.delete("k")
    with pytest.raises(ObjectNotFoundError):
        inner.get("k")


def test_list_resumes_after_transient_failure() -> None:
    inner = _mem()
    for i in range(10):
        inner.put(f"p/{i:02d}", b"x")

    class FlakyList(ForwardingStore):
        """Fails once in the middle of the first listing."""

        def __init__(self) -> None:
            super().__init__(inner)
            self.calls = 0

        def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[ObjectMeta]:
            self.calls += 1
            first = self.calls == 1
            for n, meta in enumerate(inner.list(prefix, start_after=start_after)):
                if first and n == 4:
                    raise TransientStorageError("connection reset")
                yield meta

    flaky = FlakyList()
    store = RetryingStore(flaky, sleep=lambda s: None)
    keys = [m.key for m in store.list("p/")]
    assert keys == [f"p/{i:02d}" for i in range(10)]
    assert flaky.calls == 2


def test_transient_rate_with_retries_still_correct() -> None:
    inner = _mem()
    faulty = FaultyStore(inner, transient_rate=0.3, seed=42)
    store = RetryingStore(faulty, attempts=20, sleep=lambda s: None, rng=random.Random(1))
    v = store.put("c", b"0", "create")
    for i in range(1, 30):
        v = store.put("c", str(i).encode(), IfVersion(v))
    assert inner.get("c").data == b"29"
    assert len(faulty.ops) > 30  # some attempts failed and were retried


# --- FaultyStore ------------------------------------------------------------------------


def test_crash_after_n_operations() -> None:
    inner = _mem()
    faulty = FaultyStore(inner, crash_after=2)
    faulty.put("a", b"1")
    faulty.put("b", b"2")
    with pytest.raises(SimulatedCrash):
        faulty.put("c", b"3")
    with pytest.raises(SimulatedCrash):
        faulty.get("a")  # the process stays dead
    assert faulty.crashed
    assert [m.key for m in inner.list()] == ["a", "b"]  # op 2 never reached the store
    assert faulty.ops == [(0, "put", "a"), (1, "put", "b"), (2, "put", "c"), (3, "get", "a")]


def test_simulated_crash_is_not_an_exception() -> None:
    faulty = FaultyStore(_mem(), crash_after=0)
    assert not issubclass(SimulatedCrash, Exception)
    with pytest.raises(SimulatedCrash):
        try:
            faulty.get("x")
        except Exception:  # an ordinary handler must not swallow a crash
            pytest.fail("SimulatedCrash was caught by `except Exception`")


def test_crash_is_not_retried() -> None:
    faulty = FaultyStore(_mem(), crash_after=0)
    store, sleeps = _retrying(faulty)
    with pytest.raises(SimulatedCrash):
        store.put("k", b"v", "create")
    assert len(faulty.ops) == 1 and sleeps == []


def test_timeout_after_write_applies_then_raises() -> None:
    inner = _mem()
    faulty = FaultyStore(inner, timeout_after_write={1})
    faulty.put("a", b"1")
    with pytest.raises(OutcomeUnknownError):
        faulty.put("b", b"2", "create")
    assert inner.get("b").data == b"2"


def test_timeout_after_write_ignores_reads() -> None:
    inner = _mem()
    inner.put("a", b"1")
    faulty = FaultyStore(inner, timeout_after_write={0})
    assert faulty.get("a").data == b"1"


def test_fail_ops_raise_without_running() -> None:
    inner = _mem()
    faulty = FaultyStore(inner, fail_ops={1: VersionMismatchError("injected 412")})
    faulty.put("a", b"1")
    with pytest.raises(VersionMismatchError):
        faulty.put("b", b"2")
    with pytest.raises(ObjectNotFoundError):
        inner.get("b")


def test_transient_rate_is_seeded_and_before_the_op() -> None:
    def run() -> list[bool]:
        inner = _mem()
        faulty = FaultyStore(inner, transient_rate=0.5, seed=123)
        out = []
        for i in range(40):
            try:
                faulty.put(f"k{i}", b"x")
                out.append(True)
            except TransientStorageError:
                out.append(False)
                with pytest.raises(ObjectNotFoundError):
                    inner.get(f"k{i}")  # failed before doing the op
        return out

    first = run()
    assert first == run()
    assert 5 < sum(first) < 35


def test_latency_and_list_and_sign_are_ops() -> None:
    faulty = FaultyStore(_mem(), latency=0.001)
    faulty.put("p/a", b"1")
    assert [m.key for m in faulty.list("p/")] == ["p/a"]
    with pytest.raises(StorageError):
        faulty.sign("p/a", 60)
    faulty.head("p/a")
    faulty.get_range("p/a", 0, 1)
    faulty.delete("p/a")
    assert [op for _, op, _ in faulty.ops] == ["put", "list", "sign", "head", "get_range", "delete"]
    assert faulty.op_indices("put", "p/") == [0]
    assert faulty.url == "memory://"


def test_busy_is_passed_on_at_once_not_retried() -> None:
    # the backend already waited its bound for a stopped lock holder; retrying multiplies it
    faulty = FaultyStore(
        _mem(), fail_ops={0: StorageBusyError("held"), 1: StorageBusyError("held")}
    )
    store, sleeps = _retrying(faulty)
    with pytest.raises(StorageBusyError):
        store.put("k", b"v", "create")
    with pytest.raises(StorageBusyError):
        store.get("k")
    assert sleeps == [] and len(faulty.ops) == 2


def test_busy_after_an_uncertain_attempt_is_outcome_unknown() -> None:
    inner = _mem()
    v1 = inner.put("m", b"v1")
    faulty = FaultyStore(
        inner, fail_ops={0: TransientStorageError("reset"), 1: StorageBusyError("held")}
    )
    store, _ = _retrying(faulty)
    with pytest.raises(OutcomeUnknownError, match="lock is now held"):
        store.put("m", b"v2", IfVersion(v1))
