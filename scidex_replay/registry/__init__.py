"""The registry: SQLAlchemy models and the queries the engine and surfaces use.

Names are imported lazily so that ``scidex_replay.registry.records`` (plain
dataclasses) can be imported where SQLAlchemy is not installed, e.g. by a step
running in a pinned environment.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "Artifact": "scidex_replay.registry.records",
    "Environment": "scidex_replay.registry.records",
    "Step": "scidex_replay.registry.records",
    "Registry": "scidex_replay.registry.registry",
    "input_hash_of": "scidex_replay.registry.registry",
    "new_id": "scidex_replay.registry.registry",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'scidex_replay.registry' has no attribute {name!r}")
