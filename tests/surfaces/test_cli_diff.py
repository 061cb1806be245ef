"""``rerun-artifact --diff`` prints what differs in each differing output, bounded, and points to
the whole diff that ``--out`` wrote; ``runs`` and the run table read ``equivalent`` as such."""

from __future__ import annotations

import json
import re
import sys

import pytest
from _differs import NOISY_JSON, NOISY_PNG, equivalent_comparison, image_comparison, record

from scidex_replay.replay import rerun_artifact
from scidex_replay.replay.options import ReplayOptions
from scidex_replay.surfaces.cli import DIFF_SHOWN_LINES, main

CLOCK = (
    "import time\n"
    "with open('report.txt', 'w') as f:\n"
    "    for i in range(60):\n"
    "        f.write(f'row {i} value {i * 0.5}\\n')\n"
    "        if i % 10 == 3:\n"
    "            f.write(f'at [bold]{time.time_ns()}[/bold]\\n')\n"
)


def blocks(stdout: str) -> list[list[str]]:
    """``--diff``'s blocks (one per output: blank line, then its lines), after the table."""
    return [b.splitlines() for b in stdout.split("\n\n")[1:] if b.strip()]


def test_diff_prints_the_comparison_a_bounded_diff_and_the_whole_diff_file(cli, home, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "clock.py").write_text(CLOCK)
    ran = cli("run", "--step", "clock", "-o", "report.txt", "--", sys.executable, "clock.py", cwd=work)
    assert ran.returncode == 0, ran.stderr
    out = tmp_path / "out"

    proc = cli("rerun-artifact", ran.stdout.strip(), "--diff", "--out", out)

    assert proc.returncode == 1, proc.stderr
    (block,) = [b for b in blocks(proc.stdout) if b[0].startswith("clock (")]
    assert block[0].endswith("report.txt: output-differs (text)")
    assert block[1].startswith("  content differs: numbers beyond the tolerance on 6 line(s) (max abs ")  # clock readings:
    assert block[1].endswith("), first at line 5")  # integers, exact although a relative 1e-10 apart
    assert re.match(r"  content     line 5: \d+ → \d+ \(abs ", block[2])  # the two clock readings
    assert "  --- live/report.txt" in block and any(line.startswith("  -at [bold]") for line in block)
    assert any(line.startswith("  +at [bold]") for line in block)
    assert len(block) <= DIFF_SHOWN_LINES and "  …" in block  # the diff is longer than what is shown
    diff_file = out / "clock" / "report.txt.diff"
    assert block[-1] == f"full diff: {diff_file}"
    whole = diff_file.read_text()
    assert whole.startswith("--- live/report.txt") and whole.count("\n@@ ") + whole.startswith("@@") == 6
    assert "@@ -57," in whole and not any("@@ -57," in line for line in block)  # the last hunk: only in the file
    assert (out / "clock" / "report.txt").is_file()


def test_diff_without_out_says_how_to_get_the_whole_diff(cli, home, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "clock.py").write_text(CLOCK)
    artifact = cli("run", "-o", "report.txt", "--", sys.executable, "clock.py", cwd=work).stdout.strip()
    proc = cli("rerun-artifact", artifact, "--diff")
    assert proc.returncode == 1, proc.stderr
    assert "full diff: replay with --out DIR to have it in DIR/STEP/NAME.diff" in proc.stdout


def test_json_carries_the_comparison_and_the_diff_blob(cli, home, tmp_path, registry):
    work = tmp_path / "work"
    work.mkdir()
    (work / "clock.py").write_text(CLOCK)
    artifact = cli("run", "-o", "report.txt", "--", sys.executable, "clock.py", cwd=work).stdout.strip()
    proc = cli("rerun-artifact", artifact, "--diff", "--json")
    (step,) = json.loads(proc.stdout)["steps"]
    (output,) = step["outputs"]
    c = output["comparison"]
    assert c["comparator"] == "text" and c["equivalent"] is False and [d["kind"] for d in c["differences"]] == ["content"] * 6
    assert registry.store.path(c["metrics"]["diff_blob"]).read_text().startswith("--- live/report.txt")


