"""Notebooks as steps (DESIGN.md, "Notebooks as steps"): ``run-notebook`` records a notebook
executed by papermill, ``rerun-artifact`` reproduces a chain of two, a fork with another
parameter value writes the expected different result, an edited notebook is source drift that
``--live`` runs, a failing cell is named, and bad input is refused in one line.

Each papermill execution starts a kernel (2-4 s here), so the notebooks are tiny and the tests
share what they can; they run on SQLite only: a notebook step is stored as any other step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.sqlite_only(reason="a notebook step is stored like any step; each kernel start costs seconds")

PREPARE = {
    "parameters": 'n = 3\nout_name = "prepared.csv"',
    "cells": [
        'rows = [(i, i * i) for i in range(n)]\n'
        'with open(out_name, "w") as f:\n'
        '    f.write("i,sq\\n" + "".join(f"{a},{b}\\n" for a, b in rows))\n'
        'print(len(rows), "rows")',
    ],
}
MODEL = {
    "parameters": 'scale = 1',
    "cells": [
        # how a line printed in two writes is cut into stream messages depends on timing: one output all the same
        'import sys, time\nprint("scale", end="")\nsys.stdout.flush()\ntime.sleep(0.3)\nprint(f" {scale}")\nprint("x", file=sys.stderr)',
        'import random\n'
        'total = scale * sum(int(line.split(",")[1]) for line in open("prepared.csv").read().splitlines()[1:])\n'
        'open("result.txt", "w").write(f"{total}\\n")\n'
        'total, random.random()',
    ],
}


def write_notebook(path: Path, spec: dict, kernel: str = "python3") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3", "language": "python"}
    cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}")]
    if spec.get("parameters"):
        params = nbformat.v4.new_code_cell(spec["parameters"])
        params.metadata["tags"] = ["parameters"]
        cells.append(params)
    cells += [nbformat.v4.new_code_cell(source) for source in spec["cells"]]
    nb.cells = cells
    nbformat.write(nb, path)
    return path


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    write_notebook(folder / "prepare.ipynb", PREPARE)
    write_notebook(folder / "model.ipynb", MODEL)
    return folder


def ok(proc) -> list[str]:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


class Recorded:
    """The chain prepare.ipynb -p n 4 -p out_name prepared.csv → prepared.csv, then
    model.ipynb -p scale 1 reading it → result.txt, then a shell step (``run ... python report.py``)
    reading that → report.txt, recorded once for the module (each
    recording starts a kernel) in its own data home; ``cli`` runs the console script there."""

    def __init__(self, root: Path):
        self.root, self.work = root, root / "work"
        self.work.mkdir(parents=True)
        write_notebook(self.work / "prepare.ipynb", PREPARE)
        write_notebook(self.work / "model.ipynb", MODEL)
        self.env = {**os.environ, "SCIDEX_REPLAY_HOME": str(root / "home"), "SCIDEX_REPLAY_DB": f"sqlite:///{root / 'registry.db'}"}
        self.prepared, self.prepare_nb = ok(self.cli("run-notebook", "prepare.ipynb", "-p", "n", "4", "-p", "out_name",
                                                     "prepared.csv", "-o", "prepared.csv"))
        self.result, self.model_nb = ok(self.cli("run-notebook", "model.ipynb", "-p", "scale", "1", "-i",
                                                 f"{self.prepared}:prepared.csv", "-o", "result.txt"))
        (self.work / "report.py").write_text("total = open('result.txt').read().strip()\nopen('report.txt', 'w').write(f'total: {total}\\n')\n")
        (self.report,) = ok(self.cli("run", "-i", f"{self.result}:result.txt", "-o", "report.txt", "--", sys.executable, "report.py"))

    def cli(self, *args: object) -> subprocess.CompletedProcess:
        return subprocess.run([str(Path(sys.executable).parent / "scidex-replay"), *map(str, args)], capture_output=True,
                              text=True, env=self.env, cwd=self.work, stdin=subprocess.DEVNULL, timeout=120)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return Recorded(tmp_path_factory.mktemp("notebook-chain"))


def test_a_two_notebook_chain_records_and_rerun_artifact_reproduces_it(chain, tmp_path):
    work = chain.work
    assert (work / "prepared.csv").read_text() == "i,sq\n0,0\n1,1\n2,4\n3,9\n"
    assert (work / "result.txt").read_text() == "14\n"
    executed = nbformat.read(work / "model.executed.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["data"]["text/plain"].startswith("(14, ")  # the executed notebook, saved here
    assert [(o["name"], o["text"]) for o in executed.cells[-2].outputs] == [("stdout", "scale 1\n"), ("stderr", "x\n")]
    steps = json.loads(chain.cli("chain", chain.result, "--json").stdout)
    assert [(s["name"], s["step_type"]) for s in steps] == [("prepare", "notebook"), ("model", "notebook")]
    assert steps[0]["parameters"]["n"] == 4 and steps[0]["input_paths"] == ["prepare.ipynb"]
    table = chain.cli("chain", chain.result).stdout
    assert "papermill prepare.ipynb -p n 4 -p out_name prepared.csv" in table  # the chain shows the parameters

    assert (work / "report.txt").read_text() == "total: 14\n"

    proc = chain.cli("rerun-artifact", chain.report, "--out", tmp_path / "m")  # notebook, notebook, then a shell step
    assert proc.returncode == 0, proc.stderr + proc.stdout
    m = manifest(tmp_path / "m")
    assert m["status"] == "reproduced"
    # every output byte for byte, the executed notebooks included (their timings and ids are not kept)
    assert [(o["name"], o["outcome"]) for s in m["steps"] for o in s["outputs"]] == [
        ("prepared.csv", "reproduced"), ("prepare.executed.ipynb", "reproduced"),
        ("result.txt", "reproduced"), ("model.executed.ipynb", "reproduced"), ("report.txt", "reproduced"),
    ]


def test_the_widget_plans_a_notebook_step_showing_its_parameters(chain):
    from scidex_replay.registry import Registry
    from scidex_replay.replay import plan_replay
    from scidex_replay.replay.options import ReplayOptions
    from scidex_replay.surfaces.widget import plan_rows

    with Registry.open(chain.env["SCIDEX_REPLAY_DB"], home=chain.env["SCIDEX_REPLAY_HOME"]) as reg:
        rows = plan_rows(plan_replay(reg, chain.result, ReplayOptions()))
    assert [(r["step"], r["type"], r["method"]) for r in rows] == [
        ("prepare", "notebook", "papermill prepare.ipynb -p n 4 -p out_name prepared.csv"),
        ("model", "notebook", "papermill model.ipynb -p scale 1"),
    ]


def test_a_fork_with_another_parameter_value_writes_the_expected_different_result(chain, tmp_path):
    result = chain.result
    proc = chain.cli("rerun-artifact", chain.report, "--fork", "--set", "prepare.n=6", "--set", "model.scale=10", "--out", tmp_path / "f")
    assert proc.returncode == 0, proc.stderr
    m = manifest(tmp_path / "f")
    assert m["kind"] == "fork" and [s["outcome"] for s in m["steps"]] == ["forked", "forked", "forked"]
    assert (tmp_path / "f" / "report" / "report.txt").read_text() == "total: 550\n"
    assert (tmp_path / "f" / "prepare" / "prepared.csv").read_text().splitlines()[-1] == "5,25"
    assert (tmp_path / "f" / "model" / "result.txt").read_text() == "550\n"  # 10 * (0 + 1 + 4 + 9 + 16 + 25)
    executed = nbformat.read(tmp_path / "f" / "prepare" / "prepare.executed.ipynb", as_version=4)
    assert executed.metadata.papermill.parameters == {"n": 6, "out_name": "prepared.csv"}
    assert (chain.work / "result.txt").read_text() == "14\n"  # the recorded one is untouched

    bad = chain.cli("rerun-artifact", result, "--fork", "--set", "prepare.n=\"six\"", "--out", tmp_path / "bad")
    assert bad.returncode == 1
    (step, _) = manifest(tmp_path / "bad")["steps"]
    assert step["outcome"] == "failed"
    assert "cell 3 of prepare.ipynb, line 1: rows = [(i, i * i) for i in range(n)]: TypeError" in step["reason"]

    unknown = chain.cli("rerun-artifact", result, "--fork", "--set", "prepare.m=3")
    assert unknown.returncode == 2 and "the step has no parameter 'm'" in unknown.stderr


def test_an_edited_notebook_is_source_drift_and_live_runs_it(work, tmp_path, registry, monkeypatch):
    from scidex_replay import rerun_artifact, run_notebook
    from scidex_replay.replay.options import ReplayOptions

    monkeypatch.chdir(work)
    recorded = run_notebook("prepare.ipynb", {"n": 2}, outputs=["prepared.csv"], registry=registry)  # the Python API
    csv = recorded.artifacts[0]
    assert [a.name for a in recorded.artifacts] == ["prepared.csv", "prepare.executed.ipynb"]
    assert (work / "prepared.csv").read_text() == "i,sq\n0,0\n1,1\n"
    write_notebook(work / "prepare.ipynb", {**PREPARE, "cells": [PREPARE["cells"][0].replace("i * i", "i * i * i")]})

    strict = rerun_artifact(csv.id, ReplayOptions(strict=True, out=tmp_path / "m"), registry=registry)  # runs no kernel
    (step,) = strict.manifest["steps"]
    assert strict.manifest["status"] == "aborted" and "source drift" in step["reason"]
    assert [d["path"] for d in step["source_drift"]] == [str(work / "prepare.ipynb")]

    live = rerun_artifact(csv.id, ReplayOptions(live=True, out=tmp_path / "live"), registry=registry)
    (step,) = live.manifest["steps"]
    assert live.manifest["kind"] == "fork" and step["outcome"] == "output-differs"
    assert step["source_drift"][0]["live"] is True
    assert (tmp_path / "live" / "prepare" / "prepared.csv").read_text() == "i,sq\n0,0\n1,1\n"  # 0, 1 cubed: the same
    notebook_out = step["outputs"][1]  # the executed notebook holds the edited code
    assert notebook_out["comparison"]["comparator"] == "ipynb"
    assert "cell 3 source" in notebook_out["comparison"]["summary"]


def test_a_cell_that_raises_fails_the_step_naming_the_cell_and_its_line(cli, work):
    write_notebook(work / "broken.ipynb", {"parameters": "d = 0", "cells": ["x = 1", "y = 2\nz = y / d\nprint(z)"]})
    proc = cli("run-notebook", "broken.ipynb", "-o", "z.txt", cwd=work)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "scidex-replay: error: cell 4 of broken.ipynb, line 2: z = y / d: ZeroDivisionError: division by zero"
    ]
    assert not (work / "broken.executed.ipynb").exists()
    assert "notebook" not in cli("step-types").stdout  # nothing was recorded


def test_a_notebook_written_by_a_program_without_kernel_metadata_takes_the_kernel_s_language(cli, work):
    """nbformat.v4.new_notebook() says no kernelspec and no language; papermill alone refuses it."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("n = 3")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("open('n.txt', 'w').write(str(n * n))")]
    nbformat.write(nb, work / "bare.ipynb")
    (artifact, _) = ok(cli("run-notebook", "bare.ipynb", "-p", "n", "5", "-o", "n.txt", cwd=work))
    assert (work / "n.txt").read_text() == "25"
    replayed = cli("rerun-artifact", artifact, "--json")
    assert json.loads(replayed.stdout)["status"] == "reproduced", replayed.stderr


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"plain.ipynb": "no-params"}, ["plain.ipynb", "-p", "n", "3"],
         "plain.ipynb has no cell tagged 'parameters', so -p n would be injected at the top (papermill only warns): "
         "tag the cell that sets the defaults 'parameters'"),
        ({"other.ipynb": "no-kernel"}, ["other.ipynb"],
         "kernel 'no-such-kernel' is not installed here (`jupyter kernelspec list` shows those that are); "
         "install it, or give another with --kernel"),
        ({"notes.ipynb": "hello\n"}, ["notes.ipynb"], "notes.ipynb is not a Jupyter notebook: Expecting value: line 1 column 1 (char 0)"),
        ({"data.ipynb": '{"a": 1}'}, ["data.ipynb"], "data.ipynb is not a Jupyter notebook (nbformat 4): no cells list or no nbformat 4 in it"),
        ({}, ["model.ipynb", "-p", "env", "1"], "-p env: that name holds the step's own settings (notebook, executed, kernel, env, tolerance); rename the parameter"),
        ({}, ["gone.ipynb"], "notebook not found: gone.ipynb"),
        ({}, ["model.ipynb", "--timeout", "soon"], "--timeout 'soon': expected a number of seconds above 0, such as 600"),
    ],
    ids=["no-parameters-cell", "missing-kernel", "not-json", "not-a-notebook", "reserved-name", "missing", "bad-timeout"],
)
def test_bad_input_is_refused_in_one_line_before_any_kernel_starts(cli, work, files, args, message):
    for name, content in files.items():
        if content == "no-params":
            write_notebook(work / name, {"cells": ["x = 1"]})
        elif content == "no-kernel":
            write_notebook(work / name, {"cells": ["x = 1"]}, kernel="no-such-kernel")
        else:
            (work / name).write_text(content)
    proc = cli("run-notebook", *args, cwd=work)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"scidex-replay: error: {message}"]


