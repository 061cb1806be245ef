"""`scidex-replay rerun-artifact` through the real console script, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from scidex_replay.handlers.shell import ShellHandler
from scidex_replay.recording import run_handler
from scidex_replay.registry import Registry

CLI = Path(sys.executable).parent / "scidex-replay"
PY = sys.executable
TAGGED_CAT = (
    "import sys; tag = sys.argv[1]; "
    "open(sys.argv[-1], 'wb').write(b''.join(open(p, 'rb').read() for p in sys.argv[2:-1]) + tag.encode())"
)
LOGGED_CAT = (
    "import sys; open(sys.argv[1], 'a').write('ran\\n'); "
    "open(sys.argv[-1], 'wb').write(b''.join(open(p, 'rb').read() for p in sys.argv[2:-1]))"
)
RANDOM_BYTES = "import os, sys; open(sys.argv[-1], 'wb').write(b'\\0' + os.urandom(8))"  # binary for every comparator


class Home:
    """A data home and registry shared by the test (through the API) and the CLI (through env vars)."""

    def __init__(self, root: Path, url: str):
        self.root = root
        self.env = {**os.environ, "SCIDEX_REPLAY_HOME": str(root), "SCIDEX_REPLAY_DB": url}
        self.reg = Registry.open(url=url, home=root)

    def cli(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(CLI), *args], env=self.env, cwd=cwd or self.root, capture_output=True, text=True, timeout=120
        )

    def source(self, text: str, name: str = "raw.txt") -> str:
        path = self.root / "sources" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return self.reg.add_artifact(path).id

    def shell(self, program: str, inputs=(), output: str = "out.txt", args=()) -> str:
        argv = [PY, "-c", program, *map(str, args), *(f"{{in{i}}}" for i in range(len(inputs))), "{out}"]
        return run_handler(
            self.reg, ShellHandler(), method=output, parameters={"argv": argv}, inputs=list(inputs), output=output
        ).id

    def step_id(self, artifact_id: str) -> str:
        return self.reg.producing_step(artifact_id).step_id

    def run_count(self) -> int:
        with self.reg.engine.connect() as conn:
            return conn.execute(text("select count(*) from replay_runs")).scalar_one()


@pytest.fixture
def place(tmp_path, db_url):
    h = Home(tmp_path / "home", db_url)
    yield h
    h.reg.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory, databases):
    """One recorded chain (raw -> A) and an unrelated step, for the bad-input cases."""
    root = tmp_path_factory.mktemp("cli") / "home"
    url = databases.new(root)
    h = Home(root, url)
    h.raw = h.source("r")
    h.a = h.shell(TAGGED_CAT, [h.raw], "a.txt", args=["A"])
    h.elsewhere = h.step_id(h.shell(TAGGED_CAT, [h.source("o", "o.txt")], "o.txt", args=["O"]))
    yield h
    h.reg.close()
    databases.drop(url)


def test_chain_recorded_with_run_replays_with_exit_0_and_manifest_in_out(place):
    work = place.root / "work"
    work.mkdir()
    (work / "data.csv").write_text("a,b\n1,2\n")
    (work / "up.py").write_text("import sys\nopen(sys.argv[2], 'w').write(open(sys.argv[1]).read().upper())\n")
    added = place.cli("add", "data.csv", cwd=work)
    assert added.returncode == 0, added.stderr
    raw = added.stdout.strip()
    ran = place.cli("run", "-i", "up.py", "-i", raw, "-o", "up.csv", "--", PY, "{in0}", "{in1}", "{out}", cwd=work)
    assert ran.returncode == 0, ran.stderr
    target = ran.stdout.strip()

    proc = place.cli("rerun-artifact", target, "--out", str(work / "m"))

    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((work / "m" / "manifest.json").read_text())
    assert manifest["schema"] == "scidex-replay/manifest/v2" and manifest["target_artifact_id"] == target
    assert [s["outcome"] for s in manifest["steps"]] == ["reproduced"]
    assert manifest["ok"] is True
    assert "reproduced" in proc.stdout and target in proc.stdout  # the human-readable table
    assert f"manifest: {work / 'm' / 'manifest.json'}" in proc.stderr


def test_json_prints_the_manifest_on_stdout(place):
    b = place.shell(TAGGED_CAT, [place.shell(TAGGED_CAT, [place.source("r")], "a.txt", args=["A"])], "b.txt", args=["B"])
    proc = place.cli("rerun-artifact", b, "--json", "--out", str(place.root / "m"))
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed == json.loads((place.root / "m" / "manifest.json").read_text())
    assert printed["summary"] == {"reproduced": 2}


def test_dry_run_prints_the_plan_creates_no_run_and_executes_nothing(place):
    log = place.root / "executions.log"
    a = place.shell(LOGGED_CAT, [place.source("r")], "a.txt", args=[log])
    b = place.shell(LOGGED_CAT, [a], "b.txt", args=[log])
    log.write_text("")

    table = place.cli("rerun-artifact", b, "--dry-run")
    as_json = place.cli("rerun-artifact", b, "--dry-run", "--json", "--from", place.step_id(b))

    assert table.returncode == 0, table.stderr
    assert place.step_id(a) in table.stdout and place.step_id(b) in table.stdout
    assert as_json.returncode == 0, as_json.stderr
    plan = json.loads(as_json.stdout)
    assert plan["target_artifact_id"] == b and plan["from_step"] == place.step_id(b)
    assert [(s["step_id"], s["action"]) for s in plan["steps"]] == [(place.step_id(a), "frozen"), (place.step_id(b), "execute")]
    assert log.read_text() == ""
    assert place.run_count() == 0
    assert not (place.root / "runs").exists()


def test_dry_run_of_a_fork_shows_what_the_fork_would_run_and_writes_nothing(place):
    log = place.root / "executions.log"
    a = place.shell(LOGGED_CAT, [place.source("r")], "a.txt", args=[log])
    b = place.shell(LOGGED_CAT, [a], "b.txt", args=[log])
    other = place.root / "other.txt"
    other.write_text("other\n")
    log.write_text("")

    def artifacts() -> int:
        with place.reg.engine.connect() as conn:
            return conn.execute(text("select count(*) from artifacts")).scalar_one()

    before = artifacts()
    proc = place.cli("rerun-artifact", b, "--dry-run", "--json", "--fork", "--input", f"{place.step_id(b)}={other}")

    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert [(s["step_id"], s["action"]) for s in plan["steps"]] == [(place.step_id(a), "frozen"), (place.step_id(b), "execute")]
    assert log.read_text() == "" and place.run_count() == 0
    assert artifacts() == before  # the --input file is checked, not added


def test_exit_1_when_a_step_differs_and_diff_says_where(place):
    noise = place.shell(RANDOM_BYTES, [], "noise.bin")
    proc = place.cli("rerun-artifact", noise, "--json", "--diff", "--out", str(place.root / "m"))
    assert proc.returncode == 1, proc.stderr
    (entry,) = json.loads(proc.stdout)["steps"]
    assert entry["outcome"] == "output-differs"
    assert isinstance(entry["diff"]["first_difference_offset"], int)
    assert "Traceback" not in proc.stderr


def test_exit_3_when_strict_aborts(place):
    noise = place.shell(RANDOM_BYTES, [], "noise.bin")
    down = place.shell(TAGGED_CAT, [noise], "down.txt", args=["D"])
    proc = place.cli("rerun-artifact", down, "--strict", "--json", "--out", str(place.root / "m"))
    assert proc.returncode == 3, proc.stderr
    assert json.loads(proc.stdout)["status"] == "aborted"


BAD_INPUT = {
    "unknown id": lambda h: ["a_nonexist1"],
    "malformed id": lambda h: ["../../etc/passwd"],
    "--from a step not in the chain": lambda h: [h.a, "--from", h.elsewhere],
    "--executor bogus": lambda h: [h.a, "--executor", "bogus"],
    "--dask-address without dask": lambda h: [h.a, "--dask-address", "tcp://127.0.0.1:1"],
    "a source artifact": lambda h: [h.raw],
}


@pytest.fixture(scope="module")
def bad_input_runs(shared):
    """Every bad-input invocation, started at once (each costs an interpreter start-up)."""
    runs_before = shared.run_count()
    procs = {
        case: subprocess.Popen(
            [str(CLI), "rerun-artifact", *args(shared)], env=shared.env, cwd=shared.root,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for case, args in BAD_INPUT.items()
    }
    done = {}
    for case, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        done[case] = (proc.returncode, out, err)
    return done, runs_before, shared.run_count()


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_exits_2_with_one_line_and_no_traceback(bad_input_runs, case):
    done, runs_before, runs_after = bad_input_runs
    returncode, stdout, stderr = done[case]
    assert returncode == 2, (case, stdout, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scidex-replay: error: "), stderr
    assert "Traceback" not in stderr and stdout == ""
    assert runs_after == runs_before  # nothing was started


def test_bad_input_messages_say_what_is_wrong(bad_input_runs, shared):
    done, _, _ = bad_input_runs
    assert "a_nonexist1" in done["unknown id"][2]
    assert "malformed" in done["malformed id"][2]
    assert shared.elsewhere in done["--from a step not in the chain"][2]
    assert "bogus" in done["--executor bogus"][2]
    assert "dask scheduler address" in done["--dask-address without dask"][2]
    assert shared.raw in done["a source artifact"][2] and "source artifact" in done["a source artifact"][2]
