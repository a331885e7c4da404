"""The Iceberg REST catalog's core (ADR 014): per-table pointers over one Arco catalog.

:class:`IcebergTables` is the service one workspace's routes call; :class:`IcebergViews`
does the same for views. Everything is synchronous and storage-only: no HTTP here.
"""

from arco.iceberg.errors import IcebergError
from arco.iceberg.namespaces import IcebergNamespaces, PropertiesUpdate
from arco.iceberg.tables import IcebergTables, LoadedTable, TableChange, TableIdent
from arco.iceberg.views import IcebergViews, LoadedView

__all__ = [
    "IcebergError",
    "IcebergNamespaces",
    "IcebergTables",
    "IcebergViews",
    "LoadedTable",
    "LoadedView",
    "PropertiesUpdate",
    "TableChange",
    "TableIdent",
]
