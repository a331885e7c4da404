"""Iceberg commits from several OS processes through the REST protocol only: pyiceberg's
RestCatalog in each process against one `arco serve` (issue 11's concurrency tests).

* Eight processes append to **one** table, appending again after a CommitFailedException:
  every acknowledged append's rows are in the table exactly once.
* Eight processes on eight tables never contend: every append lands on its first attempt.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog import load_catalog

from iceberg_support import ARROW_SCHEMA
from process_support import run_workers
from serve_support import serve_process

pytestmark = pytest.mark.slow  # 16 client processes and two servers: ~30 s

WORKER = Path(__file__).resolve().parents[1] / "iceberg" / "rest_worker.py"
WAREHOUSE = "acme/main"
ROWS = 5


def acks_of(results: list[list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], list[Any]]:
    records = [r for worker in results for r in worker]
    return (
        [r for r in records if r["event"] == "ack"],
        [r for r in records if r["event"] == "error"],
    )


def test_eight_processes_append_to_one_table(tmp_path: Path) -> None:
    with serve_process(f"file://{tmp_path / 'store'}", tmp_path / "server.log") as server:
        uri = f"{server.url}/iceberg"
        catalog = load_catalog("arco", type="rest", uri=uri, warehouse=WAREHOUSE)
        catalog.create_namespace("ns")
        catalog.create_table("ns.t", ARROW_SCHEMA)
        configs = [
            {"worker": w, "warehouse": WAREHOUSE, "table": "ns.t", "commits": 3, "rows": ROWS}
            for w in range(8)
        ]
        acks, errors = acks_of(run_workers(WORKER, tmp_path, uri, {}, configs))
        assert errors == []
        assert len(acks) == 24
        ids = Counter(catalog.load_table("ns.t").scan().to_arrow()["id"].to_pylist())
        assert ids == Counter(a["first_id"] + k for a in acks for k in range(ROWS))
        assert max(a["attempts"] for a in acks) > 1, "the processes never contended"


def test_eight_processes_on_eight_tables_never_contend(tmp_path: Path) -> None:
    with serve_process(f"file://{tmp_path / 'store'}", tmp_path / "server.log") as server:
        uri = f"{server.url}/iceberg"
        catalog = load_catalog("arco", type="rest", uri=uri, warehouse=WAREHOUSE)
        catalog.create_namespace("ns")
        for w in range(8):
            catalog.create_table(f"ns.t{w}", ARROW_SCHEMA)
        configs = [
            {"worker": w, "warehouse": WAREHOUSE, "table": f"ns.t{w}", "commits": 4, "rows": ROWS}
            for w in range(8)
        ]
        acks, errors = acks_of(run_workers(WORKER, tmp_path, uri, {}, configs))
        assert errors == []
        assert [a["attempts"] for a in acks] == [1] * 32
        for w in range(8):
            table = catalog.load_table(f"ns.t{w}")
            assert len(table.scan().to_arrow()) == 4 * ROWS
