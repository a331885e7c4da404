"""Iceberg metadata files: written create-only under fresh names, read by location.

Locations are absolute URIs. The workspace's scoped store has a URL (``file:///root/
tenant=a/workspace=b``, ``s3://bucket/prefix/tenant=a/workspace=b``); a location under it
maps to a storage key by removing that prefix, and a location anywhere else is refused
(400): Arco reads and writes metadata only through its own store. A new metadata file is
``{table location}/metadata/{version:05d}-{uuid}.metadata.json``; files are never
rewritten, so a parsed file is cached by location.
"""

from __future__ import annotations

import gzip
import re
import threading
import uuid
from collections import OrderedDict

import pydantic
from pyiceberg.exceptions import ValidationError as PyIcebergValidationError
from pyiceberg.table.metadata import TableMetadata, TableMetadataUtil
from pyiceberg.view.metadata import ViewMetadata

from arco.errors import (
    ArcoError,
    CorruptStateError,
    InvalidKeyError,
    ObjectNotFoundError,
    OutcomeUnknownError,
    preview,
)
from arco.iceberg.errors import BadRequest
from arco.metadata.layout import ICEBERG_WAREHOUSE
from arco.storage.keys import validate_key
from arco.storage.port import ObjectStore

__all__ = ["MetadataFiles", "location_segment", "metadata_version"]

#: longest table or view location (the catalog row keeps it; metadata file names follow it)
MAX_LOCATION = 1900
_SEGMENT_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]")
_METADATA_NAME = re.compile(r"(\d+)-[0-9a-fA-F-]{36}(?:\.gz)?\.metadata\.json")


def _corrupt(location: str, what: str, exc: Exception) -> CorruptStateError:
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    return CorruptStateError(
        f"metadata file {preview(location, 80)}: not valid Iceberg {what} metadata ({first[:200]})"
    )


def location_segment(name: str, limit: int = 64) -> str:
    """A storage-safe path segment for a namespace or table name (for default locations)."""
    segment = _SEGMENT_UNSAFE.sub("_", name)[:limit]
    return "_" + segment[1:] if segment.startswith(".") else segment


def metadata_version(location: str) -> int:
    """The version number in a metadata file name (``00003-<uuid>.metadata.json``), or -1."""
    found = _METADATA_NAME.fullmatch(location.rsplit("/", 1)[-1])
    return int(found.group(1)) if found else -1


