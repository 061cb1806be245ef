"""The workbench's REST handlers, under ``<base_url>scidex-replay/api/`` (``ROUTES``).

Every handler is a Jupyter ``APIHandler`` behind Jupyter's authentication (token, and XSRF for
cookie-authenticated requests that change something). Registry and engine calls run in a thread,
so a slow one never stalls the server; the package's errors become one-line JSON answers
``{"message": ...}``: ``NotFound`` 404, ``Conflict`` 409, ``RegistryUnavailable`` 503 (the
registry cannot be opened or is locked), other ``BadInput`` 400. The shapes
are those of the API contract (``views.py`` turns records into JSON).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join
from tornado import web

from scidex_replay.errors import BadInput, Conflict, NotFound, RegistryUnavailable, ReplayError, one_line
from scidex_replay.surfaces.server import views

T = TypeVar("T")
PREFIX = "scidex-replay/api"
#: the largest page of a search
MAX_LIMIT = 500


class WorkbenchHandler(ExtensionHandlerMixin, APIHandler):
    """The base of every handler: the workbench app, calls in a thread, errors as one-line JSON."""

    @property
    def workbench(self) -> Any:
        return self.extensionapp

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker thread; the package's errors become HTTP errors."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except ReplayError as exc:
            raise _http_error(exc) from None

    async def registry(self) -> Any:
        """The server's registry (opened on first use: a registry that cannot be opened is a one-line error)."""
        return await self.call(self.workbench.registry)

    def body(self) -> Any:
        """The request's JSON body ({} when empty); 400 for one that is not JSON."""
        raw = self.request.body
        if not raw or not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise web.HTTPError(400, "the request body is not JSON") from None

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args  # messages here have their % doubled
        elif isinstance(exc, web.HTTPError):
            message = exc.reason or self._reason
        else:
            message = f"internal error: {one_line(f'{type(exc).__name__}: {exc}') if exc else self._reason}"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": one_line(message)}))


def _http_error(exc: ReplayError) -> web.HTTPError:
    status = (
        404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 503 if isinstance(exc, RegistryUnavailable)
        else 400 if isinstance(exc, BadInput) else 500
    )
    return web.HTTPError(status, one_line(exc).replace("%", "%%"))


def _int_arg(handler: WorkbenchHandler, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = handler.get_query_argument(name, None)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f"{low} or more"
        raise web.HTTPError(400, f"{name} {raw!r}: expected a whole number {bound}".replace("%", "%%"))
    return value


class ArtifactsHandler(WorkbenchHandler):
    @web.authenticated
    async def get(self) -> None:
        q = self.get_query_argument("q", "").strip() or None
        kind = self.get_query_argument("kind", "").strip() or None
        limit = _int_arg(self, "limit", 50, 1, MAX_LIMIT)
        offset = _int_arg(self, "offset", 0, 0)
        page = await self.call(views.search, await self.registry(), q, kind, limit, offset)
        self.reply(page)


class ArtifactHandler(WorkbenchHandler):
    @web.authenticated
    async def get(self, artifact_id: str) -> None:
        self.reply(await self.call(views.artifact_detail, await self.registry(), artifact_id))


class ChainHandler(WorkbenchHandler):
    @web.authenticated
    async def get(self, artifact_id: str) -> None:
        self.reply(await self.call(views.chain, await self.registry(), artifact_id))


class PlanHandler(WorkbenchHandler):
    @web.authenticated
    async def post(self, artifact_id: str) -> None:
        options = await self.call(views.options_of, self.body())
        self.reply(await self.call(views.plan, await self.registry(), artifact_id, options))


class RerunHandler(WorkbenchHandler):
    @web.authenticated
    async def post(self, artifact_id: str) -> None:
        body = self.body()
        options = await self.call(views.options_of, body)
        await self.call(options.check_out)
        await self.call((await self.registry()).get_artifact, artifact_id)
        job = self.workbench.jobs.submit(artifact_id, body)
        self.set_header("Location", url_path_join(self.base_url, PREFIX, "jobs", job.job_id))
        self.reply({"job_id": job.job_id}, 202)


class RunsHandler(WorkbenchHandler):
    @web.authenticated
    async def get(self) -> None:
        artifact_id = self.get_query_argument("artifact", "").strip() or None
        self.reply(await self.call(views.runs, await self.registry(), artifact_id))


class RunHandler(WorkbenchHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        self.reply(await self.call(views.run_detail, await self.registry(), run_id))


class JobsHandler(WorkbenchHandler):
    @web.authenticated
    async def get(self) -> None:
        self.reply({"jobs": [job.to_json() for job in self.workbench.jobs.newest_first()]})


class JobHandler(WorkbenchHandler):
    def _job(self, job_id: str) -> Any:
        job = self.workbench.jobs.get(job_id)
        if job is None:
            raise web.HTTPError(404, f"unknown job id: {job_id}".replace("%", "%%"))
        return job

    @web.authenticated
    async def get(self, job_id: str) -> None:
        self.reply(self._job(job_id).to_json())

    @web.authenticated
    async def delete(self, job_id: str) -> None:
        job = self._job(job_id)
        self.workbench.jobs.cancel(job)
        self.reply(job.to_json(), 202)


_ID = r"([^/]+)"
#: (path under the server's base URL, handler)
ROUTES = [
    (f"{PREFIX}/artifacts", ArtifactsHandler),
    (f"{PREFIX}/artifacts/{_ID}", ArtifactHandler),
    (f"{PREFIX}/artifacts/{_ID}/chain", ChainHandler),
    (f"{PREFIX}/artifacts/{_ID}/plan", PlanHandler),
    (f"{PREFIX}/artifacts/{_ID}/rerun", RerunHandler),
    (f"{PREFIX}/runs", RunsHandler),
    (f"{PREFIX}/runs/{_ID}", RunHandler),
    (f"{PREFIX}/jobs", JobsHandler),
    (f"{PREFIX}/jobs/{_ID}", JobHandler),
]