def test_out_receives_the_diff_picture_of_an_image_output(registry, tmp_path, monkeypatch):
    monkeypatch.setattr("scidex_replay.replay.runner.compare_files", image_comparison)
    artifact = record(registry, NOISY_PNG, "plot.png")
    out = tmp_path / "out"

    report = rerun_artifact(artifact, ReplayOptions(out=out), registry=registry)

    (step,) = report.manifest["steps"]
    metrics = step["outputs"][0]["comparison"]["metrics"]
    folder = out / (step["step_name"] or step["step_id"])
    assert (folder / "plot.png.diff.png").read_bytes() == registry.store.path(metrics["diff_image_blob"]).read_bytes()
    assert (folder / "plot.png.diff.png").read_bytes().startswith(b"\x89PNG")
    assert (folder / "plot.png.diff").read_text().startswith("pixel (3, 5): ")


@pytest.fixture
def equivalent_run(registry, monkeypatch):
    monkeypatch.setattr("scidex_replay.replay.runner.compare_files", equivalent_comparison)
    artifact = record(registry, NOISY_JSON, "result.json")
    return rerun_artifact(artifact, ReplayOptions(diff=True), registry=registry)


def test_an_equivalent_step_reads_as_equivalent_with_its_kinds(equivalent_run, capsys):
    assert equivalent_run.manifest["steps"][0]["outcome"] == "equivalent"
    assert main(["runs", "show", equivalent_run.run_id]) == 0
    table = capsys.readouterr().out
    assert "\tequivalent\t" in table and "1 equivalent" in table

    from scidex_replay.surfaces.cli import _print_comparisons, _registry

    _print_comparisons(_registry(None), equivalent_run.manifest, None)
    (block,) = blocks("\n" + capsys.readouterr().out)
    assert block[0].endswith("result.json: equivalent (json)")
    assert block[1:4] == [
        "  equivalent: only $.id (a random id) and $.created differ",
        "  volatile-id $.id: <b>uuid4</b> [red]a1[/red] → b2",
        "  metadata    $.created: 12:00 → 12:01",
    ]
    assert block[4:6] == ["  -line 0", "  +line 0'"] and len(block) == DIFF_SHOWN_LINES


def test_runs_counts_equivalent_steps(equivalent_run, capsys):
    assert main(["runs"]) == 0
    line = " ".join(capsys.readouterr().out.split())  # unwrapped
    assert "1 equivalent" in line and "differ" not in line, line  # the words of the replay's summary
    assert main(["runs", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["equivalent"] == 1 and row["differs"] == 0


def test_diff_lists_at_most_a_few_differences_and_says_when_nothing_compared(registry, capsys):
    from _manifests import v2_manifest

    from scidex_replay.outcomes import Outcome, Status
    from scidex_replay.surfaces.cli import DIFF_SHOWN_DIFFERENCES, _print_comparisons

    manifest = v2_manifest(Status.DIFFERS, Outcome.OUTPUT_DIFFERS, Outcome.REPRODUCED, Outcome.OUTPUT_DIFFERS)
    diff = registry.store.put_bytes("".join(f"@@ -{i} +{i} @@\n-a\n+b\n" for i in range(500)).encode())[0]
    manifest["steps"][0]["outputs"][0]["comparison"] = {
        "comparator": "csv", "equivalent": False, "summary": "content differs: 20 cells",
        "differences": [{"where": f"column 'x' row {i}", "kind": "content", "detail": f"{i} → {i + 1}"} for i in range(20)],
        "metrics": {"diff_blob": diff},
    }
    _print_comparisons(registry, manifest, None)
    first, third = blocks("\n" + capsys.readouterr().out)
    assert first[0] == "step1 (s_00000001): out1.txt: output-differs (csv)"
    listed = [line for line in first if line.startswith("  content     column 'x' row ")]
    assert len(listed) == DIFF_SHOWN_DIFFERENCES and f"  … {20 - DIFF_SHOWN_DIFFERENCES} more difference(s) (--json lists them)" in first
    assert len(first) == DIFF_SHOWN_LINES and first[-2] == "  …"
    assert third == ["step3 (s_00000003): out3.txt: output-differs", "  no comparison: the recorded bytes are not in the store"]


def test_runs_says_equivalent_only_for_a_run_that_has_some(registry, capsys):
    rerun_artifact(record(registry, "import sys; open(sys.argv[-1], 'w').write('same')", "same.txt"), registry=registry)
    assert main(["runs"]) == 0
    line = " ".join(capsys.readouterr().out.split())
    assert "1 reproduced" in line and "equivalent" not in line, line
