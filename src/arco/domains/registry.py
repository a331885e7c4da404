"""Every domain, with what each layer above the domains needs to know about it.

A domain's tables, state and tier are its :class:`~arco.metadata.domain.DomainSpec` (in the
domain's own package); this module adds the SQL views it exposes and fixes the order every
listing uses (tier 1 first). Adding a domain means adding one :class:`Domain` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arco.catalog.domain import CATALOG
from arco.errors import ValidationError
from arco.executions.domain import EXECUTIONS
from arco.lineage.domain import LINEAGE
from arco.metadata.domain import DomainSpec
from arco.metadata.layout import Tier
from arco.orchestration.automation.domain.spec import AUTOMATION
from arco.orchestration.runs.domain import RUNS
from arco.tier2.compactor import Tier2Domain


@dataclass(frozen=True)
class View:
    """A SQL view ``schema.name`` over one Parquet table of a domain (merged: newest row per
    key, tombstones dropped)."""

    schema: str
    name: str
    table: str


@dataclass(frozen=True)
class Domain:
    """One domain: its spec (name, tier, tables) and the SQL views over its tables."""

    spec: DomainSpec[Any]
    views: tuple[View, ...]
    #: a tier-2 domain's event types (what its compactor and ingestors apply)
    events: Tier2Domain[Any] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def tier(self) -> Tier:
        return self.spec.tier

    def __post_init__(self) -> None:
        for v in self.views:
            if v.table not in self.spec.specs:
                raise TypeError(f"view {v.schema}.{v.name}: {self.name} has no table {v.table}")
        if (self.tier == 2) != (self.events is not None):
            raise TypeError(f"domain {self.name}: event types are given for tier-2 domains only")
        if self.events is not None and self.events.spec is not self.spec:
            raise TypeError(f"domain {self.name}: its event types belong to another domain")


DOMAINS: tuple[Domain, ...] = (
    Domain(
        CATALOG,
        (
            # idempotency records are internal: no view
            View("catalog", "namespaces", "namespaces"),
            View("catalog", "tables", "tables"),
            View("catalog", "columns", "columns"),
            View("search", "postings", "search_postings"),
        ),
    ),
    Domain(LINEAGE, (View("lineage", "edges", "lineage_edges"),)),
    Domain(
        EXECUTIONS.spec,
        (
            View("executions", "materializations", "materializations"),
            View("executions", "ingested", "ingested"),
        ),
        EXECUTIONS,
    ),
    Domain(
        RUNS.spec,
        (
            View("runs", "runs", "runs"),
            View("runs", "tasks", "tasks"),
            View("runs", "attempts", "attempts"),
            View("runs", "ingested", "ingested"),
        ),
        RUNS,
    ),
    Domain(
        AUTOMATION.spec,
        (
            View("automation", "schedules", "schedules"),
            View("automation", "sensors", "sensors"),
            View("automation", "ticks", "ticks"),
            View("automation", "backfills", "backfills"),
            View("automation", "backfill_chunks", "backfill_chunks"),
            View("automation", "evaluations", "evaluations"),
            View("automation", "ingested", "ingested"),
        ),
        AUTOMATION,
    ),
)

#: every domain name, tier 1 first
NAMES: tuple[str, ...] = tuple(d.name for d in DOMAINS)
#: tier-1 domains (lock, writer; Parquet under ``snapshots/``), by name
TIER1: dict[str, DomainSpec[Any]] = {d.name: d.spec for d in DOMAINS if d.tier == 1}
#: tier-2 domains (ledger, compactor; Parquet under ``state/``), by name
TIER2: dict[str, DomainSpec[Any]] = {d.name: d.spec for d in DOMAINS if d.tier == 2}
#: the event types of each tier-2 domain (for its compactor and ingestors), by name
EVENTS: dict[str, Tier2Domain[Any]] = {d.name: d.events for d in DOMAINS if d.events is not None}
#: every SQL view: (schema, view) -> (domain, Parquet table)
VIEWS: dict[tuple[str, str], tuple[DomainSpec[Any], str]] = {
    (v.schema, v.name): (d.spec, v.table) for d in DOMAINS for v in d.views
}
#: the domains with SQL views, by name: the snapshots a query reads
QUERIED: dict[str, DomainSpec[Any]] = {d.name: d.spec for d in DOMAINS if d.views}

_BY_NAME = {d.name: d for d in DOMAINS}


def domain(name: str, *, field: str = "domain") -> Domain:
    """The domain called ``name``; ValidationError naming ``field`` and the known names."""
    found = _BY_NAME.get(name)
    if found is None:
        raise ValidationError(f"{field}: must be one of {', '.join(NAMES)} (got {name!r})")
    return found
