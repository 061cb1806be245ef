"""The replay widget (ipywidgets 8) and the static view of a manifest.

``ReplayWidget`` is a box of standard controls around synced traits: the chain
as a table colored by outcome, *Replay all*, *Replay from* the selected step,
*Strict* and *Diff* toggles, the executor, *Restart last failed run*, a
progress bar advanced once per step, and a ``manifest.json`` download link.
It holds no replay logic: every button calls ``rerun_artifact`` (or, to draw
the chain before anything ran, ``plan_replay``) and copies what the engine
reports into traits.

``ManifestView`` renders a manifest without a kernel (``_repr_html_``,
``_repr_mimebundle_``); ``manifest_bundle`` is the display bundle the magic
attaches to the notebook: the manifest under ``MIMETYPE`` plus HTML and plain
text fallbacks.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

import ipywidgets as widgets
from traitlets import Bool, Dict, Int, List, TraitError, Unicode, observe, validate

from scidex_replay.errors import BadInput, ReplayError
from scidex_replay.executors import EXECUTORS as EXECUTOR_CHOICES
from scidex_replay.replay import plan_replay, rerun_artifact
from scidex_replay.replay.manifest import MIMETYPE, outcome

COLUMNS = ["step", "type", "method", "input hash", "live output hash", "replayed hash", "outcome", "reason", "reused-from"]
HASH_COLUMNS = ["input hash", "live output hash", "replayed hash"]
OUTCOME_COLORS = {
    "reproduced": "#d4edda",
    "reused": "#d1ecf1",
    "forked": "#e2d9f3",
    "output-differs": "#f8d7da",
    "input-differs": "#fff3cd",
    "failed": "#f5c6cb",
    "skipped": "#e2e3e5",
    "frozen": "#f1f3f5",
    "unreplayable": "#ffeeba",
}
PLAN_OUTCOMES = {"execute": "pending", "frozen": "frozen", "unreplayable": "unreplayable"}


# -- rows: the table as plain JSON (what the ``rows`` trait syncs) ------------
def plan_rows(the_plan: Any) -> list[dict[str, Any]]:
    """One row per planned step, before anything ran."""
    return [
        {
            "step": p.step.step_id, "type": p.step.step_type, "method": p.step.method,
            "input hash": p.step.input_hash, "live output hash": p.step.output_hash, "replayed hash": None,
            "outcome": PLAN_OUTCOMES.get(p.action, p.action), "reason": p.reason, "reused-from": None,
        }
        for p in the_plan.steps
    ]


def manifest_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per step of a manifest."""
    return [
        {
            "step": s["step_id"], "type": s["step_type"], "method": s.get("method", ""),
            "input hash": s["input_hash"], "live output hash": s["output_hash_live"],
            "replayed hash": s["output_hash_replayed"], "outcome": s.get("outcome") or outcome(s["reason"]),
            "reason": s["reason"], "reused-from": s["reused_from_run"],
        }
        for s in manifest["steps"]
    ]


def with_result(rows: Sequence[dict[str, Any]], result: Any) -> list[dict[str, Any]]:
    """``rows`` with the row of ``result.step_id`` (a ``StepResult``) filled in."""
    out = []
    for row in rows:
        if row["step"] == result.step_id:
            row = {
                **row, "replayed hash": result.output_hash_replayed, "outcome": outcome(result.reason),
                "reason": result.reason, "reused-from": result.reused_from_run,
            }
        out.append(row)
    return out


def frame(rows: Iterable[dict[str, Any]]):
    """The rows as a pandas DataFrame with ``COLUMNS``."""
    import pandas as pd

    return pd.DataFrame(list(rows), columns=COLUMNS)


# -- static HTML ---------------------------------------------------------------
def _short(value: Any, n: int) -> str:
    if value is None:
        return ""
    text = str(value)
    first = next((line for line in text.splitlines() if line.strip()), "")
    more = first != text.strip()
    return first[:n] + ("…" if len(first) > n or more else "")


