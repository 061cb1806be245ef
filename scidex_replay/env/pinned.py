"""Pinned environments: a venv per recorded env_hash, built from its requirements.lock with uv.

Venvs live under ``<home>/envs/<env_hash[:16]>`` and are reused by every later
replay of a step recorded in that environment. A venv is built in a temp
directory and renamed into place when complete, so a half-built venv is never
used. Local or editable installs in the lock (lines carrying a ``file://``
``direct_url``) cannot come from an index: they are left out of the sync and
reported. A lock is code the installer runs, and a registry can be edited: only
``name==version`` lines (with ``--hash=ALGO:HEX`` options, comments and blank
lines) are accepted; a lock with any other line (a URL or ``name @ file://``
requirement, ``--index-url``, ``-r FILE``, ``-e``, a marker) is refused whole,
naming the line, and the step runs in the live env like any other pin failure. scidex_replay itself runs in the venv from its own source directory
(on ``PYTHONPATH``), importing only the handler modules, which need nothing but
the standard library.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scidex_replay.errors import BadInput
from scidex_replay.registry.records import Environment, validate_env_hash

logger = logging.getLogger(__name__)
READY = ".scidex-ready"
BUILD_TIMEOUT_S = 900


#: ``name==version``, then ``--hash=ALGO:HEX`` options: the only requirement a lock may hold.
_PINNED = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?==[A-Za-z0-9][A-Za-z0-9.+!_-]*"
    r"(?:[ \t]+--hash[= ](?:sha256|sha384|sha512):[0-9a-f]+)*"
)


@dataclass(frozen=True)
class Pin:
    """The outcome of pinning: a venv's interpreter, or None and why not."""

    python: str | None
    note: str


def split_lock(lock: str) -> tuple[list[str], list[str]]:
    """(requirements uv can install, names of local/editable packages it cannot). ``BadInput``
    naming the first line that is not ``name==version`` (with hashes), a comment or blank."""
    installable, local = [], []
    for line in re.sub(r"\s*\\\n\s*", " ", lock).splitlines():  # a backslash at the end continues a line
        req, _, comment = line.partition("  # direct_url: ")
        req = re.split(r"\s#", req, maxsplit=1)[0].strip()
        if not req or req.startswith("#"):
            continue
        if not _PINNED.fullmatch(req):
            raise BadInput(f"requirements.lock line refused, only name==version lines are installed: {line.strip()!r:.100}")
        if comment.startswith("file:"):
            local.append(req.split("==")[0])
        else:
            installable.append(req)
    return installable, local


def _uv() -> str:
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise FileNotFoundError("uv is not installed") from None
        return found


def _python_request(env: Environment) -> str:
    """The interpreter to build on: this one when the minor versions match, else ``X.Y`` for uv to find."""
    recorded = env.python.split()[-1] if env.python else ""
    live = platform.python_version()
    if recorded.split(".")[:2] == live.split(".")[:2] or not recorded:
        return sys.executable
    return ".".join(recorded.split(".")[:2])


def ensure_pinned(env: Environment, home: Path) -> Pin:
    """The interpreter of the venv for ``env``, building it on first use; never raises."""
    try:
        target = home / "envs" / validate_env_hash(env.env_hash)[:16]
    except BadInput as exc:
        return Pin(None, f"env-differs: ran in live env (no pinned env: {exc})")
    python = target / "bin" / "python"
    try:
        installable, local = split_lock(env.requirements_lock)
    except BadInput as exc:
        logger.warning("no pinned env %s: %s", env.env_hash[:12], exc)
        return Pin(None, f"env-differs: ran in live env (no pinned env: {exc})")
    local_note = f"; local packages not pinned: {', '.join(local)}" if local else ""
    if (target / READY).is_file():
        return Pin(str(python), f"pinned env {env.env_hash[:12]} (reused){local_note}")
    target.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        uv = _uv()
        run_env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", VIRTUAL_ENV="")
        _run([uv, "venv", "--quiet", "--python", _python_request(env), str(build)], run_env)
        lock_file = build / "requirements.lock"
        lock_file.write_text("\n".join(installable) + "\n")
        _run([uv, "pip", "sync", "--quiet", "--python", str(build / "bin" / "python"), str(lock_file)], run_env)
        (build / READY).write_text(env.env_hash + "\n")
        try:
            build.rename(target)
        except OSError:  # another process finished the same venv first; use theirs
            shutil.rmtree(build, ignore_errors=True)
        return Pin(str(python), f"pinned env {env.env_hash[:12]} (built){local_note}")
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        shutil.rmtree(build, ignore_errors=True)
        logger.warning("cannot build the pinned env %s: %s", env.env_hash[:12], exc)
        return Pin(None, f"env-differs: ran in live env (pinned env could not be built: {exc})")


def _run(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(" ".join(lines[-2:])[-300:] or f"{Path(cmd[0]).name} exit {proc.returncode}")
