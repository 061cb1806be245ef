"""The README's quickstart block runs as written, on a copy of examples/ (issue 24)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def quickstart_block() -> str:
    text = (REPO / "README.md").read_text()
    found = re.search(r"<!-- quickstart -->\n```sh\n(.*?)\n```", text, re.S)
    assert found, "README.md has no ```sh block after <!-- quickstart -->"
    return found.group(1)


def test_the_readme_quickstart_runs_as_written(tmp_path):
    block = quickstart_block()
    assert "source .venv/bin/activate" in block and "cd examples/" in block
    work = tmp_path / "clone"
    shutil.copytree(REPO / "examples", work / "examples")
    (work / ".venv").symlink_to(REPO / ".venv")  # the venv `make demo` / `make test` built
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIDEX_REPLAY", "VIRTUAL_ENV"))}
    env["SCIDEX_REPLAY_HOME"] = str(tmp_path / "home")
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # no venv on PATH: the block's `source` must put it there
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "exponent 1.500" in done.stdout
    assert "fit" in done.stdout and "reproduced" in done.stdout + done.stderr
    assert (work / "examples/fit.csv").exists() and (work / "examples/replay/manifest.json").exists()


def test_every_file_the_quickstart_names_exists():
    for name in ("examples/fit.py", "examples/data/planets.csv"):
        assert (REPO / name).is_file(), name
