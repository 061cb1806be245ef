"""Code identity of a ``python.call`` step: which source file its function came from.

Replay imports the function's module live, so the module's source file is an input of the
step like any data file: ``code_of(func)`` reads it (its bytes become an artifact linked to the
step as a *code* input, in the lineage but never handed to the function) together with the
``sys.path`` entry it was imported from, so that a replay in another process can import the
module from the same place. ``live_hash`` and ``code_differs`` are what replay checks before it
runs the step: the module it is about to import must be the one that was recorded (the
``python.call`` handler puts the recorded root on ``sys.path``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from scidex_replay.registry.records import CodeInput, NewCode
from scidex_replay.store import hash_file


def code_of(func: Callable[..., Any]) -> tuple[NewCode, ...]:
    """The code input of ``func``: its module's source file as it is now, with the module name and
    its ``sys.path`` root (``pkg.sub.mod`` at ``/x/pkg/sub/mod.py`` -> ``/x``). Empty for a module
    without a Python source file (a builtin, a C extension, ``__main__``, a module not imported)."""
    name = getattr(func, "__module__", None)
    module = sys.modules.get(name) if name and name != "__main__" else None
    path = _source_file(module)
    if module is None or path is None:
        return ()
    return (NewCode(name, str(path), str(import_root(name, path)), path.read_bytes()),)


def _source_file(module: Any) -> Path | None:
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
    if not origin or not origin.endswith(".py") or not Path(origin).is_file():
        return None
    return Path(os.path.abspath(origin))


def import_root(module: str, path: Path) -> Path:
    """The ``sys.path`` entry from which ``module`` is found at ``path`` (a package's
    ``__init__.py`` sits one folder deeper than a plain module)."""
    depth = module.count(".") + (1 if path.name == "__init__.py" else 0)
    return path.parents[depth]


def as_run(store: Any, code_inputs: Sequence[CodeInput]) -> tuple[NewCode, ...]:
    """The code a replay ran, to record with a fork's new step: each module's file as it is now
    (replay imported it live), or its recorded bytes from ``store`` when the file is gone."""
    def data(code: CodeInput) -> bytes:
        try:
            return Path(code.path).read_bytes()
        except OSError:
            with store.open(code.content_hash) as fh:
                return fh.read()

    return tuple(NewCode(c.module, c.path, c.root, data(c)) for c in code_inputs)


def live_hash(code: CodeInput) -> str | None:
    """sha256 of the file at the recorded path as it is now; None when it is gone."""
    try:
        return hash_file(Path(code.path))
    except OSError:
        return None


def code_differs(code_inputs: Sequence[CodeInput], live: Sequence[str | None]) -> str:
    """Why the live code differs from the record (``live``: ``live_hash`` of each), or ""."""
    for code, digest in zip(code_inputs, live):
        if digest is None:
            return f"module {code.module} ({code.path}) is gone since it was recorded"
        if digest != code.content_hash:
            return f"module {code.module} ({code.path}) changed since it was recorded"
    return ""
