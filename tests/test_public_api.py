"""The package root re-exports the public API, lazily."""

from __future__ import annotations

import subprocess
import sys

import arco


def test_every_public_name_resolves() -> None:
    for name in arco.__all__:
        assert getattr(arco, name) is not None, name
    assert set(arco.__all__) <= set(dir(arco))


def test_import_is_lazy() -> None:
    code = "import sys, arco; print('pyarrow' in sys.modules, 'duckdb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        arco.no_such_thing  # type: ignore[attr-defined]
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
