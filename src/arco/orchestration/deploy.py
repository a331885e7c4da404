"""Deploying a definitions manifest to a workspace.

Layout (relative to the workspace's scoped store, :data:`arco.metadata.layout.DEPLOYMENTS`)::

    deployments/{fingerprint}.json   the manifest's canonical bytes (create-only, immutable)
    deployments/current.json         {"deployed_at", "fingerprint", "version"} (CAS)

Invariants:

* a manifest object is written create-only and never changed; its key is the sha256 of its
  bytes, which are checked on every read (a differing object is corrupt state);
* ``current.json`` is replaced only by compare-and-swap on the version read (created
  create-only the first time); its ``version`` goes up by one per switch, so concurrent
  deploys serialize: each either swaps the version it read or re-reads and tries again;
* the pointer is written only after the manifest it names exists, so a reader of the
  pointer always finds its manifest;
* deploying the definitions already current writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
import time
from dataclasses import dataclass

from arco.core import canonical_json
from arco.errors import (
    ConflictError,
    CorruptStateError,
    ObjectExistsError,
    ObjectNotFoundError,
    ValidationError,
    VersionMismatchError,
)
from arco.metadata.layout import DEPLOYMENTS
from arco.orchestration.manifest import DefinitionsManifest
from arco.storage.port import IfVersion, ObjectData, ObjectStore

__all__ = [
    "CURRENT_KEY",
    "Deployment",
    "DeploymentPointer",
    "current",
    "deploy",
    "deployment_key",
    "load_deployment",
]

#: the pointer to the current deployment
CURRENT_KEY = f"{DEPLOYMENTS}current.json"
#: how many times a deploy re-reads the pointer after losing a compare-and-swap
MAX_ATTEMPTS = 20
_FINGERPRINT_RE = re.compile(r"[0-9a-f]{64}")


def deployment_key(fingerprint: str) -> str:
    """Where the manifest of ``fingerprint`` is stored."""
    if not isinstance(fingerprint, str) or not _FINGERPRINT_RE.fullmatch(fingerprint):
        raise ValidationError(f"fingerprint: must be 64 lowercase hex digits (got {fingerprint!r})")
    return f"{DEPLOYMENTS}{fingerprint}.json"


@dataclass(frozen=True)
class DeploymentPointer:
    """The content of ``current.json``: which manifest is deployed, since when, the number
    of switches so far (``version``, from 1) and where its code was deployed from
    (``code_location``: what workers load entry points from unless told otherwise; not part
    of the fingerprint, which must not depend on where the code is checked out)."""

    fingerprint: str
    version: int
    deployed_at: str
    code_location: str | None = None

    def to_bytes(self) -> bytes:
        """Canonical JSON of the pointer."""
        body: dict[str, object] = {
            "deployed_at": self.deployed_at,
            "fingerprint": self.fingerprint,
            "version": self.version,
        }
        if self.code_location is not None:
            body["code_location"] = self.code_location
        return canonical_json.canonical_dumps(body)

    @classmethod
    def from_bytes(cls, data: bytes) -> DeploymentPointer:
        """Parse stored pointer bytes (CorruptStateError naming the field)."""
        try:
            raw = canonical_json.loads(data)
        except ValidationError as exc:
            raise CorruptStateError(f"{CURRENT_KEY}: not canonical JSON ({exc.message})") from None
        required = {"deployed_at", "fingerprint", "version"}
        if not isinstance(raw, dict) or not required <= set(raw) <= required | {"code_location"}:
            raise CorruptStateError(
                f"{CURRENT_KEY}: must hold deployed_at, fingerprint, version and optionally "
                "code_location"
            )
        fingerprint, version, deployed_at = raw["fingerprint"], raw["version"], raw["deployed_at"]
        if not isinstance(fingerprint, str) or not _FINGERPRINT_RE.fullmatch(fingerprint):
            raise CorruptStateError(f"{CURRENT_KEY}.fingerprint: must be 64 lowercase hex digits")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise CorruptStateError(f"{CURRENT_KEY}.version: must be an integer >= 1")
        if not isinstance(deployed_at, str):
            raise CorruptStateError(f"{CURRENT_KEY}.deployed_at: must be a string")
        location = raw.get("code_location")
        if location is not None and not isinstance(location, str):
            raise CorruptStateError(f"{CURRENT_KEY}.code_location: must be a string")
        return cls(fingerprint, version, deployed_at, location)


@dataclass(frozen=True)
class Deployment:
    """What :func:`deploy` did: ``created`` when the manifest object is new; ``version`` is
    the pointer's version naming it; ``previous`` the fingerprint it replaced (equal to
    ``fingerprint`` when nothing changed, None on the first deploy)."""

    fingerprint: str
    created: bool
    version: int
    previous: str | None = None

    @property
    def unchanged(self) -> bool:
        """True when these definitions were already the current deployment."""
        return self.previous == self.fingerprint


def _timestamp(now: dt.datetime | None) -> str:
    moment = dt.datetime.now(dt.UTC) if now is None else now
    if moment.utcoffset() is None:
        raise ValidationError(f"now: must be a timezone-aware datetime (got {now!r})")
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _same_bytes(store: ObjectStore, key: str, data: bytes) -> bool:
    """True if ``key`` holds ``data``; False if it is missing; corrupt state otherwise."""
    try:
        stored = store.get(key).data
    except ObjectNotFoundError:
        return False
    if stored != data:
        raise CorruptStateError(f"{key}: holds other bytes than the manifest of that fingerprint")
    return True


def _store_manifest(store: ObjectStore, key: str, data: bytes) -> bool:
    """Write the manifest create-only; True if this call created it."""
    if _same_bytes(store, key, data):
        return False
    try:
        store.put(key, data, "create")
    except ObjectExistsError:  # a concurrent deploy of the same definitions
        _same_bytes(store, key, data)
        return False
    return True


def _read_pointer(store: ObjectStore) -> tuple[DeploymentPointer, ObjectData] | None:
    try:
        obj = store.get(CURRENT_KEY)
    except ObjectNotFoundError:
        return None
    return DeploymentPointer.from_bytes(obj.data), obj


def deploy(
    store: ObjectStore,
    manifest: DefinitionsManifest,
    *,
    now: dt.datetime | None = None,
    code_location: str | None = None,
) -> Deployment:
    """Deploy ``manifest`` to the workspace of ``store`` (a store scoped to it), recording
    ``code_location`` (if given) as where its code is loaded from.

    Writes the manifest object unless it exists with the same bytes, then points
    ``current.json`` at it by compare-and-swap, re-reading after a lost swap (ConflictError
    after :data:`MAX_ATTEMPTS`). Deploying the current definitions again writes nothing.
    """
    if not isinstance(manifest, DefinitionsManifest):
        raise ValidationError(f"manifest: must be a DefinitionsManifest (got {manifest!r})")
    data = manifest.canonical_bytes()
    fingerprint = hashlib.sha256(data).hexdigest()
    created = _store_manifest(store, deployment_key(fingerprint), data)
    for attempt in range(MAX_ATTEMPTS):
        found = _read_pointer(store)
        if (
            found is not None
            and found[0].fingerprint == fingerprint
            and (code_location is None or found[0].code_location == code_location)
        ):
            return Deployment(fingerprint, created, found[0].version, fingerprint)
        version = 1 if found is None else found[0].version + 1
        pointer = DeploymentPointer(fingerprint, version, _timestamp(now), code_location)
        try:
            if found is None:
                store.put(CURRENT_KEY, pointer.to_bytes(), "create")
            else:
                store.put(CURRENT_KEY, pointer.to_bytes(), IfVersion(found[1].version))
        except (VersionMismatchError, ObjectExistsError, ObjectNotFoundError):
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
            continue
        return Deployment(
            fingerprint, created, version, None if found is None else found[0].fingerprint
        )
    raise ConflictError(
        f"{CURRENT_KEY}: changed by concurrent deploys {MAX_ATTEMPTS} times in a row; try again"
    )


def load_deployment(store: ObjectStore, fingerprint: str) -> DefinitionsManifest:
    """The deployed manifest of ``fingerprint`` (ObjectNotFoundError if never deployed;
    CorruptStateError if its bytes do not hash to it)."""
    key = deployment_key(fingerprint)
    data = store.get(key).data
    if hashlib.sha256(data).hexdigest() != fingerprint:
        raise CorruptStateError(f"{key}: content does not match its fingerprint")
    try:
        return DefinitionsManifest.from_bytes(data, where=key)
    except ValidationError as exc:
        raise CorruptStateError(exc.message) from None


def current(store: ObjectStore) -> tuple[DeploymentPointer, DefinitionsManifest] | None:
    """The current deployment's pointer and manifest; None if nothing was deployed."""
    found = _read_pointer(store)
    if found is None:
        return None
    pointer = found[0]
    try:
        manifest = load_deployment(store, pointer.fingerprint)
    except ObjectNotFoundError:
        raise CorruptStateError(
            f"{CURRENT_KEY}: names {pointer.fingerprint}, which is not stored"
        ) from None
    return pointer, manifest
