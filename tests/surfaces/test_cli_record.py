"""The recording half of the CLI (`add`, `run`, `chain`, `cat`, `step-types`), through the real
console script: ids alone on stdout, exact bytes, and for every bad input exit 2 with one line
on stderr, no traceback, and no change to the registry or to any file."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from scidex_replay.registry import Registry, input_hash_of
from scidex_replay.store import hash_bytes
from scidex_replay.surfaces.cli import main

CONSOLE_SCRIPT = Path(sys.executable).parent / "scidex-replay"

PY = sys.executable
ID_RE = re.compile(r"a_[0-9a-z]{8}")
TABLES = ("artifacts", "processing_steps", "step_inputs", "environments", "replay_runs", "replay_results")

UPPER = "import sys\nopen(sys.argv[2], 'wb').write(open(sys.argv[1], 'rb').read().upper())\n"
APPEND = "import sys\nopen(sys.argv[2], 'wb').write(open(sys.argv[1], 'rb').read() + b'+1')\n"
NOOP = "import sys\n# exits 0 without writing sys.argv[-1]\n"
FAIL = (
    "import sys\n"
    "sys.stderr.write('loading config\\nwarming up\\nfatal: the flag is up\\n')\n"
    "sys.exit(3)\n"
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def registry_state(url: str, home: Path) -> tuple[dict[str, int], list[str]]:
    """Row counts of every table of the database at ``url`` and every file under the blob store of ``home``."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
    finally:
        engine.dispose()
    blobs = home / "blobs"
    files = sorted(str(p.relative_to(blobs)) for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else []
    return rows, files


def files_state(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def assert_one_line_error(proc, code: int = 2) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("scidex-replay: error: "), lines[0]


@dataclass
class World:
    """Files and a registry the CLI tests act on."""

    work: Path
    registry: Registry
    upper: Path
    append: Path
    noop: Path
    fail: Path
    data: Path
    data_id: str
    existing: Path  # a pre-existing output file that must never be clobbered by a failed run
    garbage: Path


def make_world(work: Path, registry: Registry) -> World:
    work.mkdir()
    for name, body in (("upper.py", UPPER), ("append.py", APPEND), ("noop.py", NOOP), ("fail.py", FAIL)):
        (work / name).write_text(body)
    data = work / "readings.csv"
    data.write_bytes(b"well,abs\na1,0.42\nb1,0.31\n")
    data_id = registry.add_artifact(b"sample,value\nctrl,0.42\n", name="summary.csv").id
    existing = work / "existing.txt"
    existing.write_text("precious results, do not overwrite\n")
    garbage = work / "garbage.db"
    garbage.write_bytes(b"\x00garbage, not an SQLite file\n" * 100)
    (work / "a-directory").mkdir()
    return World(work, registry, work / "upper.py", work / "append.py", work / "noop.py", work / "fail.py",
                 data, data_id, existing, garbage)


@pytest.fixture
def world(tmp_path: Path, registry: Registry) -> World:
    return make_world(tmp_path / "work", registry)


# -- add ---------------------------------------------------------------------------


def test_add_prints_only_the_new_id_on_stdout(cli, world: World):
    proc = cli("add", world.data)
    assert proc.returncode == 0, proc.stderr
    assert ID_RE.fullmatch(proc.stdout.rstrip("\n")) and proc.stdout.endswith("\n")
    assert proc.stdout.count("\n") == 1
    art = world.registry.get_artifact(proc.stdout.strip())
    assert art.content_hash == sha256(world.data)
    assert art.name == "readings.csv"
    assert "readings.csv" in proc.stderr  # the human-friendly detail goes to stderr


def test_add_of_the_same_bytes_prints_the_same_id(cli, world: World, capsys: pytest.CaptureFixture[str]):
    first = cli("add", world.data).stdout
    copy = world.work / "elsewhere" / world.data.name
    copy.parent.mkdir()
    copy.write_bytes(world.data.read_bytes())
    assert invoke(capsys, "add", copy, "--kind", "table") == (0, first)
    renamed = world.work / "renamed.csv"
    renamed.write_bytes(world.data.read_bytes())
    code, other = invoke(capsys, "add", renamed)
    assert code == 0 and other != first


# -- run (in process: the same code path as the console script, minus ~1 s of start-up) ----


def invoke(capsys: pytest.CaptureFixture[str], *args) -> tuple[int, str]:
    """``main([...])`` in this process; returns (exit code, stdout). Fails on a non-zero exit's stderr."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if code != 0:
        pytest.fail(f"exit {code}: {err}")
    return code, out


def test_run_records_a_shell_step_writes_the_output_and_prints_only_the_id(world: World, capsys):
    out = world.work / "upper.csv"
    _, stdout = invoke(capsys, "run", "-i", world.upper, "-i", world.data_id, "-o", out, "--", PY, "{in0}", "{in1}", "{out}")
    new_id = stdout.strip()
    assert stdout == new_id + "\n" and ID_RE.fullmatch(new_id)
    assert out.read_bytes() == b"SAMPLE,VALUE\nCTRL,0.42\n"

    reg = world.registry
    art = reg.get_artifact(new_id)
    assert art.content_hash == sha256(out)
    assert art.name == "upper.csv"
    step = reg.producing_step(new_id)
    assert step.step_type == "shell"
    assert step.parameters == {"argv": [PY, "{in0}", "{in1}", "{out}"], "env": {}}  # declared variables: none
    script_art = reg.get_artifact(step.source_artifact_ids[0])
    assert script_art.content_hash == sha256(world.upper)  # the script file became an artifact
    assert step.source_artifact_ids[1] == world.data_id
    assert step.input_hash == input_hash_of([script_art.content_hash, reg.get_artifact(world.data_id).content_hash])
    assert step.env_hash is not None and reg.get_environment(step.env_hash) is not None


def test_run_through_the_console_script_prints_only_the_id(cli, world: World):
    out = world.work / "upper.csv"
    proc = cli("run", "-i", world.upper, "-i", world.data, "-o", out, "--", PY, "{in0}", "{in1}", "{out}")
    assert proc.returncode == 0, proc.stderr
    assert ID_RE.fullmatch(proc.stdout.rstrip("\n")) and proc.stdout.count("\n") == 1
    assert out.read_bytes() == world.data.read_bytes().upper()
    assert world.registry.get_artifact(proc.stdout.strip()).content_hash == sha256(out)


def test_run_replaces_an_existing_output_file_on_success(world: World, capsys):
    invoke(capsys, "run", "-i", world.upper, "-i", world.data, "-o", world.existing, "--", PY, "{in0}", "{in1}", "{out}")
    assert world.existing.read_bytes() == world.data.read_bytes().upper()
    assert not [p for p in world.work.iterdir() if p.name.startswith(".existing.txt.")]  # no temp left


def test_three_runs_make_a_chain_listed_in_order(world: World, capsys):
    ids = []
    current = world.data_id
    for n, script in enumerate((world.upper, world.append, world.append), 1):
        _, stdout = invoke(
            capsys, "run", "-i", script, "-i", current, "-o", world.work / f"step{n}.txt", "--", PY, "{in0}", "{in1}", "{out}"
        )
        current = stdout.strip()
        ids.append(current)
    assert (world.work / "step3.txt").read_bytes() == b"SAMPLE,VALUE\nCTRL,0.42\n+1+1"

    _, stdout = invoke(capsys, "chain", ids[-1], "--json")
    steps = json.loads(stdout)
    assert [s["target_artifact_id"] for s in steps] == ids
    assert [s["sources"][1] for s in steps] == [world.data_id, *ids[:-1]]
    assert all(s["step_type"] == "shell" for s in steps)
    assert len({s["step_id"] for s in steps}) == 3

    _, table = invoke(capsys, "chain", ids[-1])
    assert all(s["step_id"] in table for s in steps)


def test_chain_of_a_source_artifact_is_empty(world: World, capsys):
    _, stdout = invoke(capsys, "chain", world.data_id, "--json")
    assert json.loads(stdout) == []


def test_cat_returns_the_exact_bytes(cli, world: World):
    payload = bytes(range(256)) * 3 + b"\r\n\x00tail"
    f = world.work / "binary.bin"
    f.write_bytes(payload)
    art_id = cli("add", f).stdout.strip()
    proc = cli("cat", art_id, text=False)
    assert proc.returncode == 0, proc.stderr
    assert hashlib.sha256(proc.stdout).hexdigest() == hash_bytes(payload)
    assert proc.stdout == payload


def test_cat_into_a_reader_that_stops_early_ends_quietly_with_the_sigpipe_status(cli, world: World):
    """``cat ID | head``: no message, and 141 (what a program killed by SIGPIPE reports), not the
    1 of bytes that did not verify."""
    big = world.work / "big.bin"
    big.write_bytes(os.urandom(8 << 20))
    art_id = cli("add", big).stdout.strip()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "scidex-replay"), "cat", art_id], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=world.work)
    assert proc.stdout.read(10) == big.read_bytes()[:10]
    proc.stdout.close()  # the reader goes away, as head does
    assert proc.wait(60) == 141
    assert proc.stderr.read() == b""


def test_cat_of_a_corrupted_blob_fails_with_one_line(cli, world: World):
    art = world.registry.get_artifact(world.data_id)
    blob = world.registry.store.path(art.content_hash)
    os.chmod(blob, 0o644)
    raw = bytearray(blob.read_bytes())
    raw[3] ^= 0x20
    blob.write_bytes(bytes(raw))
    proc = cli("cat", world.data_id, text=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert proc.stdout == b""


def test_step_types_counts_recorded_steps_and_knows_the_shell_handler(world: World, capsys):
    for n in range(2):
        invoke(capsys, "run", "-i", world.upper, "-i", world.data_id, "-o", world.work / f"o{n}", "--", PY, "{in0}", "{in1}", "{out}")
    _, stdout = invoke(capsys, "step-types", "--json")
    assert json.loads(stdout) == [{"step_type": "shell", "count": 2, "handler": True}]


# -- a failing command ------------------------------------------------------------------


def test_a_failing_command_exits_1_shows_its_stderr_tail_and_records_nothing(cli, world: World, home: Path, db_url):
    before, files_before = registry_state(db_url, home), files_state(world.work)
    proc = cli("run", "-i", world.fail, "-i", world.data, "-o", world.existing, "--", PY, "{in0}", "{in1}", "{out}")
    assert_one_line_error(proc, code=1)
    assert "exit 3" in proc.stderr
    assert "fatal: the flag is up" in proc.stderr
    assert proc.stdout == ""
    assert registry_state(db_url, home) == before
    assert files_state(world.work) == files_before


# -- bad input: exit 2, one line, nothing changed ---------------------------------------

BAD_INPUTS = {
    "chain-unknown-id": lambda w: ["chain", "a_00000000"],
    "cat-unknown-id": lambda w: ["cat", "a_00000000"],
    "chain-malformed-id": lambda w: ["chain", "../../etc/passwd"],
    "cat-malformed-id": lambda w: ["cat", "a;rm -rf ~"],
    "run-missing-input-file": lambda w: ["run", "-i", w.upper, "-i", w.work / "missing.csv", "-o", w.existing, "--", PY, "{in0}", "{in1}", "{out}"],
    "run-unknown-input-id": lambda w: ["run", "-i", w.upper, "-i", "a_00000000", "-o", w.existing, "--", PY, "{in0}", "{in1}", "{out}"],
    "run-command-without-out": lambda w: ["run", "-i", w.upper, "-i", w.data, "-o", w.existing, "--", PY, "{in0}", "{in1}", w.existing],
    "run-placeholder-past-the-inputs": lambda w: ["run", "-i", w.upper, "-o", w.existing, "--", PY, "{in0}", "{in5}", "{out}"],
    "run-output-dir-missing": lambda w: ["run", "-i", w.upper, "-i", w.data, "-o", w.work / "no-such-dir" / "out.csv", "--", PY, "{in0}", "{in1}", "{out}"],
    "run-output-is-a-directory": lambda w: ["run", "-i", w.upper, "-i", w.data, "-o", w.work / "a-directory", "--", PY, "{in0}", "{in1}", "{out}"],
    "run-exit-0-without-writing-out": lambda w: ["run", "-i", w.noop, "-i", w.data, "-o", w.existing, "--", PY, "{in0}", "{in1}", "{out}"],
    "run-no-command": lambda w: ["run", "-i", w.data, "-o", w.existing],
    "run-no-output-option": lambda w: ["run", "-i", w.data, "--", PY, "{in0}", "{out}"],
    "add-missing-file": lambda w: ["add", w.work / "missing.csv"],
    "add-a-directory": lambda w: ["add", w.work / "a-directory"],
    "db-garbage-file": lambda w: ["chain", w.data_id, "--db", f"sqlite:///{w.garbage}"],
    "db-unknown-dialect": lambda w: ["add", w.data, "--db", "nosuchdialect://user@host/db"],
    "db-is-a-directory": lambda w: ["step-types", "--db", f"sqlite:///{w.work / 'a-directory'}"],
    "unknown-command": lambda w: ["frobnicate", w.data_id],
    "unknown-option": lambda w: ["chain", w.data_id, "--jsn"],
    "add-missing-argument": lambda w: ["add"],
    "chain-missing-argument": lambda w: ["chain"],
}


@dataclass
class BadRun:
    proc: subprocess.CompletedProcess
    url: str
    home: Path
    work: Path
    before: tuple[dict[str, int], list[str]]
    files_before: dict[str, str]


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory: pytest.TempPathFactory, databases) -> Iterator[dict[str, BadRun]]:
    """Every BAD_INPUTS case, run concurrently through the console script, each on its own
    copy of the same registry and work directory (so a change is pinned on its case)."""
    root = tmp_path_factory.mktemp("bad-inputs")
    template = root / "template"
    template.mkdir()
    template_url = databases.new(root / "template-db")
    with Registry.open(template_url, home=template / "home") as reg:
        data_id = make_world(template / "work", reg).data_id
    urls = {case: databases.clone(template_url, root / case / "home") for case in sorted(BAD_INPUTS)}

    def launch(case: str) -> BadRun:
        case_dir = root / case
        shutil.copytree(template, case_dir, dirs_exist_ok=True)
        home, work = case_dir / "home", case_dir / "work"
        w = World(work, None, work / "upper.py", work / "append.py", work / "noop.py", work / "fail.py",  # type: ignore[arg-type]
                  work / "readings.csv", data_id, work / "existing.txt", work / "garbage.db")
        env = dict(os.environ, SCIDEX_REPLAY_HOME=str(home), SCIDEX_REPLAY_DB=urls[case])
        before, files_before = registry_state(urls[case], home), files_state(work)
        proc = subprocess.run(
            [str(CONSOLE_SCRIPT), *map(str, BAD_INPUTS[case](w))],
            capture_output=True, text=True, env=env, cwd=work, stdin=subprocess.DEVNULL, timeout=120,
        )
        return BadRun(proc, urls[case], home, work, before, files_before)

    try:
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            runs = dict(zip(sorted(BAD_INPUTS), pool.map(launch, sorted(BAD_INPUTS))))
        yield runs
    finally:
        for url in [*urls.values(), template_url]:
            databases.drop(url)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_changes_nothing(bad_runs: dict[str, BadRun], case: str):
    run = bad_runs[case]
    assert_one_line_error(run.proc, code=2)
    assert run.proc.stdout == ""
    assert registry_state(run.url, run.home) == run.before
    assert files_state(run.work) == run.files_before


def test_with_no_arguments_it_prints_usage_and_does_not_crash(cli, world: World):
    proc = cli()
    assert proc.returncode in (0, 2)
    assert "Traceback" not in proc.stderr
    assert "Usage" in proc.stdout + proc.stderr


# -- in process ----------------------------------------------------------------------------


def test_main_maps_errors_to_exit_codes_in_process(world: World, capsys: pytest.CaptureFixture[str]):
    assert main(["chain", "a_00000000"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "unknown artifact id" in err


def test_a_file_an_earlier_run_saved_links_the_next_step_to_it(cli, tmp_path):
    """`run -i clean.csv` after `run -o clean.csv`: clean.csv is that step's output, not a new
    source, so the chain of the last output holds both steps and a replay runs both. An edited
    file is a source of its own."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "raw.csv").write_text("x\n3\n1\n")
    first = cli("run", "-i", "raw.csv", "-o", "clean.csv", "--", "sort", "-o", "clean.csv", "raw.csv", cwd=work)
    assert first.returncode == 0, first.stderr
    second = cli("run", "-i", "clean.csv", "-o", "top.txt", "--", "sh", "-c", "head -n 1 clean.csv > top.txt", cwd=work)
    assert second.returncode == 0, second.stderr
    assert f"clean.csv is the output {first.stdout.strip()} of a recorded step" in second.stderr
    chain = cli("chain", second.stdout.strip(), "--json")
    assert [s["name"] for s in json.loads(chain.stdout)] == ["sort", "sh"]
    replayed = cli("rerun-artifact", second.stdout.strip(), "--json")
    assert [s["outcome"] for s in json.loads(replayed.stdout)["steps"]] == ["reproduced", "reproduced"]

    (work / "clean.csv").write_text("1\n3\nx\n# checked by hand\n")
    edited = cli("run", "-i", "clean.csv", "-o", "top2.txt", "--", "sh", "-c", "head -n 1 clean.csv > top2.txt", cwd=work)
    assert edited.returncode == 0 and "is the output" not in edited.stderr
    assert len(json.loads(cli("chain", edited.stdout.strip(), "--json").stdout)) == 1



@pytest.mark.parametrize("round_", range(3))
def test_concurrent_adds_of_the_same_file_make_one_artifact(world: World, registry: Registry, db_url: str, round_: int):
    """``add`` is idempotent under concurrency too: 8 registries adding the same file at the same
    moment all get the same artifact, and the registry holds one artifact for it."""
    import threading

    data = world.work / "same.csv"
    data.write_text(f"x\n{round_}\n")
    registries = [Registry.open(db_url) for _ in range(8)]
    start = threading.Barrier(len(registries))

    def add(reg: Registry) -> str:
        start.wait()
        return reg.add_artifact(data).id

    try:
        with ThreadPoolExecutor(max_workers=len(registries)) as pool:
            added = list(pool.map(add, registries))
    finally:
        for reg in registries:
            reg.close()
    digest = hash_bytes(data.read_bytes())
    with registry.engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM artifacts WHERE content_hash = :h"), {"h": digest}).scalars().all()
    assert ids == [added[0]] and set(added) == {added[0]}
