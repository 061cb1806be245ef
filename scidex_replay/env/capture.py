"""Capture an environment as a lock text and its hash.

The lock text (``requirements.lock``) is the sorted, PEP 503-normalized
``name==version`` of every installed distribution, one a line, ending in a
newline (a local or editable install also carries its ``direct_url.json`` URL,
so it is reported, not dropped). ``env_hash`` is the sha256 of a two-line header
(``# python: IMPL X.Y.Z`` and ``# platform: TAG``) followed by that text. The
live environment is computed once per process (enumerating distributions costs
15-35 ms); another interpreter's is probed by ``scidex_replay.env.command``,
which builds its record with the same ``environment`` function.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import sys
import sysconfig
from collections.abc import Iterable

from scidex_replay.env._probe import lock_lines, normalize
from scidex_replay.registry.records import Environment

__all__ = ["current_environment", "environment", "format_lock", "lock_text", "normalize"]


def format_lock(lines: Iterable[str]) -> str:
    """The requirements.lock text of ``lines``: one a line, ending in a newline."""
    return "\n".join(lines) + "\n"


def environment(python: str, plat: str, lock: str) -> Environment:
    """The record of an environment, its ``env_hash`` the sha256 of the header and ``lock``."""
    header = f"# python: {python}\n# platform: {plat}\n"
    digest = hashlib.sha256((header + lock).encode()).hexdigest()
    return Environment(env_hash=digest, python=python, platform=plat, requirements_lock=lock)


def lock_text() -> str:
    """The requirements.lock of the live interpreter."""
    return format_lock(lock_lines(sys.path))


@functools.cache
def current_environment() -> Environment:
    """The live environment; cached for the life of the process."""
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return environment(python, sysconfig.get_platform(), lock_text())


def lock_changes(recorded: Environment, live: Environment, limit: int = 8) -> str:
    """The packages (and Python) that differ between two environments' locks, as one line:
    ``matplotlib 3.11.0 → 3.10.1, -h5py 3.16.0, +rich 13.7.1`` (changed versions first, then
    ``-`` only in ``recorded``, then ``+`` only in ``live``); at most ``limit`` named, then how
    many more. "" when none."""
    def versions(env: Environment) -> dict[str, str]:
        out = {}
        for line in env.requirements_lock.splitlines():
            req = line.split("#", 1)[0].split(";", 1)[0].strip()
            name, sep, version = req.partition("==")
            if sep:
                out[normalize(name.strip())] = version.split()[0] if version.split() else version
        return out
    before, after = versions(recorded), versions(live)
    changes = []
    if recorded.python != live.python:
        changes.append(f"python {recorded.python.split()[-1]} → {live.python.split()[-1]}")
    changes += [f"{n} {before[n]} → {after[n]}" for n in sorted(before.keys() & after.keys()) if before[n] != after[n]]
    changes += [f"-{n} {before[n]}" for n in sorted(before.keys() - after.keys())]
    changes += [f"+{n} {after[n]}" for n in sorted(after.keys() - before.keys())]
    if len(changes) > limit:
        changes = changes[:limit] + [f"{len(changes) - limit} more"]
    return ", ".join(changes)
