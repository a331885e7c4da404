"""Per-tenant token buckets: one request takes one token; an empty bucket is a 429.

Every authenticated request takes one token from its tenant's ``request`` bucket (the
``Caller`` dependency, evaluated once per request); the query and mint endpoints also take
one from their stricter class. Requests that fail authentication have no tenant and take
nothing. Buckets refill continuously at the class rate up to its burst.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from arco.server.errors import ApiError
from arco.server.settings import Limits

#: the rate classes (``request`` applies to every call)
LimitClass = Literal["request", "query", "mint"]

#: buckets kept before idle (full) ones are dropped
_MAX_BUCKETS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets per (tenant, class): ``request`` for every call, plus the stricter
    ``query`` and ``mint`` classes for those endpoints. ``clock`` returns seconds
    (monotonic); tests inject their own."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._rates: dict[str, tuple[float, float]] = {
            "request": (limits.requests_per_s, float(limits.burst)),
            "query": (limits.query_per_s, float(limits.query_burst)),
            "mint": (limits.mint_per_s, float(limits.mint_burst)),
        }
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()
        self._now = clock

    def charge(self, tenant: str, kind: LimitClass | str = "request") -> None:
        """Take one token from the tenant's ``kind`` bucket, or raise 429 with Retry-After."""
        rate = self._rates[kind][0]
        with self._lock:
            now = self._now()
            bucket = self._refilled(tenant, kind, now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            wait = (1.0 - bucket.tokens) / rate if rate > 0 else 60.0
        retry_after = max(1, math.ceil(wait))
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"rate limit of this tenant exceeded ({kind} class); retry after {retry_after}s",
            {"Retry-After": str(retry_after)},
        )

    def available(self, tenant: str, kind: LimitClass | str = "request") -> float:
        """The tokens the tenant's ``kind`` bucket holds now (without taking one)."""
        with self._lock:
            return self._refilled(tenant, kind, self._now()).tokens

    def _refilled(self, tenant: str, kind: str, now: float) -> _Bucket:
        rate, burst = self._rates[kind]
        bucket = self._buckets.get((tenant, kind))
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._drop_idle(now)
            bucket = self._buckets[(tenant, kind)] = _Bucket(burst, now)
            return bucket
        if now > bucket.updated:  # a clock that steps back refills nothing, now or later
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        return bucket

    def _drop_idle(self, now: float) -> None:
        """Forget buckets that have refilled completely (they equal a fresh one)."""
        for key, bucket in list(self._buckets.items()):
            rate, burst = self._rates[key[1]]
            if bucket.tokens + max(0.0, now - bucket.updated) * rate >= burst:
                del self._buckets[key]
