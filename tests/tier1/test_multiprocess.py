"""Many OS processes racing DDL against one store (local filesystem and S3 on moto).

Each worker (``ddl_worker.py``, mode ``race``) creates namespaces with colliding and unique
names, registers tables with colliding and unique names in one shared namespace and
increments a counter property of a shared table with read-modify-write + ``if_match``.
Afterwards the store must show exactly what was acknowledged: one winner per colliding
name, every acknowledged write with the same ids, no lost update, a commit log with every
version exactly once, and a clean ``verify``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from arco.catalog import Catalog, Namespace, Table
from arco.core.names import name_key
from arco.maintenance.verify import verify_scope
from arco.metadata.commit_log import CommitRecord, read_commit
from arco.metadata.manifest import read_manifest
from process_support import run_workers

WORKER = Path(__file__).with_name("ddl_worker.py")
SHARED = "common"
COUNTER = "counter"


def commit_chain(cat: Catalog) -> list[CommitRecord]:
    """Every commit record reachable from the current manifest, oldest first."""
    head = read_manifest(cat.store, "catalog")
    assert head is not None
    records: list[CommitRecord] = []
    commit_id: str | None = head.manifest.commit_id
    while commit_id is not None:
        record = read_commit(cat.store, "catalog", commit_id)
        records.append(record)
        commit_id = record.parent_commit_id
    records.reverse()
    assert records[-1].manifest.to_bytes() == head.raw
    return records


def all_namespaces(cat: Catalog) -> list[Namespace]:
    out: list[Namespace] = []
    token = None
    while True:
        page = cat.list_namespaces(page_token=token, limit=7)
        out.extend(page.items)
        token = page.next_page_token
        if token is None:
            return out


def all_tables(cat: Catalog, namespace: str) -> list[Table]:
    out: list[Table] = []
    token = None
    while True:
        page = cat.list_tables(namespace, page_token=token, limit=5)
        out.extend(page.items)
        token = page.next_page_token
        if token is None:
            return out


def check_race(
    cat: Catalog,
    results: list[list[dict[str, Any]]],
    colliding_ns: list[str],
    colliding_tables: list[str],
    counter_table: Table,
    pre_namespaces: list[Namespace],
) -> dict[str, int]:
    records = [r for worker in results for r in worker]
    acks = [r for r in records if r["event"] == "ack"]
    errors = [r for r in records if r["event"] == "error"]
    n_workers = len(results)

    # Only the expected kind of failure: a lost name race.
    assert all(e["error"] == "AlreadyExistsError" for e in errors), errors
    assert {e["op"] for e in errors} <= {"ns_collide", "table_collide"}, errors

    # --- namespaces -------------------------------------------------------------------
    namespaces = all_namespaces(cat)
    by_key = {name_key(ns.name): ns for ns in namespaces}
    assert len(by_key) == len(namespaces), "two namespaces share a name"
    for name in colliding_ns:
        winners = [a for a in acks if a["op"] == "ns_collide" and name_key(a["name"]) == name]
        losers = [e for e in errors if e["op"] == "ns_collide" and name_key(e["name"]) == name]
        assert len(winners) == 1, (name, winners)
        assert len(losers) == n_workers - 1, (name, losers)
        got = by_key[name_key(name)]
        assert got.model_dump(mode="json") == winners[0]["result"]
    unique_ns = [a for a in acks if a["op"] == "ns_unique"]
    assert len(unique_ns) == sum(1 for r in records if r["op"] == "ns_unique")
    for ack in unique_ns:
        assert by_key[name_key(ack["name"])].model_dump(mode="json") == ack["result"]
    expected_ns = {name_key(ns.name) for ns in pre_namespaces}
    expected_ns |= {name_key(a["name"]) for a in acks if a["op"].startswith("ns_")}
    assert set(by_key) == expected_ns

    # --- tables -----------------------------------------------------------------------
    tables = {name_key(t.name): t for t in all_tables(cat, SHARED)}
    for name in colliding_tables:
        winners = [a for a in acks if a["op"] == "table_collide" and a["name"] == name]
        losers = [e for e in errors if e["op"] == "table_collide" and e["name"] == name]
        assert len(winners) == 1, (name, winners)
        assert len(losers) == n_workers - 1, (name, losers)
        assert tables[name_key(name)].model_dump(mode="json") == winners[0]["result"]
    unique_tables = [a for a in acks if a["op"] == "table_unique"]
    assert len(unique_tables) == sum(1 for r in records if r["op"] == "table_unique")
    for ack in unique_tables:
        assert tables[name_key(ack["name"])].model_dump(mode="json") == ack["result"]
    expected_tables = {name_key(COUNTER)} | {
        name_key(a["name"]) for a in acks if a["op"].startswith("table_")
    }
    assert set(tables) == expected_tables

    # --- the counter: no lost update ----------------------------------------------------
    increments = [a for a in acks if a["op"] == "increment"]
    n_inc = sum(1 for worker in results for r in worker if r["op"] == "increment")
    assert len(increments) == n_inc
    values = sorted(a["value"] for a in increments)
    assert values == list(range(1, n_inc + 1)), "an increment was lost or applied twice"
    final = cat.get_table(SHARED, COUNTER)
    assert final.properties["counter"] == str(n_inc)
    assert final.table_id == counter_table.table_id
    assert final.columns == counter_table.columns
    by_value = sorted(increments, key=lambda a: a["value"])
    versions = [a["result"]["version"] for a in by_value]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert final.version == versions[-1]
    for a in increments:
        assert a["result"]["version"] > a["read_version"]

    # --- the commit log: every version exactly once, every ack in its commit -------------
    chain = commit_chain(cat)
    head_version = cat.snapshot_version()
    assert [r.snapshot_version for r in chain] == list(range(1, head_version + 1))
    assert len({r.commit_id for r in chain}) == len(chain)
    assert [r.commit_id for r in chain] == sorted(r.commit_id for r in chain)
    tokens = [r.fencing_token for r in chain]
    assert tokens == sorted(tokens), "fencing token went down"
    by_version = {r.snapshot_version: r for r in chain}
    for ack in acks:
        result = ack["result"]
        record = by_version[result["version"]]
        target = (
            result["name"]
            if "table_id" not in result
            else f"{result['namespace']}.{result['name']}"
        )
        ops = [(o["op"], o["target"], o["idempotency_key"]) for o in record.operations]
        assert any(t == target and k == ack["key"] for _, t, k in ops), (ack, ops)
    ddl_ops = Counter(o["idempotency_key"] for r in chain for o in r.operations)
    assert all(n == 1 for n in ddl_ops.values()), "a request was committed twice"
    assert sum(ddl_ops.values()) == len(acks) + 2  # + the two set-up requests

    report = verify_scope(cat.store)
    assert report.ok, report.findings
    stats = {
        "acks": len(acks),
        "errors": len(errors),
        "versions": head_version,
        "increment_attempts": sum(a["attempts"] for a in increments),
        "storage_retries": sum(a["attempts"] - 1 for a in acks if a["op"] != "increment"),
        "fence_commits": sum(1 for r in chain if r.kind == "fence"),
        "checkpoints": sum(1 for r in chain if r.kind == "checkpoint"),
    }
    print(stats)
    return stats


def race_configs(n_workers: int, scale: dict[str, int], seed: int) -> tuple[list, list, list]:
    colliding_ns = [f"shared-{k}" for k in range(scale["colliding_namespaces"])]
    colliding_tables = [f"tc{k}" for k in range(scale["colliding_tables"])]
    configs = [
        {
            "mode": "race",
            "worker": w,
            "seed": seed * 1000 + w,
            "shared_namespace": SHARED,
            "counter_table": COUNTER,
            "colliding_namespaces": colliding_ns,
            "colliding_tables": colliding_tables,
            "unique_namespaces": scale["unique_namespaces"],
            "unique_tables": scale["unique_tables"],
            "increments": scale["increments"],
            "checkpoint_every": scale["checkpoint_every"],
        }
        for w in range(n_workers)
    ]
    return configs, colliding_ns, colliding_tables


def setup_catalog(cat: Catalog) -> Table:
    cat.create_namespace(SHARED, idempotency_key="setup-ns")
    return cat.register_table(
        SHARED,
        COUNTER,
        [{"name": "n", "type": "int64"}],
        properties={"counter": "0"},
        idempotency_key="setup-table",
    )


def test_processes_race_ddl_on_local_files(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/store"
    options: dict[str, Any] = {"fsync": False}
    scale = {
        "colliding_namespaces": 5,
        "unique_namespaces": 2,
        "colliding_tables": 4,
        "unique_tables": 3,
        "increments": 5,
        "checkpoint_every": 16,
    }
    cat = Catalog.open(url, **options)
    counter = setup_catalog(cat)
    configs, colliding_ns, colliding_tables = race_configs(8, scale, seed=1)
    results = run_workers(WORKER, tmp_path, url, options, configs)
    stats = check_race(
        cat, results, colliding_ns, colliding_tables, counter, [cat.get_namespace(SHARED)]
    )
    assert stats["acks"] == 8 * (2 + 3 + 5) + 5 + 4
    # a fresh process-local catalog agrees with the one that watched the race
    again = Catalog.open(url, **options)
    assert all_namespaces(again) == all_namespaces(cat)


@pytest.mark.s3
def test_processes_race_ddl_on_s3(tmp_path: Path, s3_url: tuple[str, dict[str, Any]]) -> None:
    url, options = s3_url
    scale = {
        "colliding_namespaces": 3,
        "unique_namespaces": 1,
        "colliding_tables": 2,
        "unique_tables": 1,
        "increments": 3,
        "checkpoint_every": 8,
    }
    cat = Catalog.open(url, **options)
    counter = setup_catalog(cat)
    configs, colliding_ns, colliding_tables = race_configs(8, scale, seed=2)
    results = run_workers(WORKER, tmp_path, url, options, configs)
    stats = check_race(
        cat, results, colliding_ns, colliding_tables, counter, [cat.get_namespace(SHARED)]
    )
    assert stats["acks"] == 8 * (1 + 1 + 3) + 3 + 2
