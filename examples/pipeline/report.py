"""Revenue per country over every cleaned day (not partitioned)."""

from __future__ import annotations

import pyarrow as pa

from arco import AssetContext, asset, row_count, sql_check

ARCO_NAMESPACE = "shop"


@asset(
    group="reporting",
    owners=["finance@example.com"],
    checks=[
        row_count(min=1),
        sql_check("no_negative_revenue", "SELECT * FROM revenue_by_country WHERE revenue_eur < 0"),
    ],
)
def revenue_by_country(context: AssetContext, clean_orders: pa.Table) -> pa.Table:
    """Total revenue and order count per country."""
    grouped = clean_orders.group_by("country").aggregate(
        [("amount_eur", "sum"), ("order_id", "count")]
    )
    return grouped.rename_columns(["country", "revenue_eur", "orders"]).sort_by("country")
