"""Crash and fault injection at every storage operation of the tier-2 compactor.

A representative anti-entropy pass (several rounds: max_batch is small; duplicates, a late
event that sorts below the watermark, a superseded event, an unknown type and garbage bytes
to quarantine) runs once on a fault-free FaultyStore to count its storage operations. Then,
for every operation index i, a copy of the same prior state is crashed at operation i and a
fresh compactor (new holder, cold cache) runs anti-entropy on the surviving store. Nothing
may be lost or folded twice (audited from each compact commit's own ``ingested`` delta), the
state must equal the model, every bad object must be quarantined, and the chain intact.
The same is done for a file compaction (``checkpoint()``) and for lost responses
(OutcomeUnknownError) on every put.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from arco.core.clock import ManualClock
from arco.errors import ArcoError, OutcomeUnknownError
from arco.executions import EXECUTIONS, ExecutionsState
from arco.metadata.layout import ledger_key, ledger_name, quarantine_key
from arco.metadata.manifest import read_manifest
from arco.storage import FaultyStore, ObjectStore, SimulatedCrash, open_store
from arco.tier2.compactor import Compactor
from arco.tier2.envelope import EventEnvelope, ulid_at
from arco.tier2.ledger import EventLedger
from executions_support import (
    BASE_MS,
    DOMAIN,
    assert_folded_once,
    audit_chain,
    fresh_state,
    mat,
    model,
    opts,
    retry_of,
    view,
)

NOW = BASE_MS + 3_600_000


def clone(src: ObjectStore) -> ObjectStore:
    dst = open_store("memory://", retry=False)
    for meta in src.list(""):
        dst.put(meta.key, src.get(meta.key).data, "create")
    return dst


def compactor(store: ObjectStore, holder: str, **kw: Any) -> Compactor[ExecutionsState]:
    kw.setdefault("checkpoint_every", 1000)
    return Compactor(store, EXECUTIONS, clock=ManualClock(NOW), options=opts(**kw), holder=holder)


class Prior:
    """A store with folded state and unfolded ledger objects waiting for the pass."""

    def __init__(self) -> None:
        self.store = open_store("memory://", retry=False)
        a, b = EventLedger(self.store, DOMAIN), EventLedger(self.store, DOMAIN)
        keyed = mat(1, at=BASE_MS + 5_000, run="k", idem="job-1", rows=1)
        folded = [keyed, mat(2, at=BASE_MS + 6_000, run="x"), mat(3, at=BASE_MS, run="y")]
        setup = compactor(self.store, "setup", max_batch=2)
        setup.compact(a.append(folded))
        head = read_manifest(self.store, DOMAIN)
        assert head is not None and head.manifest.snapshot_version == 2
        pending = [
            mat(1, at=BASE_MS + 1_000, run="older"),  # superseded by the keyed event
            mat(2, at=BASE_MS + 9_000, run="newer", rows=5),  # replaces x
            mat(4, at=BASE_MS + 100, run="late", id_ms=BASE_MS - 60_000),  # below watermark
            mat(5, at=BASE_MS + 7_000, run="z"),
            mat(None, at=BASE_MS + 7_000, run="derived-id"),
        ]
        copies = [keyed, retry_of(keyed, BASE_MS + 8_000), pending[3]]
        self.bad = [mat(None, at=BASE_MS, event_type="nope", payload={"v": 1})]
        b.append([*pending, *self.bad])
        EventLedger(self.store, DOMAIN).append(copies)
        self.garbage = ledger_key(DOMAIN, ledger_name(ulid_at(BASE_MS + 2), "feedf00d"))
        self.store.put(self.garbage, b"{truncated", "create")
        self.events: list[EventEnvelope] = [*folded, *pending]
        self.expected = model(self.events)
        self.quarantined = {
            name
            for name in (k.rsplit("/", 1)[1][:-5] for k in self._keys())
            if name.startswith(self.bad[0].event_id)
        } | {self.garbage.rsplit("/", 1)[1][:-5]}

    def _keys(self) -> list[str]:
        return EventLedger(self.store, DOMAIN).list_keys()


@pytest.fixture(scope="module")
def prior() -> Prior:
    return Prior()


def check_recovered(store: ObjectStore, prior: Prior) -> None:
    state = fresh_state(store)
    assert view(state) == prior.expected
    assert_folded_once(store, prior.events)
    listed = {k.rsplit("/", 1)[1][:-5] for k in EventLedger(store, DOMAIN).list_keys()}
    assert set(state.ingested) == listed, "every ledger object is folded, nothing else"
    for name in prior.quarantined:
        assert state.ingested[name].outcome == "quarantined"
        record = json.loads(store.get(quarantine_key(DOMAIN, name)).data)
        assert record["reason"] == state.ingested[name].detail
    assert compactor(store, "again").anti_entropy().versions == []


def reference_ops(prior: Prior, run: str, **kw: Any) -> list[tuple[int, str, str]]:
    faulty = FaultyStore(clone(prior.store))
    c = compactor(faulty, "reference", **kw)
    if run == "fold":
        r = c.anti_entropy()
        assert len(r.versions) >= 3, "the pass must span several rounds"
    else:
        assert c.checkpoint()
    check_recovered(faulty.inner, prior)
    return faulty.ops


def test_reference_pass_exercises_every_outcome(prior: Prior) -> None:
    store = clone(prior.store)
    r = compactor(store, "ref", max_batch=3).anti_entropy()
    assert set(r.outcomes) == {"applied", "superseded", "duplicate", "quarantined"}
    assert r.outcomes["quarantined"] == 2
    check_recovered(store, prior)


def test_crash_at_every_step_of_an_anti_entropy_pass(prior: Prior) -> None:
    ops = reference_ops(prior, "fold", max_batch=3, read_workers=1)
    kinds = {op for _, op, _ in ops}
    assert {"get", "put", "list"} <= kinds
    manifest_puts = [i for i, op, key in ops if op == "put" and key.startswith("manifests/")]
    assert len(manifest_puts) >= 3
    for i in range(len(ops)):
        store = clone(prior.store)
        before = read_manifest(store, DOMAIN)
        faulty = FaultyStore(store, crash_after=i)
        with pytest.raises(SimulatedCrash):
            compactor(faulty, f"crash-{i}", max_batch=3, read_workers=1).anti_entropy()
        after = read_manifest(store, DOMAIN)
        assert before is not None and after is not None
        published = sum(1 for p in manifest_puts if p < i)
        assert after.manifest.snapshot_version == before.manifest.snapshot_version + published, i
        # what was published before the crash is already consistent
        audit = audit_chain(store)
        assert max(audit.folded.values()) == 1, i
        recovering = compactor(store, f"recover-{i}", max_batch=3)
        recovering.anti_entropy()
        check_recovered(store, prior)


def test_crash_at_every_step_with_parallel_reads_and_fast_path(prior: Prior) -> None:
    """The fast path over every key, with concurrent reads: op order varies, counts don't."""
    keys = EventLedger(prior.store, DOMAIN).list_keys()
    faulty = FaultyStore(clone(prior.store))
    compactor(faulty, "reference").compact(keys)
    n = len(faulty.ops)
    for i in range(0, n):
        store = clone(prior.store)
        with pytest.raises(SimulatedCrash):
            compactor(FaultyStore(store, crash_after=i), f"crash-{i}").compact(keys)
        compactor(store, f"recover-{i}").compact(keys)
        check_recovered(store, prior)


