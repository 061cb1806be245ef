"""The environment of the program a recorded command runs, not of scidex-replay's own interpreter.

``command_environment(argv)`` resolves ``argv[0]`` and describes what it is:

- **a Python interpreter** (its name, or the name of the file it links to, is
  ``python``, ``python3``, ``python3.11``, ``pythonw``, ``pypy3``…; or a script
  whose ``#!`` line runs one, as a console script installed in a venv does):
  ``interpreter_environment`` of it. The record is exactly what
  ``capture.current_environment()`` gives when that interpreter is the live one:
  ``python`` is ``IMPL X.Y.Z``, ``platform`` its ``sysconfig.get_platform()``,
  ``requirements_lock`` the sorted, PEP 503-normalized ``name==version`` lines of
  its installed distributions, ``env_hash`` the sha256 of the ``# python:`` /
  ``# platform:`` header and the lock (``capture.environment``).
- **another program** (``git``, ``Rscript``, a compiled binary; a script whose
  ``#!`` names a non-Python interpreter stands for that interpreter):
  ``program_environment``. ``python`` is the program's file name, ``platform``
  this machine's tag, and the lock holds only comment lines, so a pinned replay
  installs nothing from it::

      # program: /usr/bin/cc
      # resolved: /usr/bin/x86_64-linux-gnu-gcc-12    (only when it is a symlink)
      # version: cc (Debian 12.2.0-14) 12.2.0

  The version is the first line ``PROG --version`` prints (stdout, else stderr;
  run from an empty temp directory with stdin closed and ``LC_ALL=C``, killed
  after 3 s); a failure, a non-zero exit or no output is ``version unknown``.

Probing an interpreter costs one fresh process (about 30-60 ms); the result is
cached in memory and on disk (``probe_cache``) under the interpreter's path as
found (symlinks kept: every venv's ``bin/python`` links to the same base
binary) and stays valid while the stamps (mtime and inode) of the interpreter,
of the symlink itself, of ``pyvenv.cfg`` next to it or one level up, of every
directory on the interpreter's ``sys.path`` and of its user site directory
hold; ``pip install``/``uninstall`` into the venv changes its site-packages
directory and so invalidates the entry. An interpreter that is itself a ``#!``
script (a pyenv shim) chooses the real one anew on every run, so it is probed
every time and never cached. A program's version is cached the same
way under the program's path, stamped by the program file and symlink.

The probe runs ``PYTHON -E -c SOURCE`` (``-E``: ``PYTHONPATH``, ``PYTHONHOME``
and the other ``PYTHON*`` variables of the caller are ignored; the user site
directory counts when the interpreter enables it). It imports only the standard
library, as the target need not have scidex-replay installed, and needs Python
3.8 or later.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path

from scidex_replay.env import _probe
from scidex_replay.env.capture import environment, format_lock
from scidex_replay.env.probe_cache import CACHE, stamps_of
from scidex_replay.errors import BadInput, one_line
from scidex_replay.registry.records import Environment

__all__ = [
    "InterpreterProbeFailed", "command_environment", "interpreter_environment", "is_python",
    "program_environment", "resolve_program",
]

PYTHON_NAME = re.compile(r"(?:python|pythonw|pypy)(?:\d+(?:\.\d+)*)?[dmt]*(?:\.exe)?", re.IGNORECASE)
PROBE_TIMEOUT_S = 60
VERSION_TIMEOUT_S = 3
UNKNOWN_VERSION = "version unknown"
# '' (the working directory, which may hold a json.py or site.py) leaves sys.path before any import
_PROBE_SOURCE = "import sys; sys.path[:] = [p for p in sys.path if p]; exec(compile({!r}, {!r}, 'exec'))".format(
    Path(_probe.__file__).read_text(), "<scidex-replay probe>"
)


class InterpreterProbeFailed(BadInput):
    """A Python interpreter could not be asked for its environment (missing, not Python 3.8+, crashed)."""


def resolve_program(name: str, path: str | None = None, cwd: str | Path | None = None) -> str | None:
    """The absolute path of the executable file ``name`` runs, or None: a name with a directory
    separator is taken relative to ``cwd`` (default: this process's), a bare name is looked up
    with ``shutil.which`` on ``path`` (default ``$PATH``). Symlinks are kept, not resolved."""
    if not name:
        return None
    if os.sep in name or (os.altsep and os.altsep in name):
        candidate = Path(cwd) / name if cwd is not None else Path(name)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
        return None
    found = shutil.which(name, path=path)
    return os.path.abspath(found) if found else None


def is_python(executable: str | Path) -> bool:
    """Whether ``executable``'s file name, or that of the file it links to, names a Python interpreter."""
    names = (Path(executable).name, Path(os.path.realpath(executable)).name)
    return any(PYTHON_NAME.fullmatch(name) for name in names)


def interpreter_environment(python: str | Path, *, cache_dir: Path | None = None) -> Environment:
    """The environment of the Python interpreter ``python`` (a path, or a name looked up on ``$PATH``),
    probed in a subprocess once and then cached (see the module docstring for what invalidates it).
    ``cache_dir`` defaults to ``probe_cache.default_cache_dir()``.

    Raises ``InterpreterProbeFailed`` (a ``BadInput``) with a one-line reason if it cannot be probed.
    """
    exe = resolve_program(str(python))
    if exe is None:
        raise InterpreterProbeFailed(f"cannot probe the Python interpreter {python}: no such executable")
    # a wrapper script (a pyenv shim) picks its interpreter anew each run, outside any stamp: never cached
    cacheable = not _shebang(exe, None)[0]
    key = f"python:{exe}"
    cached = CACHE.get(key, cache_dir) if cacheable else None
    if cached is not None:
        return cached
    bindir = Path(exe).parent
    # taken before the probe runs: a change while it runs leaves the entry stale, never wrongly fresh
    stamps = stamps_of([exe, str(bindir / "pyvenv.cfg"), str(bindir.parent / "pyvenv.cfg")], links=[exe])
    described = _probe_interpreter(exe)
    stamps.update(described["stamps"])
    env = environment(described["python"], described["platform"], format_lock(described["lines"]))
    if cacheable:
        CACHE.put(key, stamps, env, cache_dir)
    return env


def program_environment(program: str | Path, *, cache_dir: Path | None = None) -> Environment:
    """The environment of a non-Python program at ``program``: its path, resolved path and
    ``--version`` line as comment lines of the lock (format in the module docstring)."""
    exe = os.path.abspath(program)
    key = f"program:{exe}"
    cached = CACHE.get(key, cache_dir)
    if cached is not None:
        return cached
    stamps = stamps_of([exe], links=[exe])
    version = version_string(exe)
    env = _program_record(exe, version)
    if version != UNKNOWN_VERSION:  # a timeout under load is not worth keeping on disk
        CACHE.put(key, stamps, env, cache_dir)
    return env


def command_environment(
    argv: Sequence[str], path: str | None = None, *, cwd: str | Path | None = None, cache_dir: Path | None = None
) -> Environment | None:
    """The environment of the program ``argv`` runs, or None if ``argv[0]`` cannot be resolved
    (on ``path``, default ``$PATH``; a relative path from ``cwd``). A Python interpreter, or a script
    whose ``#!`` line runs one, gives ``interpreter_environment``; any other program
    ``program_environment``. A script is never run to ask its version: a script whose interpreter
    cannot be found is recorded with ``version unknown``.

    Raises ``InterpreterProbeFailed`` when the interpreter is found but cannot be probed.
    """
    if not argv:
        return None
    exe = resolve_program(argv[0], path, cwd)
    if exe is None:
        return None
    if is_python(exe):
        return interpreter_environment(exe, cache_dir=cache_dir)
    is_script, interpreter = _shebang(exe, path)
    if not is_script:
        return program_environment(exe, cache_dir=cache_dir)
    if interpreter is None:
        return _program_record(exe, UNKNOWN_VERSION)
    if is_python(interpreter):
        return interpreter_environment(interpreter, cache_dir=cache_dir)
    return program_environment(interpreter, cache_dir=cache_dir)


def version_string(exe: str) -> str:
    """The first line ``exe --version`` prints (stdout, else stderr), or ``version unknown``."""
    with tempfile.TemporaryDirectory(prefix="scidex-version-") as empty:
        try:
            proc = subprocess.Popen(
                [exe, "--version"], cwd=empty, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=dict(os.environ, LC_ALL="C"), start_new_session=True,
            )
        except OSError:
            return UNKNOWN_VERSION
        try:
            out, err = proc.communicate(timeout=VERSION_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return UNKNOWN_VERSION
    if proc.returncode != 0:
        return UNKNOWN_VERSION
    for stream in (out, err):
        for line in stream.decode(errors="replace").splitlines():
            if line.strip():
                return one_line(line)[:200]
    return UNKNOWN_VERSION


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (OSError, AttributeError):
        proc.kill()
    try:
        proc.communicate(timeout=1)
    except subprocess.TimeoutExpired:  # a grandchild left the group and holds the pipes
        pass


def _program_record(exe: str, version: str) -> Environment:
    lines = [f"# program: {exe}"]
    real = os.path.realpath(exe)
    if real != exe:
        lines.append(f"# resolved: {real}")
    lines.append(f"# version: {version}")
    return environment(Path(exe).name, sysconfig.get_platform(), format_lock(lines))


def _shebang(exe: str, path: str | None) -> tuple[bool, str | None]:
    """(whether ``exe`` is a ``#!`` script, the interpreter it names resolved, or None if not found).
    ``#!/usr/bin/env [-S] [VAR=V]... NAME`` is looked up on ``path`` as ``env`` would."""
    try:
        with open(exe, "rb") as handle:
            head = handle.readline(512)
    except OSError:
        return False, None
    if not head.startswith(b"#!"):
        return False, None
    words = head[2:].decode(errors="replace").split()
    if not words:
        return True, None
    if Path(words[0]).name == "env":
        rest = [word for word in words[1:] if not word.startswith("-") and "=" not in word]
        return True, (resolve_program(rest[0], path) if rest else None)
    return True, resolve_program(words[0], path)


def _probe_interpreter(exe: str) -> dict:
    def failed(reason: str) -> InterpreterProbeFailed:
        return InterpreterProbeFailed(one_line(f"cannot probe the Python interpreter {exe}: {reason}"))

    try:
        proc = subprocess.run(
            [exe, "-E", "-c", _PROBE_SOURCE], stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise failed(f"no answer within {PROBE_TIMEOUT_S} s") from None
    except OSError as exc:
        raise failed(exc.strerror or str(exc)) from exc
    stderr = [line for line in proc.stderr.decode(errors="replace").splitlines() if line.strip()]
    if proc.returncode != 0:
        raise failed(f"exit {proc.returncode}: {' '.join(stderr[-2:])[-300:]} (is it Python 3.8 or later?)")
    for line in reversed(proc.stdout.decode(errors="replace").splitlines()):
        if line.startswith(_probe.MARKER):
            try:
                described = json.loads(line[len(_probe.MARKER):])
                if all(key in described for key in ("python", "platform", "lines", "stamps")):
                    return described
            except ValueError:
                pass
            break
    raise failed("it printed no environment description")
