"""Prometheus metrics of one Arco process (the server exposes them at ``/metrics``).

Metrics live in :data:`REGISTRY`, not in prometheus-client's global default registry, so
embedding Arco in a process never collides with the host's own metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = [
    "COMPACTION_DURATION",
    "COMPACTION_EVENTS",
    "COMPACTION_ROUNDS",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "REGISTRY",
    "VISIBILITY_LAG",
    "exposition",
]

REGISTRY = CollectorRegistry(auto_describe=True)

_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

VISIBILITY_LAG = Histogram(
    "arco_visibility_lag_seconds",
    "Time from an event's id timestamp (its append) to the publish that made it readable.",
    ["domain"],
    buckets=_LAG_BUCKETS,
    registry=REGISTRY,
)
COMPACTION_EVENTS = Counter(
    "arco_compaction_events",
    "Ledger objects folded by the compactor, by outcome.",
    ["domain", "outcome"],
    registry=REGISTRY,
)
COMPACTION_ROUNDS = Counter(
    "arco_compaction_rounds",
    "Compaction rounds: published, lost to another compactor (conflict), or failed.",
    ["domain", "result"],
    registry=REGISTRY,
)
COMPACTION_DURATION = Histogram(
    "arco_compaction_duration_seconds",
    "Duration of one published compaction round (read, fold, write, publish).",
    ["domain"],
    registry=REGISTRY,
)


HTTP_REQUESTS = Counter(
    "arco_http_requests",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "arco_http_request_duration_seconds",
    "HTTP request latency by route template and method.",
    ["route", "method"],
    registry=REGISTRY,
)


def exposition() -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(REGISTRY)
