"""scidex-replay: record processing steps, replay them, prove that the outputs reproduce.

Public names are imported lazily (``scidex_replay._lazy``), so that a step's subprocess can import the
handlers without loading SQLAlchemy or pandas.
"""

from typing import Any

from scidex_replay._lazy import attach

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "errors": ["ReplayError"],
        "notebook": ["run_notebook"],
        "recording": ["record_call", "record_step", "recorded"],
        "registry": ["Artifact", "Registry", "Step"],
        "replay": ["rerun_artifact"],
    },
)


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


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The Jupyter Server extension of the workbench (``surfaces/server``), enabled on install."""
    from scidex_replay.surfaces.server import _jupyter_server_extension_points as points

    return points()
