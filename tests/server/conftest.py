"""Server test fixtures: an app on a fresh local store, driven in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from arco.server import ServerSettings, create_app


@pytest.fixture
def dev_settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(store_url=f"file://{tmp_path / 'store'}", dev=True, compactor=False)


@pytest.fixture
def dev_client(dev_settings: ServerSettings) -> Iterator[TestClient]:
    with TestClient(create_app(dev_settings)) as client:
        yield client
