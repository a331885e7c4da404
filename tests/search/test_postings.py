from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arco.catalog.model import Column, Namespace, Table
from arco.errors import ValidationError
from arco.search import (
    WEIGHT_COLUMN,
    WEIGHT_DESCRIPTION,
    WEIGHT_NAME,
    Hit,
    Posting,
    PrefixIndex,
    postings_for_namespace,
    postings_for_table,
    search,
)

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def ns(namespace_id: str, name: str, description: str | None = None) -> Namespace:
    return Namespace(
        namespace_id=namespace_id,
        name=name,
        description=description,
        properties={},
        created_at=NOW,
        updated_at=NOW,
        version=1,
    )


def table(
    table_id: str,
    name: str,
    description: str | None = None,
    columns: tuple[str, ...] = (),
    namespace_id: str = "ns1",
) -> Table:
    return Table(
        table_id=table_id,
        namespace_id=namespace_id,
        namespace="sales",
        name=name,
        description=description,
        location=None,
        format="parquet",
        properties={},
        columns=[
            Column(column_id=f"{table_id}.c{i}", position=i, name=c, type="string", nullable=True)
            for i, c in enumerate(columns)
        ],
        created_at=NOW,
        updated_at=NOW,
        version=1,
    )


def postings(*entities: Namespace | Table) -> list[Posting]:
    rows: list[Posting] = []
    for entity in entities:
        if isinstance(entity, Namespace):
            rows += postings_for_namespace(entity)
        else:
            rows += postings_for_table(entity)
    return rows


def ids(hits: list[Hit]) -> list[str]:
    return [h.entity_id for h in hits]


# --- postings --------------------------------------------------------------------------


def test_namespace_postings() -> None:
    rows = postings_for_namespace(ns("n1", "SalesEU", "EU sales data"))
    assert [(p.token, p.field, p.weight) for p in rows] == [
        ("sales", "name", WEIGHT_NAME),
        ("eu", "name", WEIGHT_NAME),
        ("eu", "description", WEIGHT_DESCRIPTION),
        ("sales", "description", WEIGHT_DESCRIPTION),
        ("data", "description", WEIGHT_DESCRIPTION),
    ]
    assert all(
        (p.entity_kind, p.entity_id, p.namespace_id, p.table_id) == ("namespace", "n1", "n1", None)
        for p in rows
    )


def test_table_postings_cover_name_description_and_columns() -> None:
    t = table("t1", "orderItems", "Order lines, one row per item", ("order_id", "itemSku"))
    rows = postings_for_table(t)
    table_rows = [(p.token, p.field) for p in rows if p.entity_kind == "table"]
    assert table_rows == [
        ("order", "name"),
        ("items", "name"),
        ("order", "description"),
        ("lines", "description"),
        ("one", "description"),
        ("row", "description"),
        ("per", "description"),
        ("item", "description"),
        ("order", "column"),
        ("id", "column"),
        ("item", "column"),
        ("sku", "column"),
    ]
    columns = [(p.entity_id, p.token, p.field, p.weight) for p in rows if p.entity_kind == "column"]
    assert columns == [
        ("t1.c0", "order", "name", WEIGHT_NAME),
        ("t1.c0", "id", "name", WEIGHT_NAME),
        ("t1.c1", "item", "name", WEIGHT_NAME),
        ("t1.c1", "sku", "name", WEIGHT_NAME),
    ]
    assert {p.weight for p in rows if p.field == "column"} == {WEIGHT_COLUMN}
    assert all(p.table_id == "t1" and p.namespace_id == "ns1" for p in rows)


def test_postings_are_deduped_per_token_entity_field() -> None:
    rows = postings_for_table(table("t1", "sales_sales", "sales sales", ("sales", "sales_id")))
    keys = [(p.token, p.entity_kind, p.entity_id, p.field) for p in rows]
    assert len(keys) == len(set(keys))
    assert ("sales", "table", "t1", "name") in keys
    assert ("sales", "table", "t1", "description") in keys
    assert ("sales", "table", "t1", "column") in keys


def test_postings_are_deterministic() -> None:
    t = table("t1", "売上高", "Umsatz pro Straße", ("顧客ID", "金額"))
    assert postings_for_table(t) == postings_for_table(t)


# --- search ----------------------------------------------------------------------------


def test_ranking_name_over_description_over_column() -> None:
    rows = postings(
        table("t_col", "facts", columns=("revenue",)),
        table("t_desc", "facts2", "total revenue"),
        table("t_name", "revenue"),
    )
    hits = search(rows, "revenue")
    tables = [h.entity_id for h in hits if h.entity_kind == "table"]
    assert tables == ["t_name", "t_desc", "t_col"]
    by_id = {h.entity_id: h.score for h in hits}
    assert by_id["t_name"] == WEIGHT_NAME * 1.5
    assert by_id["t_desc"] == WEIGHT_DESCRIPTION * 1.5
    assert by_id["t_col"] == WEIGHT_COLUMN * 1.5


def test_exact_beats_prefix() -> None:
    rows = postings(table("t1", "orders_archive"), table("t2", "order"))
    hits = search(rows, "order")
    assert ids(hits) == ["t2", "t1"]
    assert [h.score for h in hits] == [WEIGHT_NAME * 1.5, WEIGHT_NAME]


def test_best_field_counts_once_per_query_token() -> None:
    rows = postings(table("t1", "sales", "sales by region", ("sales",)))
    [hit] = [h for h in search(rows, "sales") if h.entity_kind == "table"]
    assert hit.score == WEIGHT_NAME * 1.5
    assert hit.matched == ["sales"]