def test_crash_at_every_step_of_a_checkpoint(prior: Prior) -> None:
    base = clone(prior.store)
    compactor(base, "fold", max_batch=2).anti_entropy()
    folded = Prior.__new__(Prior)
    folded.__dict__.update(prior.__dict__)
    folded.store = base
    expected_ingested = dict(fresh_state(base).ingested.items())
    ops = reference_ops(folded, "checkpoint")
    for i in range(len(ops)):
        store = clone(base)
        with pytest.raises(SimulatedCrash):
            compactor(FaultyStore(store, crash_after=i), f"crash-{i}").checkpoint()
        head = read_manifest(store, DOMAIN)
        assert head is not None
        kinds = {f.kind for f in head.manifest.files}
        # old files or the checkpoint, never a mixture that changes the state
        assert view(fresh_state(store)) == prior.expected, i
        recovering = compactor(store, f"recover-{i}")
        recovering.checkpoint()
        head = read_manifest(store, DOMAIN)
        assert head is not None
        assert {f.kind for f in head.manifest.files} == {"checkpoint"}, (i, kinds)
        state = fresh_state(store)
        assert view(state) == prior.expected
        assert dict(state.ingested.items()) == expected_ingested
        check_recovered(store, prior)


def test_lost_response_on_every_put_is_harmless(prior: Prior) -> None:
    """OutcomeUnknownError after a put landed (timeout_after_write), and before it ran."""
    ops = reference_ops(prior, "fold", max_batch=3, read_workers=1)
    puts = [i for i, op, _ in ops if op == "put"]
    manifest_puts = [i for i, op, key in ops if op == "put" and key.startswith("manifests/")]
    for i in puts:
        for landed in (True, False):
            store = clone(prior.store)
            if landed:
                faulty = FaultyStore(store, timeout_after_write={i})
            else:
                faulty = FaultyStore(store, fail_ops={i: OutcomeUnknownError("lost")})
            c = compactor(faulty, f"lost-{i}-{landed}", max_batch=3, read_workers=1)
            try:
                c.anti_entropy()
            except ArcoError:
                # only a non-manifest put may surface; the manifest's is resolved by reading back
                assert i not in manifest_puts, i
                c.anti_entropy()  # the same compactor retries on the same (now healthy) store
            check_recovered(store, prior)


def test_lost_response_on_the_manifest_put_is_resolved_by_reading_back(prior: Prior) -> None:
    ops = reference_ops(prior, "fold", max_batch=3, read_workers=1)
    first_manifest_put = next(i for i, op, key in ops if op == "put" and "manifests/" in key)
    store = clone(prior.store)
    faulty = FaultyStore(store, timeout_after_write={first_manifest_put})
    r = compactor(faulty, "lost", max_batch=3, read_workers=1).anti_entropy()
    assert r.conflicts == 0 and r.versions == [3, 4, 5, 6][: len(r.versions)]
    check_recovered(store, prior)
    # not landed: the round is retried (a conflict), still folded once
    store = clone(prior.store)
    faulty = FaultyStore(store, fail_ops={first_manifest_put: OutcomeUnknownError("lost")})
    r = compactor(faulty, "lost2", max_batch=3, read_workers=1).anti_entropy()
    assert r.conflicts == 1
    check_recovered(store, prior)
