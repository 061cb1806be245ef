"""scidex-replay: record processing steps, replay them, prove that the outputs reproduce.

Public names are imported lazily, so that a step's subprocess can import the
handlers without loading SQLAlchemy or pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "Registry": "scidex_replay.registry",
    "Artifact": "scidex_replay.registry",
    "Step": "scidex_replay.registry",
    "ReplayError": "scidex_replay.errors",
    "record_step": "scidex_replay.recording",
    "record_call": "scidex_replay.recording",
    "recorded": "scidex_replay.recording",
    "rerun_artifact": "scidex_replay.replay",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'scidex_replay' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext scidex_replay``."""
    from scidex_replay.surfaces.magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext scidex_replay``."""
    from scidex_replay.surfaces.magic import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt JupyterLab extension lives (for ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "scidex-replay"}]
