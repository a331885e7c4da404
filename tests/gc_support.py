"""Shared by the GC tests: what a real GC run writes itself (its fences), told apart.

Before deleting anything, ``collect_garbage`` publishes a fence version of each domain: the
manifest changes and one commit record (holder ``gc``) appears. Listings taken around a run
compare equal once those are set aside.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from arco.errors import ObjectNotFoundError

V = TypeVar("V")


def gc_fence_records(keys: Iterable[str], read: Callable[[str], bytes]) -> set[str]:
    """The keys among ``keys`` of commit records that GC's fences wrote (keys no longer
    stored are not)."""
    out = set()
    for k in keys:
        if "commits/" not in k:
            continue
        try:
            record = json.loads(read(k))
        except ObjectNotFoundError:
            continue
        if record.get("holder") == "gc":
            out.add(k)
    return out


def without_gc_writes(listing: Mapping[str, V], read: Callable[[str], bytes]) -> dict[str, V]:
    """``listing`` without GC's fence commit records and without the manifests (which a
    fence replaces by a version with the same files)."""
    fences = gc_fence_records(listing, read)
    return {k: v for k, v in listing.items() if k not in fences and "manifests/" not in k}
