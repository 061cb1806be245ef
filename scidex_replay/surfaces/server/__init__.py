"""The workbench: a Jupyter Server extension with a REST API under
``<base_url>scidex-replay/api/`` (``handlers.py``) and background replay jobs (``jobs.py``,
each in a process of its own: ``job.py``). A user surface: it reads the registry and calls the
engine (``scidex_replay.replay``), nothing more."""

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from scidex_replay.surfaces.server.app import WorkbenchApp

    return [{"module": "scidex_replay.surfaces.server", "app": WorkbenchApp}]
