"""Retries transient storage errors; resolves writes of unknown outcome by reading back."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from arco.errors import (
    ObjectExistsError,
    ObjectNotFoundError,
    OutcomeUnknownError,
    StorageBusyError,
    TransientStorageError,
    VersionMismatchError,
)
from arco.storage.forwarding import ForwardingStore
from arco.storage.port import ObjectMeta, ObjectStore, PutMode

T = TypeVar("T")


class RetryingStore(ForwardingStore):
    """Wraps a store; retries :class:`TransientStorageError` with full-jitter backoff.

    A conditional put (``create`` or ``IfVersion``) retried after a transient failure may
    find its own earlier attempt applied: the retry then fails its precondition. Such a
    failure is resolved by reading the object back: if it holds exactly the bytes we tried
    to write, the write was ours and its version is returned; otherwise the precondition
    error stands. Nothing is ever assumed without reading. Non-transient errors are never
    retried.

    This needs the bytes of a conditional write to be unique to its writer (Arco's are:
    manifests and commit records carry commit ids, ledger objects their event ids): another
    writer's identical bytes would be taken for our own earlier attempt.
    """

    def __init__(
        self,
        inner: ObjectStore,
        attempts: int = 5,
        base_delay: float = 0.02,
        max_delay: float = 1.0,
        rng: random.Random | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        super().__init__(inner)
        self._attempts = attempts
        self._base = base_delay
        self._max = max_delay
        self._rng = rng or random.Random()
        self._sleep = sleep

    def _backoff(self, attempt: int) -> None:
        cap = min(self._max, self._base * (2**attempt))
        self._sleep(self._rng.uniform(0.0, cap))

    def _call(self, fn: Callable[[], T]) -> T:
        for attempt in range(self._attempts):
            try:
                return fn()
            except StorageBusyError:
                raise  # retrying only multiplies the backend's own bound
            except TransientStorageError:
                if attempt + 1 == self._attempts:
                    raise
                self._backoff(attempt)
        raise AssertionError("unreachable")

    def _forward(self, op: str, key: str, call: Callable[[], T]) -> T:
        # get, get_range, head, delete and sign; list and put have their own rules
        return self._call(call)

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[ObjectMeta]:
        first = self._call(lambda: self._inner.list(prefix, start_after=start_after))
        return self._list(prefix, start_after, first)

    def _list(
        self, prefix: str, start_after: str | None, it: Iterator[ObjectMeta]
    ) -> Iterator[ObjectMeta]:
        # A failed listing restarts; keys already yielded are skipped (no order assumed).
        seen: set[str] = set()
        failures = 0
        while True:
            try:
                for meta in it:
                    if meta.key in seen:
                        continue
                    seen.add(meta.key)
                    yield meta
                return
            except TransientStorageError:
                failures += 1
                if failures >= self._attempts:
                    raise
                self._backoff(failures - 1)
                it = self._call(lambda: self._inner.list(prefix, start_after=start_after))

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        if mode == "overwrite":
            return self._call(lambda: self._inner.put(key, data, mode))
        data = bytes(data)
        last: TransientStorageError | None = None
        outcome_unknown = False
        for attempt in range(self._attempts):
            try:
                return self._inner.put(key, data, mode)
            except (ObjectExistsError, VersionMismatchError) as exc:
                if last is None:
                    raise
                return self._resolve(key, data, exc)
            except StorageBusyError:
                if last is None:
                    raise  # definitely not applied, and retrying only multiplies the bound
                raise OutcomeUnknownError(
                    f"put of {key!r}: outcome unknown: an earlier attempt failed ({last}) and "
                    "the object's lock is now held by another process"
                ) from last
            except TransientStorageError as exc:
                # Any transient failure of a conditional write may hide an applied write.
                last = exc
                outcome_unknown = outcome_unknown or isinstance(exc, OutcomeUnknownError)
                if attempt + 1 < self._attempts:
                    self._backoff(attempt)
        assert last is not None
        if outcome_unknown:
            raise OutcomeUnknownError(
                f"put of {key!r}: outcome unknown after {self._attempts} attempts: {last}"
            ) from last
        raise last

    def _resolve(self, key: str, data: bytes, exc: ObjectExistsError | VersionMismatchError) -> str:
        """An earlier attempt may have been applied: it was iff the object holds our bytes."""
        try:
            current = self.get(key)
        except ObjectNotFoundError:
            raise exc from None
        except TransientStorageError as read_exc:
            raise OutcomeUnknownError(
                f"put of {key!r}: could not read back to resolve the outcome: {read_exc}"
            ) from read_exc
        if current.data == data:
            return current.version
        raise exc
