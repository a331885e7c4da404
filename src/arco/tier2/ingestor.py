"""Appending tier-2 events and folding them right after (the compactor's fast path).

:class:`Ingestor` is what a process that produces events uses: ``append`` writes each event
as its own create-only ledger object (no lock, no shared counter) and hands the new keys
to a compactor, which folds them inline or on a background thread that batches the keys
of many appends into one round. If folding fails or the process dies first, nothing is
lost: the events are in the ledger and the next anti-entropy pass folds them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Literal

from arco.errors import ArcoError, ValidationError
from arco.metadata.layout import ledger_prefix
from arco.storage.port import ObjectStore
from arco.tier2.compactor import Compactor, CompactorOptions, Tier2Domain
from arco.tier2.envelope import EventEnvelope
from arco.tier2.ledger import EventLedger

__all__ = ["FoldMode", "Ingestor", "UnknownEvents"]

log = logging.getLogger(__name__)

#: what ``append`` does with an event the domain cannot apply: refuse the whole batch, or
#: append it anyway (the compactor then quarantines it with the reason)
UnknownEvents = Literal["reject", "quarantine"]
#: when appended events are folded: on a background thread, before ``append`` returns,
#: or only by a later anti-entropy pass
FoldMode = Literal["background", "inline", "off"]


class Ingestor:
    """Append events to one tier-2 domain of a scoped store and fold them right away."""

    def __init__(
        self,
        store: ObjectStore,
        domain: Tier2Domain[Any],
        *,
        unknown: UnknownEvents = "reject",
        fold: FoldMode = "background",
        compactor: Compactor[Any] | None = None,
        options: CompactorOptions | None = None,
        entropy: str | None = None,
        linger_s: float = 0.0,
    ) -> None:
        if unknown not in ("reject", "quarantine"):
            raise ValidationError(f"unknown: must be 'reject' or 'quarantine' (got {unknown!r})")
        if fold not in ("background", "inline", "off"):
            raise ValidationError(f"fold: must be 'background', 'inline' or 'off' (got {fold!r})")
        self.domain = domain
        self.ledger = EventLedger(store, domain.name, entropy=entropy)
        self.compactor = compactor or Compactor(store, domain, options=options)
        self.unknown = unknown
        self.fold_mode = fold
        self._cond = threading.Condition()
        self._pending: list[tuple[str, EventEnvelope]] = []
        self._busy = False
        self._closed = False
        self._flushing = 0
        self._thread: threading.Thread | None = None
        #: background mode: how long a round waits for more events after the first one
        #: (fewer, larger rounds when events trickle in; readers of :meth:`unpublished`
        #: with :meth:`Compactor.preview` do not wait for it)
        self.linger_s = linger_s
        # ledger object name -> event, appended here and not yet folded by a round
        self._unpublished: dict[str, EventEnvelope] = {}
        #: the most recent background fold failure (cleared by a successful fold)
        self.last_error: ArcoError | None = None

    def append(self, events: Sequence[EventEnvelope], *, fold: FoldMode | None = None) -> list[str]:
        """Append ``events`` (one create-only object each); returns their ledger keys.

        With ``unknown="reject"`` every event is checked first (type, version, payload) and
        one bad event fails the batch with nothing written. ``fold`` overrides the
        ingestor's fold mode for this call.
        """
        mode = self.fold_mode if fold is None else fold
        if self._closed:
            raise ValidationError("ingestor: closed")
        if self.unknown == "reject":
            for i, event in enumerate(events):
                if not isinstance(event, EventEnvelope):
                    raise ValidationError(f"events[{i}]: must be an EventEnvelope")
                try:
                    self.domain.check(event)
                except ValidationError as exc:
                    raise ValidationError(f"events[{i}].{exc.message}") from None
        keys = self.ledger.append(events)
        if mode == "inline":
            self.compactor.compact(keys, events)
        elif mode == "background" and keys:
            with self._cond:
                for key, event in zip(keys, events, strict=True):
                    self._unpublished[self._name_of(key)] = event
            self._enqueue(keys, events)
        return keys

    def _name_of(self, key: str) -> str:
        return key[len(ledger_prefix(self.domain.name)) : -len(".json")]

    def unpublished(self) -> dict[str, EventEnvelope]:
        """The events appended in background mode whose round has not published yet (by
        ledger object name): with :meth:`Compactor.preview`, what this process has
        appended but the head does not show yet."""
        with self._cond:
            return dict(self._unpublished)

    def forget(self, names: list[str]) -> None:
        """Stop tracking objects found folded otherwise (a later anti-entropy pass after
        their background round failed)."""
        with self._cond:
            for name in names:
                self._unpublished.pop(name, None)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every appended event was folded (or its fold failed); False on timeout."""
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()  # a lingering round starts now
            try:
                return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)
            finally:
                self._flushing -= 1

    def close(self) -> None:
        """Fold what is pending, then stop the background thread."""
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        self.ledger.close()
        self.compactor.close()

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _enqueue(self, keys: list[str], events: Sequence[EventEnvelope]) -> None:
        with self._cond:
            self._pending.extend(zip(keys, events, strict=True))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"arco-ingest-{self.domain.name}", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                if self.linger_s > 0 and not self._closed and not self._flushing:
                    self._cond.wait_for(lambda: self._closed or self._flushing, self.linger_s)
                pending, self._pending = self._pending, []
                self._busy = True
            keys = [key for key, _ in pending]
            try:
                # the events are in hand: the fast path folds them without reading them back
                self.compactor.compact(keys, [event for _, event in pending])
                self.last_error = None
                with self._cond:
                    for key in keys:
                        self._unpublished.pop(self._name_of(key), None)
            except ArcoError as exc:
                # the events are safe in the ledger; anti-entropy folds them later
                self.last_error = exc
                log.warning("folding %d %s events failed: %s", len(keys), self.domain.name, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
