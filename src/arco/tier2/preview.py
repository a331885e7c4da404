"""What a process reads of a tier-2 domain it appends to: the compactor's head with this
process's appended, not yet published events folded in memory (:meth:`Compactor.preview`).

A process reads its own events at once while background rounds batch their publication.
The unpublished events are taken first, then the head: a round publishes its events before
it stops tracking them, so each event appended so far is in one or the other (the other way
round, a round publishing in between hid its events from both, and a controller that did
not see its own dispatch never handed the attempt over). The last preview is kept and
extended with what was appended since, while the head stays the same.
"""

from __future__ import annotations

import threading
from typing import Generic

from arco.tier2.compactor import T2, Compactor
from arco.tier2.ingestor import Ingestor

__all__ = ["PendingView"]


class PendingView(Generic[T2]):
    """The head of ``compactor`` with what ``ingestor`` appended and no round published."""

    def __init__(self, ingestor: Ingestor, compactor: Compactor[T2]) -> None:
        self._ingestor = ingestor
        self._compactor = compactor
        # (head version, names folded, state): the last preview, extended while it can be
        self._preview: tuple[int, frozenset[str], T2] | None = None
        self._mutex = threading.Lock()

    def state(self) -> T2:
        """The current state as this process sees it (see the module)."""
        pending = self._ingestor.unpublished()  # first: see the module
        head = self._compactor.head()[1]
        if not pending:
            return head
        folded = [name for name in pending if name in head.ingested]
        if folded:
            self._ingestor.forget(folded)
            for name in folded:
                del pending[name]
            if not pending:
                return head
        names = frozenset(pending)
        with self._mutex:
            cached = self._preview
        if cached is not None and cached[0] == head.version:
            if cached[1] == names:
                return cached[2]
            if cached[1] <= names:  # fold only what was appended since
                new = {n: pending[n] for n in names - cached[1]}
                state = self._compactor.preview(new, base=cached[2])
                with self._mutex:
                    self._preview = (head.version, names, state)
                return state
        state = self._compactor.preview(pending)
        with self._mutex:
            self._preview = (head.version, names, state)
        return state
