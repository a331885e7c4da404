"""Cleaned orders: rows without a country are dropped."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from arco import AssetContext, DailyPartitions, asset, not_null, unique

ARCO_NAMESPACE = "shop"


@asset(
    partitions=DailyPartitions(start="2026-01-01", timezone="Europe/Paris"),
    group="orders",
    code_version="1",
    checks=[not_null("order_id", "country"), unique("order_id")],
)
def clean_orders(context: AssetContext, orders: pa.Table) -> pa.Table:
    """Orders with a known country, amounts in euros."""
    kept = orders.filter(pc.is_valid(orders["country"]))
    euros = pc.divide(kept["amount_cents"].cast(pa.float64()), 100.0)
    return kept.drop_columns(["amount_cents"]).append_column("amount_eur", euros)
