"""Code named in a command is recorded, and a source file edited since it was recorded is source
drift: reported (manifest, stderr), fatal under --strict, replayed as it is now with --live.
Also: file names and arguments that are not valid UTF-8 are refused in one line before anything is
stored. Every case goes through the installed console script."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

PY = sys.executable

CLEAN = '''\
import sys
rows = open(sys.argv[1]).read().splitlines()
open("clean.csv", "w").write("\\n".join(r for r in rows[1:] if r.strip()) + "\\n")
'''
#: The same script, edited: it now upper-cases what it writes.
EDITED = '''\
import sys
rows = open(sys.argv[1]).read().splitlines()
open("clean.csv", "w").write("\\n".join(r.upper() for r in rows[1:] if r.strip()) + "\\n")
'''
DATA = "id,label\n1,a\n\n2,b\n"
NOTE = "scidex-replay: recorded clean.py as an input (named in the command, not declared with -i)"


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "x.csv").write_text(DATA)
    (folder / "clean.py").write_text(CLEAN)
    return folder


def record_clean(cli, work: Path) -> tuple[str, str]:
    """Record ``python clean.py data/x.csv`` declaring only the data; (artifact id, stderr)."""
    proc = cli("run", "-i", "data/x.csv", "-o", "clean.csv", "--", PY, "clean.py", "data/x.csv", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip(), proc.stderr


def test_a_script_named_but_not_declared_is_recorded_and_its_edit_is_reported_as_source_drift(cli, work, tmp_path):
    target, stderr = record_clean(cli, work)
    assert stderr.splitlines().count(NOTE) == 1
    (step,) = json.loads(cli("chain", target, "--json").stdout)
    assert step["input_paths"] == ["data/x.csv", "clean.py"]
    recorded_output = (work / "clean.csv").read_bytes()
    assert recorded_output == b"1,a\n2,b\n"

    (work / "clean.py").write_text(EDITED)
    proc = cli("rerun-artifact", target, "--out", tmp_path / "m")
    assert proc.returncode == 0, proc.stderr
    drift_lines = [line for line in proc.stderr.splitlines() if "source drift" in line]
    assert len(drift_lines) == 1 and str(work / "clean.py") in drift_lines[0]
    m = manifest(tmp_path / "m")
    (entry,) = m["steps"]
    assert m["status"] == "reproduced" and entry["outcome"] == "reproduced"
    assert entry["source_drift"] == [{"path": str(work / "clean.py"), "recorded": sha(CLEAN), "current": sha(EDITED)}]
    replayed = (tmp_path / "m" / "clean" / "clean.csv").read_bytes()  # the recorded script's bytes ran
    assert sha(replayed) == sha(recorded_output) == entry["output_hash_replayed"]


def test_a_manifest_with_source_drift_validates_against_the_packaged_schema(cli, work, tmp_path):
    import jsonschema

    from scidex_replay.replay.manifest import schema

    target, _ = record_clean(cli, work)
    (work / "clean.py").write_text(EDITED)
    assert cli("rerun-artifact", target, "--out", tmp_path / "m").returncode == 0
    m = manifest(tmp_path / "m")
    assert m["steps"][0]["source_drift"]
    jsonschema.Draft202012Validator(schema()).validate(m)
    broken = json.loads(json.dumps(m))
    broken["steps"][0]["source_drift"][0]["current"] = "not-a-hash"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema()).validate(broken)


def test_strict_aborts_a_replay_on_source_drift(cli, work, tmp_path):
    target, _ = record_clean(cli, work)
    (work / "clean.py").write_text(EDITED)
    proc = cli("rerun-artifact", target, "--strict", "--out", tmp_path / "m")
    assert proc.returncode == 3, proc.stderr
    m = manifest(tmp_path / "m")
    (entry,) = m["steps"]
    assert m["status"] == "aborted" and entry["outcome"] == "skipped"
    assert "source drift" in entry["reason"] and entry["output_hash_replayed"] is None
    assert entry["source_drift"][0]["current"] == sha(EDITED)


def test_live_replays_the_working_copy_as_a_fork_and_says_its_output_differs(cli, work, tmp_path, registry):
    target, _ = record_clean(cli, work)
    (work / "clean.py").write_text(EDITED)
    proc = cli("rerun-artifact", target, "--live", "--out", tmp_path / "live")
    assert proc.returncode == 1, proc.stderr
    m = manifest(tmp_path / "live")
    (entry,) = m["steps"]
    assert m["kind"] == "fork" and m["status"] == "differs"
    assert entry["outcome"] == "output-differs"
    assert entry["source_drift"] == [
        {"path": str(work / "clean.py"), "recorded": sha(CLEAN), "current": sha(EDITED), "live": True}
    ]
    assert m["options"]["live_inputs"] == {f"{entry['step_id']}:1": str(work / "clean.py")}
    live_input = m["options"]["inputs"][f"{entry['step_id']}:1"]
    assert registry.get_artifact(live_input).content_hash == sha(EDITED)
    replayed = (tmp_path / "live" / "clean" / "clean.csv").read_bytes()  # the edited script ran
    assert replayed == b"1,A\n2,B\n" and entry["output_hash_replayed"] == sha(replayed)
    forked = registry.get_artifact(entry["forked_artifact_id"])  # lineage: a new artifact, forked from the live one
    assert forked.metadata["forked_from"] == target and forked.metadata["fork_run"] == m["run_id"]
    assert forked.content_hash == sha(replayed)
    assert registry.get_artifact(target).content_hash == sha(b"1,a\n2,b\n")  # the live artifact is untouched


def test_live_on_an_unedited_chain_is_a_plain_replay_that_reproduces(cli, work, tmp_path):
    target, _ = record_clean(cli, work)
    proc = cli("rerun-artifact", target, "--live", "--out", tmp_path / "m")
    assert proc.returncode == 0, proc.stderr
    assert "plain replay" in proc.stderr
    m = manifest(tmp_path / "m")
    assert m["kind"] == "replay" and m["status"] == "reproduced"
    assert "source_drift" not in m["steps"][0]
    assert sha((tmp_path / "m" / "clean" / "clean.csv").read_bytes()) == m["steps"][0]["output_hash_live"]


def test_a_declared_script_is_not_recorded_twice_and_outputs_are_never_inputs(cli, work):
    (work / "clean.csv").write_text("left over from an earlier run\n")
    proc = cli("run", "-i", "clean.py", "-i", "data/x.csv", "-o", "clean.csv", "--", PY, "clean.py", "data/x.csv", "clean.csv", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "named in the command" not in proc.stderr
    (step,) = json.loads(cli("chain", proc.stdout.strip(), "--json").stdout)
    assert step["input_paths"] == ["clean.py", "data/x.csv"]


def test_only_relative_files_inside_the_folder_count_as_named():
    from scidex_replay.command import named_files

    here = Path(__file__).resolve().parent
    argv = [
        "test_source_drift.py",  # the program itself
        "conftest.py", "./conftest.py", "replay", "{in0}", str(here / "_steps.py"), "../tests/_steps.py",
        "no-such-file.csv", "-c", "env/test_capture.py", "_steps.py",
    ]
    assert named_files(argv, ["_steps.py"], here) == ["conftest.py", "env/test_capture.py"]


def test_record_step_keeps_where_a_file_input_came_from(registry, tmp_path):
    from scidex_replay.recording import record_step

    source = tmp_path / "in.txt"
    source.write_text("hello\n")
    with record_step(registry, "python.inline", method="upper", inputs=[str(source)], output="out.txt") as st:
        st.output.write_text(st.inputs[0].read_text().upper())
    (input_id,) = st.step.source_artifact_ids
    art = registry.get_artifact(input_id)
    assert art.metadata["source_path"] == str(source) and art.content_hash == sha("hello\n")
    assert registry.get_artifact(st.artifact.id).content_hash == sha("HELLO\n")


NOT_UTF8 = os.fsdecode(b"\xff.csv")


def blobs(home: Path) -> list[Path]:
    root = home / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file() and "tmp" not in p.relative_to(root).parts) if root.exists() else []


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["run", "-i", NOT_UTF8, "-o", "out.txt", "--", PY, "clean.py", "{in0}"], id="run -i"),
        pytest.param(["run", "-i", "data/x.csv", "-o", NOT_UTF8, "--", PY, "clean.py", "data/x.csv"], id="run -o"),
        pytest.param(["add", NOT_UTF8], id="add"),
        pytest.param(["run", "-i", "data/x.csv", "-o", "clean.csv", "--", PY, "clean.py", NOT_UTF8], id="named in the command"),
    ],
)
def test_a_file_name_that_is_not_utf8_is_refused_in_one_line_before_anything_is_stored(cli, work, home, args):
    (work / NOT_UTF8).write_text(DATA + "3,c\n")  # bytes the store does not hold yet
    assert cli("add", "data/x.csv", cwd=work).returncode == 0  # a store with something in it already
    before = blobs(home)
    proc = cli(*args, cwd=work)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "not valid UTF-8" in proc.stderr and "\\xff.csv" in proc.stderr
    assert blobs(home) == before and proc.stdout == ""
