"""Fixtures for the replay-engine tests: a throw-away registry and a recorder that
builds chains through the real recording API (shell steps, python.call steps and
steps of a type no handler knows)."""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

import pytest

from scidex_replay.handlers.shell import ShellHandler
from scidex_replay.recording import record_call, record_step, run_handler
from scidex_replay.registry import Registry

FUNCS_DIR = Path(__file__).parent
PY = sys.executable

#: shell programs, run as ``python -c PROGRAM TAG [EXTRA] {in0} ... {out}``
TAGGED_CAT = (
    "import sys; tag = sys.argv[1]; "
    "open(sys.argv[-1], 'wb').write(b''.join(open(p, 'rb').read() for p in sys.argv[2:-1]) + tag.encode())"
)
#: a NUL first, so that no comparator takes the random bytes for text or a format it knows
RANDOM_BYTES = "import os, sys; open(sys.argv[-1], 'wb').write(b'\\0' + os.urandom(8))"
COPY_EXTERNAL = "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[-1])"
FAIL_WHEN_FLAGGED = (
    "import os, sys\n"
    "if os.path.exists(sys.argv[1]):\n"
    "    sys.stderr.write('warming up\\nthe flag is up\\n'); sys.exit(3)\n"
    "open(sys.argv[-1], 'w').write('fine')\n"
)


@pytest.fixture
def funcs(monkeypatch):
    """``tests/replay/_funcs.py`` imported as ``_funcs``, importable by a subprocess child too."""
    monkeypatch.syspath_prepend(str(FUNCS_DIR))
    monkeypatch.setenv("PYTHONPATH", str(FUNCS_DIR))
    return importlib.import_module("_funcs")


@pytest.fixture
def reg(home):
    """The registry of ``home`` (``tests/conftest.py``), on each backend in turn."""
    registry = Registry.open(home=home)
    yield registry
    registry.close()


class Recorder:
    """Builds chains in ``reg``; every method returns the new artifact's id."""

    def __init__(self, reg: Registry, tmp: Path):
        self.reg = reg
        self.tmp = tmp
        self._n = 0

    def source(self, data: bytes | str, name: str = "raw.txt") -> str:
        self._n += 1
        path = self.tmp / f"src{self._n}" / name
        path.parent.mkdir()
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return self.reg.add_artifact(path).id

    def shell(self, program: str, inputs=(), output: str = "out.txt", args=()) -> str:
        argv = [PY, "-c", program, *map(str, args), *(f"{{in{i}}}" for i in range(len(inputs))), "{out}"]
        art = run_handler(
            self.reg, ShellHandler(), method=f"python -c {output}", parameters={"argv": argv}, inputs=list(inputs), output=output
        )
        return art.id

    def tagged(self, tag: str, inputs=(), output: str | None = None) -> str:
        """A reproducible shell step: output = the inputs concatenated, then ``tag``."""
        return self.shell(TAGGED_CAT, inputs, output or f"{tag}.txt", args=[tag])

    def call(self, func, inputs=(), output: str = "out.txt", **parameters) -> str:
        return record_call(self.reg, func, inputs=list(inputs), output=output, **parameters).id

    def opaque(self, step_type: str, inputs=(), output: str = "opaque.txt", data: bytes = b"measured") -> str:
        """A step of a type no built-in handler replays (e.g. a lab instrument)."""
        with record_step(self.reg, step_type, method="read instrument", inputs=list(inputs), output=output) as st:
            st.output.write_bytes(data)
        return st.artifact.id

    def random(self, output: str = "noise.bin") -> str:
        """A step that never reproduces: it writes a NUL and 8 random bytes."""
        return self.shell(RANDOM_BYTES, (), output)

    def external(self, path: Path, inputs=(), output: str = "ext.txt") -> str:
        """A step whose output is a file outside its inputs: change the file and it drifts."""
        return self.shell(COPY_EXTERNAL, inputs, output, args=[path])

    def fails_when_flagged(self, flag: Path, inputs=(), output: str = "flagged.txt") -> str:
        """Succeeds while ``flag`` is absent; afterwards exits 3 with 'the flag is up' on stderr."""
        return self.shell(FAIL_WHEN_FLAGGED, inputs, output, args=[flag])

    def step(self, artifact_id: str):
        return self.reg.producing_step(artifact_id)

    def blob_hashes(self) -> dict[str, str]:
        """path -> sha256 of every blob file in the store."""
        root = self.reg.store.root
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.glob("??/*"))
            if p.is_file()
        }

    @staticmethod
    def by_step(report) -> dict[str, dict]:
        """The manifest's step entries keyed by step_id."""
        return {s["step_id"]: s for s in report.manifest["steps"]}


@pytest.fixture
def rec(reg, tmp_path):
    return Recorder(reg, tmp_path)

