"""A real Jupyter server for the tests that need one (the browser tests' JupyterLab, the
workbench's REST tests), and the recording of a chain through the console script."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

CONSOLE_SCRIPT = Path(sys.executable).parent / "scidex-replay"


@dataclass(frozen=True)
class Recorder:
    """Runs the console script in ``work`` with ``env`` (its registry): ``cli`` returns stdout,
    ``step`` records ``python SCRIPT SOURCE OUT [ARGS]`` and returns the output's artifact id."""

    work: Path
    env: Mapping[str, str]

    def cli(self, *args: str) -> str:
        assert CONSOLE_SCRIPT.is_file(), f"console script not installed at {CONSOLE_SCRIPT}"
        done = subprocess.run(
            [str(CONSOLE_SCRIPT), *args], cwd=self.work, env=dict(self.env), capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def step(self, script: str, source: str, out: str, *args: str) -> str:
        return self.cli("run", "-i", script, "-i", source, "-o", out, "--", sys.executable, "{in0}", "{in1}", "{out}", *args)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen


@contextmanager
def jupyter(module: str, *, root: Path, env: Mapping[str, str], log: Path, token: str, args: Sequence[str] = ()) -> Iterator[Server]:
    """``python -m MODULE`` (``jupyterlab`` or ``jupyter_server``) on a free 127.0.0.1 port with
    ``token``, serving ``root``; yields it once ``/api/status`` answers, stops it afterwards
    (SIGTERM, so it shuts down as on Ctrl-C, then SIGKILL after 20 s)."""
    port = free_port()
    cmd = [
        sys.executable, "-m", module, "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", *args,
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    with log.open("w") as out:
        server = subprocess.Popen(cmd, env=dict(env), cwd=root, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{module} did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
            yield Server(url, server)
        finally:
            if server.poll() is None:
                server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
