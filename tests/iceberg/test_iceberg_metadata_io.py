"""Metadata files: locations inside the workspace's store, create-only writes, reads."""

from __future__ import annotations

import gzip
import uuid

import pytest
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.table.metadata import TableMetadata, new_table_metadata
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER

from arco.errors import CorruptStateError, ObjectExistsError, ObjectNotFoundError
from arco.iceberg.errors import BadRequest
from arco.iceberg.metadata_io import MetadataFiles, location_segment, metadata_version
from arco.storage import ObjectStore, ScopedStore
from iceberg_support import SCHEMA


@pytest.fixture
def files(root_store: ObjectStore) -> MetadataFiles:
    return MetadataFiles(ScopedStore(root_store, "tenant=a/workspace=b/"))


def metadata(location: str) -> TableMetadata:
    return new_table_metadata(
        SCHEMA, UNPARTITIONED_PARTITION_SPEC, UNSORTED_SORT_ORDER, location, {"k": "v"}
    )


def test_locations_map_to_keys_only_inside_the_store(files: MetadataFiles) -> None:
    base = files.base_url
    assert base.endswith("/tenant=a/workspace=b")
    assert (
        files.key_of(f"{base}/warehouse/ns/t/metadata/x.json") == "warehouse/ns/t/metadata/x.json"
    )
    for outside in [
        "s3://elsewhere/warehouse/ns/t",
        f"{base}-other/warehouse/ns/t",
        f"{base}/",
        base,
        f"{base}/warehouse/../../x",
        f"{base}/warehouse/%2e%2e/x",
    ]:
        with pytest.raises(BadRequest, match="location"):
            files.key_of(outside)


def test_table_locations_are_under_the_warehouse(files: MetadataFiles) -> None:
    base = files.base_url
    assert files.check_location(f"{base}/warehouse/ns/t/") == f"{base}/warehouse/ns/t"
    for bad in [f"{base}/warehouse", f"{base}/warehouse/ns", f"{base}/snapshots/ns/t", f"{base}/x"]:
        with pytest.raises(BadRequest, match="at least two levels under"):
            files.check_location(bad)
    with pytest.raises(BadRequest, match="at most"):
        files.check_location(f"{base}/warehouse/ns/" + "t" * 2000)


def test_default_location_and_segments(files: MetadataFiles) -> None:
    table_uuid = str(uuid.uuid4())
    location = files.default_location("a.b", "Größe/x", table_uuid)
    assert location == (f"{files.base_url}/warehouse/a.b/Gr__e_x-{table_uuid.replace('-', '')[:8]}")
    files.check_location(location)
    assert location_segment(".hidden") == "_hidden"
    assert location_segment("%x") == "_x"
    assert len(location_segment("y" * 500)) == 64


def test_metadata_version() -> None:
    assert metadata_version(f"s3://b/t/metadata/00012-{uuid.uuid4()}.metadata.json") == 12
    assert metadata_version(f"s3://b/t/metadata/00003-{uuid.uuid4()}.gz.metadata.json") == 3
    assert metadata_version("s3://b/t/metadata/v3.metadata.json") == -1


def test_write_create_only_and_read_back(files: MetadataFiles) -> None:
    table_location = files.default_location("ns", "t", str(uuid.uuid4()))
    md = metadata(table_location)
    location = files.write_new(md, 0)
    assert location.startswith(f"{table_location}/metadata/00000-")
    assert location.endswith(".metadata.json")
    with pytest.raises(ObjectExistsError):
        files.write(location, md)
    assert files.read_table(location) == md
    fresh = MetadataFiles(files._store)  # no cache
    assert fresh.read_table(location) == md
    assert fresh.exists(location)
    with pytest.raises(ObjectNotFoundError):
        fresh.read_table(f"{table_location}/metadata/none.metadata.json")


def test_gzip_and_corrupt_files(files: MetadataFiles) -> None:
    table_location = files.default_location("ns", "t", str(uuid.uuid4()))
    md = metadata(table_location)
    gz = f"{table_location}/metadata/00001-{uuid.uuid4()}.gz.metadata.json"
    files._store.put(files.key_of(gz), gzip.compress(md.model_dump_json().encode()), "create")
    assert files.read_table(gz) == md
    broken = f"{table_location}/metadata/broken.metadata.json"
    files._store.put(files.key_of(broken), b'{"format-version": 2}', "create")
    with pytest.raises(CorruptStateError, match="not valid Iceberg table metadata"):
        files.read_table(broken)
    with pytest.raises(CorruptStateError, match="not valid Iceberg view metadata"):
        files.read_view(broken)


def test_delete_under_removes_only_the_table(files: MetadataFiles) -> None:
    a = files.default_location("ns", "a", str(uuid.uuid4()))
    b = files.default_location("ns", "ab", str(uuid.uuid4()))
    files.write_new(metadata(a), 0)
    files.write_new(metadata(a), 1)
    kept = files.write_new(metadata(b), 0)
    assert files.delete_under(a) == 2
    assert [m.key for m in files._store.list("warehouse/")] == [files.key_of(kept)]
