"""Where data lives: ``SCIDEX_REPLAY_HOME`` and ``SCIDEX_REPLAY_DB``; where caches live."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "SCIDEX_REPLAY_HOME"
DB_ENV = "SCIDEX_REPLAY_DB"
DB_TIMEOUT_ENV = "SCIDEX_REPLAY_DB_TIMEOUT_S"


def data_home() -> Path:
    """The data home: ``$SCIDEX_REPLAY_HOME`` or the platform's user data dir."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("scidex-replay", appauthor=False))


def cache_dir() -> Path:
    """What may be rebuilt at any time: ``$SCIDEX_REPLAY_HOME/cache``, else the platform's user cache dir."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser() / "cache"
    try:
        import platformdirs
    except ImportError:  # in a step's pinned venv, which has the analysis's packages, not ours
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scidex-replay"
    return Path(platformdirs.user_cache_dir("scidex-replay", appauthor=False))


def database_url(url: str | None = None) -> str:
    """``url``, else ``$SCIDEX_REPLAY_DB``, else SQLite under the data home."""
    if url:
        return url
    if os.environ.get(DB_ENV):
        return os.environ[DB_ENV]
    return f"sqlite:///{data_home() / 'registry.db'}"


def db_timeout_s() -> float:
    """How long a write waits for a database (SQLite's busy timeout) or a row (PostgreSQL's
    ``lock_timeout``) another process has locked, in seconds: ``$SCIDEX_REPLAY_DB_TIMEOUT_S``, default 30. Raises ``BadInput``
    for a value that is not a number >= 0."""
    from scidex_replay.errors import BadInput

    text = os.environ.get(DB_TIMEOUT_ENV, "").strip()
    if not text:
        return 30.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise BadInput(f"{DB_TIMEOUT_ENV}={text!r}: expected a number of seconds >= 0")
    return value