class MetadataFiles:
    """Reads and writes table and view metadata files on one workspace's store."""

    def __init__(
        self, store: ObjectStore, *, cache_size: int = 256, json_budget: int = 64 << 20
    ) -> None:
        self._store = store
        self._base = store.url.rstrip("/")
        self._cache: OrderedDict[str, TableMetadata | ViewMetadata] = OrderedDict()
        self._cache_size = cache_size
        #: the JSON of recently served files, by location, within ``json_budget`` bytes
        self._json: OrderedDict[str, bytes] = OrderedDict()
        self._json_bytes = 0
        self._json_budget = json_budget
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """The URL every location must be under (the workspace's storage)."""
        return self._base

    # --- locations ----------------------------------------------------------------------

    def key_of(self, location: str, field: str = "location") -> str:
        """The storage key of ``location``; BadRequest if it is outside this store."""
        prefix = self._base + "/"
        if not location.startswith(prefix) or location == prefix:
            raise BadRequest(
                f"{field}: {preview(location, 80)} is outside this workspace's storage "
                f"(locations must be under {self._base}/)"
            )
        try:
            return validate_key(location[len(prefix) :])
        except InvalidKeyError as exc:
            raise BadRequest(f"{field}: {exc.message}") from None

    def check_location(self, location: str, field: str = "location") -> str:
        """A table or view location without trailing ``/``, checked: in this store, under its
        ``warehouse/`` area and at least two levels below it (a purge deletes everything
        under a table's location, so it must never cover Arco's own objects or a whole
        namespace's tables)."""
        normalized = location.rstrip("/")
        if len(normalized) > MAX_LOCATION:
            raise BadRequest(f"{field}: must be at most {MAX_LOCATION} characters")
        key = self.key_of(normalized, field)
        parts = key.split("/")
        if parts[0] != ICEBERG_WAREHOUSE.rstrip("/") or len(parts) < 3:
            raise BadRequest(
                f"{field}: {preview(location, 80)} must be at least two levels under "
                f"{self._base}/{ICEBERG_WAREHOUSE} (e.g. the default "
                f"{self._base}/{ICEBERG_WAREHOUSE}NAMESPACE/TABLE)"
            )
        return normalized

    def default_location(self, namespace: str, name: str, table_uuid: str) -> str:
        """``{store}/warehouse/{ns}/{table}-{uuid8}`` (ADR 014)."""
        return (
            f"{self._base}/{ICEBERG_WAREHOUSE}{location_segment(namespace)}/"
            f"{location_segment(name)}-{table_uuid.replace('-', '')[:8]}"
        )

    @staticmethod
    def new_location(table_location: str, version: int) -> str:
        """A fresh metadata file name under a table (or view) location."""
        return f"{table_location.rstrip('/')}/metadata/{version:05d}-{uuid.uuid4()}.metadata.json"

    # --- files --------------------------------------------------------------------------

    def write(self, location: str, metadata: TableMetadata | ViewMetadata) -> None:
        """Write a metadata file create-only (ObjectExistsError if the name is taken)."""
        key = self.key_of(location, "metadata-location")
        data = metadata.model_dump_json().encode("utf-8")
        try:
            self._store.put(key, data, "create")
        except OutcomeUnknownError as unknown:
            try:
                applied = self._store.get(key).data == data
            except ArcoError:
                raise unknown from None
            if not applied:
                raise
        self._remember(location, metadata)
        self._remember_json(location, data)

    def write_new(self, metadata: TableMetadata | ViewMetadata, version: int) -> str:
        """Write ``metadata`` under a fresh name numbered ``version``; returns its location."""
        location = self.new_location(metadata.location, version)
        self.write(location, metadata)
        return location

    def read_table(self, location: str) -> TableMetadata:
        """The table metadata file at ``location`` (ObjectNotFoundError if there is none)."""
        cached = self._cached(location)
        if cached is not None and not isinstance(cached, ViewMetadata):
            return cached
        data = self._get(location)
        try:
            table = TableMetadataUtil.parse_raw(data.decode("utf-8"))
        except (PyIcebergValidationError, pydantic.ValidationError, UnicodeDecodeError) as exc:
            raise _corrupt(location, "table", exc) from None
        self._remember(location, table)
        return table

    def read_view(self, location: str) -> ViewMetadata:
        """The view metadata file at ``location`` (ObjectNotFoundError if there is none)."""
        cached = self._cached(location)
        if isinstance(cached, ViewMetadata):
            return cached
        data = self._get(location)
        try:
            view = ViewMetadata.model_validate_json(data)
        except pydantic.ValidationError as exc:
            raise _corrupt(location, "view", exc) from None
        self._remember(location, view)
        return view

    def _cached(self, location: str) -> TableMetadata | ViewMetadata | None:
        with self._lock:
            cached = self._cache.get(location)
            if cached is not None:
                self._cache.move_to_end(location)
            return cached

    def _get(self, location: str) -> bytes:
        data = self._store.get(self.key_of(location, "metadata-location")).data
        if location.endswith(".gz.metadata.json"):
            try:
                return gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise CorruptStateError(f"metadata file {preview(location, 80)}: {exc}") from None
        return data

    def _remember(self, location: str, metadata: TableMetadata | ViewMetadata) -> None:
        with self._lock:
            self._cache[location] = metadata
            self._cache.move_to_end(location)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def json_of(self, location: str | None, metadata: TableMetadata | ViewMetadata) -> bytes:
        """``metadata`` (the content of the file at ``location``; None: not written) as the
        JSON Arco writes and serves; cached by location, since files never change."""
        if location is not None:
            with self._lock:
                hit = self._json.get(location)
                if hit is not None:
                    self._json.move_to_end(location)
                    return hit
        data = metadata.model_dump_json().encode("utf-8")
        if location is not None:
            self._remember_json(location, data)
        return data

    def _remember_json(self, location: str, data: bytes) -> None:
        if len(data) > self._json_budget // 4:
            return  # a huge file would evict everything else
        with self._lock:
            old = self._json.pop(location, None)
            self._json_bytes += len(data) - (len(old) if old is not None else 0)
            self._json[location] = data
            while self._json_bytes > self._json_budget:
                _, evicted = self._json.popitem(last=False)
                self._json_bytes -= len(evicted)

    def exists(self, location: str) -> bool:
        try:
            self._store.head(self.key_of(location, "metadata-location"))
        except ObjectNotFoundError:
            return False
        return True

    def delete_under(self, location: str) -> int:
        """Delete every object under a table location (purge); returns how many."""
        prefix = self.key_of(location.rstrip("/")) + "/"
        count = 0
        for meta in list(self._store.list(prefix)):
            self._store.delete(meta.key)
            count += 1
        under = location.rstrip("/") + "/"
        with self._lock:  # a deleted file must not be served from the cache (register)
            for cached in [c for c in self._cache if c.startswith(under)]:
                del self._cache[cached]
            for cached in [c for c in self._json if c.startswith(under)]:
                self._json_bytes -= len(self._json.pop(cached))
        return count
