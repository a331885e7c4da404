"""The tier-2 compactor, behaviour by behaviour (spec §6): fast path, anti-entropy, dedupe
across compactions, per-row ordering, quarantine, pruning, file compaction, the Ingestor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arco.core.clock import ManualClock
from arco.errors import ValidationError
from arco.executions import EXECUTIONS
from arco.metadata.commit_log import chain
from arco.metadata.layout import ledger_key, ledger_name, quarantine_key
from arco.metadata.manifest import read_manifest
from arco.storage import LocalFileStore, ObjectStore, open_store
from arco.tier2.compactor import Compactor, dedupe_key
from arco.tier2.ingestor import Ingestor
from arco.tier2.ledger import EventLedger
from executions_support import (
    BASE_MS,
    DOMAIN,
    assert_folded_once,
    fresh_state,
    mat,
    mid_of,
    model,
    opts,
    retry_of,
    view,
)


@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "memory":
        return open_store("memory://")
    return LocalFileStore(tmp_path / "store", fsync=False)


def compactor(store: ObjectStore, clock: ManualClock | None = None, **kw: object) -> Compactor:
    return Compactor(
        store, EXECUTIONS, clock=clock or ManualClock(BASE_MS + 60_000), options=opts(**kw)
    )


def name_of(key: str) -> str:
    return key.rsplit("/", 1)[1].removesuffix(".json")


def test_fast_path_folds_and_repeating_it_is_a_no_op(store: ObjectStore) -> None:
    events = [mat(i, at=BASE_MS + i, run=f"r{i}", rows=i) for i in range(5)]
    keys = EventLedger(store, DOMAIN).append(events)
    c = compactor(store)
    r = c.compact(keys)
    assert r.versions == [1]
    assert dict(r.outcomes) == {"applied": 5}
    assert r.already_folded == 0 and r.missing == 0
    assert len(r.lag_ms) == 5
    head, state = c.head()
    assert head is not None and head.manifest.watermark == max(name_of(k) for k in keys)
    assert view(state) == model(events)
    assert {row.name for row in state.ingested.values()} == {name_of(k) for k in keys}

    again = c.compact(keys)
    assert again.versions == [] and again.folded == 0 and again.already_folded == 5
    assert read_manifest(store, DOMAIN).manifest.snapshot_version == 1  # type: ignore[union-attr]
    # another compactor (cold cache) agrees it is a no-op
    assert compactor(store).compact(keys).versions == []
    assert view(fresh_state(store)) == model(events)
    assert_folded_once(store, events)


def test_compact_rejects_keys_that_are_not_ledger_keys(store: ObjectStore) -> None:
    with pytest.raises(ValidationError, match="ledger object key"):
        compactor(store).compact(["ledger/catalog/whatever.json"])
    assert read_manifest(store, DOMAIN) is None


def test_fast_path_counts_missing_objects(store: ObjectStore) -> None:
    ledger = EventLedger(store, DOMAIN)
    ghost = ledger.key_for(mat(1, at=BASE_MS).event_id)
    keys = ledger.append([mat(2, at=BASE_MS)])
    r = compactor(store).compact([ghost, *keys])
    assert r.missing == 1 and dict(r.outcomes) == {"applied": 1}


def test_anti_entropy_finds_events_the_fast_path_missed_including_below_watermark(
    store: ObjectStore,
) -> None:
    ledger = EventLedger(store, DOMAIN)
    c = compactor(store)
    first = [mat(i, at=BASE_MS + 10_000 + i, run=f"r{i}") for i in range(3)]
    c.compact(ledger.append(first))
    watermark = read_manifest(store, DOMAIN).manifest.watermark  # type: ignore[union-attr]
    # never fast-pathed: one normal, one from a writer whose clock is 10 s behind
    missed = mat(7, at=BASE_MS + 20_000, run="missed")
    skewed = mat(8, at=BASE_MS, run="skewed", id_ms=BASE_MS - 10_000)
    other = EventLedger(store, DOMAIN)
    missed_key, skewed_key = other.append([missed, skewed])
    assert name_of(skewed_key) < watermark  # type: ignore[operator]
    r = c.anti_entropy()
    assert dict(r.outcomes) == {"applied": 2}
    assert r.already_folded == 3 and r.versions == [2]
    _, state = c.head()
    assert state.materializations[mid_of(8)].run_id == "skewed"
    assert state.materializations[mid_of(7)].run_id == "missed"
    assert view(state) == model([*first, missed, skewed])
    # watermark never moves backwards
    assert read_manifest(store, DOMAIN).manifest.watermark == name_of(missed_key)  # type: ignore[union-attr]
    # nothing left: a second pass publishes nothing
    r2 = c.anti_entropy()
    assert r2.versions == [] and r2.folded == 0 and r2.already_folded == 5
    assert_folded_once(store, [*first, missed, skewed])


def test_periodic_passes_list_recent_events_and_now_and_then_the_whole_ledger(
    store: ObjectStore,
) -> None:
    now = BASE_MS + 3_600_000
    clock = ManualClock(now)
    c = compactor(store, clock, recent_window_ms=60_000, full_pass_every_ms=600_000)
    ledger = EventLedger(store, DOMAIN)
    old = mat(1, at=BASE_MS, run="old")  # minted an hour before now
    ledger.append([old])
    assert dict(c.periodic_pass().outcomes) == {"applied": 1}  # the first pass: everything

    late = mat(2, at=BASE_MS + 1, run="late")  # minted an hour ago, appended only now
    recent = mat(3, at=now - 1_000, run="recent")
    ledger.append([late, recent])
    r = c.periodic_pass()  # only what was minted in the last minute is listed
    assert dict(r.outcomes) == {"applied": 1} and r.already_folded == 0
    _, state = c.head()
    assert mid_of(3) in state.materializations and mid_of(2) not in state.materializations

    clock.advance(599_000)
    assert c.periodic_pass().folded == 0  # still within the whole pass's period
    clock.advance(1_000)
    r = c.periodic_pass()  # the period is over: the whole ledger again
    assert dict(r.outcomes) == {"applied": 1} and r.already_folded == 2
    assert_folded_once(store, [old, late, recent])


def test_dedupe_by_idempotency_key_across_compactions(store: ObjectStore) -> None:
    c = compactor(store)
    original = mat(1, at=BASE_MS, run="a", idem="job-1")
    plain = mat(2, at=BASE_MS + 1, run="b")
    keys = EventLedger(store, DOMAIN).append([original, plain])
    c.compact(keys)
    before = view(c.head()[1])
    v_before = read_manifest(store, DOMAIN).manifest.snapshot_version  # type: ignore[union-attr]

    # another writer appends an exact copy and a retry (same key, new id) of the keyed event,
    # and an exact copy of the unkeyed event
    writer = EventLedger(store, DOMAIN)
    retry = retry_of(original, id_ms=BASE_MS + 5)
    copies = writer.append([original, retry, plain])
    r = compactor(store).compact(copies)  # a different compactor: knowledge is in the state
    assert dict(r.outcomes) == {"duplicate": 3}
    state = fresh_state(store)
    assert view(state) == before
    assert state.version == v_before + 1  # the duplicates are recorded, nothing else changes
    first_names = {dedupe_key(e): name_of(k) for e, k in zip([original, plain], keys, strict=True)}
    for key in copies:
        row = state.ingested[name_of(key)]
        assert row.outcome == "duplicate"
        assert row.detail == first_names[row.dedupe_key]  # type: ignore[index]
    # the materialization keeps the first copy's event id
    assert state.materializations[mid_of(1)].event_id == original.event_id
    assert_folded_once(store, [original, plain])


def test_copies_within_one_round_fold_once(store: ObjectStore) -> None:
    e = mat(1, at=BASE_MS, idem="same")
    keys = [
        *EventLedger(store, DOMAIN).append([e]),
        *EventLedger(store, DOMAIN).append([e, retry_of(e, BASE_MS + 9)]),
    ]
    r = compactor(store).compact(keys)
    assert dict(r.outcomes) == {"applied": 1, "duplicate": 2}
    assert_folded_once(store, [e])


def test_an_older_event_arriving_late_never_overwrites_newer_state(store: ObjectStore) -> None:
    c = compactor(store)
    ledger = EventLedger(store, DOMAIN)
    started = mat(1, at=BASE_MS, status="started", run="run-1")
    done = mat(1, at=BASE_MS + 5_000, status="succeeded", run="run-1", rows=10)
    c.compact(ledger.append([done]))
    r = c.compact(ledger.append([started]))
    assert dict(r.outcomes) == {"superseded": 1}
    row = c.head()[1].materializations[mid_of(1)]
    assert (row.status, row.rows, row.event_id) == ("succeeded", 10, done.event_id)
    # the same pair in one round, stored in the "wrong" order, ends the same
    s2 = open_store("memory://")
    l2 = EventLedger(s2, DOMAIN)
    late_name_first = mat(2, at=BASE_MS + 5_000, status="failed", id_ms=BASE_MS - 1)
    early = mat(2, at=BASE_MS, status="started", id_ms=BASE_MS + 9_000)
    r2 = compactor(s2).compact(l2.append([late_name_first, early]))
    # folded in event order within the round: both apply, the newer one last
    assert dict(r2.outcomes) == {"applied": 2}
    assert compactor(s2).head()[1].materializations[mid_of(2)].status == "failed"
    # equal time: the dedupe key breaks the tie, the same way every time
    s3 = open_store("memory://")
    a = mat(3, at=BASE_MS, run="a", idem="a")
    b = mat(3, at=BASE_MS, run="b", idem="b")
    compactor(s3).compact(EventLedger(s3, DOMAIN).append([b]))
    compactor(s3).compact(EventLedger(s3, DOMAIN).append([a]))
    assert compactor(s3).head()[1].materializations[mid_of(3)].run_id == "b"


def _garbage_key(store: ObjectStore, at: int) -> str:
    from arco.tier2.envelope import ulid_at

    key = ledger_key(DOMAIN, ledger_name(ulid_at(at), "deadbeef"))
    store.put(key, b"\x00not json at all {", "create")
    return key


def test_bad_events_are_quarantined_with_a_reason_and_never_block_the_batch(
    store: ObjectStore,
) -> None:
    ledger = EventLedger(store, DOMAIN)
    good = [mat(i, at=BASE_MS + i, run=f"ok{i}") for i in range(3)]
    unknown_type = mat(None, at=BASE_MS, event_type="nope", payload={"x": 1})
    unknown_version = mat(None, at=BASE_MS, event_version=7, payload={"x": 1})
    malformed = mat(
        None, at=BASE_MS, payload={"asset_key": "no-slash", "run_id": "r", "status": "succeeded"}
    )
    bad_status = mat(None, at=BASE_MS, payload={"asset_key": "a/b", "run_id": "r", "status": "meh"})
    keys = ledger.append(
        [good[0], unknown_type, good[1], unknown_version, malformed, bad_status, good[2]]
    )
    garbage = _garbage_key(store, BASE_MS + 3)
    # an object holding an event whose id differs from its name
    mislabeled = ledger_key(DOMAIN, ledger_name(mat(None, at=BASE_MS).event_id, "0badc0de"))
    store.put(mislabeled, good[0].to_bytes(), "create")
    c = compactor(store)
    r = c.compact([*keys, garbage, mislabeled])
    assert r.outcomes["applied"] == 3 and r.outcomes["quarantined"] == 6
    assert r.versions == [1]
    state = c.head()[1]
    assert view(state) == model(good)
    expected_reason = {
        name_of(keys[1]): "unknown event type 'nope' version 1",
        name_of(keys[3]): "unknown event type 'materialization' version 7",
        name_of(keys[4]): "payload.asset_key",
        name_of(keys[5]): "payload.status",
        name_of(garbage): "JSON",
        name_of(mislabeled): "event_id",
    }
    for name, reason in expected_reason.items():
        row = state.ingested[name]
        assert row.outcome == "quarantined", name
        assert row.detail is not None and reason.lower() in row.detail.lower(), (name, row.detail)
        record = json.loads(store.get(quarantine_key(DOMAIN, name)).data)
        assert record["reason"] == row.detail
        assert record["ledger_key"].endswith(f"{name}.json")
    assert state.ingested[name_of(garbage)].event_id is None
    raw = json.loads(store.get(quarantine_key(DOMAIN, name_of(garbage))).data)["event"]
    assert "not json at all" in raw
    quarantined = {m.key for m in store.list(f"quarantine/{DOMAIN}/")}
    assert quarantined == {quarantine_key(DOMAIN, n) for n in expected_reason}
    # quarantined objects count as folded: anti-entropy does not retry them
    assert c.anti_entropy().versions == []


def test_a_batch_of_only_garbage_is_quarantined_too(store: ObjectStore) -> None:
    garbage = _garbage_key(store, BASE_MS)
    r = compactor(store).anti_entropy()
    assert dict(r.outcomes) == {"quarantined": 1}
    row = fresh_state(store).ingested[name_of(garbage)]
    assert row.outcome == "quarantined" and row.dedupe_key is None


def test_ingested_rows_are_pruned_after_object_gone_and_window_passed(store: ObjectStore) -> None:
    clock = ManualClock(BASE_MS + 1_000)
    window = 60_000
    c = compactor(store, clock, dedupe_window_ms=window)
    ledger = EventLedger(store, DOMAIN)
    keyed = mat(1, at=BASE_MS, idem="k1")
    other = mat(2, at=BASE_MS)
    keys = ledger.append([keyed, other])
    c.compact(keys)
    clock.advance(window * 2)
    # window passed but the object still exists: kept
    r = c.anti_entropy()
    assert r.pruned == 0 and r.versions == []
    store.delete(keys[0])  # GC collected it
    # the object is gone, but it was folded less than the window ago (clock rewound view):
    fresh = compactor(store, ManualClock(BASE_MS + 1_000 + window // 2), dedupe_window_ms=window)
    r = fresh.anti_entropy()
    assert r.pruned == 0 and r.versions == []
    assert name_of(keys[0]) in fresh_state(store).ingested
    # a copy appended while the key is still remembered is a duplicate
    copy_key = EventLedger(store, DOMAIN).append([retry_of(keyed, BASE_MS + 7)])
    assert dict(fresh.compact(copy_key).outcomes) == {"duplicate": 1}
    store.delete(copy_key[0])
    # both gone and both old enough: pruned in one commit, the other row stays
    clock.advance(window * 2)
    r = c.anti_entropy()
    assert r.pruned == 2 and len(r.versions) == 1 and r.folded == 0
    state = fresh_state(store)
    assert set(state.ingested) == {name_of(keys[1])}
    assert state.first_copy(dedupe_key(keyed)) is None
    assert state.materializations[mid_of(1)].event_id == keyed.event_id  # state kept
    # nothing more to prune
    assert c.anti_entropy().versions == []


def test_checkpoint_keeps_the_state_identical(store: ObjectStore) -> None:
    c = compactor(store, checkpoint_every=1000)
    ledger = EventLedger(store, DOMAIN)
    events = []
    for round_ in range(6):
        batch = [
            mat(i % 4, at=BASE_MS + round_ * 100 + i, run=f"r{round_}-{i}", rows=i)
            for i in range(3)
        ]
        batch.append(mat(None, at=BASE_MS + round_, event_type="junk", payload={}))
        events += batch[:3]
        c.compact(ledger.append(batch))
    head = read_manifest(store, DOMAIN)
    assert head is not None and head.manifest.checkpoint_version == 0
    before_m = view(fresh_state(store))
    before_i = dict(fresh_state(store).ingested.items())
    assert before_m == model(events)
    assert c.checkpoint()
    after = read_manifest(store, DOMAIN)
    assert after is not None and after.manifest.snapshot_version == 7
    assert {f.kind for f in after.manifest.files} == {"checkpoint"}
    state = fresh_state(store)
    assert view(state) == before_m
    assert dict(state.ingested.items()) == before_i
    assert c.checkpoint() is False
    # folding continues on top of the checkpoint, and dedupe still works
    dup = ledger.append([events[0]])  # same ledger, same id: an idempotent re-append
    assert c.compact(dup).versions == []
    assert view(fresh_state(store)) == before_m
    assert_folded_once(store, events)


def test_periodic_file_compaction_runs_by_itself(store: ObjectStore) -> None:
    c = compactor(store, checkpoint_every=2)
    ledger = EventLedger(store, DOMAIN)
    events = [mat(i, at=BASE_MS + i) for i in range(6)]
    for e in events:
        c.compact(ledger.append([e]))
    head = read_manifest(store, DOMAIN)
    assert head is not None
    kinds = [r.kind for r in chain(store, DOMAIN)]
    assert {"checkpoint", "merge"} & set(kinds), kinds
    assert view(fresh_state(store)) == model(events)
    assert_folded_once(store, events)


def test_max_batch_splits_into_several_versions(store: ObjectStore) -> None:
    events = [mat(i, at=BASE_MS + i) for i in range(7)]
    keys = EventLedger(store, DOMAIN).append(events)
    c = compactor(store, max_batch=3)
    r = c.compact(keys)
    assert r.versions == [1, 2, 3]
    assert r.folded == 7
    audit = assert_folded_once(store, events)
    assert audit.commits == 3
    assert view(fresh_state(store)) == model(events)
    more = EventLedger(store, DOMAIN).append([mat(10 + i, at=BASE_MS) for i in range(4)])
    assert c.anti_entropy().versions == [4, 5]
    assert all(name_of(k) in fresh_state(store).ingested for k in more)


def test_ingestor_reject_mode_refuses_a_bad_batch_writing_nothing(store: ObjectStore) -> None:
    ing = Ingestor(store, EXECUTIONS, unknown="reject", fold="inline", options=opts())
    good = mat(1, at=BASE_MS)
    with pytest.raises(ValidationError, match=r"events\[1\]\.payload\.status"):
        ing.append(
            [
                good,
                mat(None, at=BASE_MS, payload={"asset_key": "a/b", "run_id": "r", "status": "x"}),
            ]
        )
    with pytest.raises(ValidationError, match=r"events\[0\]\.event_type"):
        ing.append([mat(None, at=BASE_MS, event_type="nope", payload={})])
    assert list(store.list("")) == []
    keys = ing.append([good])
    assert fresh_state(store).materializations[mid_of(1)].event_id == good.event_id
    assert len(keys) == 1


def test_ingestor_quarantine_mode_appends_and_quarantines(store: ObjectStore) -> None:
    ing = Ingestor(store, EXECUTIONS, unknown="quarantine", fold="inline", options=opts())
    keys = ing.append([mat(1, at=BASE_MS), mat(None, at=BASE_MS, event_type="nope", payload={})])
    state = fresh_state(store)
    assert state.ingested[name_of(keys[1])].outcome == "quarantined"
    assert state.ingested[name_of(keys[0])].outcome == "applied"


def test_ingestor_background_mode_folds_after_flush(store: ObjectStore) -> None:
    events = [mat(i, at=BASE_MS + i, run=f"r{i}") for i in range(20)]
    with Ingestor(store, EXECUTIONS, fold="background", options=opts()) as ing:
        for i in range(0, 20, 4):
            ing.append(events[i : i + 4])
        assert ing.flush(timeout=30)
        assert ing.last_error is None
        assert view(fresh_state(store)) == model(events)
    assert_folded_once(store, events)


def test_ingestor_off_mode_leaves_folding_to_anti_entropy(store: ObjectStore) -> None:
    ing = Ingestor(store, EXECUTIONS, fold="off", options=opts())
    events = [mat(1, at=BASE_MS), mat(2, at=BASE_MS)]
    ing.append(events)
    assert read_manifest(store, DOMAIN) is None
    assert compactor(store).anti_entropy().folded == 2
    assert view(fresh_state(store)) == model(events)
