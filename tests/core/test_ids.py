import re
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from arco.core.ids import (
    is_entity_id,
    is_ulid,
    new_entity_id,
    new_ulid,
    next_ulid_after,
    ulid_floor,
    ulid_time_ms,
)
from arco.errors import ValidationError

CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_new_entity_id_is_canonical_uuid7() -> None:
    before_ms = int(time.time() * 1000)
    entity_id = new_entity_id()
    after_ms = int(time.time() * 1000)
    assert CANONICAL_UUID.fullmatch(entity_id)
    parsed = uuid.UUID(entity_id)
    assert str(parsed) == entity_id
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert before_ms <= parsed.int >> 80 <= after_ms
    assert is_entity_id(entity_id)


def test_new_entity_ids_are_unique() -> None:
    assert len({new_entity_id() for _ in range(2000)}) == 2000


def test_new_ulid_is_canonical() -> None:
    before_ms = int(time.time() * 1000)
    value = new_ulid()
    after_ms = int(time.time() * 1000)
    assert len(value) == 26
    assert value == value.upper()
    assert is_ulid(value)
    assert before_ms <= ulid_time_ms(value) <= after_ms


def test_ulid_time_ms_decodes_the_first_ten_characters() -> None:
    # 01ARZ3NDEK = digits 0,1,10,24,31,3,21,13,14,19 in base 32 = 1469922850259 (by hand).
    assert ulid_time_ms("01ARZ3NDEKTSV4RRFFQ69G5FAV") == 1469922850259
    assert ulid_time_ms("00000000010000000000000000") == 1
    assert ulid_time_ms("7ZZZZZZZZZ0000000000000000") == 2**48 - 1


def test_next_ulid_after_none_is_fresh() -> None:
    assert is_ulid(next_ulid_after(None))


def test_next_ulid_after_past_value_is_fresh() -> None:
    prev = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # 2016
    nxt = next_ulid_after(prev)
    assert nxt > prev
    assert ulid_time_ms(nxt) > ulid_time_ms(prev) + 10**9


def test_next_ulid_after_future_value_increments() -> None:
    # A writer whose clock ran ahead: the next id must still sort after it.
    prev = "7ZZZZZZZZZZZZZZZZZZZZZZZZY"
    assert next_ulid_after(prev) == "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"


def test_next_ulid_after_carries_across_digits() -> None:
    prev = "7ZZZZZZZZZ" + "0" * 15 + "Z"
    assert next_ulid_after(prev) == "7ZZZZZZZZZ" + "0" * 14 + "10"


def test_next_ulid_after_is_numeric_plus_one_for_skewed_clock() -> None:
    future_ms = int(time.time() * 1000) + 3_600_000
    prev = str(ULID.from_int((future_ms << 80) | 12345))
    nxt = next_ulid_after(prev)
    assert int(ULID.from_str(nxt)) == int(ULID.from_str(prev)) + 1
    assert ulid_time_ms(nxt) == future_ms


def test_next_ulid_after_chain_is_strictly_increasing() -> None:
    current = next_ulid_after(None)
    for _ in range(5000):
        nxt = next_ulid_after(current)
        assert nxt > current
        assert int(ULID.from_str(nxt)) > int(ULID.from_str(current))
        current = nxt


def test_next_ulid_after_maximum_is_rejected() -> None:
    with pytest.raises(ValidationError, match="maximum"):
        next_ulid_after("7ZZZZZZZZZZZZZZZZZZZZZZZZZ")


@pytest.mark.parametrize("bad", ["01arz3ndektsv4rrffq69g5fav", "", "01ARZ3NDEK", "8" + "0" * 25])
def test_next_ulid_after_rejects_non_canonical(bad: str) -> None:
    with pytest.raises(ValidationError, match=r"^ulid: "):
        next_ulid_after(bad)


@pytest.mark.parametrize(
    "value",
    [
        "01890a5d-ac96-774b-bcce-b302099a8057",
        "00000000-0000-7000-8000-000000000000",
        "ffffffff-ffff-7fff-bfff-ffffffffffff",
    ],
)
def test_is_entity_id_accepts(value: str) -> None:
    assert is_entity_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "01890A5D-AC96-774B-BCCE-B302099A8057",  # uppercase
        "01890a5dac96774bbcceb302099a8057",  # no hyphens
        "{01890a5d-ac96-774b-bcce-b302099a8057}",
        "01890a5d-ac96-474b-bcce-b302099a8057",  # version 4
        "01890a5d-ac96-774b-7cce-b302099a8057",  # wrong variant
        "01890a5d-ac96-774b-bcce-b302099a8057\n",
        "",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    ],
)
def test_is_entity_id_rejects(value: str) -> None:
    assert not is_entity_id(value)


def test_is_entity_id_rejects_non_strings() -> None:
    assert not is_entity_id(uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "00000000000000000000000000",
        "7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
    ],
)
def test_is_ulid_accepts(value: str) -> None:
    assert is_ulid(value)


@pytest.mark.parametrize(
    "value",
    [
        "01arz3ndektsv4rrffq69g5fav",  # lowercase is not the canonical form
        "01ARZ3NDEKTSV4RRFFQ69G5FA",  # 25 chars
        "01ARZ3NDEKTSV4RRFFQ69G5FAVV",  # 27 chars
        "01ARZ3NDEKTSV4RRFFQ69G5FAI",  # I is not Crockford
        "01ARZ3NDEKTSV4RRFFQ69G5FAL",
        "01ARZ3NDEKTSV4RRFFQ69G5FAO",
        "01ARZ3NDEKTSV4RRFFQ69G5FAU",
        "80000000000000000000000000",  # beyond 128 bits
        "01ARZ3NDEKTSV4RRFFQ69G5FA\n",
    ],
)
def test_is_ulid_rejects(value: str) -> None:
    assert not is_ulid(value)


def test_ulid_time_ms_rejects_invalid() -> None:
    with pytest.raises(ValidationError, match=r"^ulid: must be 26 uppercase"):
        ulid_time_ms("not-a-ulid")


def test_ids_of_concurrent_batches_never_repeat() -> None:
    """Eight threads drawing batches of increasing ids at once: every id is distinct.
    (python-ulid's process-wide monotonic generator plus ``prev + 1`` repeated ids another
    thread had received: ~185 in 120,000; a repeated event id in one ledger writer is a
    valid append refused with 409, found by the soak benchmark.)"""
    import threading

    drawn: list[list[str]] = [[] for _ in range(8)]

    def draw(out: list[str]) -> None:
        for _ in range(3000):
            batch: list[str] = []
            for _ in range(5):  # what tier2.envelope.increasing_ids does for one request
                batch.append(next_ulid_after(batch[-1] if batch else None))
            assert batch == sorted(batch)
            out.extend(batch)

    threads = [threading.Thread(target=draw, args=(out,)) for out in drawn]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in drawn for i in out]
    assert len(every) == 120_000
    assert len(set(every)) == len(every)


@given(st.integers(min_value=1, max_value=(1 << 48) - 2), st.binary(min_size=10, max_size=10))
def test_ulid_floor_separates_earlier_from_later_milliseconds(ms: int, entropy: bytes) -> None:
    floor = ulid_floor(ms)
    assert is_ulid(floor) and ulid_time_ms(floor) == ms
    at = str(ULID.from_bytes(ms.to_bytes(6, "big") + entropy))
    before = str(ULID.from_bytes((ms - 1).to_bytes(6, "big") + b"\xff" * 10))
    assert before < floor <= at
    with pytest.raises(ValidationError, match="ms"):
        ulid_floor(-1)
