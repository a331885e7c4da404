"""Iceberg commits from several OS processes on one local-file store.

* Eight processes append to **one** table, retrying on CommitFailed: every acknowledged
  commit is in main's history exactly once, and nothing is there twice.
* The same through pyiceberg's own append (real data files): every acknowledged append's
  rows are read back exactly once.
* Eight processes on eight tables never contend: every commit lands on its first attempt.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from arco.catalog import Catalog
from arco.iceberg import IcebergTables, TableIdent
from iceberg_support import ARROW_SCHEMA, PyIcebergCatalog, create_request, main_lineage
from process_support import run_workers

WORKER = Path(__file__).with_name("iceberg_worker.py")
STORE_OPTIONS: dict[str, Any] = {"fsync": False}


def setup(tmp_path: Path, tables: list[str]) -> tuple[str, IcebergTables]:
    url = f"file://{tmp_path}/store"
    svc = IcebergTables(Catalog.open(url, **STORE_OPTIONS))
    svc.namespaces.create(["ns"])
    for name in tables:
        svc.create_table(["ns"], create_request(name))
    return url, svc


def outcomes(
    results: list[list[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records = [r for worker in results for r in worker]
    return [r for r in records if r["event"] == "ack"], [
        r for r in records if r["event"] == "error"
    ]


def test_eight_processes_commit_to_one_table(tmp_path: Path) -> None:
    url, svc = setup(tmp_path, ["t"])
    configs = [
        {
            "worker": w,
            "seed": 100 + w,
            "commits": 8,
            "mode": "service",
            "namespace": ["ns"],
            "table": "t",
        }
        for w in range(8)
    ]
    acks, errors = outcomes(run_workers(WORKER, tmp_path, url, STORE_OPTIONS, configs))
    assert errors == []
    assert len(acks) == 64
    assert any(a["attempts"] > 1 for a in acks), "the writers never contended"

    final = svc.load_table(TableIdent(("ns",), "t"))
    lineage = main_lineage(final.metadata)
    counts = Counter(s.summary.get("commit") if s.summary else None for s in lineage)
    assert all(n == 1 for n in counts.values()), [c for c, n in counts.items() if n > 1]
    assert set(counts) == {a["commit"] for a in acks}
    in_main = {s.snapshot_id for s in lineage}
    assert {a["snapshot_id"] for a in acks} <= in_main
    # the catalog row follows the pointer
    svc.sync.sync_now()
    row = svc.catalog.get_table("ns", "t")
    assert row.properties["iceberg.metadata-location"] == final.metadata_location
    assert row.properties["iceberg.current-snapshot-id"] == str(final.metadata.current_snapshot_id)


@pytest.mark.slow
def test_processes_append_with_pyiceberg(tmp_path: Path) -> None:
    url, svc = setup(tmp_path, [])
    PyIcebergCatalog(svc).create_table("ns.t", ARROW_SCHEMA)
    configs = [
        {
            "worker": w,
            "seed": 200 + w,
            "commits": 3,
            "rows": 5,
            "mode": "pyiceberg",
            "namespace": ["ns"],
            "table": "t",
        }
        for w in range(8)
    ]
    acks, errors = outcomes(run_workers(WORKER, tmp_path, url, STORE_OPTIONS, configs))
    assert errors == []
    ids = Counter(PyIcebergCatalog(svc).load_table("ns.t").scan().to_arrow()["id"].to_pylist())
    expected = Counter(a["first_id"] + k for a in acks for k in range(5))
    assert ids == expected


def test_eight_processes_on_eight_tables_never_contend(tmp_path: Path) -> None:
    names = [f"t{w}" for w in range(8)]
    url, svc = setup(tmp_path, names)
    configs = [
        {
            "worker": w,
            "seed": 300 + w,
            "commits": 5,
            "mode": "service",
            "namespace": ["ns"],
            "table": names[w],
        }
        for w in range(8)
    ]
    acks, errors = outcomes(run_workers(WORKER, tmp_path, url, STORE_OPTIONS, configs))
    assert errors == []
    assert len(acks) == 40
    assert all(a["attempts"] == 1 for a in acks)
    for name in names:
        lineage = main_lineage(svc.load_table(TableIdent(("ns",), name)).metadata)
        assert len(lineage) == 5
