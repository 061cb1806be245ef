"""The outcome ``equivalent`` and when it is ok: the replay's acceptance logic (``--accept
equivalent``, a tolerance declared with ``--rtol/--atol`` or recorded on the step), exit codes,
the manifest and the provenance record, on a comparator of this test's own whose verdicts
are known (the real format comparators are tested in ``tests/compare``)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from scidex_replay.compare import Comparators, Comparison, Difference, Kind, MissingExtra, Tolerance
from scidex_replay.compare import registry as comparator_registry
from scidex_replay.compare.binary import BytesComparator
from scidex_replay.compare.text import TextComparator
from scidex_replay.handlers.shell import ShellHandler
from scidex_replay.provenance import export_prov
from scidex_replay.recording import run_handler
from scidex_replay.replay import manifest as manifests
from scidex_replay.replay import rerun_artifact

PY = sys.executable
COPY_EXTERNAL = "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[-1])"


class Readings:
    """``*.readings`` files: ``when: T`` lines are metadata, ``x: NUMBER`` lines numbers, the rest content."""

    name = "readings"
    extensions = (".readings",)
    priority = 0

    def sniff(self, head: bytes, name: str) -> bool:
        return False

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        if "broken" in live.read_text():
            raise ValueError("not a readings file")
        if "needs-lib" in live.read_text():
            raise MissingExtra("readingslib")
        differences = []
        for n, (a, b) in enumerate(zip(live.read_text().splitlines(), replayed.read_text().splitlines()), 1):
            if a == b:
                continue
            if a.startswith("when:"):
                differences.append(Difference(f"line {n}", Kind.METADATA, f"{a} → {b}"))
            elif a.startswith("x:") and b.startswith("x:"):
                x, y = float(a[2:]), float(b[2:])
                kind = Kind.NUMERIC if tolerance.close(x, y) else Kind.CONTENT
                differences.append(Difference(f"line {n}", kind, f"{x!r} → {y!r}"))
            else:
                differences.append(Difference(f"line {n}", Kind.CONTENT, f"{a} → {b}"))
        summary = "equivalent" if all(d.kind is not Kind.CONTENT for d in differences) else "content differs"
        return Comparison(self.name, f"{summary}: {len(differences)} line(s)", differences, {"lines": len(differences)})


@pytest.fixture(autouse=True)
def readings(monkeypatch):
    found = Comparators([BytesComparator(), TextComparator(), Readings()])
    monkeypatch.setattr(comparator_registry, "load_comparators", lambda: found)


@pytest.fixture
def measured(reg, tmp_path):
    """record(text, tolerance=None) -> (artifact id, path): a step copying the file at path,
    recorded with ``text`` in it; write the path again to make the replay differ."""
    def record(text: str, tolerance: dict | None = None, name: str = "m.readings") -> tuple[str, Path]:
        path = tmp_path / f"instrument-{name}"
        path.write_text(text)
        parameters = {"argv": [PY, "-c", COPY_EXTERNAL, str(path), "{out}"]}
        if tolerance is not None:
            parameters["tolerance"] = tolerance
        art = run_handler(reg, ShellHandler(), method="copy", parameters=parameters, inputs=[], output=name)
        return art.id, path
    return record


def _only(report) -> dict:
    (step,) = report.manifest["steps"]
    return step


def test_metadata_only_is_equivalent_and_not_ok_until_accepted(reg, measured, tmp_path):
    art, path = measured("when: 09:00\nx: 1.5\n")
    path.write_text("when: 09:05\nx: 1.5\n")

    plain = rerun_artifact(art, registry=reg, out=tmp_path / "plain")
    step = _only(plain)
    assert (step["outcome"], step["ok"], plain.exit_code, plain.status) == ("equivalent", False, 1, "differs")
    assert step["reason"] == "equivalent: 1 line(s)"  # the summary, said once
    assert step["comparison"] == {
        "comparator": "readings", "equivalent": True, "summary": "equivalent: 1 line(s)",
        "differences": [{"where": "line 1", "kind": "metadata", "detail": "when: 09:00 → when: 09:05"}],
        "metrics": {"lines": 1},
    }
    (output,) = step["outputs"]
    assert (output["outcome"], output["ok"], output["comparison"]) == ("equivalent", False, step["comparison"])

    accepted = rerun_artifact(art, registry=reg, accept=("equivalent",), out=tmp_path / "accepted")
    step = _only(accepted)
    assert (step["outcome"], step["ok"], accepted.exit_code, accepted.status) == ("equivalent", True, 0, "reproduced")
    assert step["outputs"][0]["ok"] is True and accepted.manifest["ok"] is True
    assert accepted.manifest["options"]["accept"] == ["equivalent"]
    for report in (plain, accepted):  # what was written is what validates
        assert manifests.load(report.manifest_path)["steps"][0]["outcome"] == "equivalent"


def test_numbers_within_float_noise_are_equivalent_and_a_declared_tolerance_makes_them_ok(reg, measured, tmp_path):
    art, path = measured("x: 0.4187310092\n")
    path.write_text("x: 0.4187310092000007\n")  # 1.7e-15 relative: float noise

    noise = _only(rerun_artifact(art, registry=reg, out=tmp_path / "noise"))
    assert (noise["outcome"], noise["ok"]) == ("equivalent", False)
    assert noise["comparison"]["differences"][0]["kind"] == "numeric"

    path.write_text("x: 0.41873101\n")  # 2.2e-9 relative: beyond float noise
    beyond = _only(rerun_artifact(art, registry=reg, out=tmp_path / "beyond"))
    assert (beyond["outcome"], beyond["comparison"]["differences"][0]["kind"]) == ("output-differs", "content")

    declared = rerun_artifact(art, registry=reg, rtol=1e-6, out=tmp_path / "declared")
    assert (_only(declared)["outcome"], _only(declared)["ok"], declared.exit_code) == ("equivalent", True, 0)
    assert declared.manifest["options"]["tolerance"] == {"rtol": 1e-6, "atol": 0.0}

    atol = rerun_artifact(art, registry=reg, atol=1e-12, out=tmp_path / "atol")  # rtol then 0: too tight
    assert (_only(atol)["outcome"], atol.exit_code) == ("output-differs", 1)


def test_a_tolerance_recorded_on_the_step_makes_it_ok_and_rtol_at_replay_replaces_it(reg, measured, tmp_path):
    art, path = measured("x: 100.0\n", tolerance={"rtol": 1e-3, "atol": 0.0})
    path.write_text("x: 100.05\n")

    recorded = rerun_artifact(art, registry=reg, out=tmp_path / "recorded")
    assert (_only(recorded)["outcome"], _only(recorded)["ok"], recorded.exit_code) == ("equivalent", True, 0)

    tighter = rerun_artifact(art, registry=reg, rtol=1e-6, out=tmp_path / "tighter")
    assert (_only(tighter)["outcome"], _only(tighter)["ok"], tighter.exit_code) == ("output-differs", False, 1)


def test_a_content_change_stays_output_differs_whatever_is_accepted(reg, measured, tmp_path):
    art, path = measured("when: 09:00\nlabel: control\n")
    path.write_text("when: 09:05\nlabel: treated\n")
    report = rerun_artifact(art, registry=reg, accept=("equivalent",), rtol=0.5, out=tmp_path / "m")
    step = _only(report)
    assert (step["outcome"], step["ok"], report.exit_code) == ("output-differs", False, 1)
    assert [d["kind"] for d in step["comparison"]["differences"]] == ["metadata", "content"]


def test_a_step_on_an_equivalent_input_is_compared_not_called_input_differs(reg, rec, measured, tmp_path):
    art, path = measured("when: 09:00\nx: 2.0\n")
    copied = rec.shell("import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[-1])", [art], "copy.readings")
    path.write_text("when: 09:05\nx: 2.0\n")

    report = rerun_artifact(copied, registry=reg, accept=("equivalent",), out=tmp_path / "m")
    first, second = report.manifest["steps"]
    assert first["outcome"] == second["outcome"] == "equivalent"
    assert second["reason"].endswith("(its input m.readings was equivalent, not identical)")
    assert report.exit_code == 0


def test_a_comparator_that_fails_or_misses_its_library_leaves_the_byte_diagnosis(reg, measured, tmp_path):
    art, path = measured("broken\n")
    path.write_text("broken!\n")
    step = _only(rerun_artifact(art, registry=reg, out=tmp_path / "broken"))
    assert step["outcome"] == "output-differs" and step["comparison"]["comparator"] == "bytes"
    assert "the readings comparator could not read it (ValueError: not a readings file)" in step["reason"]
    assert step["comparison"]["metrics"]["first_difference_offset"] == 6

    art, path = measured("needs-lib\n", name="n.readings")
    path.write_text("needs-lib?\n")
    step = _only(rerun_artifact(art, registry=reg, out=tmp_path / "missing"))
    assert re.search(r"needs readingslib is not installed \(pip install 'scidex-replay\[formats\]'\)", step["reason"])


def test_the_verdict_and_its_metrics_are_in_the_provenance_record(reg, measured, tmp_path):
    art, path = measured("when: 09:00\n")
    path.write_text("when: 09:05\n")
    report = rerun_artifact(art, registry=reg, out=tmp_path / "m")
    doc = export_prov(reg, art, run_id=report.run_id)
    (bundle,) = doc["bundle"].values()
    (entity,) = bundle["entity"].values()
    assert entity["scidex:outcome"] == "equivalent" and entity["scidex:comparator"] == "readings"
    assert json.loads(entity["scidex:metrics"]) == {"lines": 1}
    assert json.loads(entity["scidex:differences"])[0]["kind"] == "metadata"


@pytest.mark.parametrize("flags, message", [
    ({"accept": ("identical",)}, "--accept identical: choose one of equivalent"),
    ({"rtol": -1.0}, "--rtol must be a finite number >= 0, not -1.0"),
    ({"atol": float("nan")}, "--atol must be a finite number >= 0, not nan"),
])
def test_bad_acceptance_options_are_refused_before_anything_runs(reg, measured, tmp_path, flags, message):
    from scidex_replay.errors import BadInput

    art, _ = measured("x: 1\n")
    with pytest.raises(BadInput, match=re.escape(message)):
        rerun_artifact(art, registry=reg, out=tmp_path / "m", **flags)
    assert reg.runs() == []
