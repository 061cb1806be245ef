"""Where data lives: ``SCIDEX_REPLAY_HOME`` and ``SCIDEX_REPLAY_DB``; where caches live."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "SCIDEX_REPLAY_HOME"
DB_ENV = "SCIDEX_REPLAY_DB"
BUSY_TIMEOUT_ENV = "SCIDEX_REPLAY_BUSY_TIMEOUT_S"
#: Seconds a command waits for a SQLite registry that another process is writing, by default.
BUSY_TIMEOUT_S = 30.0


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


def busy_timeout_s() -> float:
    """Seconds to wait for a SQLite registry locked by another writer: ``$SCIDEX_REPLAY_BUSY_TIMEOUT_S``,
    else ``BUSY_TIMEOUT_S``. Raises ``BadInput`` for a value that is not a number of seconds >= 0."""
    import math

    from scidex_replay.errors import BadInput

    raw = os.environ.get(BUSY_TIMEOUT_ENV, "").strip()
    if not raw:
        return BUSY_TIMEOUT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise BadInput(f"{BUSY_TIMEOUT_ENV}={raw!r}: not a number of seconds >= 0")
    return seconds
