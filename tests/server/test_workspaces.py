"""The workspace registry keeps at most max_open workspaces open and never closes one in use."""

from __future__ import annotations

import dataclasses

from fastapi.testclient import TestClient

from arco.core.scope import Scope
from arco.server import ServerSettings, create_app
from arco.server.workspaces import WorkspaceRegistry
from arco.storage import open_store


def test_idle_workspaces_beyond_the_bound_are_closed_lru_first() -> None:
    registry = WorkspaceRegistry(open_store("memory://"), max_open=2)
    a, b, c = (Scope("t", w) for w in ("a", "b", "c"))
    first = registry.get(a)
    first.catalog.create_namespace("kept")
    registry.get(b)
    registry.get(a)  # a is now the most recently used
    registry.get(c)  # over the bound: b (least recently used, idle) goes
    assert [ws.scope for ws in registry] == [a, c]
    # a workspace needed again is reopened and sees what was written
    again = registry.get(b)
    assert again.catalog.list_namespaces().items == []
    assert registry.get(a).catalog.get_namespace("kept").name == "kept"
    assert len(registry) == 2


def test_a_workspace_in_use_is_never_closed() -> None:
    registry = WorkspaceRegistry(open_store("memory://"), max_open=1)
    a, b = Scope("t", "a"), Scope("t", "b")
    with registry.use(a) as held:
        with registry.use(b):
            assert {ws.scope for ws in registry} == {a, b}  # over the bound while both are held
        assert [ws.scope for ws in registry] == [a]  # b, idle, went when released
        held.catalog.create_namespace("still-open")
    assert registry.get(a).catalog.get_namespace("still-open").version == 1


def test_the_server_bounds_open_workspaces(dev_settings: ServerSettings) -> None:
    settings = dataclasses.replace(dev_settings, max_open_workspaces=2)
    with TestClient(create_app(settings)) as client:
        for tenant in ("t1", "t2", "t3", "t4"):
            r = client.post(
                "/api/v1/namespaces", json={"name": "n"}, headers={"X-Tenant-Id": tenant}
            )
            assert r.status_code == 201, r.text
        assert len(client.app.state.services.workspaces) == 2  # type: ignore[attr-defined]
        # an evicted workspace comes back with its data
        r = client.get("/api/v1/namespaces/n", headers={"X-Tenant-Id": "t1"})
        assert r.status_code == 200 and r.json()["name"] == "n"
