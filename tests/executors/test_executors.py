"""Executors: where a handler runs (this process, or a fresh interpreter in deterministic mode)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scidex_replay.errors import BadInput, OutputMissing, StepFailed
from scidex_replay.executors import EXECUTORS, KernelExecutor, SubprocessExecutor, get_executor
from scidex_replay.executors.subprocess import step_to_json
from scidex_replay.handlers.python_call import PythonCallHandler
from scidex_replay.handlers.spec import ReplayedArtifact
from scidex_replay.registry.records import Step, StepOutput, step_from_json

FUNCS_DIR = Path(__file__).parents[1] / "replay"
STARTED = datetime(2024, 5, 1, 12, 0, 7, tzinfo=timezone.utc)


@pytest.fixture
def funcs(monkeypatch):
    monkeypatch.syspath_prepend(str(FUNCS_DIR))
    monkeypatch.setenv("PYTHONPATH", str(FUNCS_DIR))
    monkeypatch.setenv("PYTHONHASHSEED", "random")  # the child must not inherit it
    return importlib.import_module("_funcs")


def call(func: str, **parameters) -> Step:
    return Step(
        step_id="s_test", step_type="python.call", method=f"_funcs:{func}", parameters=parameters,
        target_artifact_id="a_out", source_artifact_ids=("a_in",), input_hash="0" * 64, output_hash="1" * 64,
        env_hash=None, trace_id=None, started_at=STARTED, completed_at=STARTED,
    )


@pytest.fixture
def io(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("input\n")
    work = tmp_path / "out"
    work.mkdir()
    return [src], work / "result.txt"


def test_subprocess_runs_in_a_fresh_interpreter_in_deterministic_mode(funcs, io):
    inputs, output = io
    result = SubprocessExecutor().run(PythonCallHandler(), call("write_env"), inputs, output)
    assert result.path == output
    got = json.loads(output.read_text())
    assert got["pid"] != os.getpid()
    assert got["seed"] == "0" and got["tz"] == "UTC"


def test_kernel_executor_sends_a_steps_own_code_to_a_fresh_deterministic_process(funcs, io):
    inputs, output = io  # `funcs` sets PYTHONHASHSEED=random here, as a kernel started by hand has it
    KernelExecutor().run(PythonCallHandler(), call("write_env"), inputs, output)
    seen = json.loads(output.read_text())
    assert seen["pid"] != os.getpid() and seen["seed"] == "0"


def test_kernel_executor_runs_a_handler_without_code_of_its_own_in_this_process(io):
    inputs, output = io
    ran_in = []

    class Probe:
        step_type, version = "probe", "1"

        def __call__(self, step, inputs, output):
            ran_in.append(os.getpid())
            output.write_text("x")
            return ReplayedArtifact(output)

    KernelExecutor().run(Probe(), call("write_env"), inputs, output)
    assert ran_in == [os.getpid()]


def test_subprocess_reports_a_raising_function_as_step_failed_with_its_message(funcs, io):
    inputs, output = io
    with pytest.raises(StepFailed, match="ValueError: the data is bad"):
        SubprocessExecutor().run(PythonCallHandler(), call("boom", message="the data is bad"), inputs, output)


def test_subprocess_keeps_the_output_missing_kind(funcs, io):
    inputs, output = io
    with pytest.raises(OutputMissing, match="returned without writing"):
        SubprocessExecutor().run(PythonCallHandler(), call("forgets_output"), inputs, output)


def test_subprocess_prints_of_the_step_do_not_corrupt_the_answer(funcs, io):
    inputs, output = io
    result = SubprocessExecutor().run(PythonCallHandler(), call("noisy_print"), inputs, output)
    assert result.path == output and output.read_text() == "quiet result"


def test_subprocess_output_on_file_descriptor_1_does_not_corrupt_the_answer(funcs, io):
    inputs, output = io
    result = SubprocessExecutor().run(PythonCallHandler(), call("noisy_fd1"), inputs, output)
    assert result.path == output and output.read_text() == "result"


def test_subprocess_timeout_is_reported_as_timed_out(funcs, io):
    inputs, output = io
    with pytest.raises(StepFailed, match="timed out after 1 s"):
        SubprocessExecutor(timeout_s=1).run(PythonCallHandler(), call("sleepy", seconds=30), inputs, output)


def test_subprocess_reports_an_unimportable_function(io, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    inputs, output = io
    step = call("concat")  # _funcs is not importable without PYTHONPATH
    with pytest.raises(StepFailed, match="cannot import _funcs:concat"):
        SubprocessExecutor().run(PythonCallHandler(), step, inputs, output)


def test_subprocess_child_dying_without_an_answer_is_step_failed(io, tmp_path):
    inputs, output = io
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'interpreter exploded' >&2\nexit 7\n")
    fake.chmod(0o755)
    with pytest.raises(StepFailed, match="subprocess exit 7: interpreter exploded"):
        SubprocessExecutor(python=str(fake)).run(PythonCallHandler(), call("concat"), inputs, output)


def test_step_round_trips_through_the_job_json():
    step = call("concat", tag="x", n=[1, 2])
    assert step_from_json(json.loads(json.dumps(step_to_json(step)))) == step
    named = dataclasses.replace(
        step, name="fit", input_paths=("data/x.csv", None),
        outputs=(StepOutput("a_1", "1" * 64, "fig/a.png"), StepOutput("a_2", "2" * 64, "fit.txt")),
    )
    assert step_from_json(json.loads(json.dumps(step_to_json(named)))) == named


def test_get_executor_by_name():
    assert isinstance(get_executor("kernel"), KernelExecutor)
    assert isinstance(get_executor("subprocess"), SubprocessExecutor)
    assert get_executor("subprocess", timeout_s=5).timeout_s == 5
    assert EXECUTORS == ("kernel", "subprocess", "dask")


def test_get_executor_unknown_name_is_bad_input_listing_the_choices():
    with pytest.raises(BadInput, match="unknown executor 'nope': choose one of kernel, subprocess, dask"):
        get_executor("nope")



def test_a_step_process_imports_its_handler_without_the_registry_or_the_entry_point_scan():
    # What every subprocess step imports before its handler runs; each of these would cost it 20-300 ms.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import scidex_replay.executors.child, scidex_replay.handlers.python_call, scidex_replay.handlers.shell\n"
        "print(' '.join(m for m in ('sqlalchemy', 'importlib.metadata', 'pandas', 'rich', 'click') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == []
