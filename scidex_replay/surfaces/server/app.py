"""``WorkbenchApp``: the Jupyter Server extension ``scidex_replay`` (enabled on install by
``jupyter-config/jupyter_server_config.d/scidex_replay.json``).

Configurable like any Jupyter app (``jupyter_server_config.py`` or the command line)::

    c.WorkbenchApp.max_jobs = 2          # replays running at once; more wait queued
    c.WorkbenchApp.db = "postgresql+psycopg://…"   # default $SCIDEX_REPLAY_DB, else under the home
    c.WorkbenchApp.home = "/data/scidex"          # default $SCIDEX_REPLAY_HOME
    c.WorkbenchApp.cancel_grace_s = 10.0          # SIGINT, then SIGTERM, then SIGKILL, this far apart
"""

from __future__ import annotations

import os
import threading
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Int, Unicode, validate

from scidex_replay.config import DB_ENV, HOME_ENV


class WorkbenchApp(ExtensionApp):
    """The workbench's REST API (``handlers.ROUTES``) and its background replay jobs (``jobs.Jobs``)."""

    name = "scidex_replay"
    load_other_extensions = True

    max_jobs = Int(2, help="How many replay jobs run at once; more wait queued.").tag(config=True)
    db = Unicode(None, allow_none=True, help="The registry's database URL [default: $SCIDEX_REPLAY_DB].").tag(config=True)
    home = Unicode(None, allow_none=True, help="The data home: blobs, manifests [default: $SCIDEX_REPLAY_HOME].").tag(config=True)
    cancel_grace_s = Float(10.0, help="Seconds between SIGINT, SIGTERM and SIGKILL when a job is cancelled.").tag(config=True)

    @validate("max_jobs")
    def _check_max_jobs(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise ValueError(f"WorkbenchApp.max_jobs {proposal['value']}: expected 1 or more")
        return proposal["value"]

    def initialize_settings(self) -> None:
        from scidex_replay.surfaces.server.jobs import Jobs

        env = dict(os.environ)
        if self.db:
            env[DB_ENV] = self.db
        if self.home:
            env[HOME_ENV] = self.home
        self._env = env
        self._registry: Any = None
        self._lock = threading.Lock()
        self.jobs = Jobs(limit=self.max_jobs, env=env, grace_s=self.cancel_grace_s, log=self.log)

    def initialize_handlers(self) -> None:
        from scidex_replay.surfaces.server.handlers import ROUTES

        self.handlers.extend(ROUTES)

    def registry(self) -> Any:
        """The registry, opened (created or upgraded) on first use, in the jobs' environment."""
        with self._lock:
            if self._registry is None:
                from scidex_replay.config import database_url
                from scidex_replay.registry import Registry

                url = self.db or self._env.get(DB_ENV) or None
                home = self.home or self._env.get(HOME_ENV) or None
                self._registry = Registry.open(database_url(url) if url else None, home)
            return self._registry

    async def stop_extension(self) -> None:
        """The server stops: cancel the jobs (their runs end ``interrupted``), close the registry."""
        await self.jobs.shutdown()
        if self._registry is not None:
            self._registry.close()
