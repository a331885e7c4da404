"""Request records: what makes a tier-2 request idempotent under a caller's key.

A request that carries an idempotency key (``POST /events``' ``Idempotency-Key``, a run's
``run_key``) first writes a **create-only** record of itself: the key, a hash of the request
body and the events it appends. Only then are the events appended. Invariants:

* the first writer of a key wins; every later request with that key reads the record back;
* the same key with the same request hash gets the *recorded* events (appended again: appends
  are at-least-once and the compactor folds copies of an event once, so a request that failed
  between its record and its appends is completed by its retry);
* the same key with another hash is :class:`~arco.errors.IdempotencyConflictError`, and
  nothing is appended.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from arco.core.canonical_json import canonical_dumps
from arco.core.canonical_json import loads as canonical_loads
from arco.errors import IdempotencyConflictError, ObjectExistsError
from arco.storage.port import ObjectStore
from arco.tier2.envelope import EventEnvelope

__all__ = ["record_request"]


def record_request(
    store: ObjectStore,
    key: str,
    request_hash: str,
    events: Sequence[EventEnvelope],
    *,
    conflict: Callable[[Mapping[str, Any]], str],
    extra: Mapping[str, Any] | None = None,
) -> tuple[list[EventEnvelope], Mapping[str, Any]]:
    """Record the request at ``key`` unless it was recorded before; the events to append and
    the record (the stored one when there was one, whose ``extra`` fields are its own).

    ``conflict(stored)`` words the IdempotencyConflictError raised when the stored record
    has another ``request_hash``."""
    record: dict[str, Any] = {
        **(extra or {}),
        "request_hash": request_hash,
        "events": [e.model_dump() for e in events],
    }
    try:
        store.put(key, canonical_dumps(record), "create")
    except ObjectExistsError:
        stored = canonical_loads(store.get(key).data)
        if stored.get("request_hash") != request_hash:
            raise IdempotencyConflictError(conflict(stored)) from None
        recorded = stored["events"] if "events" in stored else [stored["event"]]
        return [EventEnvelope.from_object(e) for e in recorded], stored
    return list(events), record
