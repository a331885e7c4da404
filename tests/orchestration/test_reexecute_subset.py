"""Re-executing a subset of a finished run (issue 12, item 6): only the tasks of the
selected assets run again; their upstream tasks are reused from the parent as done, with
their outputs; the rest of the parent is left out."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from arco.cli import app
from arco.errors import ValidationError
from arco.orchestration.runs import Runs
from arco.orchestration.trigger import RunRequest
from orchestration_support import orchestrator, write_code

PIPELINE = """
from pathlib import Path
import pyarrow as pa
from arco import asset

BROKEN = Path({broken!r})

@asset(namespace="demo")
def a(context):
    if BROKEN.exists():
        raise ValueError("a is broken")
    return pa.table({{"x": [1, 2, 3]}})

@asset(namespace="demo")
def b(context, a: pa.Table):
    return a.filter(pa.compute.greater(a["x"], 1))

@asset(namespace="demo")
def c(context, b: pa.Table):
    return pa.table({{"rows": [b.num_rows]}})

@asset(namespace="demo")
def d(context):
    return pa.table({{"y": [1]}})
"""


def test_reexecuting_a_selection_runs_only_it_and_reuses_the_rest(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'store'}"
    broken = tmp_path / "broken"
    code = write_code(tmp_path / "code", PIPELINE.format(broken=str(broken)))
    with orchestrator(url, code) as orch:
        parent = orch.trigger(RunRequest(selection=("*",)))
        assert orch.wait(parent, timeout=60).state == "SUCCEEDED"

        downstream = orch.reexecute(parent, select=["demo/b+"])
        run = orch.wait(downstream, timeout=60)
        assert run.state == "SUCCEEDED" and run.parent_run_id == parent
        tasks = {t.task_key: t for t in orch.runs.tasks(downstream)}
        assert sorted(tasks) == [f"demo/{n}:materialize" for n in "abc"]  # not d
        assert {t.state for t in tasks.values()} == {"SUCCEEDED"}
        ran = sorted(a.task_key for a in orch.runs.attempts(downstream))
        assert ran == ["demo/b:materialize", "demo/c:materialize"]
        # b read a's output from the parent: c saw the two rows b kept
        c_output = tasks["demo/c:materialize"].output
        assert c_output is not None and c_output["table"]["rows"] == 1

        only_b = orch.reexecute(parent, select=["demo/b"])
        assert orch.wait(only_b, timeout=60).state == "SUCCEEDED"
        assert [a.task_key for a in orch.runs.attempts(only_b)] == ["demo/b:materialize"]
        assert sorted(t.task_key for t in orch.runs.tasks(only_b)) == [
            "demo/a:materialize",
            "demo/b:materialize",
        ]

        broken.touch()
        failed = orch.trigger(RunRequest(selection=("*",)))
        assert orch.wait(failed, timeout=60).state == "FAILED"
        with pytest.raises(
            ValidationError,
            match=r"did not succeed in run .*: demo/a:materialize, demo/b:materialize \(",
        ):
            orch.reexecute(failed, select=["demo/c"])
        with pytest.raises(ValidationError, match="names none of the assets"):
            orch.reexecute(only_b, select=["demo/d"])
        broken.unlink()

    runner = CliRunner()
    result = runner.invoke(
        app, ["--store", url, "runs", "reexecute", parent, "--select", "demo/c", "--wait"]
    )
    assert result.exit_code == 0, result.output
    with Runs.open(url) as runs:
        runs.compact()
        child = runs.list_runs().items[0]  # newest first
        assert child.selection == ["demo/a", "demo/b", "demo/c"]
        assert child.parent_run_id == parent and child.state == "SUCCEEDED"
        assert [a.task_key for a in runs.attempts(child.run_id)] == ["demo/c:materialize"]
