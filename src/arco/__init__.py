"""Arco: a file-native lakehouse catalog and asset orchestrator on object storage.

The public API, importable from the package root (loaded on first use, so ``import arco``
stays cheap)::

    from arco import Catalog, Executions, Scope, parse_event

    with Catalog.open("file://./.arco") as catalog:
        catalog.create_namespace("sales")
    with Executions.open("file://./.arco") as executions:
        executions.append([parse_event(line, source="me", now_ms=...)])

Everything not listed in ``__all__`` is internal and may change without notice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arco.catalog import Catalog, Column, ColumnSpec, Namespace, SearchHit, Table
    from arco.core.paging import Page
    from arco.core.scope import Scope
    from arco.errors import ArcoError, ConflictError, NotFoundError, ValidationError
    from arco.executions import EXECUTIONS, Executions, Materialization
    from arco.orchestration.assets import (
        AssetContext,
        AssetDef,
        RetryPolicy,
        asset,
        check,
        freshness,
        not_null,
        row_count,
        sql_check,
        unique,
    )
    from arco.orchestration.automation.definitions import (
        AutomationCondition,
        RequestedRun,
        ScheduleContext,
        ScheduleDef,
        SensorContext,
        SensorDef,
        SensorResult,
        SkipReason,
        asset_sensor,
        push_sensor,
        schedule,
        sensor,
    )
    from arco.orchestration.partitions import (
        DailyPartitions,
        HourlyPartitions,
        MonthlyPartitions,
        MultiPartitions,
        StaticPartitions,
    )
    from arco.storage import ObjectStore, open_store
    from arco.tier1.writer import WriterOptions
    from arco.tier2.compactor import CompactionResult, Compactor, CompactorOptions
    from arco.tier2.envelope import EventEnvelope, parse_event
    from arco.tier2.ingestor import Ingestor
    from arco.tier2.ledger import EventLedger

_EXPORTS = {
    "ArcoError": "arco.errors",
    "AssetContext": "arco.orchestration.assets",
    "AssetDef": "arco.orchestration.assets",
    "AutomationCondition": "arco.orchestration.automation.definitions",
    "Catalog": "arco.catalog",
    "Column": "arco.catalog",
    "ColumnSpec": "arco.catalog",
    "CompactionResult": "arco.tier2.compactor",
    "Compactor": "arco.tier2.compactor",
    "CompactorOptions": "arco.tier2.compactor",
    "ConflictError": "arco.errors",
    "DailyPartitions": "arco.orchestration.partitions",
    "EXECUTIONS": "arco.executions",
    "EventEnvelope": "arco.tier2.envelope",
    "EventLedger": "arco.tier2.ledger",
    "Executions": "arco.executions",
    "HourlyPartitions": "arco.orchestration.partitions",
    "Ingestor": "arco.tier2.ingestor",
    "Materialization": "arco.executions",
    "MonthlyPartitions": "arco.orchestration.partitions",
    "MultiPartitions": "arco.orchestration.partitions",
    "Namespace": "arco.catalog",
    "NotFoundError": "arco.errors",
    "ObjectStore": "arco.storage",
    "Page": "arco.core.paging",
    "RequestedRun": "arco.orchestration.automation.definitions",
    "RetryPolicy": "arco.orchestration.assets",
    "ScheduleContext": "arco.orchestration.automation.definitions",
    "ScheduleDef": "arco.orchestration.automation.definitions",
    "Scope": "arco.core.scope",
    "SearchHit": "arco.catalog",
    "SensorContext": "arco.orchestration.automation.definitions",
    "SensorDef": "arco.orchestration.automation.definitions",
    "SensorResult": "arco.orchestration.automation.definitions",
    "SkipReason": "arco.orchestration.automation.definitions",
    "StaticPartitions": "arco.orchestration.partitions",
    "Table": "arco.catalog",
    "ValidationError": "arco.errors",
    "WriterOptions": "arco.tier1.writer",
    "asset": "arco.orchestration.assets",
    "asset_sensor": "arco.orchestration.automation.definitions",
    "check": "arco.orchestration.assets",
    "freshness": "arco.orchestration.assets",
    "not_null": "arco.orchestration.assets",
    "open_store": "arco.storage",
    "parse_event": "arco.tier2.envelope",
    "push_sensor": "arco.orchestration.automation.definitions",
    "row_count": "arco.orchestration.assets",
    "schedule": "arco.orchestration.automation.definitions",
    "sensor": "arco.orchestration.automation.definitions",
    "sql_check": "arco.orchestration.assets",
    "unique": "arco.orchestration.assets",
}

__all__ = [
    "EXECUTIONS",
    "ArcoError",
    "AssetContext",
    "AssetDef",
    "AutomationCondition",
    "Catalog",
    "Column",
    "ColumnSpec",
    "CompactionResult",
    "Compactor",
    "CompactorOptions",
    "ConflictError",
    "DailyPartitions",
    "EventEnvelope",
    "EventLedger",
    "Executions",
    "HourlyPartitions",
    "Ingestor",
    "Materialization",
    "MonthlyPartitions",
    "MultiPartitions",
    "Namespace",
    "NotFoundError",
    "ObjectStore",
    "Page",
    "RequestedRun",
    "RetryPolicy",
    "ScheduleContext",
    "ScheduleDef",
    "Scope",
    "SearchHit",
    "SensorContext",
    "SensorDef",
    "SensorResult",
    "SkipReason",
    "StaticPartitions",
    "Table",
    "ValidationError",
    "WriterOptions",
    "asset",
    "asset_sensor",
    "check",
    "freshness",
    "not_null",
    "open_store",
    "parse_event",
    "push_sensor",
    "row_count",
    "schedule",
    "sensor",
    "sql_check",
    "unique",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'arco' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
