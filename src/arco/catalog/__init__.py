"""The tier-1 catalog: namespaces, tables and columns."""

from arco.catalog.catalog import Catalog
from arco.catalog.model import Column, Namespace, Page, Table
from arco.catalog.operations import (
    ColumnSpec,
    CreateNamespace,
    DropNamespace,
    DropTable,
    RegisterTable,
    RenameTable,
    UpdateNamespace,
    UpdateTable,
)
from arco.catalog.search_index import SearchHit
from arco.tier1.writer import WriterOptions

__all__ = [
    "Catalog",
    "Column",
    "ColumnSpec",
    "CreateNamespace",
    "DropNamespace",
    "DropTable",
    "Namespace",
    "Page",
    "RegisterTable",
    "RenameTable",
    "SearchHit",
    "Table",
    "UpdateNamespace",
    "UpdateTable",
    "WriterOptions",
]
