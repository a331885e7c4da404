"""``arco deploy`` and ``arco assets list|show`` on a real local store."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arco.cli import app
from arco.orchestration.deploy import CURRENT_KEY
from arco.orchestration.discovery import LOCATION_ATTR
from arco.storage import LocalFileStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipeline"


@pytest.fixture(autouse=True)
def _forget_loaded_modules() -> Iterator[None]:
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if getattr(sys.modules[name], LOCATION_ATTR, None):
            del sys.modules[name]


def run(store: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--store", f"file://{store}", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_deploy_the_example_then_list_and_show(tmp_path: Path) -> None:
    store = tmp_path / "s"
    code, out, err = run(store, "deploy", str(EXAMPLES))
    assert code == 0, err
    assert out.startswith("created: deployment ") and "(3 asset(s), version 1)" in out
    fingerprint = out.split()[2]
    code, out, _ = run(store, "deploy", str(EXAMPLES))
    assert code == 0 and out.startswith(f"unchanged: deployment {fingerprint} ")

    code, out, _ = run(store, "assets", "list")
    assert code == 0
    rows = [line for line in out.splitlines() if "shop/" in line]
    assert [row.split()[1] for row in rows] == [
        "shop/clean_orders",
        "shop/orders",
        "shop/revenue_by_country",
    ]
    assert "date: daily from 2026-01-01 (Europe/Paris)" in rows[0]
    assert f"deployment {fingerprint[:12]} (version 1)" in out
    code, out, _ = run(store, "assets", "list", "--json")
    listed = json.loads(out)
    assert listed["fingerprint"] == fingerprint and listed["version"] == 1
    assert [a["key"] for a in listed["assets"]] == [
        "shop/clean_orders",
        "shop/orders",
        "shop/revenue_by_country",
    ]

    code, out, _ = run(store, "assets", "show", "shop/orders")
    assert code == 0
    assert "raw:orders" in out and "Europe/Paris" in out and "not_null_order_id" in out
    code, out, _ = run(store, "assets", "show", "shop/clean_orders", "--json")
    shown = json.loads(out)
    assert shown["deps"] == ["shop/orders"] and shown["entry_point"] == "clean:clean_orders"


def test_deploy_json_and_a_new_version(tmp_path: Path) -> None:
    store, code_dir = tmp_path / "s", tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "one.py").write_text(
        "from arco import asset\n\n@asset\ndef a(context):\n    return None\n"
    )
    code, out, _ = run(store, "deploy", str(code_dir), "--json")
    first = json.loads(out)
    assert code == 0 and first["status"] == "created" and first["assets"] == 1
    (code_dir / "two.py").write_text(
        "from arco import asset\n\n@asset\ndef b(context, a):\n    return None\n"
    )
    code, out, _ = run(store, "deploy", str(code_dir), "--json")
    second = json.loads(out)
    assert second["version"] == 2 and second["previous"] == first["fingerprint"]
    assert second["assets"] == 2
    pointer = LocalFileStore(store, fsync=False).get(
        f"tenant=default/workspace=default/{CURRENT_KEY}"
    )
    assert json.loads(pointer.data)["fingerprint"] == second["fingerprint"]


def test_workspaces_are_separate(tmp_path: Path) -> None:
    store = tmp_path / "s"
    assert run(store, "--workspace", "dev", "deploy", str(EXAMPLES))[0] == 0
    code, _, err = run(store, "assets", "list")
    assert code == 1
    assert err == (
        "error: nothing is deployed to tenant 'default', workspace 'default' "
        "(run: arco deploy PATH)\n"
    )
    code, out, _ = run(store, "--workspace", "dev", "assets", "list", "--json")
    assert code == 0 and len(json.loads(out)["assets"]) == 3


def test_errors_are_one_line_with_exit_1(tmp_path: Path) -> None:
    store = tmp_path / "s"
    code, _, err = run(store, "assets", "show", "shop/orders")
    assert code == 1 and err.startswith("error: nothing is deployed")
    assert run(store, "deploy", str(EXAMPLES))[0] == 0
    code, _, err = run(store, "assets", "show", "shop/nope")
    assert code == 1 and err.startswith("error: asset 'shop/nope' is not in the current deployment")
    assert len(err.splitlines()) == 1
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.py").write_text(textwrap.dedent("def f(:\n"))
    code, _, err = run(store, "deploy", str(broken))
    assert code == 1 and err.strip().endswith("bad.py: syntax error at line 1: invalid syntax")
    code, _, err = run(store, "deploy", str(tmp_path / "missing"))
    assert code == 1 and "no such file or folder" in err and len(err.splitlines()) == 1


def test_deploy_needs_a_store_not_a_server(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "side.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    result = CliRunner().invoke(app, ["--url", "http://127.0.0.1:9", "deploy", str(code_dir)])
    assert result.exit_code == 1
    assert result.stderr == "error: deploy works on a store, not with --url\n"
    assert not marker.exists()  # refused before any user code ran
    result = CliRunner().invoke(app, ["--url", "http://127.0.0.1:9", "assets", "list"])
    assert result.exit_code == 1 and "not with --url" in result.stderr
