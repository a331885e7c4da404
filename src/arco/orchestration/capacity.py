"""Task capacity shared fairly between the controllers of several workspaces (issue 12:
fair share between tenants on a shared deployment).

A server (``arco serve``) runs one controller per workspace; without sharing, each would
dispatch up to its executor's capacity, and the machine would run as many attempts as
there are busy workspaces times that. A :class:`SharedCapacity` bounds the attempts in
flight across all of them and divides the bound between the members that have work:

* every pass, a controller reports its **demand** (attempts in flight plus attempts it
  could dispatch now) and is **granted** how many more it may dispatch;
* the bound is divided by max-min fairness (water-filling): each member with demand is
  entitled to ``capacity / members with demand``; a member that wants less than its
  share leaves the rest to the others (lent, not lost), so a lone workspace may use the
  whole capacity;
* a member above its share (it took idle capacity before others had work) dispatches
  nothing more until it is back under it: its attempts finish, the freed slots go to the
  members under their share, and within about one attempt's duration each gets its share
  (no preemption: running attempts are never stopped);
* when a member's in-flight count drops, the members still waiting for capacity are woken
  at once rather than at their next timer.

It is an in-process object: the controllers of one server share it. Controllers in
different processes do not (each process has its own machine, or its own bound).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["SharedCapacity", "fair_shares"]


@dataclass
class _Member:
    busy: int = 0
    wanted: int = 0
    wake: Callable[[], None] | None = None


@dataclass
class SharedCapacity:
    """At most ``capacity`` attempts in flight across the members, shared fairly."""

    capacity: int
    _members: dict[str, _Member] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity: must be at least 1 (got {self.capacity})")

    def join(self, member: str, wake: Callable[[], None] | None = None) -> None:
        """Register ``member`` (``wake()`` is called when capacity frees up for it)."""
        with self._lock:
            found = self._members.setdefault(member, _Member())
            found.wake = wake

    def leave(self, member: str) -> None:
        """Forget ``member`` (its controller stopped): its share goes to the others."""
        with self._lock:
            gone = self._members.pop(member, None)
            waiting = self._waiting() if gone is not None and gone.busy else []
        _call(waiting)

    def grant(self, member: str, busy: int, wanted: int) -> int:
        """``member`` has ``busy`` attempts in flight and could dispatch ``wanted`` more:
        how many it may dispatch now (counted as in flight until its next call)."""
        with self._lock:
            me = self._members.setdefault(member, _Member())
            freed = busy < me.busy
            me.busy, me.wanted = max(0, busy), max(0, wanted)
            shares = fair_shares(
                self.capacity, {k: m.busy + m.wanted for k, m in self._members.items()}
            )
            free = self.capacity - sum(m.busy for m in self._members.values())
            granted = max(0, min(me.wanted, shares.get(member, 0) - me.busy, free))
            me.busy += granted
            me.wanted -= granted
            waiting = self._waiting(but=member) if freed else []
        _call(waiting)
        return granted

    def release(self, member: str, unused: int) -> None:
        """Give back ``unused`` slots of the last grant (a pool limit skipped tasks)."""
        if unused <= 0:
            return
        with self._lock:
            me = self._members.get(member)
            if me is None:
                return
            me.busy = max(0, me.busy - unused)
            waiting = self._waiting(but=member)
        _call(waiting)

    def usage(self) -> dict[str, tuple[int, int]]:
        """``{member: (in flight, wanted)}`` as last reported (for diagnostics)."""
        with self._lock:
            return {k: (m.busy, m.wanted) for k, m in self._members.items()}

    def _waiting(self, but: str | None = None) -> list[Callable[[], None]]:
        return [m.wake for k, m in self._members.items() if k != but and m.wanted and m.wake]


def fair_shares(capacity: int, demand: Mapping[str, int]) -> dict[str, int]:
    """Max-min fair division of ``capacity`` slots between members by ``demand``: none
    gets more than it asks, the rest is split evenly among those that want more; leftover
    single slots go to the members first in key order (deterministic)."""
    shares = dict.fromkeys(demand, 0)
    hungry = sorted(k for k, d in demand.items() if d > 0)
    left = capacity
    while hungry and left > 0:
        each = left // len(hungry)
        if each == 0:
            for k in hungry[:left]:
                shares[k] += 1
            break
        still = []
        for k in hungry:
            take = min(each, demand[k] - shares[k])
            shares[k] += take
            left -= take
            if shares[k] < demand[k]:
                still.append(k)
        hungry = still
    return shares


def _call(wakes: list[Callable[[], None]]) -> None:
    for wake in wakes:
        wake()
