"""Replay handlers: the entry-point factory, validation, python.call references, shell argv."""

from __future__ import annotations

import importlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scidex_replay.errors import BadInput, HandlerInvalid, HandlerMissing, OutputMissing, StepFailed
from scidex_replay.handlers import HandlerRegistry, load_handlers
from scidex_replay.handlers.copy import CopyHandler
from scidex_replay.handlers.python_call import ALLOW_ENV, PythonCallHandler, reference, resolve
from scidex_replay.handlers.shell import ShellHandler, check_argv, substitute
from scidex_replay.handlers.spec import Handler, ReplayedArtifact
from scidex_replay.registry.records import Step

FUNCS_DIR = Path(__file__).parents[1] / "replay"
STARTED = datetime(2024, 5, 1, 12, 0, 7, tzinfo=timezone.utc)
PY = sys.executable


@pytest.fixture
def funcs(monkeypatch):
    monkeypatch.syspath_prepend(str(FUNCS_DIR))
    monkeypatch.setenv("PYTHONPATH", str(FUNCS_DIR))
    return importlib.import_module("_funcs")


def mk(step_type: str, method: str = "m", **parameters) -> Step:
    return Step(
        step_id="s_test", step_type=step_type, method=method, parameters=parameters, target_artifact_id="a_out",
        source_artifact_ids=(), input_hash="0" * 64, output_hash="1" * 64, env_hash=None, trace_id=None,
        started_at=STARTED, completed_at=STARTED,
    )


@pytest.fixture
def io(tmp_path):
    """Two input files and an output path in a scratch directory of its own."""
    a, b = tmp_path / "in0.txt", tmp_path / "in1.txt"
    a.write_text("alpha\n")
    b.write_text("beta\n")
    work = tmp_path / "work"
    work.mkdir()
    return [a, b], work / "out.txt"


# -- registry and factory -------------------------------------------------------------


def test_factory_loads_the_builtin_handlers_from_entry_points():
    handlers = load_handlers()
    assert {"shell", "python.call", "copy"} <= set(handlers.names())
    assert isinstance(handlers.get("shell"), ShellHandler)
    assert isinstance(handlers.get("python.call"), PythonCallHandler)
    assert isinstance(handlers.get("copy"), CopyHandler)
    assert all(isinstance(handlers.get(n), Handler) for n in handlers.names())


def test_unknown_step_type_is_handler_missing():
    with pytest.raises(HandlerMissing, match="lab.instrument"):
        HandlerRegistry().get("lab.instrument")
    assert "lab.instrument" not in HandlerRegistry()


class NoVersion:
    step_type = "lab.noversion"

    def __call__(self, step, inputs, output): ...


class NoStepType:
    version = "1"

    def __call__(self, step, inputs, output): ...


class NotCallable:
    step_type = "lab.static"
    version = "1"


class EmptyVersion(NoVersion):
    version = ""


@pytest.mark.parametrize(
    "handler, named, what",
    [
        (NoVersion(), "lab.noversion", "version"),
        (EmptyVersion(), "lab.noversion", "version"),
        (NoStepType(), "NoStepType", "step_type"),
        (NotCallable(), "lab.static", "callable"),
    ],
)
def test_register_rejects_an_invalid_handler_naming_it(handler, named, what):
    registry = HandlerRegistry()
    with pytest.raises(HandlerInvalid) as info:
        registry.register(handler)
    assert named in str(info.value) and what in str(info.value)
    assert registry.names() == []


def test_register_rejects_a_step_type_that_is_not_the_entry_point_name():
    with pytest.raises(HandlerInvalid, match="mylab.align"):
        HandlerRegistry().register(CopyHandler(), name="mylab.align")


def test_register_accepts_a_valid_third_party_handler():
    class Align:
        step_type = "mylab.align"
        version = "2"

        def __call__(self, step, inputs, output):
            return ReplayedArtifact(output)

    registry = HandlerRegistry()
    handler = registry.register(Align(), name="mylab.align")
    assert registry.get("mylab.align") is handler and "mylab.align" in registry


class OtherCopy:
    step_type = "copy"
    version = "1"

    def __call__(self, step, inputs, output): ...


def test_register_refuses_a_second_handler_for_a_step_type_naming_both():
    registry = HandlerRegistry()
    first = registry.register(CopyHandler())
    with pytest.raises(HandlerInvalid) as info:
        registry.register(OtherCopy())
    message = str(info.value)
    assert "'copy'" in message and "CopyHandler" in message and "OtherCopy" in message
    assert registry.get("copy") is first


