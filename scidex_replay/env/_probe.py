"""The lock lines of an interpreter's installed distributions: standard library only.

This file is two things. ``capture`` imports it to lock the live interpreter, and
``command`` sends its source to another interpreter (``python -E -c SOURCE``),
which runs ``_main`` and prints one line: ``MARKER`` then a JSON description
(implementation and version, platform tag, lock lines, the directories it read).
The target interpreter may not have scidex_replay installed, so nothing here
imports it, and the code stays valid Python 3.8.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

MARKER = "scidex-replay-probe:"
_NORMALIZE = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return _NORMALIZE.sub("-", name).lower()


def _direct_url(info_dir: Path) -> str | None:
    try:
        return json.loads((info_dir / "direct_url.json").read_text()).get("url")
    except (OSError, ValueError, AttributeError):
        return None


def stamp(path: str, follow: bool = True) -> list[int] | None:
    """``[st_mtime_ns, st_ino]`` of ``path`` (of a symlink itself when not ``follow``), or None if absent."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_ino]


def lock_lines(paths: list[str]) -> list[str]:
    """Sorted ``name==version`` of every distribution in the ``paths`` (a ``sys.path``), the first
    on the path winning as for imports, read off the ``*.dist-info`` directory names (0.5 ms) rather
    than by parsing every METADATA file (30+ ms). A local or editable install carries its
    ``direct_url.json`` URL: ``name==version  # direct_url: file:///...``."""
    lines: dict[str, str] = {}
    for entry in paths:
        folder = Path(entry or ".")
        if not folder.is_dir():
            continue
        for info in folder.iterdir():
            if info.suffix not in (".dist-info", ".egg-info"):
                continue
            name, _, version = info.stem.partition("-")
            version = version.split("-py")[0]
            if not version:
                from importlib import metadata

                dist = metadata.Distribution.at(info)
                name, version = dist.metadata["Name"] or "", dist.version
            key = normalize(name)
            if not key or key in lines:  # the first on sys.path wins, as for imports
                continue
            line = f"{key}=={version}"
            url = _direct_url(info)
            if url:
                line += f"  # direct_url: {url}"
            lines[key] = line
    return sorted(lines.values())


def describe() -> dict:
    """This interpreter: what ``capture.environment`` needs, and ``stamps`` of the directories it reads
    (taken before reading them, so a change made while the probe runs makes the entry stale)."""
    import platform
    import site
    import sysconfig

    # sys.path[0] is '' under ``-c``: the caller's working directory, not the interpreter's environment
    paths = [entry for entry in sys.path if entry]
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    # the user site directory is on sys.path only once it exists: watch it anyway
    watched = paths + ([user_site] if user_site and user_site not in paths else [])
    stamps = {entry: stamp(entry) for entry in watched}
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": sysconfig.get_platform(),
        "lines": lock_lines(paths),
        "stamps": stamps,
    }


def _main() -> None:
    # a sitecustomize may have printed already: the description is the last line
    sys.stdout.write("\n" + MARKER + json.dumps(describe(), sort_keys=True) + "\n")


if __name__ == "__main__":
    _main()
