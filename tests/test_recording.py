"""Recording steps from Python: ``record_step``, ``record_call`` and ``recorded``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import text

import _steps
from scidex_replay.env import current_environment
from scidex_replay.errors import BadInput, OutputMissing, StepFailed
from scidex_replay.handlers.python_call import resolve
from scidex_replay.recording import TRACE_ENV, record_call, record_step, recorded, trace_id
from scidex_replay.registry import Registry, input_hash_of
from scidex_replay.replay.order import topological
from scidex_replay.store import hash_bytes

TABLES = ("artifacts", "processing_steps", "step_inputs", "environments")


def counts(reg: Registry) -> dict[str, int]:
    with reg.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def blob_files(reg: Registry) -> list[str]:
    root = reg.store.root
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def read_blob(reg: Registry, artifact_id: str) -> bytes:
    with reg.store.open(reg.get_artifact(artifact_id).content_hash) as fh:
        return fh.read()


RAW = b"well,sample,absorbance\nA1,blank,0.05\nB1,ctrl,0.42\nB2,ctrl,0.44\nC1,drug,0.31\n"


def test_record_step_records_a_three_step_chain(registry: Registry):
    raw = registry.add_artifact(RAW, name="readings.csv")

    with record_step(registry, "python.inline", method="drop blanks", inputs=[raw.id], output="clean.csv") as s1:
        rows = [r for r in csv.DictReader(open(s1.inputs[0])) if r["sample"] != "blank"]
        with open(s1.output, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=rows[0].keys())
            w.writeheader()
            w.writerows(rows)

    with record_step(
        registry, "python.inline", method="mean per sample", inputs=[s1.artifact.id], output="summary.csv",
        parameters={"stat": "mean"},
    ) as s2:
        by: dict[str, list[float]] = {}
        for r in csv.DictReader(open(s2.inputs[0])):
            by.setdefault(r["sample"], []).append(float(r["absorbance"]))
        s2.output.write_text("".join(f"{k},{sum(v) / len(v):.3f}\n" for k, v in sorted(by.items())))

    with record_step(registry, "python.inline", method="report", inputs=[s2.artifact.id], output="report.md") as s3:
        s3.output.write_text("# Report\n\n" + s3.inputs[0].read_text())

    assert read_blob(registry, s3.artifact.id) == b"# Report\n\nctrl,0.430\ndrug,0.310\n"
    chain = topological(registry.chain(s3.artifact.id))
    assert [s.step_id for s in chain] == [s1.step.step_id, s2.step.step_id, s3.step.step_id]
    assert [s.source_artifact_ids for s in chain] == [(raw.id,), (s1.artifact.id,), (s2.artifact.id,)]
    assert chain[1].parameters == {"stat": "mean"}
    assert all(s.env_hash == current_environment().env_hash for s in chain)
    assert all(s.trace_id == chain[0].trace_id for s in chain)
    assert s3.artifact.name == "report.md"
    assert s3.artifact.kind == "md"
    assert registry.get_environment(current_environment().env_hash) == current_environment()


def test_an_exception_inside_the_block_records_nothing(registry: Registry, tmp_path: Path):
    raw = registry.add_artifact(RAW)
    f = tmp_path / "script.py"
    f.write_text("print('hi')\n")
    before, blobs_before = counts(registry), blob_files(registry)
    with pytest.raises(ZeroDivisionError):
        with record_step(registry, "python.inline", method="m", inputs=[raw.id, f], output="o.txt") as st:
            st.output.write_text("written, then failed")
            1 / 0
    assert counts(registry) == before
    assert blob_files(registry) == blobs_before
    assert st.step is None and st.artifact is None
    assert not st.workdir.exists()  # scratch directory cleaned up


def test_not_writing_the_output_raises_bad_input_and_records_nothing(registry: Registry, tmp_path: Path):
    raw = registry.add_artifact(RAW)
    f = tmp_path / "new-input.txt"
    f.write_text("a file that would be added as a source")
    before, blobs_before = counts(registry), blob_files(registry)
    with pytest.raises(BadInput, match="output"):
        with record_step(registry, "python.inline", method="m", inputs=[raw.id, f], output="o.txt"):
            pass
    assert counts(registry) == before
    assert blob_files(registry) == blobs_before


def test_an_input_that_is_neither_an_id_nor_a_file_is_bad_input(registry: Registry, tmp_path: Path):
    before = counts(registry)
    with pytest.raises(BadInput, match="input not found"):
        with record_step(registry, "python.inline", method="m", inputs=[str(tmp_path / "missing.csv")], output="o"):
            pytest.fail("the block must not run")
    assert counts(registry) == before


def test_inputs_given_as_file_paths_are_added_as_artifacts(registry: Registry, tmp_path: Path):
    f = tmp_path / "plate.csv"
    f.write_bytes(RAW)
    with record_step(registry, "python.inline", method="copy", inputs=[f], output="copy.csv") as st:
        st.output.write_bytes(st.inputs[0].read_bytes())
    (source_id,) = st.step.source_artifact_ids
    source = registry.get_artifact(source_id)
    assert source.content_hash == hash_bytes(RAW)
    assert source.name == "plate.csv"
    assert registry.producing_step(source_id) is None
    assert registry.store.verify(source.content_hash)


def test_input_hash_is_the_hash_of_the_ordered_source_content_hashes(registry: Registry, tmp_path: Path):
    a = registry.add_artifact(b"first")
    f = tmp_path / "second.txt"
    f.write_bytes(b"second")
    b = registry.add_artifact(b"third")
    with record_step(registry, "python.inline", method="cat", inputs=[b.id, f, a.id], output="o") as st:
        st.output.write_bytes(b"".join(p.read_bytes() for p in st.inputs))
    sources = [registry.get_artifact(i) for i in st.step.source_artifact_ids]
    assert [s.content_hash for s in sources] == [hash_bytes(b"third"), hash_bytes(b"second"), hash_bytes(b"first")]
    assert st.step.input_hash == input_hash_of([s.content_hash for s in sources])
    assert st.step.input_hash != input_hash_of(sorted(s.content_hash for s in sources))  # order matters
    assert read_blob(registry, st.artifact.id) == b"thirdsecondfirst"


def test_a_file_edited_after_the_step_started_does_not_change_the_recorded_input(registry: Registry, tmp_path: Path):
    f = tmp_path / "live.csv"
    f.write_bytes(b"original\n")
    with record_step(registry, "python.inline", method="m", inputs=[f], output="o.txt") as st:
        f.write_bytes(b"edited while the step ran\n")
        seen = st.inputs[0].read_bytes()
        st.output.write_bytes(seen.upper())
    assert seen == b"original\n"
    assert st.step.input_hash == input_hash_of([hash_bytes(b"original\n")])
    source = registry.get_artifact(st.step.source_artifact_ids[0])
    assert source.content_hash == hash_bytes(b"original\n")
    assert read_blob(registry, st.artifact.id) == b"ORIGINAL\n"


def test_frozen_inputs_are_copies_the_step_cannot_use_to_alter_the_store(registry: Registry):
    raw = registry.add_artifact(RAW)
    with record_step(registry, "python.inline", method="m", inputs=[raw.id], output="o") as st:
        st.inputs[0].write_bytes(b"scribbled over")  # its own copy
        st.output.write_bytes(b"x")
    assert registry.store.verify(raw.content_hash)
    assert st.step.input_hash == input_hash_of([raw.content_hash])


def test_output_name_cannot_escape_the_scratch_directory(registry: Registry):
    with record_step(registry, "python.inline", method="m", output="../../evil.txt") as st:
        assert st.output.parent == st.workdir
        st.output.write_bytes(b"x")
    assert st.artifact.name == "evil.txt"


def test_trace_id_comes_from_the_environment_when_set(registry: Registry, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(TRACE_ENV, "pipeline-42")
    assert trace_id() == "pipeline-42"
    with record_step(registry, "python.inline", method="m", output="o") as st:
        st.output.write_bytes(b"x")
    assert st.step.trace_id == "pipeline-42"


# -- record_call / recorded -----------------------------------------------------------


def test_record_call_records_a_python_call_step(registry: Registry, tmp_path: Path):
    a = registry.add_artifact(b"hello ")
    f = tmp_path / "b.txt"
    f.write_text("world")
    art = record_call(registry, _steps.shout, inputs=[a.id, f], output="loud.txt", suffix="?")
    assert read_blob(registry, art.id) == b"HELLO WORLD?"
    step = registry.producing_step(art.id)
    assert step.step_type == "python.call"
    assert step.method == "_steps:shout"
    assert step.parameters == {"suffix": "?", "env": {}}  # it declared no environment variable
    assert step.source_artifact_ids[0] == a.id
    assert resolve(step.method) is _steps.shout  # what replay will import


def test_a_recorded_function_is_importable_in_a_fresh_process(registry: Registry):
    import os
    import subprocess
    import sys

    art = record_call(registry, _steps.reverse, inputs=[registry.add_artifact(b"abc").id], output="r")
    method = registry.producing_step(art.id).method
    proc = subprocess.run(
        [sys.executable, "-c", f"from scidex_replay.handlers.python_call import resolve; print(resolve({method!r}).__name__)"],
        capture_output=True, text=True, env=dict(os.environ), cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "reverse"


def test_record_call_refuses_lambdas_and_nested_functions(registry: Registry):
    def nested(inputs, output):
        Path(output).write_text("x")

    before = counts(registry)
    with pytest.raises(BadInput):
        record_call(registry, lambda inputs, output: None, output="o")
    with pytest.raises(BadInput):
        record_call(registry, nested, output="o")
    assert counts(registry) == before


def test_record_call_of_a_failing_function_records_nothing(registry: Registry):
    raw = registry.add_artifact(RAW)
    before, blobs_before = counts(registry), blob_files(registry)
    with pytest.raises(StepFailed, match="boom"):
        record_call(registry, _steps.explode, inputs=[raw.id], output="o")
    with pytest.raises(OutputMissing):
        record_call(registry, _steps.forget_output, inputs=[raw.id], output="o")
    assert counts(registry) == before
    assert blob_files(registry) == blobs_before


@pytest.mark.parametrize("value", [{1, 2}, float("nan"), object()], ids=["set", "nan", "object"])
def test_record_call_rejects_non_json_parameters_before_calling_and_records_nothing(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, value
):
    monkeypatch.setattr(_steps, "CALLS", [])
    raw = registry.add_artifact(b"x")
    before = counts(registry)
    with pytest.raises(BadInput, match="JSON"):
        record_call(registry, _steps.show_params, inputs=[raw.id], output="o", opt=value)
    assert _steps.CALLS == []
    assert counts(registry) == before


def test_the_function_is_called_with_exactly_the_parameters_that_are_recorded(registry: Registry):
    # a tuple or an int key survives json.dumps but comes back as a list / str key: replay
    # would call the function with those, so recording must call it with them too
    art = record_call(registry, _steps.show_params, output="o", window=(1, 2), weights={1: 0.5})
    step = registry.producing_step(art.id)
    assert step.parameters == {"window": [1, 2], "weights": {"1": 0.5}, "env": {}}
    called_with = {"window": [1, 2], "weights": {"1": 0.5}}  # its declared environment is os.environ, not a parameter
    assert read_blob(registry, art.id) == repr(sorted(called_with.items())).encode()


def test_recorded_decorator_keeps_the_function_plain_and_records_through_the_default_registry(
    registry: Registry, tmp_path: Path
):
    f = tmp_path / "lines.txt"
    f.write_text("a\nb\nc\n")
    out = tmp_path / "direct.txt"
    _steps.count_lines([f], out)  # still an ordinary function
    assert out.read_text() == "3\n"

    art = _steps.count_lines.record(inputs=[f], output="counts.txt")
    # recorded through SCIDEX_REPLAY_DB, i.e. visible in the fixture's registry
    assert registry.get_artifact(art.id) == art
    assert read_blob(registry, art.id) == b"3\n"
    step = registry.producing_step(art.id)
    assert (step.step_type, step.method) == ("python.call", "_steps:count_lines")
    assert _steps.count_lines.record.__name__ == "count_lines"


def test_recorded_decorator_with_an_explicit_registry(registry: Registry):
    src = registry.add_artifact(b"xyz")
    rec = recorded(registry)(_steps.reverse)
    assert rec is _steps.reverse
    art = rec.record(inputs=[src.id], output="rev.bin")
    assert read_blob(registry, art.id) == b"zyx"
    assert registry.producing_step(art.id).source_artifact_ids == (src.id,)


def test_record_call_names_its_step_and_a_name_is_unique_within_a_chain(registry: Registry):
    first = record_call(registry, _steps.reverse, inputs=[registry.add_artifact(b"abc").id], output="r", step_name="flip")
    assert registry.producing_step(first.id).name == "flip"
    before = len(registry.step_types())
    with pytest.raises(BadInput, match="already in this chain"):
        record_call(registry, _steps.reverse, inputs=[first.id], output="r2", step_name="flip")
    with pytest.raises(BadInput, match="step name"):
        record_call(registry, _steps.reverse, inputs=[first.id], output="r2", step_name="no spaces")
    again = record_call(registry, _steps.reverse, inputs=[first.id], output="r3", step_name="flip-back")
    assert registry.producing_step(again.id).name == "flip-back"
    assert len(registry.step_types()) == before
