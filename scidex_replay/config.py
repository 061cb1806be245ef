"""Where data lives: ``SCIDEX_REPLAY_HOME``, ``SCIDEX_REPLAY_DB`` and ``SCIDEX_REPLAY_STORE``; where caches live."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "SCIDEX_REPLAY_HOME"
DB_ENV = "SCIDEX_REPLAY_DB"
BUSY_TIMEOUT_ENV = "SCIDEX_REPLAY_BUSY_TIMEOUT_S"
STORE_ENV = "SCIDEX_REPLAY_STORE"
STORE_OPTIONS_ENV = "SCIDEX_REPLAY_STORE_OPTIONS"
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


def store_url() -> str | None:
    """The shared blob store: ``$SCIDEX_REPLAY_STORE`` (an fsspec URL such as ``s3://bucket/prefix``),
    else None, the local store under the data home (``<home>/blobs``)."""
    return os.environ.get(STORE_ENV, "").strip() or None


def store_options() -> dict:
    """The keyword arguments of the store's fsspec filesystem: ``$SCIDEX_REPLAY_STORE_OPTIONS``, a JSON
    object (e.g. ``{"endpoint_url": "http://minio:9000"}``), else ``{}``. ``BadInput`` for anything else."""
    import json

    from scidex_replay.errors import BadInput

    raw = os.environ.get(STORE_OPTIONS_ENV, "").strip()
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except ValueError as exc:
        raise BadInput(f"{STORE_OPTIONS_ENV} is not valid JSON: {exc}") from None
    if not isinstance(options, dict):
        raise BadInput(f"{STORE_OPTIONS_ENV} must be a JSON object of options, not {type(options).__name__}")
    return options
