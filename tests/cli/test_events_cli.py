"""``arco events append`` and ``arco events list``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from arco.cli import app
from arco.ledger import EventLedger
from arco.storage import LocalFileStore, ScopedStore

runner = CliRunner()

ENVELOPE = {
    "event_id": "01JQ3Z7W8X9Y0ABCDEFGHJKMNP",
    "event_type": "materialization",
    "event_version": 1,
    "idempotency_key": "run-1",
    "occurred_at": "2026-11-26T15:07:46.123+02:00",
    "source": "scheduler",
    "trace_id": None,
    "payload": {"asset": "sales/orders"},
}


def arco(root: Path, *args: str, input: str | bytes | None = None) -> Result:
    return runner.invoke(app, ["--store", f"file://{root}", *args], input=input)


def ledger(root: Path, domain: str = "executions", scope: str = "default") -> EventLedger:
    prefix = f"tenant={scope}/workspace={scope}/"
    return EventLedger(ScopedStore(LocalFileStore(root, fsync=False), prefix), domain)


def jsonl(*lines: object) -> str:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)


def test_append_file_then_list(tmp_path: Path) -> None:
    store = tmp_path / "store"
    path = tmp_path / "events.jsonl"
    path.write_text(
        jsonl(
            ENVELOPE,
            "",
            {"event_type": "materialization", "asset": "a/b"},
            {"event_type": "materialization", "asset": "c/d"},
        )
    )
    result = arco(store, "events", "append", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("appended 3 events to executions (first ")
    keys = ledger(store).list_keys()
    assert len(keys) == 3
    events = ledger(store).read_many(keys)
    assert events[0].model_dump() == {**ENVELOPE, "occurred_at": "2026-11-26T13:07:46.123Z"}
    # generated ids follow line order, and the source defaults to the CLI's
    assert [e.payload for e in events[1:]] == [{"asset": "a/b"}, {"asset": "c/d"}]
    assert {e.source for e in events[1:]} == {"arco-cli"}

    listed = arco(store, "events", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == [e.model_dump() for e in events]
    table = arco(store, "events", "list")
    assert table.exit_code == 0 and "materialization" in table.stdout
    limited = arco(store, "events", "list", "--json", "--limit", "1")
    assert [e["event_id"] for e in json.loads(limited.stdout)] == [ENVELOPE["event_id"]]


def test_append_json_output_and_domain(tmp_path: Path) -> None:
    store = tmp_path / "store"
    path = tmp_path / "e.jsonl"
    path.write_text(jsonl({"event_type": "lineage.edge", "from": "a", "to": "b"}))
    result = arco(store, "events", "append", str(path), "--domain", "lineage", "--json")
    assert result.exit_code == 0, result.output
    ids = json.loads(result.stdout)
    assert [
        e.event_id for e in ledger(store, "lineage").read_many(ledger(store, "lineage").list_keys())
    ] == ids
    assert ledger(store).list_keys() == []
    listed = arco(store, "events", "list", "--domain", "lineage", "--json")
    assert [e["event_id"] for e in json.loads(listed.stdout)] == ids


def test_bad_line_writes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    path = tmp_path / "bad.jsonl"
    path.write_text(
        jsonl(
            {"event_type": "materialization", "ok": 1},
            "",
            {"event_type": "materialization", "metrics": {"ms": 1.5}},
            {"event_type": "materialization", "ok": 2},
        )
    )
    result = arco(store, "events", "append", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: line 3: payload.metrics.ms: floats are not allowed in canonical JSON (got 1.5)\n"
    )
    assert ledger(store).list_keys() == []

    path.write_text(jsonl({"event_type": "materialization"}, "{not json"))
    result = arco(store, "events", "append", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: line 2: event: invalid JSON")
    assert ledger(store).list_keys() == []


def test_append_from_stdin(tmp_path: Path) -> None:
    store = tmp_path / "store"
    data = jsonl({"event_type": "materialization", "n": 1}, {**ENVELOPE, "trace_id": "t-1"})
    result = arco(store, "events", "append", "-", "--json", input=data.encode())
    assert result.exit_code == 0, result.output
    ids = json.loads(result.stdout)
    assert len(ids) == 2 and ids[1] == ENVELOPE["event_id"]
    assert len(ledger(store).list_keys()) == 2


def test_empty_input_and_missing_file(tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = arco(store, "events", "append", "-", input="\n\n")
    assert result.exit_code == 0 and result.stdout == "appended 0 events\n"
    missing = arco(store, "events", "append", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: ") and "nope.jsonl: cannot read" in missing.stderr


def test_invalid_domain_is_one_line(tmp_path: Path) -> None:
    result = arco(tmp_path / "store", "events", "list", "--domain", "Bad/Domain")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: domain: must be 1-63 characters")
