"""Fenced lease lock, one per tier-1 domain.

The lock is a small JSON object at ``locks/{domain}.lock.json`` that is never deleted:

* acquire = create-only put (first ever) or compare-and-swap over a released/expired lease;
* every hand-over, including a forced break, increments ``fencing_token``; release keeps it;
* renew = CAS that extends ``expires_at_ms``; losing the CAS means the lease was taken over.

The fencing token is what makes the lock safe against paused or partitioned holders: the
commit protocol writes it into the manifest, and a manifest may never go back to a lower
token (see :mod:`arco.metadata.manifest`).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from arco.core import canonical_json
from arco.core.clock import SYSTEM_CLOCK, Clock
from arco.core.ids import new_ulid
from arco.errors import (
    ArcoError,
    CorruptStateError,
    FencedError,
    LockTimeoutError,
    ObjectExistsError,
    ObjectNotFoundError,
    StorageBusyError,
    VersionMismatchError,
)
from arco.metadata.layout import lock_key
from arco.storage.port import IfVersion, ObjectStore


@dataclass(frozen=True, slots=True)
class LeaseState:
    """The content of a lock object."""

    domain: str
    holder: str | None
    fencing_token: int
    expires_at_ms: int

    def to_bytes(self) -> bytes:
        return canonical_json.canonical_dumps(
            {
                "domain": self.domain,
                "holder": self.holder,
                "fencing_token": self.fencing_token,
                "expires_at_ms": self.expires_at_ms,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes, key: str) -> LeaseState:
        try:
            raw = canonical_json.loads(data)
            return cls(
                domain=str(raw["domain"]),
                holder=raw["holder"],
                fencing_token=int(raw["fencing_token"]),
                expires_at_ms=int(raw["expires_at_ms"]),
            )
        except (ArcoError, KeyError, TypeError, ValueError) as exc:
            raise CorruptStateError(f"lock object {key} is unreadable: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lease. ``took_over`` is true when it replaced an expired, unreleased lease."""

    domain: str
    holder: str
    fencing_token: int
    expires_at_ms: int
    object_version: str
    took_over: bool


class LeaseLock:
    """Acquire, renew and release the lease of one domain in one scoped store."""

    def __init__(
        self,
        store: ObjectStore,
        domain: str,
        *,
        holder: str | None = None,
        lease_ms: int = 15_000,
        wait_timeout_s: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._domain = domain
        self._key = lock_key(domain)
        self.holder = holder or f"holder-{new_ulid()}"
        self.lease_ms = lease_ms
        self._wait_timeout_ms = int(wait_timeout_s * 1000)
        self._clock = clock
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()

    def read(self) -> LeaseState | None:
        """The current lock object, or None if the domain was never locked."""
        try:
            obj = self._store.get(self._key)
        except ObjectNotFoundError:
            return None
        return LeaseState.from_bytes(obj.data, self._key)

    def acquire(self) -> Lease:
        """Block until the lease is ours or ``wait_timeout_s`` passes (LockTimeoutError)."""
        start = self._clock.now_ms()
        delay = 0.001
        busy: StorageBusyError | None = None
        while True:
            try:
                lease = self._try_acquire(force=False)
            except StorageBusyError as exc:
                # the lock object itself is held by a stopped or hung process: busy, like a
                # held lease, and waited for within the same bound
                lease, busy = None, exc
            if lease is not None:
                return lease
            if self._clock.now_ms() - start > self._wait_timeout_ms:
                why = f" ({busy.message})" if busy is not None else ""
                raise LockTimeoutError(
                    f"lock {self._domain}: not acquired within {self._wait_timeout_ms} ms{why}"
                )
            with self._rng_lock:
                pause = self._rng.uniform(0, delay)
            self._clock.sleep(pause)
            delay = min(delay * 2, 0.02)

    def try_acquire(self) -> Lease | None:
        """The lease if it is free now, else None (never waits; a busy lock object is
        reported as not free)."""
        try:
            return self._try_acquire(force=False)
        except StorageBusyError:
            return None

    def break_lock(self) -> Lease:
        """Forcibly take the lease even if it is held; the fencing token still increments."""
        while True:
            lease = self._try_acquire(force=True)
            if lease is not None:
                return lease

    def _try_acquire(self, *, force: bool) -> Lease | None:
        now = self._clock.now_ms()
        try:
            obj = self._store.get(self._key)
        except ObjectNotFoundError:
            state = LeaseState(self._domain, self.holder, 1, now + self.lease_ms)
            try:
                version = self._store.put(self._key, state.to_bytes(), "create")
            except ObjectExistsError:
                return None
            return self._lease(state, version, took_over=False)
        current = LeaseState.from_bytes(obj.data, self._key)
        free = current.holder is None or current.expires_at_ms <= now
        if not (free or force):
            return None
        state = LeaseState(
            self._domain, self.holder, current.fencing_token + 1, now + self.lease_ms
        )
        try:
            version = self._store.put(self._key, state.to_bytes(), IfVersion(obj.version))
        except (VersionMismatchError, ObjectNotFoundError):
            return None
        return self._lease(state, version, took_over=current.holder is not None)

    def _lease(self, state: LeaseState, version: str, *, took_over: bool) -> Lease:
        assert state.holder is not None
        return Lease(
            self._domain,
            state.holder,
            state.fencing_token,
            state.expires_at_ms,
            version,
            took_over,
        )

    def renew(self, lease: Lease) -> Lease:
        """Extend the lease; FencedError if it expired or was taken over meanwhile.

        An expired lease is lost even if nobody took the lock since: a holder is bounded by
        its lease, which is what lets GC collect unreferenced files older than that bound.
        """
        now = self._clock.now_ms()
        if lease.expires_at_ms <= now:
            raise FencedError(
                f"lock {self._domain}: lease with fencing token {lease.fencing_token} expired "
                f"{now - lease.expires_at_ms} ms ago; an expired lease is lost"
            )
        state = LeaseState(self._domain, lease.holder, lease.fencing_token, now + self.lease_ms)
        try:
            version = self._store.put(self._key, state.to_bytes(), IfVersion(lease.object_version))
        except (VersionMismatchError, ObjectNotFoundError) as exc:
            raise FencedError(
                f"lock {self._domain}: lease with fencing token {lease.fencing_token} was taken over"
            ) from exc
        return Lease(
            self._domain,
            lease.holder,
            lease.fencing_token,
            state.expires_at_ms,
            version,
            lease.took_over,
        )

    def ensure_valid(self, lease: Lease, margin_ms: int) -> Lease:
        """Renew the lease if less than ``margin_ms`` remain; FencedError if it is lost."""
        if lease.expires_at_ms - self._clock.now_ms() < margin_ms:
            return self.renew(lease)
        return lease

    def release(self, lease: Lease) -> bool:
        """Give the lease back, keeping the token. False if it had already been taken over."""
        state = LeaseState(self._domain, None, lease.fencing_token, 0)
        try:
            self._store.put(self._key, state.to_bytes(), IfVersion(lease.object_version))
        except (VersionMismatchError, ObjectNotFoundError):
            return False
        return True