def table_html(rows: Sequence[dict[str, Any]]) -> str:
    """The chain as an HTML table (a pandas Styler), each row colored by its outcome."""
    df = frame(rows)
    uid = hashlib.sha1(json.dumps(list(rows), sort_keys=True, default=str).encode()).hexdigest()[:10]

    def color(row: Any) -> list[str]:
        bg = OUTCOME_COLORS.get(row["outcome"])
        return [f"background-color: {bg}" if bg else ""] * len(row)

    def text(n: int):
        return lambda v: html.escape(_short(v, n))

    styler = (
        df.style.apply(color, axis=1)
        .format(text(12), subset=HASH_COLUMNS)
        .format(text(60), subset=["method"])
        .format(text(400), subset=["step", "type", "outcome", "reason", "reused-from"])
        .hide(axis="index")
        .set_uuid(f"scidex_{uid}")
        .set_table_attributes('class="scidex-replay-chain"')
    )
    return styler.to_html()


def download_link(manifest: dict[str, Any]) -> str:
    """An anchor that downloads ``manifest.json`` from a data: URI."""
    data = base64.b64encode(json.dumps(manifest, indent=2).encode()).decode()
    return f'<a download="manifest.json" href="data:application/json;base64,{data}">download manifest.json</a>'


def summary_line(manifest: dict[str, Any]) -> str:
    """``run r_… (replay) of a_…: reproduced — 3 reproduced``."""
    if manifest.get("kind") == "fork":
        verdict = "fork completed" if manifest["ok"] else "fork failed"
    else:
        verdict = "reproduced" if manifest["ok"] else f"did not reproduce ({manifest.get('status', 'failed')})"
    lineage = f"{manifest['kind']} of {manifest['parent_run_id']}" if manifest.get("parent_run_id") else manifest["kind"]
    counts = ", ".join(f"{n} {k}" for k, n in manifest.get("summary", {}).items())
    return f"run {manifest['run_id']} ({lineage}) of {manifest['target_artifact_id']}: {verdict} — {counts}"


def manifest_html(manifest: dict[str, Any]) -> str:
    color = "#155724" if manifest["ok"] else "#721c24"
    return (
        f'<div class="scidex-replay-manifest"><p style="color: {color}"><b>{html.escape(summary_line(manifest))}</b></p>'
        f"{table_html(manifest_rows(manifest))}<p>{download_link(manifest)}</p></div>"
    )


def manifest_bundle(manifest: dict[str, Any]) -> dict[str, Any]:
    """The display bundle saved in the notebook: the manifest, and HTML and text fallbacks."""
    return {MIMETYPE: manifest, "text/html": manifest_html(manifest), "text/plain": summary_line(manifest)}


class ManifestView:
    """A manifest rendered statically: the same table as the widget, with no kernel needed."""

    def __init__(self, manifest: dict[str, Any]):
        self.manifest = manifest

    @classmethod
    def load(cls, source: Any) -> "ManifestView":
        """A view of ``manifest.json`` (a path) or a manifest dict, checked as data first."""
        from scidex_replay.replay.manifest import load

        return cls(load(source))

    def to_dataframe(self):
        return frame(manifest_rows(self.manifest))

    def _repr_html_(self) -> str:
        return manifest_html(self.manifest)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return manifest_bundle(self.manifest)

    def __repr__(self) -> str:
        return summary_line(self.manifest)