def test_a_notebook_over_its_timeout_is_stopped_and_nothing_is_recorded(cli, work):
    write_notebook(work / "slow.ipynb", {"cells": ["import time\ntime.sleep(120)"]})
    proc = cli("run-notebook", "slow.ipynb", "--timeout", "4", cwd=work, timeout=90)
    assert proc.returncode == 1, proc.stderr
    assert "timed out after 4 s" in proc.stderr.splitlines()[-1]
    assert "notebook" not in cli("step-types").stdout


def test_the_run_notebook_magic_records_a_step_with_the_same_options(work, home, monkeypatch):
    from IPython.core.error import UsageError
    from IPython.testing.globalipapp import get_ipython

    monkeypatch.chdir(work)
    ip = get_ipython()
    ip.run_line_magic("load_ext", "scidex_replay")
    try:
        recorded = ip.run_line_magic("run_notebook", "prepare.ipynb -p n 3 -o prepared.csv --step prep --as rec")
        assert recorded.step.name == "prep" and ip.user_ns.pop("rec") is recorded
        assert recorded.step.parameters["n"] == 3
        assert (work / "prepared.csv").read_text() == "i,sq\n0,0\n1,1\n2,4\n"
        with pytest.raises(UsageError, match="^prepared.csv is not a Jupyter notebook"):
            ip.run_line_magic("run_notebook", "prepared.csv")
        write_notebook(work / "plain.ipynb", {"cells": ["x = 1"]})
        with pytest.raises(UsageError, match="^plain.ipynb has no cell tagged 'parameters'"):
            ip.run_line_magic("run_notebook", "plain.ipynb -p n 3")
    finally:
        ip.run_line_magic("unload_ext", "scidex_replay")


def test_a_kernel_whose_interpreter_lacks_papermill_fails_saying_so(cli, work, tmp_path, monkeypatch):
    import venv

    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)  # a Python with nothing installed, as a kernel of another project may be
    spec = tmp_path / "jupyter" / "kernels" / "bare"
    spec.mkdir(parents=True)
    argv = [str(bare / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "bare", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    proc = cli("run-notebook", "model.ipynb", "--kernel", "bare", "-o", "result.txt", cwd=work)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"scidex-replay: error: nbformat is not installed in the kernel's environment ({bare / 'bin' / 'python'}): "
        "pip install papermill there"
    ]
