"""Prometheus metrics of one Arco process (the server exposes them at ``/metrics``).

Metrics live in :data:`REGISTRY`, not in prometheus-client's global default registry, so
embedding Arco in a process never collides with the host's own metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = [
    "COMMIT_CONFLICTS",
    "COMMIT_DURATION",
    "COMPACTION_DURATION",
    "COMPACTION_EVENTS",
    "COMPACTION_ROUNDS",
    "EVENTS_APPENDED",
    "FENCING_REJECTIONS",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "LOCK_WAIT",
    "QUERY_DURATION",
    "QUERY_ROWS",
    "REGISTRY",
    "STORAGE_DURATION",
    "STORAGE_ERRORS",
    "URLS_MINTED",
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


COMMIT_DURATION = Histogram(
    "arco_commit_duration_seconds",
    "Tier-1 commit latency (lock, validate, write, publish) per batch.",
    ["domain"],
    registry=REGISTRY,
)
LOCK_WAIT = Histogram(
    "arco_lock_wait_seconds",
    "Time spent acquiring a tier-1 domain lease.",
    ["domain"],
    registry=REGISTRY,
)
COMMIT_CONFLICTS = Counter(
    "arco_commit_conflicts",
    "Tier-1 commit attempts lost to a concurrent publish (manifest CAS failed).",
    ["domain"],
    registry=REGISTRY,
)
FENCING_REJECTIONS = Counter(
    "arco_fencing_rejections",
    "Tier-1 commits refused because a newer lease holder had fenced this one.",
    ["domain"],
    registry=REGISTRY,
)
EVENTS_APPENDED = Counter(
    "arco_events_appended",
    "Tier-2 events written to the ledger.",
    ["domain"],
    registry=REGISTRY,
)
STORAGE_DURATION = Histogram(
    "arco_storage_operation_seconds",
    "Latency of each object-store request (every attempt), by backend and operation.",
    ["backend", "op"],
    registry=REGISTRY,
)
STORAGE_ERRORS = Counter(
    "arco_storage_errors",
    "Failed object-store requests by backend, operation and error code.",
    ["backend", "op", "code"],
    registry=REGISTRY,
)
URLS_MINTED = Counter(
    "arco_signed_urls_minted",
    "Signed file URLs handed out, by domain.",
    ["domain"],
    registry=REGISTRY,
)
QUERY_DURATION = Histogram(
    "arco_query_duration_seconds",
    "SQL query endpoint latency, by outcome (ok, truncated, timeout, error).",
    ["outcome"],
    registry=REGISTRY,
)
QUERY_ROWS = Histogram(
    "arco_query_rows",
    "Rows returned per SQL query.",
    buckets=(0, 1, 10, 100, 1_000, 10_000, 100_000),
    registry=REGISTRY,
)


def exposition() -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(REGISTRY)
