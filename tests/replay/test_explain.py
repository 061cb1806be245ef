"""``rerun-artifact --explain``: a step re-run alone under perturbations, the factor that changes
its output named in the manifest (``explanation``) and printed after the table.

Each step is recorded with ``scidex-replay run`` (the real console script) from a small script
that depends on exactly one thing; the explanation must name that factor and no other.
libfaketime (``make faketime``, a prerequisite of ``make pytest``) is needed for the clock."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scidex_replay.command import record_command
from scidex_replay.compare import Comparators, Comparison, Difference, Kind, Tolerance
from scidex_replay.compare import registry as comparator_registry
from scidex_replay.compare.binary import BytesComparator
from scidex_replay.compare.text import TextComparator
from scidex_replay.replay.explain import CHANGES, FACTORS, NO_EFFECT, NOT_TESTED, explain_recorded, faketime_library
from scidex_replay.replay.manifest import load

PY = sys.executable

CLOCK = "import time\nopen('out.txt', 'w').write(str(int(time.time())) + '\\n')\n"
ENTROPY = "import os\nopen('out.bin', 'wb').write(os.urandom(16))\n"
CWD = "import os\nopen('out.txt', 'w').write(os.getcwd() + '\\n')\n"
# The same floats summed in as many chunks as OpenMP threads are allowed: 1.0 in one, 0.0 in two.
THREADS = (
    "import os\n"
    "xs = [1.0, 1e16, -1e16, 1.0]\n"
    "n = int(os.environ.get('OMP_NUM_THREADS', '1'))\n"
    "chunks = [xs[i * len(xs) // n:(i + 1) * len(xs) // n] for i in range(n)]\n"
    "open('out.txt', 'w').write(repr(sum(sum(c) for c in chunks)) + '\\n')\n"
)
LOCAL_DATE = (
    "import datetime\n"
    "open('out.txt', 'w').write(datetime.datetime.fromtimestamp(1700000000).astimezone().isoformat() + '\\n')\n"
)
PURE = "open('out.txt', 'w').write('hello\\n')\n"


@pytest.fixture
def record(cli, tmp_path):
    """``record(name, program, output)``: record ``python NAME.py`` writing ``output``; its artifact id."""

    def run(name: str, program: str, output: str = "out.txt", *extra: str) -> tuple[str, str]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / f"{name}.py").write_text(program)
        done = cli("run", *extra, "-i", f"{name}.py", "-o", output, "--", PY, f"{name}.py", cwd=folder)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()[0], done.stderr

    return run


@pytest.fixture
def explain(cli, tmp_path):
    """``explain(artifact_id, *flags)``: replay with those flags; (the only step's manifest entry, exit code, stdout)."""

    def run(artifact_id: str, *flags: str) -> tuple[dict, int, str]:
        out = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}"
        done = cli("rerun-artifact", artifact_id, "--out", out, *flags, timeout=180)
        assert done.returncode in (0, 1), done.stderr
        manifest = load(out / "manifest.json")  # validated against the schema, explanation included
        (step,) = manifest["steps"]
        return step, done.returncode, done.stdout

    return run


def verdicts(step: dict) -> dict[str, str]:
    explanation = step["explanation"]
    assert set(explanation["factors"]) == set(FACTORS)
    assert explanation["runs"] >= 2 and explanation["seconds"] > 0
    return explanation["factors"]


def only(factors: dict[str, str], culprit: str) -> None:
    """``culprit`` changes the output; every other factor that could be varied has no effect."""
    assert factors[culprit] == CHANGES, factors
    others = {f: v for f, v in factors.items() if f != culprit}
    assert CHANGES not in others.values(), factors
    assert others["repeat"] == NO_EFFECT


def test_libfaketime_is_installed_for_the_clock_factor():
    assert faketime_library() is not None, "run `make faketime` (Debian's libfaketime)"


def test_a_step_that_writes_the_time_depends_on_the_clock(record, explain):
    art, _ = record("stamp", CLOCK)
    step, _, stdout = explain(art, "--explain", "all")
    factors = verdicts(step)
    only(factors, "clock")
    assert factors["tz"] == NO_EFFECT  # seconds since the epoch: the same in every zone
    assert step["explanation"]["summary"].startswith("output depends on the wall clock (clock); ")
    assert f"explain stamp ({step['step_id']}): output depends on the wall clock (clock)" in stdout


def test_a_step_that_writes_entropy_changes_under_identical_conditions(record, explain):
    art, _ = record("entropy", ENTROPY, "out.bin")
    step, code, stdout = explain(art, "--explain")  # alone: the steps that did not reproduce
    assert (step["outcome"], code) == ("output-differs", 1)
    factors = verdicts(step)
    assert factors["repeat"] == CHANGES
    # what changes by itself cannot tell the other factors apart: said so, not guessed
    assert all(v == NOT_TESTED for f, v in factors.items() if f != "repeat"), factors
    assert step["explanation"]["not_tested"]["threads"] == "the output changes even under identical conditions (repeat)"
    assert step["explanation"]["summary"].startswith("output changes from run to run under identical conditions (repeat)")
    assert "explain entropy" in stdout


