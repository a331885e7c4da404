"""Search postings stay in step with every DDL commit; results in any script."""

from __future__ import annotations

from dataclasses import replace

from arco.catalog import Catalog
from arco.catalog.search_index import all_postings, posting_id
from arco.maintenance.verify import verify_scope
from arco.query.views import run_query
from arco.storage import ObjectStore


def found(cat: Catalog, query: str) -> list[tuple[str, str, str | None, str | None]]:
    return [(h.kind, h.namespace, h.table, h.column) for h in cat.search(query)]


def test_search_ranks_names_over_descriptions_over_columns(catalog: Catalog) -> None:
    catalog.create_namespace("sales", description="orders and revenue")
    catalog.register_table("sales", "orders", [{"name": "id", "type": "int64"}])
    catalog.register_table(
        "sales", "refunds", [{"name": "order_id", "type": "int64"}], description="refunded orders"
    )
    hits = found(catalog, "orders")
    assert hits[0] == ("table", "sales", "orders", None)  # exact name match first
    assert ("table", "sales", "refunds", None) in hits  # found by its description
    assert hits.index(("table", "sales", "refunds", None)) > 0
    assert ("namespace", "sales", None, None) in hits
    assert found(catalog, "order id")[0] == ("column", "sales", "refunds", "order_id")


def test_non_latin_names_are_found_by_prefix(catalog: Catalog) -> None:
    catalog.create_namespace("ventes")
    catalog.register_table("ventes", "売上高", [{"name": "顧客ID", "type": "int64"}])
    catalog.register_table("ventes", "Продажи", [{"name": "сумма", "type": "double"}])
    catalog.register_table("ventes", "été_2024", [])
    assert ("table", "ventes", "売上高", None) in found(catalog, "売上")
    assert ("table", "ventes", "Продажи", None) in found(catalog, "прод")
    assert ("column", "ventes", "Продажи", "сумма") in found(catalog, "СУММ")  # noqa: RUF001
    assert ("table", "ventes", "été_2024", None) in found(catalog, "ÉTÉ")


def test_rename_move_and_drop_are_reflected_immediately(catalog: Catalog) -> None:
    catalog.create_namespace("a")
    catalog.create_namespace("b")
    catalog.register_table("a", "customer_orders", [{"name": "total", "type": "int64"}])
    assert found(catalog, "customer")[0] == ("table", "a", "customer_orders", None)
    catalog.rename_table("a", "customer_orders", "client_orders", new_namespace="b")
    assert found(catalog, "customer") == []
    assert found(catalog, "client")[0] == ("table", "b", "client_orders", None)
    catalog.update_table("b", "client_orders", rename_columns={"total": "amount"})
    assert found(catalog, "total") == []
    assert ("column", "b", "client_orders", "amount") in found(catalog, "amount")
    catalog.drop_table("b", "client_orders")
    assert found(catalog, "client") == []
    assert ("namespace", "a", None, None) in found(catalog, "a")
    catalog.drop_namespace("a")
    assert all(hit[1] != "a" for hit in found(catalog, "a"))


def test_postings_survive_compaction_and_match_sql(
    catalog: Catalog, root_store: ObjectStore
) -> None:
    catalog.create_namespace("n")
    for i in range(10):
        catalog.register_table("n", f"events_{i}", [{"name": "payload", "type": "string"}])
    catalog.drop_table("n", "events_3")
    cold = Catalog(root_store)
    assert found(cold, "events") == found(catalog, "events")
    assert len([h for h in found(cold, "events") if h[0] == "table"]) == 9
    # the stored postings (written commit by commit, then compacted) are exactly the ones
    # the current entities produce
    derived = {posting_id(p) for p in all_postings(catalog.reader.state())}
    rows = run_query(catalog, "SELECT posting_id FROM search.postings").to_pylist()
    assert {r["posting_id"] for r in rows} == derived
    assert len(rows) == len(derived)
    assert verify_scope(catalog.store).ok


def test_verify_notices_postings_that_drift_from_the_catalog(catalog: Catalog) -> None:
    catalog.create_namespace("n")
    catalog.register_table("n", "events", [{"name": "payload", "type": "string"}])
    assert verify_scope(catalog.store).ok
    # a commit whose derived postings were never written
    catalog.writer._spec = replace(catalog.writer._spec, derive=None)
    catalog.register_table("n", "orders", [])
    codes = {f.code for f in verify_scope(catalog.store).findings}
    assert codes == {"stale_search_postings"}
