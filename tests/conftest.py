"""Shared fixtures: an isolated data home and registry, and the real console script.

Every test that uses a registry database runs once per backend, ``[sqlite]`` and
``[postgresql]``: it asks for ``home``, ``registry``, ``cli``, ``db_url`` or
``databases``, all of which depend on ``db_backend``, and ``pytest_generate_tests``
below parametrizes that (module-scoped, so a module runs all its SQLite cases, then
all its PostgreSQL ones). The PostgreSQL server is started on first use, once per
session (``pg_server``); each PostgreSQL test gets its own database, copied from one
already migrated to head (``empty_db_url`` and the migration tests start from a really
empty one). A test about SQLite itself is marked ``@pytest.mark.sqlite_only(reason=...)``
and runs on SQLite only; a test that never reaches a database uses ``bare_home`` and runs
once. ``-k "not postgresql"`` leaves the PostgreSQL runs out.

``tests/`` is put on ``sys.path`` (and on ``PYTHONPATH`` for subprocesses) so that
helper modules such as ``_steps`` are importable by module name, which is how the
``python.call`` handler finds recorded functions.
"""

from __future__ import annotations

import os
import signal
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

CONSOLE_SCRIPT = Path(sys.executable).parent / "scidex-replay"
BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("sqlite_only")
    if marker is not None and not marker.kwargs.get("reason"):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: sqlite_only needs a reason=")
    backends = ["sqlite"] if marker is not None else list(BACKENDS)
    metafunc.parametrize("db_backend", backends, indirect=True, scope="module")


class SqliteDatabases:
    """Registry databases as SQLite files; Alembic creates the schema on first open."""

    backend = "sqlite"

    def new(self, where: Path, *, empty: bool = False) -> str:
        """The URL of a new database file ``where/registry.db`` (always empty until opened)."""
        where.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{where / 'registry.db'}"

    def clone(self, url: str, where: Path) -> str:
        """A copy of the (closed) database at ``url`` as ``where/registry.db``."""
        copy = self.new(where)
        shutil.copyfile(url.removeprefix("sqlite:///"), copy.removeprefix("sqlite:///"))
        return copy

    def drop(self, url: str) -> None:
        """Nothing to do: the file goes with its temp dir."""


class PostgresDatabases:
    """Registry databases on the session's PostgreSQL server, copied from one migrated to head."""

    backend = "postgresql"

    def __init__(self, prefix: str):
        self.prefix = prefix
        self._template: str | None = None

    def new(self, where: Path, *, empty: bool = False) -> str:
        """A new database, already at the head revision unless ``empty`` (``where`` is unused)."""
        from _pg import create_database

        return create_database(self.prefix, template=None if empty else self._head_template())

    def clone(self, url: str, where: Path) -> str:
        """A copy of the database at ``url``, which must have no open connection."""
        from _pg import create_database

        return create_database(self.prefix, template=url.rsplit("/", 1)[1])

    def drop(self, url: str) -> None:
        from _pg import drop_database

        drop_database(url)

    def close(self) -> None:
        """Drop the template (a server you run, ``SCIDEX_TEST_PG_URL``, outlives the session)."""
        if self._template is not None:
            self.drop(self.prefix + self._template)

    def _head_template(self) -> str:
        if self._template is None:
            import tempfile

            from _pg import create_database

            from scidex_replay.registry import Registry

            url = create_database(self.prefix)
            with tempfile.TemporaryDirectory() as home:
                Registry.open(url, home=home).close()
            self._template = url.rsplit("/", 1)[1]
        return self._template


Databases = SqliteDatabases | PostgresDatabases

#: test files that take minutes for one test: collected first, so that under `make pytest`'s two
#: workers (whole files, handed out in collection order) they run beside the rest, not after it
SLOW_FIRST = ("test_make_demo_fresh_clone.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in SLOW_FIRST)  # stable: the rest keeps its order


@pytest.fixture(scope="module")
def db_backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``; parametrized by ``pytest_generate_tests``."""
    return request.param


@pytest.fixture(scope="session")
def sqlite_databases() -> SqliteDatabases:
    return SqliteDatabases()


@pytest.fixture(scope="session")
def postgresql_databases(pg_server: str) -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(pg_server)
    yield databases
    databases.close()


@pytest.fixture(scope="module")
def databases(request: pytest.FixtureRequest, db_backend: str) -> Databases:
    """Makes registry databases on the backend under test (the PostgreSQL server starts only when asked)."""
    return request.getfixturevalue(f"{db_backend}_databases")


@pytest.fixture
def db_url(databases: Databases, tmp_path: Path) -> Iterator[str]:
    """A fresh registry database on the backend under test: SQLite at ``tmp_path/home/registry.db``,
    or a new PostgreSQL database at the head revision. Dropped afterwards."""
    url = databases.new(tmp_path / "home")
    yield url
    databases.drop(url)


@pytest.fixture
def empty_db_url(databases: Databases, tmp_path: Path) -> Iterator[str]:
    """A really empty database (no tables, no Alembic stamp) on the backend under test. Dropped afterwards."""
    url = databases.new(tmp_path / "empty-db", empty=True)
    yield url
    databases.drop(url)


@pytest.fixture
def bare_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``SCIDEX_REPLAY_HOME`` and no ``SCIDEX_REPLAY_DB``: for tests that never reach a database."""
    data = tmp_path / "home"
    data.mkdir(exist_ok=True)
    monkeypatch.setenv("SCIDEX_REPLAY_HOME", str(data))
    monkeypatch.delenv("SCIDEX_REPLAY_DB", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])))
    return data


@pytest.fixture
def home(bare_home: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    """``bare_home`` with ``SCIDEX_REPLAY_DB`` set to ``db_url``; subprocesses inherit both."""
    monkeypatch.setenv("SCIDEX_REPLAY_DB", db_url)
    return bare_home


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
def leftovers():
    """Pids a test found alive that should not be: killed at the end whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="session")
def s3_server():
    """A throwaway S3-compatible server (moto's, from the test extra) on 127.0.0.1 for the session
    (``_s3.py``): the shared-store tests reach it through s3fs, as users reach AWS or MinIO."""
    from _s3 import s3_server as start

    with start() as server:
        yield server
