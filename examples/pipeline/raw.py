"""Raw orders, one partition per day (Europe/Paris), as an Arrow table."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from arco import AssetContext, DailyPartitions, RetryPolicy, asset, not_null, row_count

ARCO_NAMESPACE = "shop"


@asset(
    partitions=DailyPartitions(start="2026-01-01", timezone="Europe/Paris"),
    owners=["data@example.com"],
    tags={"layer": "raw"},
    group="orders",
    retry=RetryPolicy(max_attempts=3, backoff_s=2.0),
    timeout_s=300,
    checks=[row_count(min=1), not_null("order_id")],
)
def orders(context: AssetContext) -> pa.Table:
    """Orders as the shop exported them for one day.

    The real source would be an API or a bucket; this example makes up a few rows.
    """
    day = context.partition.values["date"]
    assert isinstance(day, dt.date)
    seed = day.toordinal()
    return pa.table(
        {
            "order_id": [seed * 10 + i for i in range(5)],
            "day": [day] * 5,
            "amount_cents": [(seed * (i + 7)) % 10_000 for i in range(5)],
            "country": ["FR", "DE", "FR", None, "IT"],
        }
    )
