"""Per-tenant token buckets: one request takes one token; an empty bucket is a 429."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from arco.server.errors import ApiError
from arco.server.settings import Limits


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets per (tenant, class): ``request`` for every call, plus the stricter
    ``query`` and ``mint`` classes for those endpoints."""

    def __init__(self, limits: Limits, clock: object = time.monotonic) -> None:
        self._rates = {
            "request": (limits.requests_per_s, limits.burst),
            "query": (limits.query_per_s, limits.query_burst),
            "mint": (limits.mint_per_s, limits.mint_burst),
        }
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()
        self._now = clock

    def charge(self, tenant: str, kind: str) -> None:
        """Take one token from the tenant's ``kind`` bucket, or raise 429 with Retry-After."""
        rate, burst = self._rates[kind]
        now = float(self._now())  # type: ignore[operator]
        with self._lock:
            bucket = self._buckets.get((tenant, kind))
            if bucket is None:
                bucket = self._buckets[(tenant, kind)] = _Bucket(float(burst), now)
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            wait = (1.0 - bucket.tokens) / rate if rate > 0 else 60.0
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"too many {kind} requests for this tenant; retry in {wait:.1f}s",
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