class FakeEntryPoint:
    def __init__(self, name, factory):
        self.name, self.value, self._factory = name, f"{factory.__module__}:{factory.__qualname__}", factory

    def load(self):
        return self._factory


def load_from(monkeypatch, *eps):
    monkeypatch.setattr("scidex_replay.handlers.registry.entry_points", lambda group: list(eps))
    return load_handlers.__wrapped__()  # not the cached registry of the installed plugins


def test_two_plugins_claiming_one_step_type_leave_it_unusable_and_say_which(monkeypatch, caplog):
    handlers = load_from(
        monkeypatch, FakeEntryPoint("copy", CopyHandler), FakeEntryPoint("copy", OtherCopy), FakeEntryPoint("shell", ShellHandler)
    )
    assert handlers.names() == ["shell"]  # the other step types still replay
    with pytest.raises(HandlerInvalid) as info:
        handlers.get("copy")
    assert "CopyHandler" in str(info.value) and "OtherCopy" in str(info.value)
    assert "OtherCopy" in caplog.text


def test_a_plugin_that_fails_to_load_makes_only_its_step_type_unusable(monkeypatch):
    def broken():
        raise ImportError("no module named mylab")

    handlers = load_from(monkeypatch, FakeEntryPoint("mylab.align", broken), FakeEntryPoint("copy", CopyHandler))
    assert handlers.names() == ["copy"]
    with pytest.raises(HandlerInvalid, match="mylab.align .*no module named mylab"):
        handlers.get("mylab.align")


# -- python.call ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    ['os.system("x")', "__import__", "os", "os:system()", "os:path.join", "os; rm:x", ":f", "m:", " os:getcwd", 42, None],
)
def test_python_call_refuses_anything_but_module_function(ref):
    with pytest.raises(BadInput, match="not a module:function reference"):
        resolve(ref)


def test_python_call_resolves_a_module_function():
    assert resolve("json:dumps") is json.dumps


def test_allow_list_restricts_modules_by_prefix(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "json, os.path")
    assert resolve("json.decoder:scanstring") is not None
    assert resolve("os.path:join") is not None
    for ref in ("os:system", "jsonish:f", "subprocess:run"):
        with pytest.raises(BadInput, match=ALLOW_ENV):  # refused before anything is imported
            resolve(ref)


def test_unimportable_reference_is_a_step_failure():
    with pytest.raises(StepFailed, match="no_such_module_xyz"):
        resolve("no_such_module_xyz:f")
    with pytest.raises(StepFailed, match="nope"):
        resolve("json:nope")


def test_non_callable_reference_is_refused(funcs):
    with pytest.raises(BadInput, match="not callable"):
        resolve("_funcs:not_callable")


def test_reference_of_a_module_function_round_trips(funcs):
    assert reference(funcs.concat) == "_funcs:concat"
    assert resolve(reference(funcs.concat)) is funcs.concat


def test_reference_refuses_lambdas_and_nested_functions():
    def nested(inputs, output): ...

    with pytest.raises(BadInput):
        reference(lambda inputs, output: None)
    with pytest.raises(BadInput):
        reference(nested)


def test_python_call_passes_inputs_output_and_parameters(funcs, io):
    inputs, output = io
    result = PythonCallHandler()(mk("python.call", "_funcs:concat", tag="!"), inputs, output)
    assert result.path == output and output.read_text() == "alpha\nbeta\n!"


def test_python_call_exception_becomes_step_failed_with_its_message(funcs, io):
    inputs, output = io
    with pytest.raises(StepFailed, match="ValueError: the data is bad"):
        PythonCallHandler()(mk("python.call", "_funcs:boom", message="the data is bad"), inputs, output)


def test_python_call_that_writes_nothing_is_output_missing(funcs, io):
    inputs, output = io
    with pytest.raises(OutputMissing, match="_funcs:forgets_output"):
        PythonCallHandler()(mk("python.call", "_funcs:forgets_output"), inputs, output)


# -- shell ----------------------------------------------------------------------------


def test_substitute_replaces_placeholders_and_leaves_other_braces_alone():
    argv = ["python", "-c", "d = {'a': 1, 'b': {}}; print(f'{d}')", "--in={in1}", "{in0}", "{out}", "{in}", "{outx}", "{{out}}"]
    got = substitute(argv, [Path("/i/zero"), Path("/i/one")], Path("/o/out"))
    assert got == [
        "python", "-c", "d = {'a': 1, 'b': {}}; print(f'{d}')", "--in=/i/one", "/i/zero", "/o/out", "{in}", "{outx}", "{/o/out}",
    ]


