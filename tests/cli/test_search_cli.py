"""``arco search`` on a real local store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from arco.cli import app


def run(store: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--store", f"file://{store}", *args])
    return result.exit_code, result.stdout, result.stderr


def test_search_finds_tables_and_columns(tmp_path: Path) -> None:
    store = tmp_path / "s"
    assert run(store, "ns", "create", "sales")[0] == 0
    assert (
        run(store, "table", "register", "sales", "売上高", "--column", "customer_id:int64")[0] == 0
    )
    code, out, _ = run(store, "search", "売上", "--json")
    assert code == 0
    hits = json.loads(out)
    assert [(h["kind"], h["table"]) for h in hits] == [("table", "売上高")]
    code, out, _ = run(store, "search", "customer")
    assert code == 0 and "customer_id" in out
    code, _, err = run(store, "search", "  ")
    assert code == 1 and err.strip().startswith("error: q:")
