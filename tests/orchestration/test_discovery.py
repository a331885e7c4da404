"""Discovery: modules, files and folders become asset definitions and a manifest."""

from __future__ import annotations

import pickle
import re
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from arco.errors import ValidationError
from arco.orchestration.assets import load_entry_point
from arco.orchestration.discovery import LOCATION_ATTR, build_manifest, load_definitions

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipeline"


@pytest.fixture(autouse=True)
def _forget_loaded_modules() -> Iterator[None]:
    before = set(sys.modules)
    path = list(sys.path)
    yield
    assert sys.path == path  # the folder was on sys.path only while importing
    for name in set(sys.modules) - before:
        if getattr(sys.modules[name], LOCATION_ATTR, None) or name.startswith("defs_pkg"):
            del sys.modules[name]


def write(root: Path, rel: str, code: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return path


RAW = """
    from arco import asset

    @asset(namespace="shop")
    def orders(context):
        return [1, 2, 3]
"""
CLEAN = """
    from arco import asset
    from raw import orders  # a re-export is the same definition

    @asset(namespace="shop")
    def clean(context, orders):
        return orders
"""
REPORT = """
    from arco import asset

    ARCO_NAMESPACE = "shop"

    @asset
    def report(context, clean):
        '''Revenue by day.'''
        return clean

    def helper():
        return None
"""


def pipeline(root: Path) -> Path:
    write(root, "raw.py", RAW)
    write(root, "clean.py", CLEAN)
    write(root, "sub/report.py", REPORT)
    write(root, ".hidden/skip.py", "raise RuntimeError('never imported')\n")
    return root


def test_folder_modules_are_named_by_their_relative_path(tmp_path: Path) -> None:
    defs = load_definitions(str(pipeline(tmp_path / "loc")))
    assert [d.entry_point for d in defs] == ["clean:clean", "raw:orders", "sub.report:report"]
    manifest = build_manifest(defs)
    assert [a.key for a in manifest.assets] == ["shop/clean", "shop/orders", "shop/report"]
    assert manifest.asset("shop/clean").deps == ("shop/orders",)
    assert manifest.asset("shop/report").description == "Revenue by day."


def test_the_fingerprint_does_not_depend_on_where_the_code_is(tmp_path: Path) -> None:
    first = build_manifest(load_definitions(str(pipeline(tmp_path / "a"))))
    second = build_manifest(load_definitions(str(pipeline(tmp_path / "b" / "c"))))
    assert first.fingerprint == second.fingerprint
    # the same names from another location are that location's code
    write(tmp_path / "b" / "c", "raw.py", RAW.replace("[1, 2, 3]", "[4]"))
    defs = {str(d.key): d for d in load_definitions(str(tmp_path / "b" / "c"))}
    assert defs["shop/orders"](None) == [4]


def test_a_single_file(tmp_path: Path) -> None:
    path = write(tmp_path, "one.py", RAW)
    defs = load_definitions(str(path))
    assert [d.entry_point for d in defs] == ["one:orders"]


def test_a_dotted_module_and_its_submodules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "lib/defs_pkg_a/__init__.py", "")
    write(tmp_path, "lib/defs_pkg_a/first.py", RAW)
    write(tmp_path, "lib/defs_pkg_a/second.py", REPORT)
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    defs = load_definitions("defs_pkg_a")
    assert [d.entry_point for d in defs] == ["defs_pkg_a.first:orders", "defs_pkg_a.second:report"]


def test_a_dotted_module_of_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "defs_pkg_b/__init__.py", "")
    write(tmp_path, "defs_pkg_b/first.py", RAW)
    monkeypatch.chdir(tmp_path)
    assert [d.entry_point for d in load_definitions("defs_pkg_b.first")] == [
        "defs_pkg_b.first:orders"
    ]


def test_the_example_pipeline() -> None:
    manifest = build_manifest(load_definitions(str(EXAMPLES)))
    assert [a.key for a in manifest.assets] == [
        "shop/clean_orders",
        "shop/orders",
        "shop/revenue_by_country",
    ]
    assert manifest.asset("shop/revenue_by_country").deps == ("shop/clean_orders",)
    assert manifest.asset("shop/orders").partitions is not None
    again = build_manifest(load_definitions(str(EXAMPLES)))
    assert again.fingerprint == manifest.fingerprint


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"bad.py": "def f(:\n"}, "bad.py: syntax error at line 1"),
        ({"boom.py": "1 / 0\n"}, "boom.py: ZeroDivisionError: division by zero"),
        ({"imports_bad.py": "import no_such_module_xyz\n"}, "imports_bad.py: ModuleNotFoundError"),
        (
            {"opt.py": "from arco import asset\n@asset(timeout_s=-1)\ndef a(c):\n    pass\n"},
            "opt.py: asset 'default/a'.timeout_s:",
        ),
        ({"empty.py": "x = 1\n"}, "no @asset definitions found"),
        ({"my-file.py": RAW}, "'my-file' is not a valid Python module name"),
        ({"this.py": RAW}, "module name 'this' would shadow"),
        ({"json.py": RAW}, "module name 'json' is already taken"),
    ],
)
def test_errors_name_the_file_and_the_problem(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for rel, code in files.items():
        write(tmp_path, rel, code)
    with pytest.raises(ValidationError) as err:
        load_definitions(str(tmp_path))
    assert message in err.value.message and "\n" not in err.value.message


def test_missing_locations(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file or folder"):
        load_definitions(str(tmp_path / "nope"))
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(ValidationError, match=r"not a \.py file or a folder"):
        load_definitions(str(tmp_path / "data.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match=r"no \.py files"):
        load_definitions(str(tmp_path / "empty"))
    with pytest.raises(ValidationError, match="no_such_module_abc: ModuleNotFoundError"):
        load_definitions("no_such_module_abc")


def test_duplicate_keys_name_both_entry_points(tmp_path: Path) -> None:
    write(tmp_path, "a.py", RAW)
    write(tmp_path, "b.py", RAW)
    defs = load_definitions(str(tmp_path))
    with pytest.raises(ValidationError) as err:
        build_manifest(defs)
    assert err.value.message == "assets: key shop/orders is defined twice (a:orders and b:orders)"
    assert build_manifest([defs[0], defs[0]]).assets == (defs[0].to_spec(),)


def test_a_copy_of_the_examples_deploys_identically(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "copy", ignore=shutil.ignore_patterns("__pycache__"))
    here = build_manifest(load_definitions(str(tmp_path / "copy")))
    there = build_manifest(load_definitions(str(EXAMPLES)))
    assert here.fingerprint == there.fingerprint


def test_definitions_pickle_by_entry_point() -> None:
    defs = load_definitions(str(EXAMPLES))
    sys.path.insert(0, str(EXAMPLES))  # a worker has the code location on its path
    try:
        again = pickle.loads(pickle.dumps(defs))
    finally:
        sys.path.remove(str(EXAMPLES))
    assert [a is b for a, b in zip(again, defs, strict=True)] == [True, True, True]
    assert load_entry_point("raw:orders") is next(d for d in defs if d.entry_point == "raw:orders")
    for bad, message in [
        ("raw", "must be 'module:qualname'"),
        ("raw:nope", "cannot load 'raw:nope'"),
        ("no_such_mod_q:x", "cannot load"),
        ("raw:pa", "is not an asset (got module)"),
    ]:
        with pytest.raises(ValidationError, match=re.escape(message)):
            load_entry_point(bad)
