"""The fenced lease lock (spec §5 step 1) and the manifest invariants (spec §4).

Every test runs on the memory and the local-filesystem backend (``root_store``) with a
fake clock, so lease expiry and lock waits cost no real time.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from arco.core.ids import new_ulid, next_ulid_after
from arco.errors import (
    CommitConflictError,
    CorruptStateError,
    FencedError,
    LockTimeoutError,
    ObjectNotFoundError,
)
from arco.metadata.layout import lock_key, manifest_key
from arco.metadata.manifest import (
    FileEntry,
    Manifest,
    StoredManifest,
    check_successor,
    publish_manifest,
    read_manifest,
    sha256_hex,
)
from arco.storage import LocalFileStore, ObjectStore
from arco.tier1.lock import Lease, LeaseLock, LeaseState
from catalog_support import FakeClock
from process_support import stopped_lock_holder

DOMAIN = "catalog"
LEASE_MS = 10_000


def make_lock(store: ObjectStore, clock: FakeClock, holder: str, **kw: Any) -> LeaseLock:
    kw.setdefault("lease_ms", LEASE_MS)
    kw.setdefault("wait_timeout_s", 2.0)
    return LeaseLock(store, DOMAIN, holder=holder, clock=clock, **kw)


def snapshot(store: ObjectStore) -> dict[str, str]:
    return {m.key: m.version for m in store.list("")}


# --- lease lock ---------------------------------------------------------------------------


def test_first_acquire_creates_the_lock_object_with_token_1(
    root_store: ObjectStore, clock: FakeClock
) -> None:
    lock = make_lock(root_store, clock, "a")
    assert lock.read() is None
    with pytest.raises(ObjectNotFoundError):
        root_store.get(lock_key(DOMAIN))

    lease = lock.acquire()

    assert lease.fencing_token == 1
    assert lease.holder == "a"
    assert lease.took_over is False
    assert lease.expires_at_ms == clock.now_ms() + LEASE_MS
    state = lock.read()
    assert state == LeaseState(DOMAIN, "a", 1, clock.now_ms() + LEASE_MS)
    # the lock object lives at its documented key
    assert LeaseState.from_bytes(root_store.get(lock_key(DOMAIN)).data, "k") == state


def test_release_keeps_the_token_and_next_acquire_increments(
    root_store: ObjectStore, clock: FakeClock
) -> None:
    a = make_lock(root_store, clock, "a")
    b = make_lock(root_store, clock, "b")
    lease = a.acquire()
    assert a.release(lease) is True

    released = a.read()
    assert released is not None
    assert released.holder is None
    assert released.fencing_token == 1

    # a released lease is free at once: no waiting, no takeover
    before = clock.now_ms()
    second = b.acquire()
    assert clock.now_ms() == before
    assert second.fencing_token == 2
    assert second.holder == "b"
    assert second.took_over is False
    assert b.release(second) is True
    third = a.acquire()
    assert third.fencing_token == 3
    assert third.took_over is False


def test_held_lease_blocks_another_holder_until_timeout(
    root_store: ObjectStore, clock: FakeClock
) -> None:
    lease_ms = 60_000
    a = make_lock(root_store, clock, "a", lease_ms=lease_ms)
    b = make_lock(root_store, clock, "b", lease_ms=lease_ms, wait_timeout_s=2.0)
    held = a.acquire()
    object_before = root_store.get(lock_key(DOMAIN))
    start = clock.now_ms()

    with pytest.raises(LockTimeoutError) as info:
        b.acquire()

    waited = clock.now_ms() - start
    assert waited > 2_000, "must wait the whole wait_timeout_s (of fake time)"
    assert waited < lease_ms, "must not have waited until the lease expired"
    assert "\n" not in str(info.value)
    # the waiter never modified the lock object
    after = root_store.get(lock_key(DOMAIN))
    assert (after.data, after.version) == (object_before.data, object_before.version)
    assert a.read() == LeaseState(DOMAIN, "a", held.fencing_token, held.expires_at_ms)
    # the holder still holds a valid lease
    renewed = a.renew(held)
    assert renewed.fencing_token == held.fencing_token


def test_takeover_after_expiry_increments_token_and_fences_old_holder(
    root_store: ObjectStore, clock: FakeClock
) -> None:
    a = make_lock(root_store, clock, "a")
    b = make_lock(root_store, clock, "b")
    old = a.acquire()
    clock.advance(LEASE_MS + 1)

    new = b.acquire()

    assert new.fencing_token == old.fencing_token + 1
    assert new.took_over is True
    assert new.holder == "b"
    with pytest.raises(FencedError):
        a.renew(old)
    with pytest.raises(FencedError):
        a.ensure_valid(old, margin_ms=LEASE_MS * 10)
    # the stale holder's release neither succeeds nor disturbs the new holder
    assert a.release(old) is False
    assert a.read() == LeaseState(DOMAIN, "b", new.fencing_token, new.expires_at_ms)
    # the new holder can renew and release normally
    renewed = b.renew(new)
    assert renewed.fencing_token == new.fencing_token
    assert b.release(renewed) is True
    state = b.read()
    assert state is not None
    assert state.fencing_token == new.fencing_token
    assert state.holder is None


def test_lease_is_not_taken_over_exactly_before_expiry(
    root_store: ObjectStore, clock: FakeClock
) -> None:
    a = make_lock(root_store, clock, "a")
    b = make_lock(root_store, clock, "b", wait_timeout_s=0.001)
    held = a.acquire()
    clock.advance(LEASE_MS - 100)
    with pytest.raises(LockTimeoutError):
        b.acquire()
    assert a.read() == LeaseState(DOMAIN, "a", held.fencing_token, held.expires_at_ms)


def test_renew_extends_the_lease(root_store: ObjectStore, clock: FakeClock) -> None:
    a = make_lock(root_store, clock, "a")
    b = make_lock(root_store, clock, "b", wait_timeout_s=0.001)
    lease = a.acquire()
    clock.advance(LEASE_MS - 1_000)
    lease = a.renew(lease)
    assert lease.expires_at_ms == clock.now_ms() + LEASE_MS
    clock.advance(LEASE_MS - 1_000)  # past the original expiry, inside the renewed one
    with pytest.raises(LockTimeoutError):
        b.acquire()
    assert a.read() == LeaseState(DOMAIN, "a", 1, lease.expires_at_ms)


def test_break_lock_increments_token_even_while_held(
    root_store: ObjectStore, clock: FakeClock
) -> None:
    a = make_lock(root_store, clock, "a")
    b = make_lock(root_store, clock, "b")
    held = a.acquire()

    broken = b.break_lock()

    assert broken.fencing_token == held.fencing_token + 1
    assert broken.took_over is True
    assert broken.holder == "b"
    with pytest.raises(FencedError):
        a.renew(held)
    assert a.release(held) is False
    # breaking a released lock still hands over with a new token, never a reset
    assert b.release(broken) is True
    again = a.break_lock()
    assert again.fencing_token == broken.fencing_token + 1
    assert again.took_over is False


@pytest.mark.parametrize(
    "content",
    [
        b"not json at all",
        b"{}",
        b'{"domain":"catalog","holder":null,"fencing_token":"x","expires_at_ms":0}',
        b'{"domain":"catalog","holder":null,"expires_at_ms":0}',
        b"[1,2,3]",
    ],
    ids=["garbage", "empty-object", "bad-token", "missing-token", "array"],
)
def test_corrupt_lock_object_is_reported_not_overwritten(
    root_store: ObjectStore, clock: FakeClock, content: bytes
) -> None:
    root_store.put(lock_key(DOMAIN), content, "create")
    before = snapshot(root_store)
    lock = make_lock(root_store, clock, "a")

    with pytest.raises(CorruptStateError):
        lock.read()
    with pytest.raises(CorruptStateError):
        lock.acquire()
    with pytest.raises(CorruptStateError):
        lock.break_lock()

    assert snapshot(root_store) == before
    assert root_store.get(lock_key(DOMAIN)).data == content


@pytest.mark.parametrize("seed", range(50))
def test_tokens_strictly_increase_across_random_sequences(
    root_store: ObjectStore, clock: FakeClock, seed: int
) -> None:
    """Random acquire/release/break/expire/renew steps by three holders."""
    rng = random.Random(seed)
    lease_ms = 1_000
    locks = {
        name: make_lock(root_store, clock, name, lease_ms=lease_ms, wait_timeout_s=0.2)
        for name in ("a", "b", "c")
    }
    held: dict[str, Lease] = {}
    issued: list[int] = []  # fencing tokens of every lease handed out, in order
    last_object_token = 0

    for _ in range(25):
        name = rng.choice(sorted(locks))
        lock = locks[name]
        action = rng.choice(["acquire", "acquire", "release", "break", "expire", "renew"])
        if action == "acquire":
            try:
                held[name] = lock.acquire()
                issued.append(held[name].fencing_token)
            except LockTimeoutError:
                # only a live lease (someone else's, or our own unreleased one) may block us
                blocking = lock.read()
                assert blocking is not None and blocking.holder is not None
                assert blocking.expires_at_ms > clock.now_ms()
        elif action == "break":
            held[name] = lock.break_lock()
            issued.append(held[name].fencing_token)
        elif action == "release" and name in held:
            lock.release(held.pop(name))
        elif action == "renew" and name in held:
            try:
                held[name] = lock.renew(held[name])
            except FencedError:
                del held[name]
        elif action == "expire":
            clock.advance(lease_ms + rng.randint(1, 500))

        state = lock.read()
        if not issued and state is None:
            continue  # never acquired yet
        assert state is not None, "the lock object must never be deleted"
        assert state.fencing_token >= last_object_token, f"token went down after {action}"
        last_object_token = state.fencing_token
        if issued:
            assert state.fencing_token >= issued[-1]

    assert issued == sorted(set(issued)), f"tokens not strictly increasing: {issued}"
    # at most one holder can still renew: everyone else was fenced
    alive = []
    for name, lease in held.items():
        try:
            locks[name].renew(lease)
            alive.append(name)
        except FencedError:
            pass  # fenced: left out of ``alive``
    assert len(alive) <= 1


# --- manifest invariants -----------------------------------------------------------------


def manifest(
    version: int,
    parent: StoredManifest | None,
    *,
    token: int = 1,
    commit_id: str | None = None,
    parent_hash: str | bool | None = True,
) -> Manifest:
    """A manifest following ``parent`` unless told otherwise."""
    if commit_id is None:
        commit_id = next_ulid_after(parent.manifest.commit_id if parent else None)
    if parent_hash is True:
        parent_hash = parent.hash if parent is not None else None
    data = f"v{version}".encode()
    return Manifest(
        domain=DOMAIN,
        snapshot_version=version,
        checkpoint_version=0,
        files=(
            FileEntry(
                path=f"snapshots/catalog/v{version}/delta-namespaces.parquet",
                table="namespaces",
                kind="delta",
                version=version,
                from_version=version,
                sha256=sha256_hex(data),
                bytes=len(data),
                rows=1,
            ),
        ),
        watermark=commit_id,
        fencing_token=token,
        commit_id=commit_id,
        parent_hash=parent_hash,  # type: ignore[arg-type]
        updated_at="2026-01-01T00:00:00.000Z",
    )


def stored(m: Manifest) -> StoredManifest:
    return StoredManifest(m, m.to_bytes(), "v-unused")


def test_check_successor_accepts_a_proper_successor() -> None:
    check_successor(None, manifest(1, None))
    first = stored(manifest(1, None, token=3))
    check_successor(first, manifest(2, first, token=3))
    check_successor(first, manifest(2, first, token=4))


def test_check_successor_first_version_must_be_1_without_parent() -> None:
    with pytest.raises(CommitConflictError):
        check_successor(None, manifest(2, None))
    with pytest.raises(CommitConflictError):
        check_successor(None, manifest(1, None, parent_hash="0" * 64))


def test_check_successor_rejects_lower_fencing_token() -> None:
    first = stored(manifest(1, None, token=5))
    with pytest.raises(FencedError):
        check_successor(first, manifest(2, first, token=4))


@pytest.mark.parametrize("version", [1, 3, 10, 0])
def test_check_successor_rejects_version_not_exactly_plus_one(version: int) -> None:
    first = stored(manifest(1, None))
    with pytest.raises(CommitConflictError):
        check_successor(first, manifest(version, first))


@pytest.mark.parametrize("parent_hash", [None, "0" * 64, "hash-of-something-else"])
def test_check_successor_rejects_wrong_parent_hash(parent_hash: str | None) -> None:
    first = stored(manifest(1, None))
    with pytest.raises(CommitConflictError):
        check_successor(first, manifest(2, first, parent_hash=parent_hash))


def test_check_successor_rejects_non_increasing_commit_id() -> None:
    first = stored(manifest(1, None))
    same = first.manifest.commit_id
    with pytest.raises(CommitConflictError):
        check_successor(first, manifest(2, first, commit_id=same))
    lower = "0" * 26
    assert lower < same
    with pytest.raises(CommitConflictError):
        check_successor(first, manifest(2, first, commit_id=lower))


def test_publish_manifest_chain_and_cas(root_store: ObjectStore) -> None:
    assert read_manifest(root_store, DOMAIN) is None
    v1 = publish_manifest(root_store, None, manifest(1, None))
    assert read_manifest(root_store, DOMAIN) == v1
    v2 = publish_manifest(root_store, v1, manifest(2, v1))
    current = read_manifest(root_store, DOMAIN)
    assert current == v2
    assert current is not None
    assert current.manifest.parent_hash == sha256_hex(v1.raw)


def test_publish_manifest_read_back_when_cas_failed_but_ours_is_current(
    root_store: ObjectStore,
) -> None:
    v1 = publish_manifest(root_store, None, manifest(1, None))
    ours = manifest(2, v1)
    # our write landed, but (say) the response was lost; we retry with the old version
    publish_manifest(root_store, v1, ours)
    before = snapshot(root_store)

    result = publish_manifest(root_store, v1, ours)

    assert result.manifest == ours
    assert result.raw == ours.to_bytes()
    assert snapshot(root_store) == before


def test_publish_manifest_first_version_read_back(root_store: ObjectStore) -> None:
    ours = manifest(1, None)
    root_store.put(manifest_key(DOMAIN), ours.to_bytes(), "create")
    result = publish_manifest(root_store, None, ours)
    assert result.manifest == ours


def test_publish_manifest_lost_race_is_a_conflict_and_publishes_nothing(
    root_store: ObjectStore,
) -> None:
    v1 = publish_manifest(root_store, None, manifest(1, None))
    winner = publish_manifest(root_store, v1, manifest(2, v1))
    loser = manifest(2, v1, commit_id=next_ulid_after(winner.manifest.commit_id))
    assert loser != winner.manifest

    with pytest.raises(CommitConflictError):
        publish_manifest(root_store, v1, loser)
    assert read_manifest(root_store, DOMAIN) == winner

    with pytest.raises(CommitConflictError):
        publish_manifest(root_store, None, manifest(1, None, commit_id=new_ulid()))
    assert read_manifest(root_store, DOMAIN) == winner


def test_publish_manifest_newer_token_in_place_is_fenced(root_store: ObjectStore) -> None:
    v1 = publish_manifest(root_store, None, manifest(1, None, token=1))
    newer = publish_manifest(root_store, v1, manifest(2, v1, token=5))
    stale = manifest(2, v1, token=3, commit_id=next_ulid_after(newer.manifest.commit_id))

    with pytest.raises(FencedError):
        publish_manifest(root_store, v1, stale)
    assert read_manifest(root_store, DOMAIN) == newer


def test_publish_manifest_checks_invariants_before_writing(root_store: ObjectStore) -> None:
    v1 = publish_manifest(root_store, None, manifest(1, None, token=5))
    before = snapshot(root_store)
    bad = [
        manifest(2, v1, token=4),
        manifest(3, v1, token=5),
        manifest(2, v1, token=5, parent_hash="0" * 64),
        manifest(2, v1, token=5, commit_id=v1.manifest.commit_id),
    ]
    for m in bad:
        with pytest.raises((FencedError, CommitConflictError)):
            publish_manifest(root_store, v1, m)
        assert snapshot(root_store) == before


def test_the_lease_lock_waits_out_a_stopped_holder_of_its_object_within_lock_wait(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    store = LocalFileStore(root, fsync=False, lock_timeout_s=0.2)
    first = LeaseLock(store, "catalog", holder="a", lease_ms=60_000, wait_timeout_s=1.0)
    first.release(first.acquire())
    second = LeaseLock(store, "catalog", holder="b", lease_ms=60_000, wait_timeout_s=1.0)
    with stopped_lock_holder(root, lock_key("catalog")):
        started = time.monotonic()
        with pytest.raises(LockTimeoutError, match="held the object's lock"):
            second.acquire()
        assert time.monotonic() - started < 1.0 + 0.2 + 2  # lock_wait_s + one bound + slack
    assert second.acquire().holder == "b"
