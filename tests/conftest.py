"""Shared fixtures: an isolated data home and registry, and the real console script.

``tests/`` is put on ``sys.path`` (and on ``PYTHONPATH`` for subprocesses) so that
helper modules such as ``_steps`` are importable by module name, which is how the
``python.call`` handler finds recorded functions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

CONSOLE_SCRIPT = Path(sys.executable).parent / "scidex-replay"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``SCIDEX_REPLAY_HOME`` with ``SCIDEX_REPLAY_DB`` pointing at SQLite under it."""
    data = tmp_path / "home"
    data.mkdir()
    monkeypatch.setenv("SCIDEX_REPLAY_HOME", str(data))
    monkeypatch.setenv("SCIDEX_REPLAY_DB", f"sqlite:///{data / 'registry.db'}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])))
    return data


@pytest.fixture
def registry(home: Path) -> Iterator["Registry"]:  # noqa: F821
    from scidex_replay.registry import Registry

    reg = Registry.open()
    try:
        yield reg
    finally:
        reg.close()


@pytest.fixture
def cli(home: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run the installed ``scidex-replay`` console script; text mode unless ``text=False``."""
    assert CONSOLE_SCRIPT.is_file(), f"console script not installed at {CONSOLE_SCRIPT}"

    def run(*args: str, text: bool = True, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(CONSOLE_SCRIPT), *map(str, args)],
            capture_output=True,
            text=text,
            env=dict(os.environ),
            cwd=cwd or tmp_path,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )

    return run


def _postgres_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    import shutil

    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1; yields a SQLAlchemy URL prefix ending in ``/``.

    ``SCIDEX_TEST_PG_URL`` (e.g. ``postgresql+psycopg://user@host:5432/``) uses a
    server you run instead. ``make test`` installs the server binaries when missing.
    """
    if os.environ.get("SCIDEX_TEST_PG_URL"):
        yield os.environ["SCIDEX_TEST_PG_URL"].rstrip("/") + "/"
        return
    import shutil
    import socket
    import tempfile

    bindir = _postgres_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries not found: `make test` installs them, or set SCIDEX_TEST_PG_URL")
    root = Path(tempfile.mkdtemp(prefix="scidex-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "scidex", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://scidex@127.0.0.1:{port}/"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the test PostgreSQL server."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server + "postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_server + name
