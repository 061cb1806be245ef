"""A throwaway S3-compatible server on 127.0.0.1 (moto's standalone server, from the test extra),
for the shared-store tests (``conftest.py``'s ``s3_server``) and ``benchmarks/bench_store_remote.py``.

    with s3_server() as server:            # server.endpoint == "http://127.0.0.1:PORT"
        server.bucket("team")               # a new empty bucket
        os.environ.update(server.env("s3://team/blobs"))
        server.stop(); server.start()       # the same server, down then back (its buckets kept)
        server.snapshot(); server.stop(keep=False)  # down at once; start() brings back the snapshot

Clients reach it through s3fs with the options of ``server.options``, as they would reach AWS or MinIO.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

KEY, SECRET = "testing", "testing"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    def __init__(self, workdir: Path):
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        # moto keeps its buckets in memory: a restart (``stop``/``start``) keeps them in a state file
        self.state = workdir / "moto-state"

    @property
    def options(self) -> dict[str, Any]:
        """s3fs options: this endpoint, test credentials, one attempt (a stopped server fails fast)."""
        return {
            "endpoint_url": self.endpoint, "key": KEY, "secret": SECRET,
            "config_kwargs": {"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 2, "read_timeout": 20},
        }

    def env(self, url: str, **extra: Any) -> dict[str, str]:
        return {"SCIDEX_REPLAY_STORE": url, "SCIDEX_REPLAY_STORE_OPTIONS": json.dumps({**self.options, **extra})}

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.options)

    def requests(self, method: str, key: str) -> int:
        """How many ``method`` requests (``GET``, ``PUT``...) for the object ``key`` (``bucket/path``)
        the server has answered so far, from its request log."""
        return len(re.findall(rf'"(?:\x1b\[[0-9;]*m)*{method} /{re.escape(key)}(?:\?[^ ]*)? HTTP', (self.workdir / "moto.log").read_text()))

    def bucket(self, name: str | None = None) -> str:
        name = name or f"b-{uuid.uuid4().hex[:12]}"
        self.filesystem().mkdir(name)
        return name

    def start(self, auth: bool = False) -> None:
        """Start the server (its buckets back after a ``stop``); ``auth``: IAM checks on from the
        first request (moto's ``INITIAL_NO_AUTH_ACTION_COUNT=0``), and no user, so every key is refused."""
        env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}
        env.pop("MOTO_ENABLE_RECORDING", None)  # any value, "False" too, turns moto's request recorder on
        if auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=open(self.workdir / "moto.log", "ab"), env=env, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited {self.proc.returncode}: {(self.workdir / 'moto.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto server did not start within 30 s")
        if (self.state / ".saved").is_file():
            self._load()

    def _save(self) -> None:
        """Keep every bucket's objects (the server forgets them when it stops)."""
        fs = self.filesystem()
        self.state.mkdir(exist_ok=True)
        for bucket in fs.ls(""):
            fs.get(f"{bucket}/", str(self.state / bucket) + "/", recursive=True)
            (self.state / bucket).mkdir(exist_ok=True)
        (self.state / ".saved").write_text("1")

    def _load(self) -> None:
        fs = self.filesystem()
        for folder in self.state.iterdir():
            if folder.is_dir():
                fs.mkdir(folder.name)
                files = [p for p in folder.rglob("*") if p.is_file()]
                for p in files:
                    fs.put_file(str(p), f"{folder.name}/{p.relative_to(folder).as_posix()}")

    def snapshot(self) -> None:
        """Keep every bucket as it is now: the next ``start`` brings them back (after a ``stop(keep=False)``)."""
        import shutil

        shutil.rmtree(self.state, ignore_errors=True)
        self._save()

    def stop(self, keep: bool = True) -> None:
        """Stop the server; ``keep``: its buckets come back at the next ``start`` (else as of the last ``snapshot``)."""
        if self.proc is None:
            return
        if keep:
            self.snapshot()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


@contextmanager
def s3_server(workdir: Path | None = None) -> Iterator[S3Server]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="scidex-moto-") as tmp:
        server = S3Server(Path(workdir or tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop(keep=False)
            import shutil

            shutil.rmtree(server.state, ignore_errors=True)
