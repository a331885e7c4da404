"""``arco events append`` and ``arco events list``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from arco.cli import app
from arco.storage import LocalFileStore, ScopedStore
from arco.tier2.ledger import EventLedger

runner = CliRunner()

ENVELOPE = {
    "event_id": "01JQ3Z7W8X9Y0ABCDEFGHJKMNP",
    "event_type": "materialization",
    "event_version": 1,
    "idempotency_key": "run-1",
    "occurred_at": "2026-11-26T15:07:46.123+02:00",
    "source": "scheduler",
    "trace_id": None,
    "payload": {"asset_key": "sales/orders", "run_id": "run-1", "status": "succeeded"},
}


def mat(asset: str, **extra: object) -> dict[str, object]:
    """A bare materialization payload line."""
    return {
        "event_type": "materialization",
        "asset_key": asset,
        "run_id": "r",
        "status": "succeeded",
        **extra,
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
            mat("a/b"),
            mat("c/d"),
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
    assert [e.payload["asset_key"] for e in events[1:]] == ["a/b", "c/d"]
    assert {e.source for e in events[1:]} == {"arco-cli"}

    listed = arco(store, "events", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == [e.model_dump() for e in events]
    table = arco(store, "events", "list")
    assert table.exit_code == 0 and "materialization" in table.stdout
    limited = arco(store, "events", "list", "--json", "--limit", "1")
    assert [e["event_id"] for e in json.loads(limited.stdout)] == [ENVELOPE["event_id"]]
    # appended events were folded before the command returned
    shown = arco(store, "materializations", "list", "--json")
    assert shown.exit_code == 0, shown.output
    assert sorted(m["asset_key"] for m in json.loads(shown.stdout)) == [
        "a/b",
        "c/d",
        "sales/orders",
    ]


def test_append_json_output_and_domain(tmp_path: Path) -> None:
    store = tmp_path / "store"
    path = tmp_path / "e.jsonl"
    path.write_text(jsonl(mat("a/b")))
    result = arco(store, "events", "append", str(path), "--json")
    assert result.exit_code == 0, result.output
    ids = json.loads(result.stdout)
    assert [e.event_id for e in ledger(store).read_many(ledger(store).list_keys())] == ids
    # only tier-2 domains have an event ledger one can append to
    other = arco(store, "events", "append", str(path), "--domain", "lineage")
    assert other.exit_code == 1
    assert other.stderr.startswith("error: --domain: 'lineage' is not a tier-2 domain")
    assert ledger(store, "lineage").list_keys() == []


def test_unknown_events_rejected_or_quarantined(tmp_path: Path) -> None:
    store = tmp_path / "store"
    path = tmp_path / "e.jsonl"
    path.write_text(jsonl(mat("a/b"), "", {"event_type": "run.started", "run_id": "r"}))
    rejected = arco(store, "events", "append", str(path))
    assert rejected.exit_code == 1
    assert rejected.stderr == (
        "error: line 3: event_type: 'run.started' version 1 is not an event type of domain "
        "executions (known: materialization v1)\n"
    )
    assert ledger(store).list_keys() == []
    kept = arco(store, "events", "append", str(path), "--unknown", "quarantine")
    assert kept.exit_code == 0, kept.output
    rows = arco(store, "query", "--json", "SELECT event_type, outcome FROM executions.ingested")
    assert sorted(map(tuple, (r.values() for r in json.loads(rows.stdout)))) == [
        ("materialization", "applied"),
        ("run.started", "quarantined"),
    ]


def test_no_fold_then_compact(tmp_path: Path) -> None:
    store = tmp_path / "store"
    path = tmp_path / "e.jsonl"
    path.write_text(jsonl(mat("a/b", rows=5), mat("a/c")))
    appended = arco(store, "events", "append", str(path), "--no-fold")
    assert appended.exit_code == 0 and "not folded yet" in appended.stdout
    assert json.loads(arco(store, "materializations", "list", "--json").stdout) == []
    compacted = arco(store, "compact", "--json")
    assert compacted.exit_code == 0, compacted.output
    assert json.loads(compacted.stdout)["outcomes"] == {"applied": 2}
    again = arco(store, "compact")
    assert again.stdout == "nothing to fold\n"
    listed = json.loads(arco(store, "materializations", "list", "--json", "--asset", "a/b").stdout)
    assert [(m["asset_key"], m["rows"]) for m in listed] == [("a/b", 5)]
    shown = arco(store, "materializations", "show", listed[0]["materialization_id"], "--json")
    assert json.loads(shown.stdout) == listed[0]
    missing = arco(store, "materializations", "show", "nope")
    assert missing.exit_code == 1 and missing.stderr == (
        "error: materialization 'nope' does not exist\n"
    )
    bad = arco(store, "compact", "--domain", "catalog")
    assert bad.exit_code == 1 and "not a tier-2 domain" in bad.stderr


def test_bad_line_writes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    path = tmp_path / "bad.jsonl"
    path.write_text(
        jsonl(
            mat("a/b"),
            "",
            mat("a/b", metrics={"ms": 1.5}),
            mat("a/b"),
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
    data = jsonl(mat("a/b"), {**ENVELOPE, "trace_id": "t-1"})
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


def test_compact_watch_folds_what_others_append(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    store = tmp_path / "store"
    env = {**os.environ, "ARCO_STORE": f"file://{store}"}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "arco", "compact", "--watch", "--interval", "0.1", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        path = tmp_path / "e.jsonl"
        path.write_text(jsonl(mat("a/b"), mat("a/c")))
        assert arco(store, "events", "append", str(path), "--no-fold").exit_code == 0
        deadline = time.monotonic() + 30
        listed: list[object] = []
        while time.monotonic() < deadline and len(listed) < 2:
            time.sleep(0.1)
            listed = json.loads(arco(store, "materializations", "list", "--json").stdout)
        assert len(listed) == 2
    finally:
        # SIGTERM: what a service manager sends (SIGINT may be ignored under pytest-xdist)
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=30)
    passes = [json.loads(line) for line in out.splitlines()]
    assert sum(p["folded"] for p in passes) == 2, (out, err)
    assert watcher.returncode == 0, err
