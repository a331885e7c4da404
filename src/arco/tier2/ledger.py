"""The tier-2 event ledger: one create-only object per event, no shared state on the hot path.

An event is stored at ``ledger/{domain}/{event_id}-{entropy}.json`` (see
:func:`arco.metadata.layout.ledger_name`), where ``entropy`` is 8 random hex characters chosen once
per :class:`EventLedger`. Two writers therefore never write the same key, even with
identical event ids, and appending needs no counter and no read-modify-write. Retrying an
append on the same ledger (same entropy) is idempotent: a create that finds our own bytes
already stored is a success. Duplicates across writers are the compactor's to remove.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from arco.errors import (
    ConflictError,
    CorruptStateError,
    ObjectExistsError,
    ObjectNotFoundError,
    ValidationError,
    preview,
)
from arco.metadata.layout import ledger_key, ledger_name, ledger_prefix, parse_ledger_key
from arco.observability.metrics import EVENTS_APPENDED
from arco.storage.port import ObjectStore
from arco.tier2.envelope import EventEnvelope

__all__ = ["MAX_WORKERS", "EventLedger"]

log = logging.getLogger(__name__)

#: Upper bound on concurrent storage requests of one batch append or read.
MAX_WORKERS = 16

_DOMAIN_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_ENTROPY_RE = re.compile(r"[0-9a-f]{8}")

T = TypeVar("T")
R = TypeVar("R")


_RUNS_PER_WORKER = 2


@dataclass(frozen=True, slots=True)
class _Failed:
    error: Exception


def _attempt_all(fn: Callable[[T], R], items: Sequence[T]) -> list[R | _Failed]:
    """``fn(item)`` per item, or the exception it raised; every item is attempted."""
    out: list[R | _Failed] = []
    for item in items:
        try:
            out.append(fn(item))
        except Exception as exc:  # handed back to the caller, in item order
            out.append(_Failed(exc))
    return out


class EventLedger:
    """Append and read the events of one domain of a *scoped* store.

    ``entropy`` (8 lowercase hex characters) defaults to a random value; pass a persisted
    one only if a restarted writer must retry its predecessor's appends idempotently.
    """

    def __init__(
        self,
        store: ObjectStore,
        domain: str,
        *,
        entropy: str | None = None,
        max_workers: int = MAX_WORKERS,
    ) -> None:
        if not isinstance(domain, str) or _DOMAIN_RE.fullmatch(domain) is None:
            raise ValidationError(
                f"domain: must be 1-63 characters of [a-z0-9_-] starting with a letter "
                f"(got {preview(domain)})"
            )
        if entropy is None:
            entropy = secrets.token_hex(4)
        elif not isinstance(entropy, str) or _ENTROPY_RE.fullmatch(entropy) is None:
            raise ValidationError(f"entropy: must be 8 lowercase hex characters (got {entropy!r})")
        if max_workers < 1:
            raise ValidationError(f"max_workers: must be at least 1 (got {max_workers})")
        self._store = store
        self._domain = domain
        self._entropy = entropy
        self._max_workers = max_workers
        # one pool for the ledger's life: starting threads per batch costs ~15% of the rate
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="arco-ledger")
            return self._pool

    def close(self) -> None:
        """Stop the I/O threads (they start again if the ledger is used later)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    @property
    def domain(self) -> str:
        return self._domain

    @property
    def entropy(self) -> str:
        """This writer's entropy, part of every key it writes."""
        return self._entropy

    def key_for(self, event_id: str) -> str:
        """The key this ledger writes the event ``event_id`` to."""
        return ledger_key(self._domain, ledger_name(event_id, self._entropy))

    def append(self, events: Sequence[EventEnvelope]) -> list[str]:
        """Write each event as its own create-only object; returns the keys, in batch order.

        Writes run concurrently. Every write is attempted even if some fail; the first
        failure (in batch order) is then raised, and retrying the whole batch is safe.
        Two events of one batch may not share an event id.
        """
        seen: set[str] = set()
        for i, event in enumerate(events):
            if not isinstance(event, EventEnvelope):
                raise ValidationError(f"events[{i}]: must be an EventEnvelope")
            if event.event_id in seen:
                raise ValidationError(
                    f"events[{i}].event_id: {event.event_id} appears twice in the batch"
                )
            seen.add(event.event_id)
        items = [(self.key_for(e.event_id), e.to_bytes()) for e in events]
        self.map(lambda item: self._create(*item), items)
        EVENTS_APPENDED.labels(self._domain).inc(len(items))
        return [key for key, _ in items]

    def _create(self, key: str, data: bytes) -> None:
        try:
            self._store.put(key, data, "create")
        except ObjectExistsError as exc:
            # A retry after a lost response finds its own write: success iff the bytes match.
            try:
                current = self._store.get(key).data
            except ObjectNotFoundError:
                raise exc from None
            if current != data:
                raise ConflictError(
                    f"ledger object {key}: already holds a different event with this event_id"
                ) from None

    def read(self, key: str) -> EventEnvelope:
        """The event stored at ``key`` (a key of this domain from :meth:`list_keys`)."""
        parsed = parse_ledger_key(self._domain, key)
        if parsed is None:
            raise ValidationError(f"key: not a ledger key of domain {self._domain!r} ({key!r})")
        data = self._store.get(key).data
        try:
            event = EventEnvelope.from_bytes(data)
        except ValidationError as exc:
            raise CorruptStateError(f"ledger object {key}: {exc.message}") from None
        if event.event_id != parsed[0]:
            raise CorruptStateError(
                f"ledger object {key}: holds event_id {event.event_id}, not {parsed[0]}"
            )
        return event

    def read_many(self, keys: Sequence[str]) -> list[EventEnvelope]:
        """:meth:`read` of every key, concurrently; results in the order of ``keys``."""
        return self.map(self.read, list(keys))

    def list_keys(self, after: str | None = None) -> list[str]:
        """Every ledger key of the domain (after ``after``, if given), sorted.

        Listing is for repair and anti-entropy only: the compactor's fast path gets the new
        keys from notifications. Keys sort by event id, then entropy, so ``after`` a key
        made from :func:`~arco.core.ids.ulid_floor` lists the events minted since a time, at
        the cost of those alone (the store's ``start_after``). Objects under the prefix
        whose names are not ledger names are skipped with a warning.
        """
        keys: list[str] = []
        for meta in self._store.list(ledger_prefix(self._domain), start_after=after):
            if parse_ledger_key(self._domain, meta.key) is None:
                log.warning(
                    "ledger %s: skipping %r: not a ledger object name", self._domain, meta.key
                )
                continue
            if after is None or meta.key > after:
                keys.append(meta.key)
        keys.sort()
        return keys

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``fn`` over ``items`` on the ledger's I/O threads (at most ``max_workers``).

        Every item is attempted; then the first failure (in item order) is raised.
        """
        if len(items) <= 1:
            return [fn(item) for item in items]
        # a few runs of items per thread, not a future per item: with fast stores the
        # per-future overhead and lock handoffs cost more than the requests themselves
        size = -(-len(items) // (self._max_workers * _RUNS_PER_WORKER))
        pool = self._executor()
        futures = [
            pool.submit(_attempt_all, fn, items[i : i + size]) for i in range(0, len(items), size)
        ]
        outcomes = [outcome for future in futures for outcome in future.result()]
        results: list[R] = []
        for outcome in outcomes:
            if isinstance(outcome, _Failed):
                raise outcome.error
            results.append(outcome)
        return results
