"""Recording real analyses as they are written (`scidex-replay run`): scripts that open their files
by name in subfolders, several outputs, printed results, step names, and the environment of the
interpreter the command runs. Every case goes through the installed console script."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

PY = sys.executable

#: A paper-style analysis, unedited: fixed input names in a subfolder, three figures in another,
#: a fitted exponent printed to stdout.
ANALYSIS = '''\
import csv, math
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

rows = [(float(x), float(y)) for x, y in list(csv.reader(open("data/points.csv")))[1:]]
lx = [math.log(x) for x, _ in rows]; ly = [math.log(y) for _, y in rows]
n = len(rows); mx = sum(lx) / n; my = sum(ly) / n
slope = sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)
for i, style in enumerate(["o", "s-", "^--"]):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([x for x, _ in rows], [y for _, y in rows], style)
    fig.savefig(f"figures/fig{i + 1}.png")
print(f"exponent {slope:.4f}")
'''


def ids_of(proc: subprocess.CompletedProcess) -> list[str]:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    work = tmp_path / "paper"
    (work / "data").mkdir(parents=True)
    (work / "figures").mkdir()
    (work / "data" / "points.csv").write_text("x,y\n1,2.1\n2,7.9\n3,18.2\n4,31.8\n")
    (work / "fit.py").write_text(ANALYSIS)
    (tmp_path / "outside.csv").write_text("x,y\n")
    return work


def record_paper(cli, paper: Path) -> list[str]:
    return ids_of(cli(
        "run", "-i", "fit.py", "-i", "data/points.csv",
        "-o", "figures/fig1.png", "-o", "figures/fig2.png", "-o", "figures/fig3.png", "--stdout", "exponent.txt",
        "--", PY, "fit.py", cwd=paper,
    ))


def test_an_unedited_script_with_three_figures_and_a_printed_result_records_and_reproduces(cli, paper, tmp_path):
    figures = record_paper(cli, paper)
    assert len(figures) == 4
    printed = cli("cat", figures[3]).stdout
    assert printed.startswith("exponent 1.9") and (paper / "exponent.txt").read_text() == printed
    for i, art in enumerate(figures[:3]):  # each saved in the caller's folder, as the script named it
        assert cli("cat", art, text=False).stdout == (paper / "figures" / f"fig{i + 1}.png").read_bytes()

    for art in figures:  # replaying any output replays the step once and compares every output
        out = tmp_path / f"m-{art}"
        proc = cli("rerun-artifact", art, "--out", out)
        assert proc.returncode == 0, proc.stderr
        (step,) = manifest(out)["steps"]
        assert step["step_name"] == "fit" and step["outcome"] == "reproduced"
        assert [o["name"] for o in step["outputs"]] == [
            "figures/fig1.png", "figures/fig2.png", "figures/fig3.png", "exponent.txt"
        ]
        assert all(o["hash_replayed"] == o["hash_live"] for o in step["outputs"])
        replayed = out / "fit" / "figures" / "fig2.png"  # --out holds the replayed outputs, by step and path
        assert hashlib.sha256(replayed.read_bytes()).hexdigest() == step["outputs"][1]["hash_live"]


def test_step_names_work_wherever_a_step_id_does(cli, paper, tmp_path):
    figures = record_paper(cli, paper)
    (paper / "report.py").write_text("print(open('exponent.txt').read().upper(), end='')\n")
    report = ids_of(cli("run", "-i", "report.py", "-i", figures[3], "--stdout", "report.txt", "--", PY, "report.py", cwd=paper))
    chain = json.loads(cli("chain", report[0], "--json").stdout)
    assert [s["name"] for s in chain] == ["fit", "report"]

    proc = cli("rerun-artifact", report[0], "--from", "report", "--out", tmp_path / "from")
    assert proc.returncode == 0, proc.stderr
    steps = manifest(tmp_path / "from")["steps"]
    assert [(s["step_name"], s["outcome"]) for s in steps] == [("fit", "frozen"), ("report", "reproduced")]

    argv = [PY, "report.py", "--unused-flag"]
    proc = cli("rerun-artifact", report[0], "--fork", "--set", f"report.argv={json.dumps(argv)}", "--out", tmp_path / "fork")
    assert proc.returncode == 0, proc.stderr
    forked = manifest(tmp_path / "fork")["steps"][-1]
    assert forked["step_name"] == "report" and forked["outcome"] == "forked"

    proc = cli("rerun-artifact", report[0], "--from", "nosuchstep")
    assert proc.returncode == 2 and "nosuchstep" in proc.stderr and "Traceback" not in proc.stderr


def test_a_fork_swapping_an_input_for_a_file_of_another_name_still_runs(cli, paper, tmp_path):
    figures = record_paper(cli, paper)
    other = tmp_path / "elsewhere" / "new-points-2026.csv"
    other.parent.mkdir()
    other.write_text("x,y\n1,3\n2,12\n3,27\n4,48\n")
    proc = cli("rerun-artifact", figures[3], "--fork", "--input", f"fit:1={other}", "--out", tmp_path / "fork")
    assert proc.returncode == 0, proc.stderr
    (step,) = manifest(tmp_path / "fork")["steps"]
    assert step["outcome"] == "forked"
    new_exponent = step["forked_artifact_id"]
    assert new_exponent  # the new bytes were staged where the script reads data/points.csv
    assert (tmp_path / "fork" / "fit" / "exponent.txt").read_text().startswith("exponent 2.0")


def test_inputs_given_by_id_are_staged_under_their_name_or_at_a_path(cli, paper, tmp_path):
    data_id = ids_of(cli("add", paper / "data" / "points.csv"))[0]
    (paper / "count.py").write_text("print(len(open('in/table.csv').readlines()), len(open('points.csv').readlines()))\n")
    out = ids_of(cli("run", "-i", "count.py", "-i", f"{data_id}:in/table.csv", "-i", data_id,
                     "--stdout", "n.txt", "--", PY, "count.py", cwd=paper))
    assert cli("cat", out[0]).stdout == "5 5\n"
    assert cli("rerun-artifact", out[0], "--out", tmp_path / "m").returncode == 0


def test_placeholders_keep_working_with_several_outputs(cli, paper, tmp_path):
    prog = "import sys; open(sys.argv[2], 'w').write('a'); open(sys.argv[3], 'w').write(open(sys.argv[1]).read())"
    out = ids_of(cli("run", "-i", "data/points.csv", "-o", "a.txt", "-o", "b.txt", "--", PY, "-c", prog,
                     "{in0}", "{out0}", "{out1}", cwd=paper))
    assert len(out) == 2 and cli("cat", out[1]).stdout == (paper / "data" / "points.csv").read_text()
    assert cli("rerun-artifact", out[1], "--out", tmp_path / "m").returncode == 0


def test_a_failed_step_shows_the_users_own_line(cli, paper):
    (paper / "broken.py").write_text("import csv\n\nrows = list(csv.reader(open('data/missing.csv')))\n")
    proc = cli("run", "-i", "broken.py", "-o", "x.txt", "--", PY, "broken.py", cwd=paper)
    assert proc.returncode == 1
    assert "FileNotFoundError" in proc.stderr and "broken.py:3" in proc.stderr
    assert "rows = list(csv.reader(open('data/missing.csv')))" in proc.stderr


def state(paper: Path, home: Path) -> dict:
    files = {str(p.relative_to(paper)): p.read_bytes() for p in paper.rglob("*") if p.is_file()}
    return {"files": files, "blobs": sorted(str(p) for p in (home / "blobs").rglob("*") if p.is_file())}


@pytest.mark.parametrize(
    "args, message",
    [
        (["-i", "fit.py", "-o", "x.txt", "-o", "./x.txt", "--", PY, "fit.py"], "two outputs at x.txt"),
        (["-i", "fit.py", "-o", "../x.txt", "--", PY, "fit.py"], "outside the folder"),
        (["-i", "fit.py", "-o", "/tmp/elsewhere-x.txt", "--", PY, "fit.py"], "outside the folder"),
        (["-i", "../outside.csv", "-o", "x.txt", "--", PY, "fit.py"], "outside the folder"),
        (["-i", "data/points.csv", "-i", "./data/points.csv", "-o", "x.txt", "--", PY, "fit.py"], "two inputs at data/points.csv"),
        (["-i", "fit.py", "-o", "x.txt", "--stdout", "x.txt", "--", PY, "fit.py"], "two outputs at x.txt"),
        (["-i", "fit.py", "-o", "x.txt", "--step", "bad name!", "--", PY, "fit.py"], "step name"),
        (["-i", "fit.py", "--", PY, "fit.py"], "-o PATH"),
    ],
    ids=["same-output-twice", "output-escapes", "output-absolute-outside", "input-escapes", "same-input-twice",
         "stdout-is-an-output", "bad-step-name", "no-output"],
)
def test_bad_recordings_exit_2_with_one_line_and_record_nothing(cli, paper, home, args, message):
    before = state(paper, home)
    proc = cli("run", *args, cwd=paper)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert state(paper, home) == before and proc.stdout == ""


def test_a_step_name_already_in_the_chain_is_refused(cli, paper, home):
    first = ids_of(cli("run", "-i", "data/points.csv", "--stdout", "a.txt", "--step", "count", "--", "wc", "-l", "data/points.csv", cwd=paper))
    proc = cli("run", "-i", first[0], "--stdout", "b.txt", "--step", "count", "--", "cat", "a.txt", cwd=paper)
    assert proc.returncode == 2 and "already in this chain" in proc.stderr
    derived = ids_of(cli("run", "-i", first[0], "--stdout", "b.txt", "--", "cat", "a.txt", cwd=paper))
    assert [s["name"] for s in json.loads(cli("chain", derived[0], "--json").stdout)] == ["count", "cat"]


def test_a_step_run_in_its_own_venv_records_that_venv_and_a_change_in_it_is_caught(cli, paper, tmp_path, registry):
    from env.test_command import make_venv

    python = make_venv(tmp_path / "analysis-venv", "tabulate==0.8.10")
    (paper / "table.py").write_text("import tabulate\nprint(tabulate.__version__, tabulate.tabulate([[1, 2]]))\n")
    out = ids_of(cli("run", "-i", "table.py", "--stdout", "table.txt", "--", python, "table.py", cwd=paper))
    (step,) = json.loads(cli("chain", out[0], "--json").stdout)
    lock = registry.get_environment(step["env_hash"]).requirements_lock
    assert "tabulate==0.8.10" in lock.splitlines()  # the analysis venv's packages, not the tool's
    assert cli("rerun-artifact", out[0], "--out", tmp_path / "same").returncode == 0

    from env.test_command import _uv_run

    _uv_run("pip", "install", "--quiet", "--python", str(python), "tabulate==0.9.0")
    proc = cli("rerun-artifact", out[0], "--no-pin", "--out", tmp_path / "live", timeout=300)
    assert proc.returncode == 1  # run as the venv is now: the version change shows, and is named
    (live,) = manifest(tmp_path / "live")["steps"]
    assert live["outcome"] == "output-differs" and "env-differs" in live["reason"] and str(python) in live["reason"]
    assert ": tabulate 0.8.10 → 0.9.0)" in live["reason"]  # the package that changed, from the two locks

    proc = cli("rerun-artifact", out[0], "--out", tmp_path / "pinned", timeout=300)
    assert proc.returncode == 0, proc.stderr  # a venv pinned to the recorded lock reproduces it
    (pinned,) = manifest(tmp_path / "pinned")["steps"]
    assert pinned["outcome"] == "reproduced" and "pinned env" in pinned["reason"] and str(python) in pinned["reason"]


def test_prov_export_says_every_output_was_generated_by_the_step(cli, paper, tmp_path):
    figures = record_paper(cli, paper)
    assert cli("rerun-artifact", figures[0], "--out", tmp_path / "m").returncode == 0
    run_id = manifest(tmp_path / "m")["run_id"]
    proc = cli("export", figures[0], "--prov", "--run", run_id)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    generated = {g["prov:entity"] for g in doc["wasGeneratedBy"].values()}
    assert {f"scidex:{a}" for a in figures} <= generated
    bundle = doc["bundle"][f"scidex:{run_id}"]
    assert {f"scidex:{run_id}/{a}" for a in figures} <= set(bundle["entity"])
    assert {a["prov:alternate2"] for a in bundle["alternateOf"].values()} == {f"scidex:{a}" for a in figures}


@pytest.mark.parametrize("executor", ["subprocess", "dask"])
def test_several_outputs_replay_on_every_executor(cli, paper, tmp_path, executor):
    figures = record_paper(cli, paper)
    proc = cli("rerun-artifact", figures[1], "--executor", executor, "--out", tmp_path / "m", timeout=180)
    assert proc.returncode == 0, proc.stderr
    (step,) = manifest(tmp_path / "m")["steps"]
    assert [o["outcome"] for o in step["outputs"]] == ["reproduced"] * 4


def test_reuse_and_restart_carry_every_output_of_a_step(cli, paper, tmp_path):
    figures = record_paper(cli, paper)
    (paper / "report.py").write_text("print(open('exponent.txt').read().upper(), end='')\n")
    report = ids_of(cli("run", "-i", "report.py", "-i", figures[3], "--stdout", "report.txt", "--", PY, "report.py", cwd=paper))
    assert cli("rerun-artifact", report[0], "--out", tmp_path / "first").returncode == 0

    argv = json.dumps([PY, "report.py", "--again"])
    proc = cli("rerun-artifact", report[0], "--fork", "--set", f"report.argv={argv}", "--out", tmp_path / "fork")
    assert proc.returncode == 0, proc.stderr
    fit, rep = manifest(tmp_path / "fork")["steps"]
    assert fit["outcome"] == "reused" and fit["reused_from_run"] == manifest(tmp_path / "first")["run_id"]
    assert [o["hash_replayed"] for o in fit["outputs"]] == [o["hash_live"] for o in fit["outputs"]]
    assert rep["outcome"] == "forked"

    restart = cli("rerun-artifact", report[0], "--restart", manifest(tmp_path / "first")["run_id"], "--out", tmp_path / "restart")
    assert restart.returncode == 0, restart.stderr
    assert [s["outcome"] for s in manifest(tmp_path / "restart")["steps"]] == ["reused", "reused"]


def test_a_step_sees_only_the_variables_it_declared_and_they_are_recorded(cli, paper, tmp_path, monkeypatch):
    (paper / "env.py").write_text(
        "import os\nprint(os.environ.get('NORMALIZE'), os.environ.get('LEAKED'), os.environ.get('FROM_HERE'), os.environ['HOME'] == os.getcwd())\n"
    )
    monkeypatch.setenv("LEAKED", "yes")
    monkeypatch.setenv("FROM_HERE", "here")
    out = ids_of(cli("run", "-i", "env.py", "--env", "NORMALIZE=z-score", "--env", "FROM_HERE", "--stdout", "e.txt",
                     "--", PY, "env.py", cwd=paper))
    assert cli("cat", out[0]).stdout == "z-score None here True\n"
    (step,) = json.loads(cli("chain", out[0], "--json").stdout)
    assert step["parameters"]["env"] == {"NORMALIZE": "z-score", "FROM_HERE": "here"}
    monkeypatch.setenv("COLUMNS", "300")  # one line per row
    assert f"NORMALIZE=z-score FROM_HERE=here {PY} env.py > e.txt" in cli("chain", out[0]).stdout
    monkeypatch.setenv("FROM_HERE", "changed")  # replay uses the recorded value, not this shell's
    assert cli("rerun-artifact", out[0], "--out", tmp_path / "m").returncode == 0
    proc = cli("rerun-artifact", out[0], "--fork", "--set", 'env.env={"NORMALIZE": "minmax"}', "--out", tmp_path / "f")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "f" / "env" / "e.txt").read_text() == "minmax None None True\n"
    bad = cli("run", "-i", "env.py", "--env", "UNSET_SOMEWHERE_42", "--stdout", "x.txt", "--", PY, "env.py", cwd=paper)
    assert bad.returncode == 2 and "UNSET_SOMEWHERE_42" in bad.stderr


def test_a_step_that_writes_its_working_directory_reproduces_even_when_replays_overlap(cli, paper, tmp_path):
    (paper / "where.py").write_text("import os, time\ntime.sleep(0.5)\nprint(os.getcwd(), os.path.abspath('data/points.csv'))\n")
    out = ids_of(cli("run", "-i", "where.py", "-i", "data/points.csv", "--stdout", "where.txt", "--", PY, "where.py", cwd=paper))
    recorded = cli("cat", out[0]).stdout
    assert "/scidex-replay-steps/" in recorded  # the same absolute path at record time and at replay

    import os

    replays = [
        subprocess.Popen([str(Path(sys.executable).parent / "scidex-replay"), "rerun-artifact", out[0], "--out", str(tmp_path / f"m{i}")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        for i in range(3)
    ]
    for proc in replays:  # three replays of one step at once take turns in its directory
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert all(manifest(tmp_path / f"m{i}")["status"] == "reproduced" for i in range(3))


def test_a_step_naming_its_sample_after_the_input_file_reproduces_and_sees_the_original_name(cli, paper, tmp_path):
    (paper / "data" / "sample_A.csv").write_text("x\n1\n2\n")
    (paper / "label.py").write_text(
        "import os, sys\n"
        "path = sys.argv[1]\n"
        "rows = open(path).read().split()[1:]\n"
        "print(os.path.splitext(os.path.basename(path))[0], os.path.abspath(path), len(rows))\n"
    )
    (out,) = ids_of(cli("run", "-i", "data/sample_A.csv", "--stdout", "label.txt", "--step", "label",
                        "--", PY, "label.py", "data/sample_A.csv", cwd=paper))
    recorded = cli("cat", out).stdout
    assert recorded.startswith("sample_A /tmp/scidex-replay-steps/") and recorded.endswith("/data/sample_A.csv 2\n")
    assert cli("rerun-artifact", out, "--out", tmp_path / "m").returncode == 0
    assert manifest(tmp_path / "m")["status"] == "reproduced"
    # other data under another name is staged where the command looks: it still reads data/sample_A.csv
    (tmp_path / "sample_B.csv").write_text("x\n1\n2\n3\n")
    proc = cli("rerun-artifact", out, "--fork", "--input", f"label:0={tmp_path / 'sample_B.csv'}", "--out", tmp_path / "f")
    assert proc.returncode == 0, proc.stderr
    forked = (tmp_path / "f" / "label" / "label.txt").read_text()
    assert forked == recorded.replace(" 2\n", " 3\n")