def test_substitute_refuses_an_input_the_step_does_not_have():
    with pytest.raises(BadInput, match=r"\{in2\}"):
        substitute(["cat", "{in2}", "{out}"], [Path("a"), Path("b")], Path("o"))


def test_check_argv_takes_a_command_as_written_and_refuses_placeholders_it_cannot_fill():
    """Second wave: a command names its files as the user wrote them (DESIGN.md); {out} is optional."""
    check_argv(["cp", "data.csv", "result.txt"], 1)
    check_argv(["cp", "{in0}", "{out}"], 1)
    check_argv(["paste", "{out0}", "{out1}"], 0, 2)
    with pytest.raises(BadInput, match=r"\{out2\}"):
        check_argv(["paste", "{out2}"], 0, 2)
    with pytest.raises(BadInput):
        check_argv([], 0)


def test_shell_never_uses_a_shell(io, tmp_path, monkeypatch):
    inputs, output = io
    monkeypatch.chdir(tmp_path)
    program = "import sys; open(sys.argv[-1], 'w').write(repr(sys.argv[1:-1]))"
    hostile = ["x; touch pwned", "$(touch pwned)", "`touch pwned`", "| touch pwned", "*"]
    ShellHandler()(mk("shell", argv=[PY, "-c", program, *hostile, "{out}"]), inputs, output)
    assert output.read_text() == repr(hostile)  # every argument arrived literally
    assert not list(tmp_path.rglob("pwned"))


def test_shell_runs_in_deterministic_mode_in_the_output_directory(io):
    inputs, output = io
    program = (
        "import json, os, sys; json.dump({k: os.environ.get(k) for k in "
        "('PYTHONHASHSEED', 'TZ', 'SOURCE_DATE_EPOCH', 'LC_ALL')} | {'cwd': os.getcwd()}, open(sys.argv[-1], 'w'))"
    )
    ShellHandler()(mk("shell", argv=[PY, "-c", program, "{out}"]), inputs, output)
    got = json.loads(output.read_text())
    assert got == {
        "PYTHONHASHSEED": "0", "TZ": "UTC", "SOURCE_DATE_EPOCH": str(int(STARTED.timestamp())), "LC_ALL": "C.UTF-8",
        "cwd": str(output.parent),
    }


def test_shell_nonzero_exit_is_step_failed_with_exit_code_and_stderr_tail(io):
    inputs, output = io
    program = "import sys; sys.stderr.write('one\\ntwo\\n'); sys.exit(4)"
    with pytest.raises(StepFailed) as info:
        ShellHandler()(mk("shell", argv=[PY, "-c", program, "{out}"]), inputs, output)
    assert str(info.value) == "exit 4: one | two"


def test_shell_that_writes_no_output_is_output_missing(io):
    inputs, output = io
    with pytest.raises(OutputMissing):
        ShellHandler()(mk("shell", argv=[PY, "-c", "pass", "{out}"]), inputs, output)


def test_shell_command_not_found_is_step_failed(io):
    inputs, output = io
    with pytest.raises(StepFailed, match="command not found: no-such-command-xyz"):
        ShellHandler()(mk("shell", argv=["no-such-command-xyz", "{out}"]), inputs, output)


def test_shell_timeout_is_step_failed(io):
    inputs, output = io
    with pytest.raises(StepFailed, match="timed out after 0.5 s"):
        ShellHandler(timeout_s=0.5)(mk("shell", argv=[PY, "-c", "import time; time.sleep(20)", "{out}"]), inputs, output)


@pytest.mark.parametrize("argv", [None, "cp {in0} {out}", ["cp", 3]])
def test_shell_step_without_an_argv_list_fails(io, argv):
    inputs, output = io
    with pytest.raises(StepFailed, match="argv"):
        ShellHandler()(mk("shell", argv=argv), inputs, output)


# -- copy -----------------------------------------------------------------------------


def test_copy_writes_the_bytes_of_its_one_input(io):
    inputs, output = io
    assert CopyHandler()(mk("copy"), inputs[:1], output).path == output
    assert output.read_bytes() == inputs[0].read_bytes()


def test_copy_refuses_more_than_one_input(io):
    inputs, output = io
    with pytest.raises(StepFailed, match="exactly one input"):
        CopyHandler()(mk("copy"), inputs, output)
