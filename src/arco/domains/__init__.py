"""The registry of every domain Arco stores: name, tier, tables and SQL views, declared once.

GC, verify, the query views, the server's manifest and URL routes and the CLI all take their
list of domains from here; nothing else names them. See :mod:`.registry`.
"""

from arco.domains.registry import (
    DOMAINS,
    EVENTS,
    NAMES,
    QUERIED,
    TIER1,
    TIER2,
    VIEWS,
    Domain,
    View,
    domain,
)

__all__ = [
    "DOMAINS",
    "EVENTS",
    "NAMES",
    "QUERIED",
    "TIER1",
    "TIER2",
    "VIEWS",
    "Domain",
    "View",
    "domain",
]
