"""The ``python.cell`` handler: a recorded cell source exec'd in a fresh namespace,
found through the entry point, replayable in the kernel and in a subprocess."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from scidex_replay.errors import BadInput, OutputMissing, StepFailed
from scidex_replay.handlers import load_handlers
from scidex_replay.handlers.python_cell import PythonCellHandler
from scidex_replay.handlers.spec import Handler
from scidex_replay.recording import record_step
from scidex_replay.registry.records import Step
from scidex_replay.replay import rerun_artifact

VISIBLE_TO_TESTS = "a module global of the test"


def cell_step(source: str, parameters: dict | None = None) -> Step:
    now = datetime.now(timezone.utc)
    return Step(
        step_id="s_cell0001", step_type="python.cell", method=source, parameters=parameters or {},
        target_artifact_id="a_out00001", source_artifact_ids=("a_in000001",), input_hash="0" * 64,
        output_hash="0" * 64, env_hash=None, trace_id=None, started_at=now, completed_at=now,
    )


@pytest.fixture
def files(tmp_path: Path) -> tuple[list[Path], Path]:
    src = tmp_path / "in0" / "data.txt"
    src.parent.mkdir()
    src.write_text("b\na\nc\n")
    out = tmp_path / "out" / "sorted.txt"
    out.parent.mkdir()
    return [src], out


def test_is_registered_through_the_entry_point_group():
    handler = load_handlers().get("python.cell")
    assert isinstance(handler, PythonCellHandler) and isinstance(handler, Handler)
    assert handler.version == "1"


def test_runs_the_cell_with_inputs_output_and_params_bound(files):
    inputs, out = files
    source = (
        "from pathlib import Path\n"
        "assert isinstance(inputs, list) and all(isinstance(p, Path) for p in inputs)\n"
        "assert isinstance(output, Path)\n"
        "lines = sorted(inputs[0].read_text().splitlines(), reverse=reverse)\n"
        "output.write_text(sep.join(lines) + params['end'])\n"
    )
    result = PythonCellHandler()(cell_step(source, {"reverse": True, "sep": ",", "end": "."}), inputs, out)
    assert result.path == out and out.read_text() == "c,b,a."


def test_each_run_gets_a_fresh_namespace(files):
    inputs, out = files
    handler = PythonCellHandler()
    handler(cell_step("leaked = 1\noutput.write_text('x')\n"), inputs, out)
    with pytest.raises(StepFailed, match=r"^NameError \(cell line 1\): name 'leaked' is not defined$"):
        handler(cell_step("output.write_text(str(leaked))\n"), inputs, out)
    with pytest.raises(StepFailed, match="VISIBLE_TO_TESTS"):
        handler(cell_step("output.write_text(VISIBLE_TO_TESTS)\n"), inputs, out)


def test_an_exception_names_its_type_and_the_cell_line(files):
    inputs, out = files
    source = "def f():\n    raise ValueError('bad row 7')\nx = 1\nf()\n"
    with pytest.raises(StepFailed, match=r"^ValueError \(cell line 2\): bad row 7$") as info:
        PythonCellHandler()(cell_step(source), inputs, out)
    assert isinstance(info.value.__cause__, ValueError)


def test_exit_in_a_cell_fails_the_step_and_spares_the_process(files):
    inputs, out = files
    with pytest.raises(StepFailed, match=r"^SystemExit \(cell line 2\): 3$"):
        PythonCellHandler()(cell_step("import sys\nsys.exit(3)\n"), inputs, out)


def test_ipython_syntax_is_refused_as_not_plain_python(files):
    inputs, out = files
    with pytest.raises(BadInput, match=r"not plain Python \(line 2: "):
        PythonCellHandler()(cell_step("x = 1\n!ls\n"), inputs, out)


def test_a_cell_that_writes_nothing_is_output_missing(files):
    inputs, out = files
    with pytest.raises(OutputMissing, match="sorted.txt"):
        PythonCellHandler()(cell_step("x = inputs[0].read_text()\n"), inputs, out)


SORT = "output.write_text(''.join(sorted(inputs[0].read_text().splitlines(keepends=True))))\n"


def record(registry, tmp_path: Path, source: str, text: str = "b\na\n"):
    raw = tmp_path / "raw.txt"
    raw.write_text(text)
    with record_step(registry, "python.cell", method=source, inputs=[str(raw)], output="sorted.txt") as st:
        PythonCellHandler()(st.provisional_step(), st.inputs, st.output)
    return st.artifact


@pytest.mark.parametrize("executor", ["kernel", "subprocess"])
def test_a_recorded_cell_reproduces_in_the_kernel_and_in_a_subprocess(registry, tmp_path, executor):
    art = record(registry, tmp_path, SORT)
    assert registry.store.path(art.content_hash).read_text() == "a\nb\n"
    report = rerun_artifact(art.id, registry=registry, executor=executor)
    assert report.ok, report.manifest["steps"]
    assert report.manifest["steps"][0]["reason"] == "reproduced"


def test_a_cell_failing_in_a_subprocess_reports_type_and_line(registry, tmp_path):
    flag = tmp_path / "flag"
    source = f"import os\nif os.path.exists({str(flag)!r}):\n    raise RuntimeError('flag is up')\n{SORT}"
    art = record(registry, tmp_path, source)
    flag.write_text("up")
    report = rerun_artifact(art.id, registry=registry, executor="subprocess")
    assert report.manifest["steps"][0]["reason"] == "failed: RuntimeError (cell line 3): flag is up"