# -- the widget ------------------------------------------------------------------
class ReplayWidget(widgets.VBox):
    """The chain of one artifact with replay controls. Build it with ``ReplayWidget.for_artifact``."""

    artifact_id = Unicode(help="The artifact whose chain is shown and replayed.").tag(sync=True)
    step_ids = List(Unicode(), help="Step ids of the chain, in execution order.").tag(sync=True)
    selected_step = Unicode(None, allow_none=True, help="The step 'Replay from' starts at.").tag(sync=True)
    strict = Bool(False, help="Abort at the first input whose hash differs from the record.").tag(sync=True)
    diff = Bool(False, help="Say where a differing output differs.").tag(sync=True)
    executor = Unicode("kernel", help="Where handlers run: kernel, subprocess (or dask).").tag(sync=True)
    rows = List(Dict(), help="The table: one dict per step, keys COLUMNS.").tag(sync=True)
    running = Bool(False, help="A replay is in progress.").tag(sync=True)
    progress = Int(0, help="Steps done in the current or last run.").tag(sync=True)
    total = Int(0, help="Steps in the current or last run.").tag(sync=True)
    status = Unicode("idle", help="idle, running, succeeded, failed, aborted, interrupted or error.").tag(sync=True)
    run_id = Unicode(None, allow_none=True, help="The current or last run.").tag(sync=True)
    last_failed_run = Unicode(None, allow_none=True, help="The run 'Restart' restarts.").tag(sync=True)
    message = Unicode("", help="The last run's summary, or the error that stopped it.").tag(sync=True)
    manifest = Dict(help="The last run's manifest.").tag(sync=True)

    def __init__(self, registry: Any, *, owns_registry: bool = False, **kwargs: Any):
        self.registry = registry
        self._owns_registry = owns_registry
        self.last_report: Any = None
        self._dropdown = widgets.Dropdown(description="from step", options=[])
        self._strict = widgets.ToggleButton(description="Strict", tooltip="abort at the first input that differs")
        self._diff = widgets.ToggleButton(description="Diff", tooltip="say where differing outputs differ")
        self._executor = widgets.ToggleButtons(options=list(EXECUTOR_CHOICES), description="executor")
        self.replay_all_button = widgets.Button(description="Replay all", button_style="primary", icon="play")
        self.replay_from_button = widgets.Button(description="Replay from step", icon="step-forward")
        self.restart_button = widgets.Button(description="Restart last failed run", icon="redo", disabled=True)
        self.progress_bar = widgets.IntProgress(min=0, max=1, value=0, description="steps")
        self._title = widgets.HTML()
        self._table = widgets.HTML()
        self._status = widgets.HTML()
        self._download = widgets.HTML()
        super().__init__(**kwargs)
        for trait, control in (("selected_step", self._dropdown), ("strict", self._strict), ("diff", self._diff), ("executor", self._executor)):
            widgets.link((self, trait), (control, "value"))
        self.replay_all_button.on_click(lambda _b: self._safely(self.replay))
        self.replay_from_button.on_click(lambda _b: self._safely(self.replay, from_step=self.selected_step))
        self.restart_button.on_click(lambda _b: self._safely(self.replay, restart=self.last_failed_run))
        self.children = [
            self._title,
            widgets.HBox([self.replay_all_button, self._dropdown, self.replay_from_button]),
            widgets.HBox([self._strict, self._diff, self._executor]),
            widgets.HBox([self.restart_button, self.progress_bar]),
            self._status,
            self._table,
            self._download,
        ]
        self._draw_all()

    @classmethod
    def for_artifact(
        cls, registry: Any, artifact_id: str, *, from_step: str | None = None, **traits: Any
    ) -> "ReplayWidget":
        """The chain of ``artifact_id`` as planned (nothing runs); raises the engine's errors."""
        the_plan = plan_replay(registry, artifact_id, from_step=from_step)
        ids = [p.step.step_id for p in the_plan.steps]
        return cls(
            registry, artifact_id=the_plan.target_artifact_id, step_ids=ids, selected_step=from_step or ids[0],
            rows=plan_rows(the_plan), total=len(ids), **traits,
        )

    # -- traits --------------------------------------------------------------
    @validate("executor")
    def _valid_executor(self, proposal: Any) -> str:
        if proposal["value"] not in EXECUTOR_CHOICES:
            raise TraitError(f"executor must be one of {', '.join(EXECUTOR_CHOICES)}, not {proposal['value']!r}")
        return proposal["value"]

    @validate("selected_step")
    def _valid_step(self, proposal: Any) -> str | None:
        if proposal["value"] is not None and proposal["value"] not in self.step_ids:
            raise TraitError(f"{proposal['value']!r} is not a step of the chain of {self.artifact_id}")
        return proposal["value"]

    @observe("step_ids")
    def _on_step_ids(self, change: Any) -> None:
        self._dropdown.options = list(change["new"])

    @observe("rows")
    def _on_rows(self, change: Any) -> None:
        self._table.value = table_html(change["new"])

    @observe("progress", "total")
    def _on_progress(self, change: Any) -> None:
        self.progress_bar.max = max(self.total, 1)
        self.progress_bar.value = min(self.progress, self.progress_bar.max)

    @observe("running", "last_failed_run")
    def _on_running(self, change: Any) -> None:
        for button in (self.replay_all_button, self.replay_from_button):
            button.disabled = self.running
        self.restart_button.disabled = self.running or not self.last_failed_run

    @observe("status", "message", "artifact_id", "run_id")
    def _on_status(self, change: Any) -> None:
        self._title.value = f"<b>chain of {html.escape(self.artifact_id)}</b> ({len(self.step_ids)} step{'s' if len(self.step_ids) != 1 else ''})"
        run = f"run {html.escape(self.run_id)}: " if self.run_id else ""
        self._status.value = f"{run}{html.escape(self.status)}" + (f" — {html.escape(self.message)}" if self.message else "")

    @observe("manifest")
    def _on_manifest(self, change: Any) -> None:
        self._download.value = download_link(change["new"]) if change["new"] else ""

    def _draw_all(self) -> None:
        self._dropdown.options = list(self.step_ids)
        if self.selected_step is not None:
            self._dropdown.value = self.selected_step
        self._on_rows({"new": self.rows})
        self._on_progress({})
        self._on_running({})
        self._on_status({})
        self._on_manifest({"new": self.manifest})

    @property
    def dataframe(self):
        """The table as a pandas DataFrame (columns ``COLUMNS``)."""
        return frame(self.rows)

    # -- running -------------------------------------------------------------
    def replay(self, *, from_step: str | None = None, restart: str | None = None, **options: Any):
        """Call ``rerun_artifact`` with the widget's toggles and ``options``; return its report.

        Progress and the table are updated from the engine's events, once per
        step. Raises what the engine raises (``ReplayError`` for bad input).
        """
        if self.running:
            raise BadInput("a replay is already running in this widget")
        if from_step is not None:
            options["from_step"] = from_step
        if restart is not None:
            options["restart"] = restart
        self.running = True
        self.status, self.message = "running", ""
        try:
            report = rerun_artifact(
                self.artifact_id, registry=self.registry, strict=self.strict, diff=self.diff,
                executor=self.executor, on_event=self._on_event, **options,
            )
        except BaseException as exc:
            self.status, self.message = "error", " ".join(str(exc).split()) or type(exc).__name__
            raise
        finally:
            self.running = False
        return report

    def _safely(self, action: Any, **kwargs: Any) -> None:
        """Button callbacks: an engine error becomes the status message, not a lost traceback."""
        try:
            action(**kwargs)
        except ReplayError:
            pass  # replay() already put the message in the status line

    def _on_event(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "start":
            the_plan = payload["plan"]
            with self.hold_trait_notifications():
                self.run_id = payload["run_id"]
                self.total = len(the_plan.steps)
                self.progress = 0
                self.rows = plan_rows(the_plan)
        elif kind == "step":
            with self.hold_trait_notifications():
                self.total = payload["total"]
                self.progress = payload["position"] + 1
                self.rows = with_result(self.rows, payload["result"])
        elif kind == "warning":
            self.message = f"{payload.get('step_id', '')}: {payload.get('message', '')}"
        elif kind == "end":
            report = payload["report"]
            self.last_report = report
            with self.hold_trait_notifications():
                self.rows = manifest_rows(report.manifest)
                self.manifest = report.manifest
                self.progress = self.total
                self.last_failed_run = None if report.status == "succeeded" else report.run_id
                self.message = summary_line(report.manifest)
                self.status = report.status

    # -- display ---------------------------------------------------------------
    def static_html(self) -> str:
        """What a notebook shows for this widget without a live kernel: the same table."""
        head = f"<p><b>chain of {html.escape(self.artifact_id)}</b>"
        if self.run_id:
            head += f" — run {html.escape(self.run_id)}: {html.escape(self.status)}"
        body = head + "</p>" + table_html(self.rows)
        return body + (f"<p>{download_link(self.manifest)}</p>" if self.manifest else "")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs) or {}
        data["text/html"] = self.static_html()
        return data

    def close(self) -> None:
        super().close()
        if self._owns_registry and self.registry is not None:
            self.registry.close()
            self.registry = None
