"""Shared by the magic and widget tests: a real IPython shell with the extension
loaded on an isolated registry, and a recorder of ``python.cell`` chains that goes
through ``%%scidex_step`` like a notebook user would.

Imported by the test modules (``from _notebook import ...``); the fixtures are
re-exported there so pytest finds them.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest

UPPER = "text = inputs[0].read_text()\noutput.write_text(text.upper())\n"
NUMBER = "lines = inputs[0].read_text().splitlines()\noutput.write_text(''.join(f'{i} {l}\\n' for i, l in enumerate(lines)))\n"
COUNT = "n = len(inputs[0].read_text().splitlines())\noutput.write_text(f'{n * scale} lines\\n')\n"
NOISE = "import uuid\noutput.write_text(inputs[0].read_text() + uuid.uuid4().hex)\n"
#: fails (at replay) while the file named by the parameter ``flag`` exists
FLAGGED = (
    "import os\n"
    "if os.path.exists(flag):\n"
    "    raise RuntimeError('the flag is up')\n"
    "output.write_text(inputs[0].read_text()[::-1])\n"
)


@contextmanager
def _loaded_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    monkeypatch.chdir(tmp_path)
    shell.run_line_magic("load_ext", "scidex_replay")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "scidex_replay")
        for name in ("r", "raw_a", "a", "b", "c"):
            shell.user_ns.pop(name, None)


@pytest.fixture
def ip(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The test InteractiveShell, in ``tmp_path``, with ``%load_ext scidex_replay`` done, on ``home``'s registry."""
    with _loaded_shell(tmp_path, monkeypatch) as shell:
        yield shell


@pytest.fixture
def ip_without_registry(bare_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The same shell for a test that never reaches a registry (so it runs once, not per backend)."""
    with _loaded_shell(tmp_path, monkeypatch) as shell:
        yield shell


class CellChain:
    """Records ``python.cell`` steps with ``%%scidex_step``; each call returns the new artifact."""

    def __init__(self, shell, tmp: Path):
        self.shell = shell
        self.tmp = tmp
        self._n = 0

    def step(self, source: str, inputs: list[str], out: str, *params: str):
        self._n += 1
        var = f"_art{self._n}"
        line = " ".join([*(f"--in {i}" for i in inputs), f"--out {out}", f"--as {var}", *(f"--param {p}" for p in params)])
        self.shell.run_cell_magic("scidex_step", line, source)
        return self.shell.user_ns.pop(var)

    def three_steps(self, middle: str = NUMBER, text: str = "alpha\nbeta\ngamma\n"):
        """raw.txt → upper → middle → count: returns the three artifacts."""
        raw = self.tmp / "raw.txt"
        raw.write_text(text)
        a = self.step(UPPER, [str(raw)], "upper.txt")
        b = self.step(middle, [a.id], "middle.txt")
        c = self.step(COUNT, [b.id], "count.txt", "scale=2")
        return a, b, c


@pytest.fixture
def chain(ip, tmp_path: Path) -> CellChain:
    return CellChain(ip, tmp_path)


def step_of(registry, artifact) -> str:
    return registry.producing_step(artifact.id).step_id


def manifest_outputs(outputs) -> list:
    """The captured display outputs that carry a manifest."""
    from scidex_replay.replay.manifest import MIMETYPE

    return [o for o in outputs if MIMETYPE in o.data]


def as_saved(data) -> object:
    """What a notebook file keeps of a JSON display value."""
    return json.loads(json.dumps(data))