def test_a_step_that_writes_its_cwd_reproduces_and_depends_on_the_workdir(record, explain):
    art, _ = record("where", CWD)
    step, code, _ = explain(art, "--explain")
    assert (step["outcome"], code) == ("reproduced", 0)
    assert "explanation" not in step  # --explain alone explains only what did not reproduce
    step, code, stdout = explain(art, "--explain", "where")  # asked for by name
    assert (step["outcome"], code) == ("reproduced", 0)
    only(verdicts(step), "workdir")
    assert "working directory's path (workdir)" in stdout


def test_a_float_sum_over_as_many_chunks_as_threads_depends_on_threads(record, explain):
    art, _ = record("chunks", THREADS)
    step, _, _ = explain(art, "--explain", "all")
    only(verdicts(step), "threads")
    assert "content differs" in step["explanation"]["details"]["threads"]


def test_a_date_in_the_local_zone_depends_on_the_time_zone(record, explain):
    art, _ = record("local", LOCAL_DATE)
    step, _, _ = explain(art, "--explain", "all")
    only(verdicts(step), "tz")


def test_no_factor_changes_the_output_of_a_pure_step(record, explain):
    art, _ = record("pure", PURE)
    step, code, _ = explain(art, "--explain", "all")
    assert code == 0
    factors = verdicts(step)
    assert CHANGES not in factors.values(), factors
    assert {f for f, v in factors.items() if v == NO_EFFECT} >= {"repeat", "clock", "hash-seed", "threads", "tz", "rng-seed", "workdir", "env"}
    # group testing: the reference, the fake-clock reference, its repeat, then everything at once
    assert step["explanation"]["runs"] == 4
    assert step["explanation"]["summary"].startswith("no factor changes the output (")


def test_explain_names_an_unknown_step_in_one_line(cli, record):
    art, _ = record("pure", PURE)
    done = cli("rerun-artifact", art, "--explain", "nosuch")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "--explain nosuch: no such step in this chain (its steps: pure" in done.stderr


def test_explaining_leaves_the_recorded_output_and_the_caller_s_file_alone(record, explain, tmp_path, registry):
    art, _ = record("stamp", CLOCK)
    saved = (tmp_path / "stamp" / "out.txt").read_bytes()
    recorded = registry.get_artifact(art)
    explain(art, "--explain", "all")
    assert (tmp_path / "stamp" / "out.txt").read_bytes() == saved
    assert registry.store.verify(recorded.content_hash)
    assert Path(registry.store.path(recorded.content_hash)).read_bytes() == saved


@pytest.mark.parametrize("program, warned", [(CLOCK, True), (PURE, False)], ids=["clock", "pure"])
def test_run_check_warns_for_the_clock_step_and_is_silent_for_a_pure_one(record, program, warned):
    art, stderr = record("checked", program, "out.txt", "--check")
    assert art.startswith("a_")
    if warned:
        (line,) = [x for x in stderr.splitlines() if "warning" in x]
        assert line.startswith("scidex-replay: warning: step checked (s_")
        assert "would not reproduce: output depends on the wall clock (clock)" in line
    else:
        assert "warning" not in stderr and "note" not in stderr, stderr



class Stamped:
    """``*.stamped`` files: a first line ``when: ...`` is metadata, the rest content."""

    name = "stamped"
    extensions = (".stamped",)
    priority = 0

    def sniff(self, head: bytes, name: str) -> bool:
        return False

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        pairs = zip(live.read_text().splitlines(), replayed.read_text().splitlines())
        differences = [
            Difference(f"line {n}", Kind.METADATA if a.startswith("when:") else Kind.CONTENT, f"{a} -> {b}")
            for n, (a, b) in enumerate(pairs, 1) if a != b
        ]
        return Comparison(self.name, f"{len(differences)} line(s) differ", differences)


def test_a_factor_that_changes_only_metadata_is_said_to(registry, tmp_path, monkeypatch):
    found = Comparators([BytesComparator(), TextComparator(), Stamped()])
    monkeypatch.setattr(comparator_registry, "load_comparators", lambda: found)
    (tmp_path / "stamp.py").write_text("import time\nopen('out.stamped', 'w').write(f'when: {int(time.time())}\\nvalue 42\\n')\n")
    recorded = record_command(registry, [PY, "stamp.py"], inputs=["stamp.py"], outputs=["out.stamped"], cwd=tmp_path)
    explanation = explain_recorded(registry, recorded.artifacts[0].id)
    assert explanation.factors["clock"] == CHANGES  # still a change of the bytes
    assert explanation.details["clock"].startswith("metadata: ")
    assert explanation.summary.startswith("output depends on the wall clock (clock), in metadata only; ")
