"""Environments: env_hash, requirements.lock capture, deterministic mode.

Names are imported lazily, so that importing ``scidex_replay.env.deterministic``
(as every handler that starts a step's process does) does not also load the
capture machinery (``platform``, ``sysconfig``, ``importlib.metadata``).
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "current_environment": "scidex_replay.env.capture",
    "deterministic_env": "scidex_replay.env.deterministic",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'scidex_replay.env' has no attribute {name!r}")
