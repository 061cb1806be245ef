"""The cache of probed environments: in memory and on disk, each entry valid while its stamps hold.

An entry is filed under a key (``python:/abs/path/bin/python`` or
``program:/usr/bin/git``; the path as found, symlinks kept, because every venv's
``bin/python`` links to the same base interpreter) and carries *stamps*: for each
path the probe depends on, its ``(st_mtime_ns, st_ino)``, or ``None`` when it
did not exist. A lookup re-stats those paths (a few microseconds each) and
answers only if every stamp still holds, so ``pip install`` into a venv (which
changes the mtime of its site-packages directory), a replaced interpreter or a
``.pth`` file added anywhere on its ``sys.path`` is a miss. A miss is an ordinary
answer (``None``), after which the caller probes and ``put``s.

On disk an entry is one JSON file ``<dir>/<sha256(key)[:24]>.json``, written
atomically; it also records a hash of the probe's source, so entries written by
another version of the probe are misses. The default directory is
``$SCIDEX_REPLAY_HOME/cache/interpreters``, else the platform's user cache
directory (``platformdirs``) ``/scidex-replay/interpreters``. An unreadable or
unwritable cache is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from scidex_replay.config import cache_dir
from scidex_replay.env import _probe
from scidex_replay.env._probe import stamp
from scidex_replay.env.capture import environment
from scidex_replay.registry.records import Environment

logger = logging.getLogger(__name__)
SCHEMA = 1
PROBE_HASH = hashlib.sha256(Path(_probe.__file__).read_bytes()).hexdigest()[:16]

Stamps = dict[str, list[int] | None]


def default_cache_dir() -> Path:
    """``$SCIDEX_REPLAY_HOME/cache/interpreters``, else the user cache dir's ``scidex-replay/interpreters``."""
    return cache_dir() / "interpreters"


def stamps_of(paths: Iterable[str], links: Iterable[str] = ()) -> Stamps:
    """Stamps of ``paths`` (following symlinks) and of the symlinks ``links`` themselves (keyed ``lstat:PATH``)."""
    found: Stamps = {path: stamp(path) for path in paths}
    found.update({f"lstat:{link}": stamp(link, follow=False) for link in links})
    return found


def _holds(stamps: Stamps) -> bool:
    for key, recorded in stamps.items():
        link = key.startswith("lstat:")
        if stamp(key[len("lstat:"):] if link else key, follow=not link) != recorded:
            return False
    return True


class ProbeCache:
    """Probed environments by key, in memory and under ``directory`` (None: ``default_cache_dir()``)."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._memory: dict[str, tuple[Stamps, Environment]] = {}
        self._lock = threading.Lock()

    @property
    def directory(self) -> Path:
        return self._directory if self._directory is not None else default_cache_dir()

    def file_for(self, key: str, directory: Path | None = None) -> Path:
        """Where the entry for ``key`` is kept on disk."""
        return (directory or self.directory) / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def get(self, key: str, directory: Path | None = None) -> Environment | None:
        """The entry for ``key`` if its stamps still hold, else None (memory first, then disk)."""
        with self._lock:
            held = self._memory.get(key)
        if held is not None and _holds(held[0]):
            return held[1]
        loaded = self._load(key, directory)
        if loaded is None or not _holds(loaded[0]):
            return None
        with self._lock:
            self._memory[key] = loaded
        return loaded[1]

    def put(self, key: str, stamps: Stamps, env: Environment, directory: Path | None = None) -> None:
        """Keep ``env`` for ``key`` while ``stamps`` hold: in memory, and on disk if the directory is writable."""
        with self._lock:
            self._memory[key] = (stamps, env)
        record = {
            "schema": SCHEMA, "probe": PROBE_HASH, "key": key, "stamps": stamps,
            "python": env.python, "platform": env.platform, "requirements_lock": env.requirements_lock,
        }
        target = self.file_for(key, directory)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".probe-", suffix=".json", dir=target.parent)
            with os.fdopen(fd, "w") as out:
                json.dump(record, out, sort_keys=True)
            os.replace(tmp, target)
        except OSError as exc:
            logger.debug("cannot write the probe cache %s: %s", target, exc)

    def clear_memory(self) -> None:
        """Forget the in-memory entries (the disk entries stay)."""
        with self._lock:
            self._memory.clear()

    def _load(self, key: str, directory: Path | None) -> tuple[Stamps, Environment] | None:
        try:
            record = json.loads(self.file_for(key, directory).read_text())
            if record["schema"] != SCHEMA or record["probe"] != PROBE_HASH or record["key"] != key:
                return None
            # rebuilt (and re-hashed) from its parts, so an edited entry cannot carry a wrong env_hash
            return record["stamps"], environment(record["python"], record["platform"], record["requirements_lock"])
        except (OSError, ValueError, KeyError, TypeError):
            return None


CACHE = ProbeCache()
"""The process-wide cache ``interpreter_environment`` and ``command_environment`` use."""
