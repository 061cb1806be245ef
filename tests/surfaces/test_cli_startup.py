"""The CLI answers ``--help`` and bad input without loading its heavy dependencies.

SQLAlchemy alone is most of a registry command's start-up (``benchmarks/bench_cli.py``),
so a command that can answer before it opens the registry must not import it. Each case
runs in a fresh interpreter, because this one has long since imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Packages that cost tens to hundreds of milliseconds to import.
HEAVY = ("sqlalchemy", "alembic", "rich", "pandas", "matplotlib", "prov")

PROGRAM = """
import json, sys
from scidex_replay.surfaces.cli import main
code = main(json.loads(sys.argv[1]))
heavy = json.loads(sys.argv[2])
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(heavy))
sys.stdout.write("\\n" + json.dumps([code, loaded]))
"""


def run_cli(argv: list[str], cwd: Path) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM, json.dumps(argv), json.dumps(HEAVY)],
        cwd=cwd,
        env={**{k: v for k, v in os.environ.items() if k != "SCIDEX_REPLAY_DB"}, "SCIDEX_REPLAY_HOME": str(cwd / "home")},
        capture_output=True,
        text=True,
        check=True,
    )
    code, loaded = json.loads(proc.stdout.splitlines()[-1])
    return code, loaded


BAD_INPUT = [
    ["no-such-command"],
    ["chain"],
    ["add", "missing.csv"],
    ["run", "-o", "../out.txt", "--", "cp", "a", "b"],
    ["run", "-o", "no/such/dir/out.txt", "--", "cp", "a", "{out}"],
    ["rerun-artifact", "a_00000000", "--set", "no-equals-sign"],
    ["rerun-artifact", "a_00000000", "--fork", "--input", "s_1"],
]
CASES = [(["--help"], 0), (["rerun-artifact", "--help"], 0)] + [(argv, 2) for argv in BAD_INPUT]


@pytest.mark.parametrize(("argv", "expected_code"), CASES, ids=[" ".join(argv) for argv, _ in CASES])
def test_answers_without_loading_heavy_packages(argv, expected_code, tmp_path):
    code, loaded = run_cli(argv, tmp_path)
    assert code == expected_code
    assert loaded == []
    assert not (tmp_path / "home").exists()  # nothing opened the registry


def test_a_registry_command_does_load_sqlalchemy(tmp_path):
    """The probe itself works: a command that needs the registry shows up as loading it."""
    code, loaded = run_cli(["chain", "a_00000000"], tmp_path)
    assert code == 2
    assert "sqlalchemy" in loaded
