"""Asset IO through the HTTP client: the catalog, lineage and executions are remote, the
output files go straight to the workspace's store (as a worker writes them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from live_server import LiveServer

from arco.client import Client
from arco.core.scope import Scope
from arco.orchestration.io import EXECUTION_EDGE, AssetIO, materialization_id
from arco.orchestration.manifest import AssetSpec
from arco.storage import LocalFileStore, ScopedStore

SCOPE = Scope("acme", "main")
SPEC = AssetSpec(key="shop/orders", entry_point="m:f", code_version="v2")
TABLE = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", "b"]})


@pytest.fixture
def remote_io(tmp_path: Path) -> Iterator[tuple[Client, AssetIO]]:
    with (
        LiveServer(tmp_path / "store") as server,
        Client(server.url, tenant=SCOPE.tenant, workspace=SCOPE.workspace, backoff=0.01) as c,
    ):
        store = ScopedStore(LocalFileStore(tmp_path / "store", fsync=False), SCOPE.prefix)
        yield c, AssetIO(store, c.catalog, c.executions)


def test_outputs_lineage_and_materializations_through_the_api(
    remote_io: tuple[Client, AssetIO],
) -> None:
    client, io = remote_io
    out = io.write_output(SPEC, "", TABLE, attempt_id="a1", run_id="r1")
    table = client.catalog.get_table("shop", "orders")
    assert table.table_id == out.table_id
    assert [(c.name, c.type) for c in table.columns] == [("id", "int64"), ("name", "string")]
    version = client.catalog.snapshot_version()
    again = io.write_output(SPEC, "", TABLE, attempt_id="a2", run_id="r1")
    assert client.catalog.snapshot_version() == version

    mid = io.record_success(
        SPEC,
        "",
        again,
        run_id="r1",
        attempt_id="a2",
        inputs=["raw/orders"],
        started_ms=1_767_225_600_000,
        completed_ms=1_767_225_601_000,
    )
    assert mid == materialization_id("a2")
    edges = client.catalog.lineage("shop/orders", direction="upstream", depth=1).edges
    assert [(e.source, e.edge_type) for e in edges] == [("raw/orders", EXECUTION_EDGE)]
    deadline = time.monotonic() + 10
    while not client.executions.list_materializations(asset_key="shop/orders").items:
        assert time.monotonic() < deadline, "the materialization was not folded"
        time.sleep(0.05)
    m = client.executions.get_materialization(mid)
    assert (m.rows, m.bytes, m.code_version, m.table_id) == (2, again.bytes, "v2", out.table_id)
    assert io.read_input("shop/orders", None, None).equals(TABLE)