def test_and_semantics() -> None:
    rows = postings(
        table("t1", "customer_orders"),
        table("t2", "customer_profile"),
        table("t3", "supplier_orders"),
    )
    assert ids(search(rows, "cust ord")) == ["t1"]
    assert ids(search(rows, "customer")) == ["t1", "t2"]
    assert search(rows, "customer invoices") == []
    assert search(rows, "zzz") == []


def test_query_is_tokenized_like_names() -> None:
    rows = postings(table("t1", "order_items_v2"), table("t2", "customerID"))
    assert ids(search(rows, "ORDER-ITEMS")) == ["t1"]
    assert ids(search(rows, "v2")) == ["t1"]
    assert ids(search(rows, "customer id")) == ["t2"]
    assert ids(search(rows, "CustomerId")) == ["t2"]


def test_matched_lists_indexed_tokens() -> None:
    rows = postings(table("t1", "order_orderline"))
    [hit] = search(rows, "ord")
    assert hit.matched == ["order", "orderline"]


def test_ties_by_kind_then_id() -> None:
    rows = postings(
        table("t_b", "metrics"),
        table("t_a", "metrics", namespace_id="ns2"),
        ns("ns9", "metrics"),
    )
    hits = search(rows, "metrics")
    assert [(h.entity_kind, h.entity_id) for h in hits] == [
        ("namespace", "ns9"),
        ("table", "t_a"),
        ("table", "t_b"),
    ]


def test_columns_are_found_with_their_table() -> None:
    rows = postings(table("t1", "facts", columns=("unit_price",)))
    hits = search(rows, "unit pri")
    assert [(h.entity_kind, h.entity_id, h.table_id) for h in hits] == [
        ("column", "t1.c0", "t1"),
        ("table", "t1", "t1"),
    ]


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("売上高", "売上"),
        ("売上高", "売"),
        ("売上高", "売上高"),
        ("月次売上", "売上"),
        ("Продажи", "прод"),
        ("ПродажиПоРегионам", "регион"),
        ("Straße", "STRASSE"),
        ("İstanbul_sales", "istan"),
        ("매출액", "매출"),
        ("מכירות", "מכי"),
        ("المبيعات", "المب"),
        ("बिक्री_रिपोर्ट", "रिपो"),
        ("ยอดขาย", "ขาย"),
        ("cafe\u0301", "café"),
    ],
)
def test_non_latin_prefix(name: str, query: str) -> None:
    rows = postings(table("t1", name), table("t2", "unrelated"))
    assert ids(search(rows, query)) == ["t1"]


def test_cjk_query_must_match_all_bigrams() -> None:
    rows = postings(table("t1", "売上高"), table("t2", "売上原価"))
    assert ids(search(rows, "売上")) == ["t1", "t2"]
    assert ids(search(rows, "売上高")) == ["t1"]
    assert ids(search(rows, "原価")) == ["t2"]


def test_rebuilt_postings_forget_renamed_and_dropped() -> None:
    before = [table("t1", "orders"), table("t2", "customers"), table("t3", "invoices")]
    assert ids(search(postings(*before), "orders")) == ["t1"]
    assert ids(search(postings(*before), "invoices")) == ["t3"]
    # t1 renamed, t3 dropped
    after = [table("t1", "purchase_orders_v2"), table("t2", "customers")]
    index = PrefixIndex(postings(*after))
    assert ids(index.search("invoices")) == []
    assert ids(index.search("purchase")) == ["t1"]
    assert [h.score for h in index.search("orders")] == [WEIGHT_NAME * 1.5]
    assert ids(index.search("cust")) == ["t2"]


def test_limit() -> None:
    rows = postings(*[table(f"t{i:02}", f"sales_{i}") for i in range(30)])
    assert len(search(rows, "sales")) == 20
    assert ids(search(rows, "sales", limit=3)) == ["t00", "t01", "t02"]
    assert len(search(rows, "sales", limit=1000)) == 30


@pytest.mark.parametrize("limit", [0, -1, 1001, True])
def test_limit_bounds(limit: int) -> None:
    with pytest.raises(ValidationError, match="limit"):
        search([], "x", limit=limit)
    with pytest.raises(ValidationError, match="limit"):
        PrefixIndex([]).search("x", limit=limit)


@pytest.mark.parametrize("query", ["", "   ", "_-./", "🙂", "\u0301"])
def test_blank_query(query: str) -> None:
    with pytest.raises(ValidationError, match="q: must contain at least one letter or digit"):
        search(postings(table("t1", "sales")), query)


def test_empty_index() -> None:
    assert PrefixIndex([]).search("sales") == []
    assert len(PrefixIndex(postings(table("t1", "a_b_a")))) == 2


_words = st.lists(st.sampled_from(["sales", "order", "items", "売上", "продажи", "id"]), min_size=1)


@settings(max_examples=100)
@given(st.lists(_words, min_size=1, max_size=6), st.sampled_from(["sal", "ord", "売", "про", "i"]))
def test_every_hit_matches_every_query_token(names: list[list[str]], query: str) -> None:
    tables = [table(f"t{i}", "_".join(ws)) for i, ws in enumerate(names)]
    hits = search(postings(*tables), query, limit=1000)
    expected = {t.table_id for t in tables if any(w.startswith(query) for w in t.name.split("_"))}
    assert {h.entity_id for h in hits if h.entity_kind == "table"} == expected
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
