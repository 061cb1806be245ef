"""How the CLI shows a chain of named steps, through the real console script: `chain` with step
names, files and the command as it runs; `rerun-artifact --fork --dry-run` saying what changes,
old → new; `runs` and `runs show` saying what a fork changed; and `cat RUN STEP[:OUTPUT]`
printing the bytes a run replayed for a step's output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PY = sys.executable
CONSOLE_SCRIPT = Path(sys.executable).parent / "scidex-replay"

#: A script as people write it: fixed names, a subfolder, two files written, a result printed;
#: its one parameter is on the command line.
FIT = """\
import csv, sys
scale = int(sys.argv[1])
rows = list(csv.reader(open("data/x.csv")))[1:]
open("a.txt", "w").write("".join(f"{int(x) * scale}\\n" for x, _ in rows))
open("b.txt", "w").write("".join(f"{y}\\n" for _, y in rows))
print("rows", len(rows))
"""
UPPER = "import sys\nopen(sys.argv[2], 'w').write(open(sys.argv[1]).read().upper())\n"


@dataclass
class Recorded:
    work: Path
    a: str  # fit's outputs: a.txt, b.txt, out.txt (its stdout)
    b: str
    out: str
    up: str  # the second step's output, recorded with placeholders


def record(cli, tmp_path: Path) -> Recorded:
    """fit (two files and its stdout) then up, recorded through ``cli`` in ``tmp_path/work``."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "x.csv").write_text("x,y\n1,2\n3,5\n")
    (work / "fit.py").write_text(FIT)
    (work / "up.py").write_text(UPPER)
    (tmp_path / "other.csv").write_text("x,y\n7,8\n")  # where a fork is asked for (the cli's folder)
    proc = cli(
        "run", "-i", "fit.py", "-i", "data/x.csv", "-o", "a.txt", "-o", "b.txt", "--stdout", "out.txt",
        "--step", "fit", "--", PY, "fit.py", "2", cwd=work,
    )
    assert proc.returncode == 0, proc.stderr
    a, b, out = proc.stdout.split()
    proc = cli("run", "-i", "up.py", "-i", a, "-o", "up.txt", "--step", "up", "--", PY, "{in0}", "{in1}", "{out}", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return Recorded(work, a, b, out, proc.stdout.strip())


@pytest.fixture
def recorded(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Recorded:
    monkeypatch.setenv("COLUMNS", "400")  # a table row on one line, so that it can be searched
    return record(cli, tmp_path)


def step_ids(cli, artifact_id: str) -> dict[str, str]:
    return {s["name"]: s["step_id"] for s in json.loads(cli("chain", artifact_id, "--json").stdout)}


def replay(cli, artifact_id: str, *args: str) -> str:
    proc = cli("rerun-artifact", artifact_id, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["run_id"]


def fork_changes(recorded: Recorded) -> tuple[list[str], list[str]]:
    """The arguments of a fork that changes fit's parameter and its data file, and the words for them."""
    old, new = [PY, "fit.py", "2"], [PY, "fit.py", "3"]
    args = ["--fork", "--set", f"fit.argv={json.dumps(new)}", "--input", "fit:1=other.csv"]
    return args, [f"fit.argv: {json.dumps(old)} → {json.dumps(new)}", "fit:1: a_"]


# -- chain --------------------------------------------------------------------------
def test_chain_shows_step_names_their_files_and_the_command_as_it_runs(cli, recorded: Recorded):
    ids = step_ids(cli, recorded.up)
    proc = cli("chain", recorded.up)

    assert proc.returncode == 0, proc.stderr
    table = proc.stdout
    assert f"fit ({ids['fit']})" in table and f"up ({ids['up']})" in table
    assert "fit.py, data/x.csv → a.txt, b.txt, out.txt" in table
    assert "up.py, a.txt → up.txt" in table
    assert f"{PY} fit.py 2 > out.txt" in table
    assert f"{PY} up.py a.txt up.txt" in table  # the placeholders as the files they stand for
    assert "{in0}" not in table and "{out}" not in table
    fit, up = json.loads(cli("chain", recorded.up, "--json").stdout)  # the JSON keeps its keys
    assert fit["input_paths"] == ["fit.py", "data/x.csv"] and len(fit["sources"]) == 2 and up["sources"][1] == recorded.a


# -- rerun-artifact --fork --dry-run --------------------------------------------------
def test_dry_run_of_a_fork_prints_each_change_old_to_new_and_runs_nothing(cli, recorded: Recorded):
    args, words = fork_changes(recorded)
    old_data = json.loads(cli("chain", recorded.a, "--json").stdout)[0]["sources"][1]

    table = cli("rerun-artifact", recorded.up, *args, "--dry-run")
    as_json = cli("rerun-artifact", recorded.up, *args, "--dry-run", "--json")

    assert table.returncode == 0, table.stderr
    assert words[0] in table.stdout
    assert f"fit:1: {old_data} (data/x.csv) → other.csv" in table.stdout
    assert as_json.returncode == 0, as_json.stderr
    plan = json.loads(as_json.stdout)
    parameter, data = plan["changes"]
    assert (parameter["kind"], parameter["step_name"], parameter["key"]) == ("parameter", "fit", "argv")
    assert (parameter["old"], parameter["new"]) == ([PY, "fit.py", "2"], [PY, "fit.py", "3"])
    assert (data["kind"], data["step_name"], data["index"]) == ("input", "fit", 1)
    assert (data["old_artifact_id"], data["new"]) == (old_data, "other.csv")
    assert [s["step_name"] for s in plan["steps"]] == ["fit", "up"]
    assert json.loads(cli("runs", "--json").stdout) == []


def test_dry_run_names_an_artifact_given_as_the_new_input(cli, recorded: Recorded):
    proc = cli("rerun-artifact", recorded.up, "--fork", "--input", f"up:1={recorded.b}", "--dry-run")

    assert proc.returncode == 0, proc.stderr
    assert f"up:1: {recorded.a} (a.txt) → {recorded.b} (b.txt)" in proc.stdout


def test_dry_run_without_a_fork_lists_no_changes(cli, recorded: Recorded):
    proc = cli("rerun-artifact", recorded.up, "--dry-run", "--json", "--from", "up")

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["changes"] == []


# -- runs ---------------------------------------------------------------------------
def test_runs_and_runs_show_say_what_a_fork_changed_by_step_name(cli, recorded: Recorded):
    args, words = fork_changes(recorded)
    replay(cli, recorded.up, "--from", "up")
    fork = replay(cli, recorded.up, *args)
    new_data = cli("add", "other.csv").stdout.strip()  # the same bytes and name: the artifact the fork added
    changed_data = f"fit:1: {json.loads(cli('chain', recorded.a, '--json').stdout)[0]['sources'][1]} (data/x.csv) → {new_data} (other.csv)"

    tree = cli("runs").stdout
    shown = cli("runs", "show", fork)
    rows = {r["run_id"]: r for r in json.loads(cli("runs", "--json").stdout)}

    assert changed_data in tree and words[0] in tree
    assert " from up " in tree
    assert shown.returncode == 0, shown.stderr
    assert changed_data in shown.stdout and words[0] in shown.stdout
    assert "fit (s_" in shown.stdout and "up (s_" in shown.stdout
    assert [c["text"] for c in rows[fork]["changes"]] == [words[0], changed_data]
    assert all(r["changes"] == [] for run_id, r in rows.items() if run_id != fork)
    assert [c["text"] for c in json.loads(cli("runs", "show", fork, "--json").stdout)["changes"]] == [words[0], changed_data]


def test_the_runs_tree_counts_outcomes_in_the_words_of_the_replay_summary(cli, tmp_path):
    flag = tmp_path / "flag"
    flag.write_text("up")
    first = f"import os; assert os.path.exists({str(flag)!r}); open('one.txt', 'w').write('1')"
    second = "open('two.txt', 'w').write(open('one.txt').read() * 2)"
    assert cli("run", "-o", "one.txt", "--step", "first", "--", PY, "-c", first).returncode == 0
    (target,) = cli("run", "-i", "one.txt", "-o", "two.txt", "--step", "second", "--", PY, "-c", second).stdout.split()
    flag.unlink()  # the first step now fails, so the second is skipped
    replayed = cli("rerun-artifact", target)
    assert replayed.returncode == 1, replayed.stderr
    assert "1 failed, 1 skipped" in replayed.stdout

    tree = cli("runs").stdout
    assert "1 failed, 1 skipped" in tree and "executed" not in tree, tree


# -- cat RUN STEP[:OUTPUT] ----------------------------------------------------------
def test_cat_of_a_run_prints_what_it_replayed_for_each_output(cli, recorded: Recorded):
    run = replay(cli, recorded.up)
    fit = step_ids(cli, recorded.up)["fit"]

    def cat(*args: str) -> bytes:
        proc = cli("cat", *args, text=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert cat(run, "fit") == b"2\n6\n" == (recorded.work / "a.txt").read_bytes()
    assert cat(run, "fit:1") == cat(run, "fit:b.txt") == cat(run, f"{fit}:b.txt") == b"2\n5\n"
    assert cat(run, "fit:out.txt") == cat(run, f"fit:{recorded.out}") == b"rows 2\n"
    assert cat(run, "up") == b"2\n6\n"
    assert cat(recorded.b) == b"2\n5\n"  # an artifact, as before


def test_cat_of_a_fork_prints_the_forked_bytes_not_the_recorded_ones(cli, recorded: Recorded):
    args, _ = fork_changes(recorded)
    fork = replay(cli, recorded.up, *args)

    assert cli("cat", fork, "fit:a.txt").stdout == "21\n"  # 7 * 3, from other.csv staged as data/x.csv
    assert cli("cat", fork, "up").stdout == "21\n"
    assert cli("cat", recorded.a).stdout == "2\n6\n"


def test_cat_of_a_run_with_damaged_replayed_bytes_fails_with_one_line(cli, recorded: Recorded, home: Path):
    args, _ = fork_changes(recorded)
    fork = replay(cli, recorded.up, *args)
    from scidex_replay.registry import Registry

    with Registry.open() as reg:
        digest = next(r for r in reg.results(fork) if r.outputs_replayed).digests[1]  # fit's b.txt, as replayed
        blob = reg.store.path(digest)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"not what was replayed\n")

    proc = cli("cat", fork, "fit:b.txt", text=False)

    assert proc.returncode == 1 and proc.stdout == b""
    err = proc.stderr.decode()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


BAD_CATS = {  # the arguments, and what the one line says
    "unknown-run": (lambda run: ["r_00000000", "fit"], "unknown run id: r_00000000"),
    "malformed-run": (lambda run: ["r_;rm", "fit"], "malformed run id"),
    "unknown-step": (lambda run: [run, "nope"], "has no step 'nope' (its steps: fit, up)"),
    "output-index-past-the-last": (lambda run: [run, "fit:3"], "step fit has 3 output(s): no output 3"),
    "unknown-output-name": (lambda run: [run, "fit:c.txt"], "no output 'c.txt' (its outputs: a.txt, b.txt, out.txt)"),
    "a-run-without-a-step": (lambda run: [run], "is a run: say which step's output"),
    "an-unknown-run-without-a-step": (lambda run: ["r_00000000"], "unknown run id: r_00000000"),
}


@pytest.fixture(scope="module")
def bad_cats(databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, subprocess.CompletedProcess]]:
    """Every bad ``cat`` of BAD_CATS, each through the console script, on one chain recorded and
    replayed through it (per backend): ``cat`` only reads, so they share the registry and run at once."""
    root = tmp_path_factory.mktemp("bad-cats")
    url = databases.new(root / "home")
    env = {**os.environ, "SCIDEX_REPLAY_HOME": str(root / "home"), "SCIDEX_REPLAY_DB": url, "COLUMNS": "400"}

    def cli(*args: str, cwd: Path = root) -> subprocess.CompletedProcess:
        return subprocess.run([str(CONSOLE_SCRIPT), *args], capture_output=True, text=True, env=env, cwd=cwd,
                              stdin=subprocess.DEVNULL, timeout=60)

    run = replay(cli, record(cli, root).up)
    procs = {
        case: subprocess.Popen([str(CONSOLE_SCRIPT), "cat", *args(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=root, stdin=subprocess.DEVNULL)
        for case, (args, _) in BAD_CATS.items()
    }
    done = {}
    for case, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        done[case] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    yield done
    databases.drop(url)


@pytest.mark.parametrize("case", list(BAD_CATS))
def test_cat_of_an_unknown_run_step_or_output_is_a_one_line_error(bad_cats, case: str):
    says = BAD_CATS[case][1]

    proc = bad_cats[case]

    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scidex-replay: error: "), proc.stderr
    assert says in lines[0]


def test_cat_of_a_step_the_run_did_not_replay_is_a_one_line_error(cli, recorded: Recorded):
    run = replay(cli, recorded.up, "--from", "up")  # fit stays frozen: no bytes replayed for it

    proc = cli("cat", run, "fit")

    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "frozen" in proc.stderr, proc.stderr
