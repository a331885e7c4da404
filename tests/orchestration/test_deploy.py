"""Deploy: create-only manifests, a CAS pointer, idempotent redeploys, concurrent deploys."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from arco.core import canonical_json
from arco.errors import ConflictError, CorruptStateError, VersionMismatchError
from arco.metadata.layout import DEPLOYMENTS
from arco.orchestration import deploy as deploy_module
from arco.orchestration.deploy import (
    CURRENT_KEY,
    DeploymentPointer,
    current,
    deploy,
    deployment_key,
    load_deployment,
)
from arco.orchestration.manifest import AssetSpec, DefinitionsManifest
from arco.storage import CountingStore, FaultyStore, LocalFileStore, ObjectStore, open_store
from arco.storage.port import PutMode

NOW = dt.datetime(2026, 12, 7, 19, 0, tzinfo=dt.UTC)


def manifest(*keys: str) -> DefinitionsManifest:
    return DefinitionsManifest(
        assets=tuple(AssetSpec(key=k, entry_point=f"m:{k.split('/')[1]}") for k in keys)
    )


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield LocalFileStore(tmp_path / "s", fsync=False)
    else:
        yield open_store("memory://")


def test_first_deploy_writes_the_manifest_and_the_pointer(store: ObjectStore) -> None:
    m = manifest("a/x", "a/y")
    result = deploy(store, m, now=NOW)
    assert result.created and result.version == 1 and result.previous is None
    assert result.fingerprint == m.fingerprint and not result.unchanged
    assert store.get(deployment_key(m.fingerprint)).data == m.canonical_bytes()
    pointer = canonical_json.loads(store.get(CURRENT_KEY).data)
    assert pointer == {
        "deployed_at": "2026-12-07T19:00:00.000Z",
        "fingerprint": m.fingerprint,
        "version": 1,
    }
    found = current(store)
    assert found is not None
    assert found[0] == DeploymentPointer(m.fingerprint, 1, "2026-12-07T19:00:00.000Z")
    assert found[1] == m
    assert sorted(meta.key for meta in store.list(DEPLOYMENTS)) == sorted(
        [CURRENT_KEY, deployment_key(m.fingerprint)]
    )


def test_redeploying_the_current_definitions_writes_nothing(store: ObjectStore) -> None:
    m = manifest("a/x")
    deploy(store, m)
    counting = CountingStore(store)
    again = deploy(counting, manifest("a/x"))
    assert counting.counts["put"] == 0 and counting.bytes_written == 0
    assert not again.created and again.unchanged and again.version == 1


def test_a_new_manifest_switches_the_pointer_and_an_old_one_comes_back(
    store: ObjectStore,
) -> None:
    first, second = manifest("a/x"), manifest("a/x", "a/y")
    deploy(store, first)
    switched = deploy(store, second)
    assert switched.created and switched.version == 2 and switched.previous == first.fingerprint
    counting = CountingStore(store)
    back = deploy(counting, first)  # a rollback: the manifest exists, only the pointer moves
    assert not back.created and not back.unchanged and back.version == 3
    assert counting.counts["put"] == 1
    found = current(store)
    assert found is not None and found[1] == first and found[0].version == 3


def test_nothing_deployed(store: ObjectStore) -> None:
    assert current(store) is None


def test_concurrent_deploys_end_with_a_consistent_pointer(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "s", fsync=False)
    manifests = [manifest("a/x"), manifest("a/y"), manifest("a/x", "a/y"), manifest("b/z")]
    barrier = threading.Barrier(len(manifests) * 2)
    results: list[object] = []
    errors: list[BaseException] = []

    def run(m: DefinitionsManifest) -> None:
        barrier.wait()
        try:
            results.append(deploy(store, m))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(m,)) for m in manifests * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    found = current(store)
    assert found is not None
    pointer, deployed = found
    assert pointer.fingerprint in {m.fingerprint for m in manifests}
    assert deployed.fingerprint == pointer.fingerprint
    # every switch took one version: the version is the number of switches that happened
    switches = [r for r in results if not r.unchanged]  # type: ignore[attr-defined]
    assert pointer.version == len(switches) and 4 <= pointer.version <= 8
    assert sorted(r.version for r in switches) == list(range(1, pointer.version + 1))  # type: ignore[attr-defined]
    assert sum(r.created for r in results) == 4  # type: ignore[attr-defined]
    for m in manifests:
        assert load_deployment(store, m.fingerprint) == m


def test_a_lost_swap_is_retried(store: ObjectStore) -> None:
    deploy(store, manifest("a/x"))
    lost = {"n": 0}

    def fault(index: int, op: str, key: str) -> BaseException | None:
        if op == "put" and key == CURRENT_KEY and lost["n"] < 2:
            lost["n"] += 1
            return VersionMismatchError("someone else swapped first")
        return None

    result = deploy(FaultyStore(store, fault=fault), manifest("a/y"))
    assert lost["n"] == 2 and result.version == 2


def test_endless_contention_is_a_conflict(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(store, manifest("a/x"))
    monkeypatch.setattr(deploy_module, "MAX_ATTEMPTS", 3)

    class Racing(CountingStore):
        def put(self, key: str, data: bytes, mode: PutMode = "overwrite") -> str:
            if key == CURRENT_KEY:
                raise VersionMismatchError("lost")
            return super().put(key, data, mode)

    with pytest.raises(ConflictError, match=r"deployments/current\.json: changed by concurrent"):
        deploy(Racing(store), manifest("a/y"))


def test_the_pointer_records_the_code_location(store: ObjectStore) -> None:
    m = manifest("a/x")
    first = deploy(store, m, code_location="/srv/pipelines")
    found = current(store)
    assert found is not None and found[0].code_location == "/srv/pipelines"
    # the same definitions from elsewhere: the pointer moves, the manifest is not rewritten
    moved = deploy(store, m, code_location="/opt/pipelines")
    assert (moved.created, moved.version) == (False, first.version + 1)
    found = current(store)
    assert found is not None and found[0].code_location == "/opt/pipelines"
    # no location given: nothing changes
    again = deploy(store, m)
    assert again.unchanged and again.version == moved.version


def test_corrupt_state_is_reported(store: ObjectStore) -> None:
    m = manifest("a/x")
    store.put(deployment_key(m.fingerprint), b"{}", "create")
    with pytest.raises(CorruptStateError, match="holds other bytes"):
        deploy(store, m)
    other = manifest("a/y")
    deploy(store, other)
    store.put(CURRENT_KEY, b'{"fingerprint":"x"}', "overwrite")
    with pytest.raises(CorruptStateError, match="must hold deployed_at, fingerprint, version"):
        current(store)
    missing = DeploymentPointer("0" * 64, 1, "2026-01-01T00:00:00.000Z")
    store.put(CURRENT_KEY, missing.to_bytes(), "overwrite")
    with pytest.raises(CorruptStateError, match="which is not stored"):
        current(store)
    store.put(CURRENT_KEY, DeploymentPointer(m.fingerprint, 1, "x").to_bytes(), "overwrite")
    with pytest.raises(CorruptStateError, match="does not match its fingerprint"):
        current(store)


def test_gc_and_verify_leave_deployments_alone(tmp_path: Path) -> None:
    from arco.catalog import Catalog, WriterOptions
    from arco.maintenance.gc import collect_garbage
    from arco.maintenance.verify import verify_scope

    catalog = Catalog(
        LocalFileStore(tmp_path / "s", fsync=False),
        options=WriterOptions(background_checkpoints=False),
    )
    catalog.create_namespace("sales")
    store = catalog.store
    m = manifest("a/x")
    deploy(store, m)
    before = {meta.key: meta.version for meta in store.list(DEPLOYMENTS)}
    report = verify_scope(store)
    assert report.ok, report.findings
    collect_garbage(store, min_age_s=0)
    assert {meta.key: meta.version for meta in store.list(DEPLOYMENTS)} == before
    catalog.close()
