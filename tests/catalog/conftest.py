"""Fixtures for catalog tests: catalogs on the memory and local backends, and a fake clock."""

# FakeClock and inline_options live in catalog_support (importable from test modules).

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog_support import FakeClock, inline_options

from arco.catalog import Catalog
from arco.storage import LocalFileStore, ObjectStore, open_store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def memory_root() -> ObjectStore:
    return open_store("memory://")


# Local stores skip fsync here: durability against power loss is not what these tests check
# (a killed process loses nothing that reached the page cache), and fsync makes each local
# commit ~100 ms on this disk. The storage contract tests keep fsync on.


@pytest.fixture
def local_root(tmp_path: Path) -> ObjectStore:
    return LocalFileStore(tmp_path / "store", fsync=False)


@pytest.fixture(params=["memory", "local"])
def root_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "memory":
        return open_store("memory://")
    return LocalFileStore(tmp_path / "store", fsync=False)


@pytest.fixture
def catalog(root_store: ObjectStore) -> Iterator[Catalog]:
    """A catalog on each backend with frequent inline checkpoints."""
    cat = Catalog(root_store, options=inline_options())
    yield cat
    cat.close()
