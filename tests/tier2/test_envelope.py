"""The tier-2 event envelope: validation rules, bare payloads, occurred_at normalisation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from arco.core.ids import is_ulid, ulid_time_ms
from arco.errors import ValidationError
from arco.tier2.envelope import (
    MAX_PAYLOAD_BYTES,
    EventEnvelope,
    normalize_occurred_at,
    parse_event,
    ulid_at,
)

NOW_MS = 1_795_957_666_123  # 2026-11-29T13:07:46.123Z
EVENT_ID = "01JQ3Z7W8X9Y0ABCDEFGHJKMNP"

FULL: dict[str, Any] = {
    "event_id": EVENT_ID,
    "event_type": "materialization",
    "event_version": 1,
    "idempotency_key": "run-42/step-1",
    "occurred_at": "2026-11-26T13:07:46.123Z",
    "source": "scheduler@host-1",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "payload": {"asset": "sales/orders", "partition": {"day": "2026-11-26"}, "rows": 10},
}


def parse(line: dict[str, Any] | str | bytes) -> EventEnvelope:
    return parse_event(line, source="test", now_ms=NOW_MS)


def with_(**changes: Any) -> dict[str, Any]:
    return {**FULL, **changes}


def test_full_envelope_round_trips() -> None:
    event = parse(json.dumps(FULL))
    assert event.model_dump() == FULL
    assert parse(json.dumps(FULL).encode()) == event
    assert parse(FULL) == event
    assert EventEnvelope.from_bytes(event.to_bytes()) == event
    # stored form is canonical JSON: sorted keys, no whitespace
    assert event.to_bytes() == json.dumps(FULL, sort_keys=True, separators=(",", ":")).encode()


def test_envelope_is_frozen_and_payload_is_a_private_copy() -> None:
    payload = {"nested": {"a": [1, 2]}}
    event = parse(with_(payload=payload))
    payload["nested"]["a"].append(3)
    assert event.payload == {"nested": {"a": [1, 2]}}
    with pytest.raises(Exception):
        event.source = "other"


def test_bare_payload_gets_id_time_and_source() -> None:
    event = parse('{"event_type": "materialization", "asset": "a/b", "rows": 3}')
    assert event.event_type == "materialization"
    assert event.event_version == 1
    assert event.payload == {"asset": "a/b", "rows": 3}
    assert event.source == "test"
    assert event.occurred_at == "2026-11-29T13:07:46.123Z"
    assert is_ulid(event.event_id) and ulid_time_ms(event.event_id) == NOW_MS
    assert event.idempotency_key is None and event.trace_id is None


def test_bare_payload_with_version_and_custom_ids() -> None:
    event = parse_event(
        {"event_type": "materialization", "event_version": 2, "x": 1},
        source="s",
        now_ms=NOW_MS,
        new_id=lambda: EVENT_ID,
    )
    assert (event.event_id, event.event_version, event.payload) == (EVENT_ID, 2, {"x": 1})


def test_partial_envelope_is_completed() -> None:
    event = parse({"event_type": "materialization", "payload": {"x": 1}, "trace_id": "t"})
    assert event.source == "test" and event.event_version == 1 and event.trace_id == "t"
    assert event.occurred_at == "2026-11-29T13:07:46.123Z"


def test_bare_payload_needs_event_type() -> None:
    with pytest.raises(ValidationError, match=r"^event_type: is required"):
        parse('{"asset": "a/b"}')


def test_unknown_type_parses_but_the_domain_refuses_it() -> None:
    from arco.executions import EXECUTIONS

    with pytest.raises(ValidationError, match=r"^payload.asset_key: is required"):
        EXECUTIONS.check(parse(FULL))  # known type, but not a valid materialization
    for event in (parse(with_(event_type="lineage.edge")), parse(with_(event_version=2))):
        with pytest.raises(ValidationError, match=r"^event_type: .* is not an event type of"):
            EXECUTIONS.check(event)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event_id": "01jq3z7w8x9y0abcdefghjkmnp"}, r"^event_id: must be a ULID"),
        ({"event_id": "8ZZZZZZZZZZZZZZZZZZZZZZZZZ"}, r"^event_id: must be a ULID"),
        ({"event_id": 5}, r"^event_id: must be a string"),
        ({"event_type": ""}, r"^event_type: must be 1-64 characters"),
        ({"event_type": "Materialization"}, r"^event_type: must be 1-64 characters"),
        ({"event_type": "1abc"}, r"^event_type: must be 1-64 characters"),
        ({"event_type": "a" * 65}, r"^event_type: must be 1-64 characters"),
        ({"event_type": "a-b"}, r"^event_type: must be 1-64 characters"),
        ({"event_version": 0}, r"^event_version: must be an integer from 1"),
        ({"event_version": "1"}, r"^event_version: must be an integer"),
        ({"event_version": True}, r"^event_version: must be an integer"),
        ({"event_version": 1.0}, r"^event_version: must be an integer"),
        ({"idempotency_key": ""}, r"^idempotency_key: must be 1-255 printable"),
        ({"idempotency_key": "k" * 256}, r"^idempotency_key: must be 1-255 printable"),
        ({"idempotency_key": "a\nb"}, r"^idempotency_key: must be 1-255 printable"),
        ({"idempotency_key": 7}, r"^idempotency_key: must be a string or null"),
        ({"occurred_at": "2026-11-26T13:07:46"}, r"^occurred_at: must carry a UTC offset"),
        ({"occurred_at": "yesterday"}, r"^occurred_at: must be an RFC 3339 date-time"),
        ({"occurred_at": "2026-02-30T00:00:00Z"}, r"^occurred_at: is not a valid date-time"),
        ({"occurred_at": "2026-01-01T00:00:00+24:00"}, r"^occurred_at: has an invalid UTC"),
        ({"occurred_at": 1_795_957_666}, r"^occurred_at: must be a string"),
        ({"source": ""}, r"^source: must be 1-255 printable"),
        ({"source": "s" * 256}, r"^source: must be 1-255 printable"),
        ({"source": "a\x00b"}, r"^source: must be 1-255 printable"),
        ({"trace_id": "t" * 129}, r"^trace_id: must be 1-128 printable"),
        ({"trace_id": ["t"]}, r"^trace_id: must be a string or null"),
        ({"payload": [1]}, r"^payload: must be a JSON object"),
        ({"payload": None}, r"^payload: must be a JSON object"),
        ({"payload": {"a": {"b": [0, 1.5]}}}, r"^payload\.a\.b\[1\]: floats are not allowed"),
        ({"payload": {"x y": 2.0}}, r'^payload\["x y"\]: floats are not allowed'),
        ({"extra": 1}, r"^extra: is not a field of an envelope"),
    ],
)
def test_bad_field_is_named(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse(json.dumps(with_(**changes)))


@pytest.mark.parametrize("field", ["event_id", "event_type", "payload"])
def test_missing_field_is_named_when_constructed_directly(field: str) -> None:
    data = dict(FULL)
    del data[field]
    with pytest.raises(ValidationError, match=rf"^{field}: is required"):
        EventEnvelope(**data)
    with pytest.raises(ValidationError, match=rf"^{field}: is required"):
        EventEnvelope.from_object(data)


def test_float_in_bare_payload_is_named_by_path() -> None:
    with pytest.raises(ValidationError, match=r"^payload\.metrics\[0\]\.ms: floats"):
        parse('{"event_type": "materialization", "metrics": [{"ms": 1.25}]}')
    with pytest.raises(ValidationError, match=r"^payload\.x: floats"):
        parse('{"event_type": "materialization", "x": NaN}')


def test_messages_do_not_echo_huge_values() -> None:
    for changes in ({"source": "s" * 100_000}, {"event_id": "x" * 100_000}):
        with pytest.raises(ValidationError) as info:
            parse(with_(**changes))
        assert len(str(info.value)) < 200
        assert "\n" not in str(info.value)


def test_payload_size_is_bounded() -> None:
    with pytest.raises(ValidationError, match=r"^payload: must be at most"):
        parse(with_(payload={"blob": "x" * MAX_PAYLOAD_BYTES}))


@pytest.mark.parametrize(
    "line",
    [
        "",
        "{",
        "[1, 2]",
        '"text"',
        '{"a": 1, "a": 2}',
        b"\xff\xfe",
        "1" * 5000,
    ],
)
def test_malformed_input_is_a_validation_error(line: str | bytes) -> None:
    with pytest.raises(ValidationError, match=r"^event: "):
        parse(line)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-11-26T13:07:46.123Z", "2026-11-26T13:07:46.123Z"),
        ("2026-11-26T13:07:46Z", "2026-11-26T13:07:46.000Z"),
        ("2026-11-26t13:07:46.1z", "2026-11-26T13:07:46.100Z"),
        ("2026-11-26 13:07:46.123456789Z", "2026-11-26T13:07:46.123Z"),
        ("2026-11-26T15:07:46.123+02:00", "2026-11-26T13:07:46.123Z"),
        ("2026-11-26T01:07:46.999+02:00", "2026-11-25T23:07:46.999Z"),
        ("2026-11-26T08:37:46.123-04:30", "2026-11-26T13:07:46.123Z"),
        ("2026-11-26T13:07:46.123-00:00", "2026-11-26T13:07:46.123Z"),
        ("2026-12-31T23:30:00.000-01:00", "2027-01-01T00:30:00.000Z"),
    ],
)
def test_occurred_at_is_normalised_to_utc_millis(given: str, expected: str) -> None:
    assert normalize_occurred_at(given) == expected
    assert parse(with_(occurred_at=given)).occurred_at == expected


def test_occurred_at_from_datetime() -> None:
    aware = datetime(2026, 11, 26, 15, 7, 46, 123999, tzinfo=timezone(timedelta(hours=2)))
    assert normalize_occurred_at(aware) == "2026-11-26T13:07:46.123Z"
    event = EventEnvelope(**with_(occurred_at=datetime(2026, 1, 1, tzinfo=UTC)))
    assert event.occurred_at == "2026-01-01T00:00:00.000Z"
    with pytest.raises(ValidationError, match=r"^occurred_at: must carry a UTC offset"):
        EventEnvelope(**with_(occurred_at=datetime(2026, 1, 1)))


def test_occurred_at_out_of_range_in_utc() -> None:
    with pytest.raises(ValidationError, match=r"^occurred_at: is out of range"):
        parse(with_(occurred_at="0001-01-01T00:30:00+01:00"))


def test_ulid_at_encodes_the_time() -> None:
    a, b = ulid_at(NOW_MS), ulid_at(NOW_MS)
    assert a != b and is_ulid(a) and ulid_time_ms(a) == NOW_MS


@pytest.mark.parametrize(
    ("text", "normal", "ms"),
    [
        ("2026-11-26T13:07:46.123Z", "2026-11-26T13:07:46.123Z", 1_795_698_466_123),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z", -62_135_596_800_000),
        ("0999-03-01T00:00:00-01:30", "0999-03-01T01:30:00.000Z", -30_636_657_000_000),
        ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_times_are_fixed_width_so_text_order_is_time_order(text: str, normal: str, ms: int) -> None:
    from arco.core.clock import rfc3339_ms
    from arco.tier2.envelope import normalize_occurred_at, rfc3339_to_ms

    assert normalize_occurred_at(text) == normal
    assert rfc3339_to_ms(text) == ms
    assert rfc3339_ms(ms) == normal
