"""A fault-injecting store wrapper: the test toolkit for every storage protocol.

Every call (``get``, ``get_range``, ``head``, ``put``, ``delete``, ``list``, ``sign``) is one
operation with a 0-based index, recorded in :attr:`FaultyStore.ops`; faults are addressed
by that index. Run a scenario once without faults, inspect ``ops`` to find the step of
interest, then rerun with a fault at that index.
"""

from __future__ import annotations

import builtins
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from arco.errors import OutcomeUnknownError, TransientStorageError
from arco.storage.forwarding import ForwardingStore
from arco.storage.port import ObjectStore, PutMode

T = TypeVar("T")


class SimulatedCrash(BaseException):
    """The simulated process died. A BaseException so ``except Exception`` cannot swallow it."""


class FaultyStore(ForwardingStore):
    """Wraps a store and injects latency, transient errors, crashes and lost responses.

    * ``crash_after=N``: operations ``0..N-1`` run; operation ``N`` and every later one
      raise :class:`SimulatedCrash` without touching the inner store.
    * ``fail_ops={i: exc}``: operation ``i`` raises ``exc`` without running.
    * ``transient_rate=p``: each operation raises TransientStorageError before running,
      with probability ``p`` (drawn from an rng seeded with ``seed``).
    * ``timeout_after_write={i}``: if operation ``i`` is a put, it is applied to the inner
      store and then OutcomeUnknownError is raised (the response was "lost").
    * ``fault``: an optional hook ``(index, op, key) -> exception | None`` for faults that
      are easier to describe by key than by index (e.g. "the first put under manifests/").
    """

    def __init__(
        self,
        inner: ObjectStore,
        *,
        latency: float = 0.0,
        transient_rate: float = 0.0,
        seed: int | None = None,
        crash_after: int | None = None,
        timeout_after_write: set[int] | None = None,
        fail_ops: dict[int, BaseException] | None = None,
        fault: Callable[[int, str, str], BaseException | None] | None = None,
    ) -> None:
        super().__init__(inner)
        self.latency = latency
        self.transient_rate = transient_rate
        self.crash_after = crash_after
        self.timeout_after_write = set(timeout_after_write or ())
        self.fail_ops = dict(fail_ops or {})
        self.fault = fault
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        #: Every operation seen: ``(index, op_name, key)``; ``key`` is the prefix for list.
        self.ops: list[tuple[int, str, str]] = []

    @property
    def crashed(self) -> bool:
        """Whether the simulated process has died."""
        return self.crash_after is not None and len(self.ops) > self.crash_after

    def _begin(self, op: str, key: str) -> int:
        with self._lock:
            index = len(self.ops)
            self.ops.append((index, op, key))
            roll = self._rng.random() if self.transient_rate > 0 else 1.0
        if self.crash_after is not None and index >= self.crash_after:
            raise SimulatedCrash(f"simulated crash at operation {index} ({op} {key!r})")
        if index in self.fail_ops:
            raise self.fail_ops[index]
        if self.fault is not None:
            exc = self.fault(index, op, key)
            if exc is not None:
                raise exc
        if roll < self.transient_rate:
            raise TransientStorageError(f"injected transient failure at operation {index}")
        if self.latency > 0:
            time.sleep(self.latency)
        return index

    def _forward(self, op: str, key: str, call: Callable[[], T]) -> T:
        self._begin(op, key)
        return call()

    def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
        index = self._begin("put", key)
        version = self._inner.put(key, data, mode)
        if index in self.timeout_after_write:
            raise OutcomeUnknownError(
                f"injected timeout after the write of {key!r} was applied (operation {index})"
            )
        return version

    def op_indices(self, op: str, key_contains: str = "") -> builtins.list[int]:
        """Indices of recorded operations named ``op`` whose key contains ``key_contains``."""
        return [i for i, name, key in self.ops if name == op and key_contains in key]
