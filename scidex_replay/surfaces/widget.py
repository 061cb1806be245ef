"""The replay widget (ipywidgets 8).

``ReplayWidget`` is a box of standard controls around synced traits: the chain
as a table colored by outcome, *Replay all*, *Replay from* the selected step,
*Strict* and *Diff* toggles, the executor, *Restart last failed run*, a
progress bar advanced once per step, what differs in each output whose bytes
differ (the comparator's summary and differences; for an image, the recorded,
replayed and diff pictures side by side), what changes the output of each step the
run explained (``explain=``: the summary and a chip per factor), and a
``manifest.json`` download link.
It holds no replay logic: every button calls ``rerun_artifact`` (or, to draw
the chain before anything ran, ``plan_replay``) and copies what the engine
reports into traits.

The static view of a manifest (``ManifestView``, ``manifest_bundle``, the table's
HTML) is ``surfaces/manifest_view.py``; its names are importable from here too.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
from traitlets import Bool, Dict, Int, List, TraitError, Unicode, observe, validate

from scidex_replay.errors import BadInput, ReplayError, one_line
from scidex_replay.outcomes import Status
from scidex_replay.replay import plan_replay, rerun_artifact
from scidex_replay.replay.options import EXECUTOR_NAMES, ReplayOptions
from scidex_replay.surfaces.args import FLAGS
from scidex_replay.surfaces.labels import OUTCOME_COLORS, Verdict, run_verdict, step_method  # noqa: F401 - OUTCOME_COLORS re-exported
from scidex_replay.surfaces.manifest_view import (  # noqa: F401 - ManifestView, manifest_bundle re-exported
    COLUMNS,
    IMAGE_WIDTH_PX,
    PICTURE_LABELS,
    ManifestView,
    comparison_html,
    comparison_pictures,
    comparison_rows,
    comparisons_html,
    download_link,
    explanation_rows,
    explanations_block,
    explanations_html,
    frame,
    manifest_bundle,
    manifest_rows,
    outputs_text,
    summary_line,
    table_html,
)

PLAN_OUTCOMES = {"execute": "pending", "frozen": "frozen", "unreplayable": "unreplayable"}


# -- rows: the table as plain JSON (what the ``rows`` trait syncs) ------------
def plan_rows(the_plan: Any) -> list[dict[str, Any]]:
    """One row per planned step, before anything ran (several outputs listed by name, not yet marked)."""
    return [
        {
            "step_id": p.step.step_id, "step": p.step.label, "type": p.step.step_type,
            "method": step_method(p.step),
            "input hash": p.step.input_hash, "live output hash": p.step.output_hash, "replayed hash": None,
            "outputs": outputs_text([{"name": o.path, "artifact_id": o.artifact_id} for o in p.step.all_outputs]),
            "outcome": PLAN_OUTCOMES.get(p.action, p.action), "reason": p.reason, "reused-from": None,
        }
        for p in the_plan.steps
    ]


def with_result(rows: Sequence[dict[str, Any]], result: Any) -> list[dict[str, Any]]:
    """``rows`` with the row of ``result.step_id`` (a ``StepResult``) filled in; its outputs are
    marked when the run ends, from the manifest."""
    out = []
    for row in rows:
        if row["step_id"] == result.step_id:
            row = {
                **row, "replayed hash": result.output_hash_replayed, "outcome": str(result.outcome),
                "reason": result.reason, "reused-from": result.reused_from_run,
            }
        out.append(row)
    return out


def _picture(label: str, picture: bytes | str) -> widgets.Widget:
    """A captioned ``Image`` (at most ``IMAGE_WIDTH_PX`` wide), or the caption and why it is not shown."""
    caption = widgets.HTML(f"<b>{html.escape(label)}</b>")
    if isinstance(picture, str):
        return widgets.VBox([caption, widgets.HTML(f"<i>{html.escape(picture)}</i>")])
    from scidex_replay.surfaces.manifest_view import image_of

    fmt = (image_of(picture) or "image/png").split("/")[1]
    image = widgets.Image(value=picture, format=fmt, layout=widgets.Layout(max_width=f"{IMAGE_WIDTH_PX}px", height="auto"))
    return widgets.VBox([caption, image])


def _verdict(status: str) -> Verdict:
    """The label of the ``status`` trait: a run's, or the widget's own ``idle`` and ``error``."""
    return {"idle": Verdict("idle", "neutral"), "error": Verdict("error", "bad")}.get(status) or run_verdict(status)


# -- the widget ------------------------------------------------------------------
class ReplayWidget(widgets.VBox):
    """The chain of one artifact with replay controls. Build it with ``ReplayWidget.for_artifact``."""

    artifact_id = Unicode(help="The artifact whose chain is shown and replayed.").tag(sync=True)
    step_ids = List(Unicode(), help="Step ids of the chain, in execution order.").tag(sync=True)
    selected_step = Unicode(None, allow_none=True, help="The step 'Replay from' starts at.").tag(sync=True)
    strict = Bool(False, help=FLAGS["--strict"].help).tag(sync=True)
    diff = Bool(False, help=FLAGS["--diff"].help).tag(sync=True)
    executor = Unicode("kernel", help=FLAGS["--executor"].help).tag(sync=True)
    rows = List(Dict(), help="The table: one dict per step, keys COLUMNS and step_id.").tag(sync=True)
    running = Bool(False, help="A replay is in progress.").tag(sync=True)
    progress = Int(0, help="Steps done in the current or last run.").tag(sync=True)
    total = Int(0, help="Steps in the current or last run.").tag(sync=True)
    status = Unicode(
        "idle", help="idle; then the run's Status (running, reproduced, differs, failed, interrupted, aborted); or error."
    ).tag(sync=True)
    verdict = Unicode("idle", help="The status as people read it: 'did not reproduce' for differs.").tag(sync=True)
    run_id = Unicode(None, allow_none=True, help="The current or last run.").tag(sync=True)
    last_failed_run = Unicode(None, allow_none=True, help="The run 'Restart' restarts.").tag(sync=True)
    message = Unicode("", help="The last run's summary, or the error that stopped it.").tag(sync=True)
    manifest = Dict(help="The last run's manifest.").tag(sync=True)
    comparisons = List(
        Dict(), help="One dict per output of the last run whose bytes differ: step, output, outcome, comparison (comparison_rows)."
    ).tag(sync=True)
    explanations = List(
        Dict(), help="One dict per step of the last run with an explanation: step_id, step, explanation (explanation_rows)."
    ).tag(sync=True)

    def __init__(self, registry: Any, *, owns_registry: bool = False, **kwargs: Any):
        self.registry = registry
        self._owns_registry = owns_registry
        self.last_report: Any = None
        self._dropdown = widgets.Dropdown(description="from step", options=[])
        self._strict = widgets.ToggleButton(description="Strict", tooltip="abort at the first input that differs")
        self._diff = widgets.ToggleButton(description="Diff", tooltip="say where differing outputs differ")
        self._executor = widgets.ToggleButtons(options=list(EXECUTOR_NAMES), description="executor")
        self.replay_all_button = widgets.Button(description="Replay all", button_style="primary", icon="play")
        self.replay_from_button = widgets.Button(description="Replay from step", icon="step-forward")
        self.restart_button = widgets.Button(description="Restart last failed run", icon="redo", disabled=True)
        self.progress_bar = widgets.IntProgress(min=0, max=1, value=0, description="steps")
        self._title = widgets.HTML()
        self._table = widgets.HTML()
        self._status = widgets.HTML()
        self._download = widgets.HTML()
        self._comparisons = widgets.VBox()
        self._explanations = widgets.HTML()
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
            self._explanations,
            self._comparisons,
            self._download,
        ]
        self._draw_all()

    @classmethod
    def for_artifact(
        cls, registry: Any, artifact_id: str, options: ReplayOptions | None = None, **traits: Any
    ) -> "ReplayWidget":
        """The chain of ``artifact_id`` as planned from ``options.from_step`` (nothing runs).

        The toggles start as ``options`` says. Raises the engine's errors.
        """
        options = options or ReplayOptions()
        the_plan = plan_replay(registry, artifact_id, from_step=options.from_step)
        ids = [p.step.step_id for p in the_plan.steps]
        return cls(
            registry, artifact_id=the_plan.target_artifact_id, step_ids=ids, selected_step=options.from_step or ids[0],
            rows=plan_rows(the_plan), total=len(ids), strict=options.strict, diff=options.diff,
            executor=options.executor, **traits,
        )

    # -- traits --------------------------------------------------------------
    @validate("executor")
    def _valid_executor(self, proposal: Any) -> str:
        if proposal["value"] not in EXECUTOR_NAMES:
            raise TraitError(f"executor must be one of {', '.join(EXECUTOR_NAMES)}, not {proposal['value']!r}")
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

    @observe("status")
    def _on_status_value(self, change: Any) -> None:
        self.verdict = _verdict(change["new"]).label

    @observe("verdict", "message", "artifact_id", "run_id")
    def _on_status(self, change: Any) -> None:
        self._title.value = f"<b>chain of {html.escape(self.artifact_id)}</b> ({len(self.step_ids)} step{'s' if len(self.step_ids) != 1 else ''})"
        run = f"run {html.escape(self.run_id)}: " if self.run_id else ""
        verdict = f'<span style="color: {_verdict(self.status).color}">{html.escape(self.verdict)}</span>'
        self._status.value = f"{run}{verdict}" + (f" — {html.escape(self.message)}" if self.message else "")

    @observe("manifest")
    def _on_manifest(self, change: Any) -> None:
        self._download.value = download_link(change["new"]) if change["new"] else ""
        self.comparisons = comparison_rows(change["new"]) if change["new"] else []
        self.explanations = explanation_rows(change["new"]) if change["new"] else []

    @observe("explanations")
    def _on_explanations(self, change: Any) -> None:
        self._explanations.value = explanations_block(change["new"])

    @observe("comparisons")
    def _on_comparisons(self, change: Any) -> None:
        """Each compared output as its collapsible block; an image output's three pictures
        (from the store) below it as ``Image`` widgets side by side."""
        children: list[widgets.Widget] = []
        if change["new"]:
            children.append(widgets.HTML("<b>What differs</b>"))
        store = getattr(self.registry, "store", None)
        for row in change["new"]:
            children.append(widgets.HTML(comparison_html(row)))
            pictures = comparison_pictures(row, store)
            if pictures:
                children.append(widgets.HBox([_picture(PICTURE_LABELS[k], v) for k, v in pictures.items()]))
        self._comparisons.children = children

    def _draw_all(self) -> None:
        self._dropdown.options = list(self.step_ids)
        if self.selected_step is not None:
            self._dropdown.value = self.selected_step
        self._on_rows({"new": self.rows})
        self._on_progress({})
        self._on_running({})
        self._on_status({})
        self._on_manifest({"new": self.manifest})
        self._on_comparisons({"new": self.comparisons})
        self._on_explanations({"new": self.explanations})

    @property
    def dataframe(self):
        """The table as a pandas DataFrame (columns ``COLUMNS``)."""
        return frame(self.rows)

    # -- running -------------------------------------------------------------
    def replay(self, options: ReplayOptions | None = None, **changes: Any):
        """Call ``rerun_artifact`` with ``options``, the widget's toggles and ``changes``
        (``ReplayOptions`` fields: ``from_step=``, ``restart=``…); return its report.

        Progress and the table are updated from the engine's events, once per
        step. Raises what the engine raises (``ReplayError`` for bad input).
        """
        if self.running:
            raise BadInput("a replay is already running in this widget")
        self.running = True
        self.status, self.message = "running", ""
        try:
            options = ReplayOptions.of(options, strict=self.strict, diff=self.diff, executor=self.executor, **changes)
            report = rerun_artifact(self.artifact_id, options, registry=self.registry, on_event=self._on_event)
        except BaseException as exc:
            self.status, self.message = "error", one_line(exc) or type(exc).__name__
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
            step_id, message = payload.get("step_id"), payload.get("message", "")
            self.message = f"{step_id}: {message}" if step_id else message
        elif kind == "end":
            report = payload["report"]
            self.last_report = report
            with self.hold_trait_notifications():
                self.rows = manifest_rows(report.manifest)
                self.manifest = report.manifest
                self.progress = self.total
                self.last_failed_run = None if report.status == Status.REPRODUCED else report.run_id
                self.message = summary_line(report.manifest)
                self.status = str(report.status)

    # -- display ---------------------------------------------------------------
    def static_html(self) -> str:
        """What a notebook shows for this widget without a live kernel: the same table and comparisons."""
        head = f"<p><b>chain of {html.escape(self.artifact_id)}</b>"
        if self.run_id:
            head += f" — run {html.escape(self.run_id)}: {html.escape(self.verdict)}"
        body = head + "</p>" + table_html(self.rows)
        if self.manifest:
            body += explanations_html(self.manifest)
            body += comparisons_html(self.manifest, getattr(self.registry, "store", None))
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
