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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (``_pg.py``); yields a SQLAlchemy URL prefix ending in ``/``.

    ``SCIDEX_TEST_PG_URL`` (e.g. ``postgresql+psycopg://user@host:5432/``) uses a
    server you run instead. ``make test`` installs the server binaries when missing.
    """
    from _pg import bindir, postgres_server

    if not os.environ.get("SCIDEX_TEST_PG_URL") and bindir() is None:
        pytest.fail("PostgreSQL server binaries not found: `make test` installs them, or set SCIDEX_TEST_PG_URL")
    with postgres_server() as prefix:
        yield prefix


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the test PostgreSQL server."""
    from _pg import create_database

    return create_database(pg_server)
