"""The benchmark peer (pyiceberg's SqlCatalog: SQLAlchemy) is the ``bench`` extra, not a
dependency of Arco; pyiceberg itself is (the Iceberg REST catalog), imported only by what
needs it."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arco.cli import app

PEER_MODULES = ("sqlalchemy",)


@pytest.mark.parametrize("missing", PEER_MODULES)
def test_bench_catalog_without_the_extra_is_one_error_line(
    missing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    fake = types.ModuleType("arco.bench.catalog")
    fake.run_catalog_bench = lambda *args, **kwargs: calls.append(args)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "arco.bench.catalog", fake)
    monkeypatch.setitem(sys.modules, missing, None)  # what `import missing` then refuses

    result = CliRunner().invoke(
        app, ["--store", f"file://{tmp_path}", "bench", "catalog", "--quick", "--no-s3"]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "error: arco bench catalog needs the benchmark peers: pip install 'arco[bench]'\n"
    )
    assert result.stdout == ""
    assert calls == []  # it fails before benchmarking anything


# Runs in a fresh interpreter: the import of the CLI and the everyday commands (and the help of
# `bench`) leave the benchmark peer unimported, and all but verify (which checks Iceberg
# tables) leave pyiceberg unimported too.
_NO_PEERS = """
import sys
from typer.testing import CliRunner
import arco, arco.cli

store = ["--store", "file://" + sys.argv[1]]

def run(*commands):
    for args in commands:
        result = CliRunner().invoke(arco.cli.app, [*store, *args])
        assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)

run(
    ["ns", "create", "sales"],
    ["table", "register", "sales", "orders", "-c", "id:int64:not-null", "-c", "name:string"],
    ["table", "list", "sales"],
    ["table", "show", "sales", "orders"],
    ["search", "order"],
    ["query", "SELECT name FROM catalog.tables"],
    ["bench", "--help"],
    ["bench", "catalog", "--help"],
)
loaded = sorted(name for name in ("pyiceberg", "sqlalchemy") if name in sys.modules)
assert not loaded, loaded
run(["verify"])
assert "sqlalchemy" not in sys.modules
print("ok")
"""


def test_cli_and_non_bench_commands_do_not_import_the_peers(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _NO_PEERS, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok"]
