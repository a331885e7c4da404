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
    from arco.storage import ObjectStore, open_store
    from arco.tier1.writer import WriterOptions
    from arco.tier2.compactor import CompactionResult, Compactor, CompactorOptions
    from arco.tier2.envelope import EventEnvelope, parse_event
    from arco.tier2.ingestor import Ingestor
    from arco.tier2.ledger import EventLedger

_EXPORTS = {
    "ArcoError": "arco.errors",
    "Catalog": "arco.catalog",
    "Column": "arco.catalog",
    "ColumnSpec": "arco.catalog",
    "CompactionResult": "arco.tier2.compactor",
    "Compactor": "arco.tier2.compactor",
    "CompactorOptions": "arco.tier2.compactor",
    "ConflictError": "arco.errors",
    "EXECUTIONS": "arco.executions",
    "EventEnvelope": "arco.tier2.envelope",
    "EventLedger": "arco.tier2.ledger",
    "Executions": "arco.executions",
    "Ingestor": "arco.tier2.ingestor",
    "Materialization": "arco.executions",
    "Namespace": "arco.catalog",
    "NotFoundError": "arco.errors",
    "ObjectStore": "arco.storage",
    "Page": "arco.core.paging",
    "Scope": "arco.core.scope",
    "SearchHit": "arco.catalog",
    "Table": "arco.catalog",
    "ValidationError": "arco.errors",
    "WriterOptions": "arco.tier1.writer",
    "open_store": "arco.storage",
    "parse_event": "arco.tier2.envelope",
}

__all__ = [
    "EXECUTIONS",
    "ArcoError",
    "Catalog",
    "Column",
    "ColumnSpec",
    "CompactionResult",
    "Compactor",
    "CompactorOptions",
    "ConflictError",
    "EventEnvelope",
    "EventLedger",
    "Executions",
    "Ingestor",
    "Materialization",
    "Namespace",
    "NotFoundError",
    "ObjectStore",
    "Page",
    "Scope",
    "SearchHit",
    "Table",
    "ValidationError",
    "WriterOptions",
    "open_store",
    "parse_event",
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
