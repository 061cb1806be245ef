"""Code identity of ``python.call`` steps: the module's source file is a code input of the step,
replay imports the live module from where it was recorded and says ``input-differs`` when it
changed, and the reuse key covers everything the step sees (staged names, code, declared env)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import sys
import uuid
from pathlib import Path

import pytest

from scidex_replay.handlers.shell import ShellHandler
from scidex_replay.outcomes import Outcome, Status
from scidex_replay.recording import record_call
from scidex_replay.replay import rerun_artifact
from scidex_replay.replay.cache import reuse_key

SOURCE = '''
from pathlib import Path


def label(inputs, output, prefix="v1"):
    """Writes how many inputs it got, each one's file name and its bytes upper-cased."""
    lines = [f"{prefix} {len(inputs)}"] + [f"{Path(p).name}: {Path(p).read_text().upper()}" for p in inputs]
    Path(output).write_text("\\n".join(lines))
'''


@dataclasses.dataclass
class Module:
    """A package ``NAME.steps`` written under ``root``, imported in this process from there only."""

    name: str
    root: Path
    file: Path

    @property
    def func(self):
        return importlib.import_module(f"{self.name}.steps").label

    def edit(self, text: str) -> None:
        self.file.write_text(text)


@pytest.fixture
def module(tmp_path, monkeypatch):
    name = f"codepkg_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "analysis"
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    file = root / name / "steps.py"
    file.write_text(SOURCE)
    monkeypatch.syspath_prepend(str(root))
    yield Module(name, root, file)
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_record_call_links_the_module_source_as_a_code_input_not_passed_to_the_function(module, rec, reg):
    raw = rec.source("abc")
    out = record_call(reg, module.func, inputs=[raw], output="labelled.txt")
    step = reg.producing_step(out.id)
    assert step.source_artifact_ids == (raw,)
    [code] = step.code_inputs
    assert (code.module, code.path, code.root) == (f"{module.name}.steps", str(module.file), str(module.root))
    assert code.content_hash == digest(module.file.read_bytes())
    with reg.store.open(reg.get_artifact(code.artifact_id).content_hash) as fh:
        assert fh.read() == module.file.read_bytes()
    with reg.store.open(out.content_hash) as fh:
        assert fh.read() == b"v1 1\nin0-raw.txt: ABC", "the function got its one data input only"
    [in_chain] = reg.chain(out.id)
    assert in_chain.code_inputs == step.code_inputs and in_chain.source_artifact_ids == (raw,)


def test_a_builtin_function_records_no_code_input(rec, reg):
    from scidex_replay.code_identity import code_of

    assert code_of(len) == () and code_of(json.loads) != ()
    assert code_of(json.loads)[0].root == str(Path(json.__file__).parent.parent)


def test_the_cli_replays_a_module_its_process_cannot_import_by_itself(module, rec, reg, cli):
    out = record_call(reg, module.func, inputs=[rec.source("abc")], output="labelled.txt")
    for executor in ("kernel", "subprocess"):  # the CLI's own process, then a child of it
        done = cli("rerun-artifact", out.id, "--executor", executor, "--json")
        assert done.returncode == 0, done.stderr
        manifest = json.loads(done.stdout)
        assert manifest["status"] == "reproduced"
        assert manifest["steps"][0]["output_hash_replayed"] == out.content_hash


def test_an_edited_module_is_input_differs_naming_it_and_strict_aborts(module, rec, reg):
    out = record_call(reg, module.func, inputs=[rec.source("abc")], output="labelled.txt")
    module.edit(SOURCE.replace('prefix="v1"', 'prefix="v2"'))

    report = rerun_artifact(out.id, registry=reg, executor="subprocess")
    [result] = reg.results(report.run.run_id)
    assert result.outcome is Outcome.INPUT_DIFFERS
    assert f"module {module.name}.steps ({module.file}) changed since it was recorded" in result.detail
    with reg.store.open(result.output_hash_replayed) as fh:
        assert fh.read() == b"v2 1\nin0-raw.txt: ABC", "replay ran the live module"
    assert report.run.status is Status.DIFFERS

    strict = rerun_artifact(out.id, registry=reg, executor="subprocess", strict=True)
    assert strict.run.status is Status.ABORTED
    [result] = reg.results(strict.run.run_id)
    assert result.outcome is Outcome.INPUT_DIFFERS and result.output_hash_replayed is None
    assert f"module {module.name}.steps" in result.detail and "aborted by --strict" in result.detail


def test_a_module_that_is_gone_is_input_differs(module, rec, reg):
    out = record_call(reg, module.func, inputs=[rec.source("abc")], output="labelled.txt")
    module.file.unlink()
    report = rerun_artifact(out.id, registry=reg, executor="subprocess", strict=True)
    [result] = reg.results(report.run.run_id)
    assert report.run.status is Status.ABORTED and result.outcome is Outcome.INPUT_DIFFERS
    assert f"module {module.name}.steps ({module.file}) is gone" in result.detail


def test_an_unchanged_step_is_reused_and_an_edited_module_is_not(module, rec, reg):
    out = record_call(reg, module.func, inputs=[rec.source("abc")], output="labelled.txt")
    first = rerun_artifact(out.id, registry=reg, executor="subprocess")
    assert reg.results(first.run.run_id)[0].outcome is Outcome.REPRODUCED
    again = rerun_artifact(out.id, registry=reg, reuse="all")
    assert reg.results(again.run.run_id)[0].outcome is Outcome.REUSED

    module.edit(SOURCE.replace("upper()", "lower()"))
    edited = rerun_artifact(out.id, registry=reg, executor="subprocess", reuse="all")
    [result] = reg.results(edited.run.run_id)
    assert result.outcome is Outcome.INPUT_DIFFERS and result.reused_from_run is None
    with reg.store.open(result.output_hash_replayed) as fh:
        assert fh.read() == b"v1 1\nin0-raw.txt: abc"
    assert result.reuse_key != reg.results(first.run.run_id)[0].reuse_key


def test_the_same_bytes_under_another_file_name_are_not_reused(module, rec, reg, tmp_path):
    out = record_call(reg, module.func, inputs=[rec.source("abc")], output="labelled.txt")
    first = rerun_artifact(out.id, registry=reg)
    assert reg.results(first.run.run_id)[0].outcome is Outcome.REPRODUCED
    renamed = tmp_path / "other.txt"
    renamed.write_text("abc")
    step = reg.producing_step(out.id)

    fork = rerun_artifact(out.id, registry=reg, fork=True, reuse="all", input_overrides={step.step_id: str(renamed)})
    [result] = reg.results(fork.run.run_id)
    assert result.outcome is Outcome.FORKED and result.reused_from_run is None
    with reg.store.open(result.output_hash_replayed) as fh:
        assert fh.read() == b"v1 1\nin0-other.txt: ABC"


def test_the_reuse_key_covers_staged_names_code_and_the_declared_environment(rec, reg):
    step = rec.step(rec.tagged("A", [rec.source("r")]))
    handler, digests = ShellHandler(), ["d" * 64]
    key = reuse_key(handler, step, digests, "e", staged=["in0-raw.txt"], code=["c" * 64])
    assert key == reuse_key(handler, step, digests, "e", staged=["in0-raw.txt"], code=["c" * 64])
    assert key != reuse_key(handler, step, digests, "e", staged=["in0-other.txt"], code=["c" * 64])
    assert key != reuse_key(handler, step, digests, "e", staged=["in0-raw.txt"], code=["f" * 64])
    assert key != reuse_key(handler, step, digests, "e", staged=["in0-raw.txt"], code=[None])
    declared = dataclasses.replace(step, parameters={**step.parameters, "env": {"MODE": "fast"}})
    other_env = dataclasses.replace(step, parameters={**step.parameters, "env": {"MODE": "slow"}})
    keys = {reuse_key(handler, s, digests, "e", staged=["in0-raw.txt"]) for s in (step, declared, other_env)}
    assert len(keys) == 3
