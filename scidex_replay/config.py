"""Where data lives: ``SCIDEX_REPLAY_HOME`` and ``SCIDEX_REPLAY_DB``."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "SCIDEX_REPLAY_HOME"
DB_ENV = "SCIDEX_REPLAY_DB"


def data_home() -> Path:
    """The data home: ``$SCIDEX_REPLAY_HOME`` or the platform's user data dir."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("scidex-replay", appauthor=False))


def database_url(url: str | None = None) -> str:
    """``url``, else ``$SCIDEX_REPLAY_DB``, else SQLite under the data home."""
    if url:
        return url
    if os.environ.get(DB_ENV):
        return os.environ[DB_ENV]
    return f"sqlite:///{data_home() / 'registry.db'}"
