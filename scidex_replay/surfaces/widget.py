"""The replay widget (ipywidgets 8 controls around an anywidget table).

``ReplayWidget`` is a box of standard controls around synced traits: the chain
as a table drawn in the browser (``chain_table.ChainTable``: one row sent per
step, the running step highlighted with its elapsed seconds), the chain as a
graph (``surfaces/graph.py``, shown at the start and the end of a run), *Replay
all*, *Replay from* the selected step, *Strict* and *Diff* toggles, the
executor, *Restart last failed run*, *Cancel*, a
progress bar advanced once per step, what differs in each output whose bytes
differ (the comparator's summary and differences; for an image, the recorded,
replayed and diff pictures side by side), what changes the output of each step the
run explained (``explain=``: the summary and a chip per factor), and a
``manifest.json`` download link.
It holds no replay logic: every button calls ``rerun_artifact`` (or, to draw
the chain before anything ran, ``plan_replay``) and copies what the engine
reports into traits.

A button runs the replay in a background thread, so the kernel still reads
Cancel (which only sets the engine's ``cancel`` event); the kernel's interrupt
button sets the same event while it runs (``_InterruptRelay``). When a run ends, however
it ends, its manifest is put in the cell's output (``update_display`` of the
widget's own display): a run that left nothing to restart replaces the widget
by the static manifest (what a reopened notebook shows, with no kernel); any
other keeps the widget, with Restart, above the same manifest in the bundle.
The JupyterLab extension's keeper copies the manifest into the notebook's
metadata either way, and drops the widget from such a bundle once its kernel
is gone (restarted, changed, or the notebook opened again), so the static
manifest shows instead of "model not found".

The static view of a manifest (``ManifestView``, ``manifest_bundle``, the table's
HTML) is ``surfaces/manifest_view.py``; its names are importable from here too.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
from traitlets import Bool, Dict, Int, List, TraitError, Unicode, observe, validate

from scidex_replay.errors import BadInput, one_line
from scidex_replay.outcomes import Status
from scidex_replay.replay import plan_replay, rerun_artifact
from scidex_replay.replay.options import EXECUTOR_NAMES, ReplayOptions
from scidex_replay.surfaces.args import FLAGS
from scidex_replay.surfaces.chain_table import ChainTable, clean
from scidex_replay.surfaces.graph import MIME as GRAPH_MIME
from scidex_replay.surfaces.graph import chain_graph
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
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


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
    return [row_with_result(row, result) if row["step_id"] == result.step_id else row for row in rows]


def row_with_result(row: dict[str, Any], result: Any) -> dict[str, Any]:
    """The table row ``row`` of a step with its ``StepResult`` ``result`` filled in."""
    return {
        **row, "replayed hash": result.output_hash_replayed, "outcome": str(result.outcome),
        "reason": result.reason, "reused-from": result.reused_from_run,
    }


def graph_bundle(graph: dict[str, Any]) -> dict[str, Any]:
    """The chain graph as a display bundle: ``application/vnd.scidex.replay-graph+json`` and a text line."""
    steps = sum(1 for n in graph["nodes"] if n["type"] == "step")
    run = graph.get("run")
    text = f"chain of {graph['target']}: {steps} step{'s' if steps != 1 else ''}" + (f", run {run['run_id']} {run['status']}" if run else "")
    return {GRAPH_MIME: graph, "text/plain": text}


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

class _InterruptRelay:
    """While a button-started replay runs, the kernel's interrupt (JupyterLab's stop button:
    SIGINT to the kernel) sets the run's cancel event, as Cancel does.

    Between the messages it handles, ipykernel ignores SIGINT (``SIG_IGN``), and around each one
    it sets Python's default handler and then puts back the one it found (``pre_handler_hook``,
    ``post_handler_hook``), so the replay's thread would never hear of an interrupt. This puts a
    handler that sets ``cancel`` in place of what is there once the message that started the run
    is handled (from the kernel's event loop, in the main thread, where handlers are set), or in
    place of what ``post_handler_hook`` will put back when a cell is running; ``close`` (from the
    replay's thread when it ends) puts the ignoring back the same way. Outside an IPython kernel
    (no kernel, or not in its main thread) it does nothing.
    """

    def __init__(self, cancel: threading.Event):
        import asyncio

        self.cancel = cancel
        self.previous: Any = None
        self.kernel = _kernel()
        try:
            self.loop = asyncio.get_running_loop() if threading.current_thread() is threading.main_thread() else None
        except RuntimeError:
            self.loop = None
        if self.kernel is not None and self.loop is not None:
            self.loop.call_soon(self._install)

    def _handler(self, signum: int, frame: Any) -> None:
        self.cancel.set()

    def _swap(self, old: Any, new: Any) -> Any:
        """Put ``new`` where the kernel's SIGINT handler is (or will be put back) when that is
        ``old`` (any handler when ``old`` is None); return what was there."""
        import signal

        current = signal.getsignal(signal.SIGINT)
        if current is signal.default_int_handler and hasattr(self.kernel, "saved_sigint_handler"):
            saved = self.kernel.saved_sigint_handler  # a message is being handled: this goes back after it
            if old is None or saved == old:
                self.kernel.saved_sigint_handler = new
            return saved
        if old is None or current == old:
            signal.signal(signal.SIGINT, new)
        return current

    def _install(self) -> None:
        if not self.cancel.is_set() and self.previous is None:
            self.previous = self._swap(None, self._handler)

    def _uninstall(self) -> None:
        if self.previous is not None:
            self._swap(self._handler, self.previous)
            self.previous = None

    def close(self) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._uninstall)


def _kernel() -> Any:
    """The running IPython kernel, or None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return getattr(shell, "kernel", None)

class ReplayWidget(widgets.VBox):
    """The chain of one artifact with replay controls. Build it with ``ReplayWidget.for_artifact``."""

    artifact_id = Unicode(help="The artifact whose chain is shown and replayed.").tag(sync=True)
    step_ids = List(Unicode(), help="Step ids of the chain, in execution order.").tag(sync=True)
    selected_step = Unicode(None, allow_none=True, help="The step 'Replay from' starts at.").tag(sync=True)
    strict = Bool(False, help=FLAGS["--strict"].help).tag(sync=True)
    diff = Bool(False, help=FLAGS["--diff"].help).tag(sync=True)
    executor = Unicode("kernel", help=FLAGS["--executor"].help).tag(sync=True)
    rows = List(Dict(), help="The table: one dict per step, keys COLUMNS and step_id (kept here; the view gets it row by row).")
    running = Bool(False, help="A replay is in progress.").tag(sync=True)
    running_step = Unicode(None, allow_none=True, help="The step the executor runs now (its name, else its id).").tag(sync=True)
    progress = Int(0, help="Steps done in the current or last run.").tag(sync=True)
    total = Int(0, help="Steps in the current or last run.").tag(sync=True)
    status = Unicode(
        "idle", help="idle; then the run's Status (running, reproduced, differs, failed, interrupted, aborted); or error."
    ).tag(sync=True)
    verdict = Unicode("idle", help="The status as people read it: 'did not reproduce' for differs.").tag(sync=True)
    run_id = Unicode(None, allow_none=True, help="The current or last run.").tag(sync=True)
    last_failed_run = Unicode(None, allow_none=True, help="The run 'Restart' restarts.").tag(sync=True)
    message = Unicode("", help="The last run's summary, or the error that stopped it.").tag(sync=True)
    manifest = Dict(help="The last run's manifest (the partial one of an interrupted run).")
    graph = Dict(help="The chain as a graph (surfaces/graph.py), coloured by the last run.")
    comparisons = List(
        Dict(), help="One dict per output of the last run whose bytes differ: step, output, outcome, comparison (comparison_rows)."
    )
    explanations = List(
        Dict(), help="One dict per step of the last run with an explanation: step_id, step, explanation (explanation_rows)."
    )

    def __init__(self, registry: Any, *, owns_registry: bool = False, chain: Any = None, **kwargs: Any):
        self.registry = registry
        self._owns_registry = owns_registry
        self._chain = chain  # the engine's collected chain, for the graph
        self.last_report: Any = None
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._index: dict[str, int] = {}
        self._display_ids: list[str] = []
        self._dropdown = widgets.Dropdown(description="from step", options=[], layout=widgets.Layout(width="auto"))
        self._strict = widgets.ToggleButton(description="Strict", tooltip="abort at the first input that differs")
        self._diff = widgets.ToggleButton(description="Diff", tooltip="say where differing outputs differ")
        self._executor = widgets.ToggleButtons(options=list(EXECUTOR_NAMES), description="executor")
        auto = widgets.Layout(width="auto")
        self.replay_all_button = widgets.Button(description="Replay all", button_style="primary", icon="play", layout=auto)
        self.replay_from_button = widgets.Button(description="Replay from step", icon="step-forward", layout=auto)
        self.restart_button = widgets.Button(description="Restart last failed run", icon="redo", disabled=True, layout=auto)
        self.cancel_button = widgets.Button(
            description="Cancel", icon="stop", disabled=True, layout=auto,
            tooltip="stop the replay after ending the running step's processes (the run is kept as interrupted)",
        )
        self.progress_bar = widgets.IntProgress(min=0, max=1, value=0, description="steps")
        self._title = widgets.HTML()
        self._table = ChainTable()
        self._graph = widgets.Output()
        self._status = widgets.HTML()
        self._download = widgets.HTML()
        self._comparisons = widgets.VBox()
        self._explanations = widgets.HTML()
        super().__init__(**kwargs)
        self.add_class("scidex-replay-widget")
        for trait, control in (("selected_step", self._dropdown), ("strict", self._strict), ("diff", self._diff), ("executor", self._executor)):
            widgets.link((self, trait), (control, "value"))
        self.replay_all_button.on_click(lambda _b: self.start())
        self.replay_from_button.on_click(lambda _b: self.start(from_step=self.selected_step))
        self.restart_button.on_click(lambda _b: self.start(restart=self.last_failed_run))
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.children = [
            self._title,
            widgets.HBox([self.replay_all_button, self._dropdown, self.replay_from_button]),
            widgets.HBox([self._strict, self._diff, self._executor]),
            widgets.HBox([self.restart_button, self.cancel_button, self.progress_bar]),
            self._status,
            self._table,
            self._explanations,
            self._comparisons,
            self._download,
            self._graph,
        ]
        self._draw_all()

    @classmethod
    def for_artifact(
        cls, registry: Any, artifact_id: str, options: ReplayOptions | None = None, **traits: Any
    ) -> "ReplayWidget":
        """The chain of ``artifact_id`` as planned from ``options.from_step`` (nothing runs).

        The toggles start as ``options`` says. Raises the engine's errors.
        """
        from scidex_replay.replay.engine import collect

        options = options or ReplayOptions()
        the_plan = plan_replay(registry, artifact_id, from_step=options.from_step)
        ids = [p.step.step_id for p in the_plan.steps]
        chain = collect(registry, the_plan.target_artifact_id)
        return cls(
            registry, artifact_id=the_plan.target_artifact_id, step_ids=ids, selected_step=options.from_step or ids[0],
            rows=plan_rows(the_plan), total=len(ids), strict=options.strict, diff=options.diff,
            executor=options.executor, chain=chain,
            graph=chain_graph(chain.target.id, chain.steps, chain.artifacts), **traits,
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

    @observe("step_ids", "rows")
    def _on_step_ids(self, change: Any) -> None:
        labels = {r["step_id"]: r.get("step") or r["step_id"] for r in self.rows}
        options = [(labels.get(i, i) if labels.get(i, i) == i else f"{labels[i]} ({i})", i) for i in self.step_ids]
        if list(self._dropdown.options) != options:
            value = self.selected_step
            self._dropdown.options = options
            if value is not None:
                self._dropdown.value = value

    @observe("rows")
    def _on_rows(self, change: Any) -> None:
        """A new table (plan, start or end of a run): synced whole, once; steps patch it row by row."""
        self._index = {row["step_id"]: i for i, row in enumerate(change["new"])}
        self._table.rows = [clean(row) for row in change["new"]]

    @observe("graph")
    def _on_graph(self, change: Any) -> None:
        graph = change["new"]
        self._graph.outputs = ({"output_type": "display_data", "data": graph_bundle(graph), "metadata": {}},) if graph else ()

    @observe("progress", "total")
    def _on_progress(self, change: Any) -> None:
        self.progress_bar.max = max(self.total, 1)
        self.progress_bar.value = min(self.progress, self.progress_bar.max)

    @observe("running", "last_failed_run")
    def _on_running(self, change: Any) -> None:
        for button in (self.replay_all_button, self.replay_from_button):
            button.disabled = self.running
        self.restart_button.disabled = self.running or not self.last_failed_run
        self.cancel_button.disabled = not self.running

    @observe("status")
    def _on_status_value(self, change: Any) -> None:
        self.verdict = _verdict(change["new"]).label

    @observe("verdict", "message", "artifact_id", "run_id", "running_step")
    def _on_status(self, change: Any) -> None:
        n = len(self.step_ids)
        self._title.value = f'<b class="scidex-title">chain of {html.escape(self.artifact_id)}</b> ({n} step{"s" if n != 1 else ""})'
        said = bool(self.run_id) and self.message.startswith(f"run {self.run_id} ")  # the summary line names it already
        run = f"run {html.escape(self.run_id)}: " if self.run_id and not said else ""
        verdict = f'<span class="scidex-verdict scidex-verdict-{_verdict(self.status).tone}">{html.escape(self.verdict)}</span>'
        now = f" — step {html.escape(self.running_step)}" if self.running and self.running_step else ""
        text = f" — {html.escape(self.message)}" if self.message else ""
        self._status.value = f'<span class="scidex-status">{run}{verdict}{now}{text}</span>'

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
        self._on_rows({"new": self.rows})
        self._on_step_ids({})
        if self.selected_step is not None:
            self._dropdown.value = self.selected_step
        self._on_graph({"new": self.graph})
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
    def start(self, options: ReplayOptions | None = None, **changes: Any) -> threading.Thread | None:
        """What the buttons do: ``replay(options, **changes)`` in a background thread, so that the
        kernel goes on reading messages (Cancel) while it runs. Returns the thread, or None when
        a replay is already running (said in the status line). An engine error lands in the
        status line, not in a traceback."""
        if not self._lock.acquire(blocking=False):
            self.message = "a replay is already running in this widget"
            return None
        self._begin()
        relay = _InterruptRelay(self._cancel)
        thread = threading.Thread(target=self._in_thread, args=(options, changes, relay), name="scidex-replay-widget", daemon=True)
        self._thread = thread
        thread.start()
        return thread

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the replay a button started; True once none runs."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def cancel(self) -> None:
        """What Cancel does: set the engine's cancel event of the running replay (nothing else)."""
        self._cancel.set()

    def replay(self, options: ReplayOptions | None = None, **changes: Any):
        """Call ``rerun_artifact`` with ``options``, the widget's toggles and ``changes``
        (``ReplayOptions`` fields: ``from_step=``, ``restart=``…) in this thread; return its report.

        Progress and the table are updated from the engine's events, one row per step.
        Cancel, or ``KeyboardInterrupt`` (the kernel's interrupt), ends the run ``interrupted``:
        its report (with the partial manifest) is returned, and Restart goes on from there.
        Raises what the engine raises (``ReplayError`` for bad input, ``BadInput`` when a
        replay is already running here).
        """
        if not self._lock.acquire(blocking=False):
            raise BadInput("a replay is already running in this widget")
        self._begin()
        return self._run(options, changes)

    def _begin(self) -> None:
        self._cancel = threading.Event()
        with self.hold_trait_notifications():
            self.running = True
            self.running_step = None
            self.status, self.message = "running", ""

    def _in_thread(self, options: ReplayOptions | None, changes: dict[str, Any], relay: _InterruptRelay) -> None:
        try:
            self._run(options, changes)
        except Exception:  # noqa: BLE001 - already in the status line (_run); a thread has no one to raise to
            pass
        finally:
            relay.close()

    def _run(self, options: ReplayOptions | None, changes: dict[str, Any]) -> Any:
        try:
            options = ReplayOptions.of(options, strict=self.strict, diff=self.diff, executor=self.executor, **changes)
            self.run_id = None
            report = rerun_artifact(
                self.artifact_id, options, registry=self.registry, on_event=self._on_event, cancel=self._cancel,
            )
        except KeyboardInterrupt:
            report = self._interrupted()
            if report is None:
                self.status, self.message = "error", "interrupted before the run started"
        except BaseException as exc:
            self.status, self.message = "error", one_line(exc) or type(exc).__name__
            raise
        finally:
            self.running = False
            self.running_step = None
            self._lock.release()
        return report

    def _interrupted(self) -> Any:
        """After ``KeyboardInterrupt``: the run as the engine left it (its partial manifest), shown
        like any ended run; None when no run had started."""
        from scidex_replay.replay.engine import run_manifest
        from scidex_replay.replay.report import Report

        if not self.run_id:
            return None
        manifest = run_manifest(self.registry, self.run_id)
        run = self.registry.get_run(self.run_id)
        path = self.registry.home / "runs" / self.run_id / "manifest.json"
        report = Report(run=run, manifest=manifest, manifest_path=path if path.exists() else None)
        self._finish(report)
        return report

    def _on_event(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "start":
            the_plan = payload["plan"]
            with self.hold_trait_notifications():
                self.run_id = payload["run_id"]
                self.total = len(the_plan.steps)
                self.progress = 0
                self.rows = plan_rows(the_plan)
        elif kind == "running":
            index = self._index.get(payload["step_id"])
            if index is not None:
                self._table.set_running(index)
                self.running_step = self.rows[index].get("step") or payload["step_id"]
        elif kind == "step":
            result = payload["result"]
            index = self._index.get(result.step_id)
            if index is not None:
                row = row_with_result(self.rows[index], result)
                self.rows[index] = row  # in place: the view gets this row only
                self._table.set_row(index, row)
            with self.hold_trait_notifications():
                self.total = payload["total"]
                self.progress = min(self.progress + 1, self.total)
        elif kind == "warning":
            step_id, message = payload.get("step_id"), payload.get("message", "")
            self.message = f"{step_id}: {message}" if step_id else message
        elif kind == "end":
            self._finish(payload["report"])

    def _finish(self, report: Any) -> None:
        """Copy an ended run's report into the traits, then put its manifest in the cell's output."""
        self.last_report = report
        manifest = report.manifest
        reported = {row["step_id"]: row for row in manifest_rows(manifest)}
        rows = [reported.pop(row["step_id"], row) for row in self.rows]  # an interrupted run's steps not reached stay pending
        with self.hold_trait_notifications():
            self.rows = rows + list(reported.values())
            self.manifest = manifest
            self.progress = sum(1 for s in manifest["steps"] if s.get("outcome") not in (None, "pending"))
            self.last_failed_run = None if report.status == Status.REPRODUCED else report.run_id
            self.message = summary_line(manifest)
            self.status = str(report.status)
        self._on_rows({"new": self.rows})  # the whole final table once (patched in place, it may equal the last one)
        if self._chain is not None:
            chain = self._chain
            self.graph = chain_graph(chain.target.id, chain.steps, chain.artifacts, run=report.run, manifest=manifest)
        self._publish()

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

    def output_bundle(self) -> dict[str, Any]:
        """What the widget's cell output holds now. Before a run: the widget (with an HTML
        fallback). After a run: its manifest bundle (``manifest_bundle``, what the keeper saves),
        plus the widget while there is a run to restart; a run with nothing left to restart
        leaves the static manifest only, so a reopened notebook never needs the kernel."""
        if not self.manifest:
            return self._repr_mimebundle_()
        bundle = manifest_bundle(self.manifest, getattr(self.registry, "store", None))
        if self.last_failed_run:
            view = super()._repr_mimebundle_() or {}
            bundle = {**bundle, WIDGET_VIEW: view[WIDGET_VIEW]} if WIDGET_VIEW in view else bundle
        return bundle

    def _ipython_display_(self, **kwargs: Any) -> None:
        """Display the widget in a cell output of its own (``display_id``), which each run's end updates."""
        from IPython.display import display

        display_id = f"scidex-replay-{self.model_id}"
        if display_id not in self._display_ids:
            self._display_ids.append(display_id)
        display(self.output_bundle(), raw=True, display_id=display_id)

    def _publish(self) -> None:
        """Update the widget's cell outputs (if it was displayed) with ``output_bundle()``; from a
        button's thread too: the front end finds the output by its display id."""
        if not self._display_ids:
            return
        from IPython.display import update_display

        bundle = self.output_bundle()
        for display_id in self._display_ids:
            update_display(bundle, raw=True, display_id=display_id)

    def close(self) -> None:
        self._cancel.set()
        super().close()
        self._table.close()
        if self._owns_registry and self.registry is not None:
            if self._thread is not None:
                self._thread.join(timeout=30)
            self.registry.close()
            self.registry = None
