"""A throwaway PostgreSQL server on 127.0.0.1, for the tests (``conftest.py``) and the benchmarks.

    with postgres_server() as prefix:      # "postgresql+psycopg://scidex@127.0.0.1:PORT/"
        url = create_database(prefix)      # empty; create_database(prefix, template=name) copies one
        drop_database(url)

``SCIDEX_TEST_PG_URL`` points at a server you run instead. The server binaries
come from Debian's ``postgresql`` package (``make postgres`` installs them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path


def bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server in a temp dir (fsync off: tests and benchmarks, not durability); yield a URL prefix."""
    if os.environ.get("SCIDEX_TEST_PG_URL"):
        yield os.environ["SCIDEX_TEST_PG_URL"].rstrip("/") + "/"
        return
    bin_dir = bindir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries not found: run `make postgres` or set SCIDEX_TEST_PG_URL")
    root = Path(tempfile.mkdtemp(prefix="scidex-bench-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "scidex", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://scidex@127.0.0.1:{port}/"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@cache
def _admin(prefix: str):
    """One AUTOCOMMIT engine on the server's ``postgres`` database (CREATE/DROP DATABASE cannot run in a transaction)."""
    from sqlalchemy import create_engine

    return create_engine(prefix + "postgres", isolation_level="AUTOCOMMIT")


def create_database(prefix: str, template: str | None = None) -> str:
    """A fresh database on the server at ``prefix``, empty or a copy of the database ``template``; returns its URL.

    Copying a database already at head and opening it takes ~70 ms, an empty one plus the
    migrations ~130 ms. The template must have no open connection meanwhile.
    """
    from sqlalchemy import text

    name = f"db_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with _admin(prefix).connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    return prefix + name


def drop_database(url: str) -> None:
    """Drop the database at ``url`` (made by ``create_database``), ending any connection left open to it."""
    from sqlalchemy import text

    prefix, name = url.rsplit("/", 1)
    with _admin(prefix + "/").connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def server_version(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
    engine.dispose()
    return str(version)
