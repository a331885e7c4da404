"""The catalog domain: namespaces, tables, columns and idempotency records."""

from __future__ import annotations

from arco.catalog.operations import describe_result, result_from_json, result_to_json
from arco.catalog.schema import COLUMNS, IDEMPOTENCY, NAMESPACES, SEARCH_POSTINGS, TABLES
from arco.catalog.search_index import reindex
from arco.catalog.state import CatalogState
from arco.metadata.domain import DomainSpec

CATALOG = DomainSpec(
    name="catalog",
    tables=(NAMESPACES, TABLES, COLUMNS, SEARCH_POSTINGS, IDEMPOTENCY),
    new_state=CatalogState,
    encode_result=result_to_json,
    decode_result=result_from_json,
    describe_result=describe_result,
    derive=reindex,
    lazy_tables=frozenset({SEARCH_POSTINGS.name}),
)
