"""IPython magics: ``%rerun_artifact``, ``%artifact_chain``, ``%run_notebook`` and ``%%scidex_step``.

Loaded by ``%load_ext scidex_replay``; nothing is registered at import time.
The magics parse their flags, call the replay engine (or the recording API) and
render the result; errors the engine raises on purpose become ``UsageError``,
which IPython shows as one line without a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from scidex_replay.errors import ReplayError, one_line
from scidex_replay.surfaces.args import MEMORY_HELP, TIMEOUT_HELP, ipython_arguments, parse_limit, replay_options


@contextlib.contextmanager
def usage_errors() -> Iterator[None]:
    """Turn the engine's ``ReplayError`` into IPython's one-line ``UsageError``."""
    try:
        yield
    except ReplayError as exc:
        raise UsageError(one_line(exc) or type(exc).__name__) from exc


def _open_registry(db: str | None) -> Any:
    from scidex_replay.registry import Registry

    return Registry.open(db)


@magics_class
class ReplayMagics(Magics):
    """The scidex-replay magics. ``last_widget`` is the widget the last replay displayed."""

    last_widget: Any = None

    @magic_arguments()
    @argument("artifact_id", metavar="ID", help="The artifact whose chain is replayed.")
    @ipython_arguments
    @argument("--db", metavar="URL", help="Registry database URL (default: $SCIDEX_REPLAY_DB).")
    @argument("--no-widget", action="store_true", help="Display only the manifest bundle, not the widget.")
    @line_magic
    def rerun_artifact(self, line: str) -> Any:
        """Replay the chain that produced an artifact and byte-compare every output.

        Returns the report (``r = %rerun_artifact ID``: ``r.ok``, ``r.status``,
        ``r.manifest``, ``r.to_dataframe()``). Shows the replay widget with a
        progress bar and the table updated once per step; when the run ends the
        widget's output becomes the manifest as
        ``application/vnd.scidex.replay-manifest+json`` (with HTML and text
        fallbacks), so the notebook keeps its reproduction evidence; the widget
        stays above it while there is a run to restart. The kernel's interrupt
        ends the run ``interrupted`` (its report is returned, no traceback) and
        the widget's Restart goes on from there. The replay flags are those of
        ``scidex-replay rerun-artifact``.
        """
        from scidex_replay.replay import rerun_artifact
        from scidex_replay.surfaces.widget import ReplayWidget, manifest_bundle

        args = parse_argstring(self.rerun_artifact, line)
        with usage_errors():
            options = replay_options(vars(args))
            registry = _open_registry(args.db)
            if args.no_widget:
                try:
                    report = rerun_artifact(args.artifact_id, options, registry=registry)
                finally:
                    registry.close()
            else:
                try:
                    widget = ReplayWidget.for_artifact(registry, args.artifact_id, options, owns_registry=True)
                except BaseException:
                    registry.close()
                    raise
                self.last_widget = widget
                display(widget)  # in an output of its own, which the end of the run updates with the manifest
                try:
                    report = widget.replay(options)  # Cancel or the kernel's interrupt: the interrupted run's report
                except BaseException:
                    widget.close()  # a replay refused by the engine leaves no never-run widget behind
                    raise
                return report
        display(manifest_bundle(report.manifest, registry.store), raw=True)  # its HTML shows image diffs too
        return report

    @magic_arguments()
    @argument("artifact_id", metavar="ID", help="The artifact whose chain is shown.")
    @argument("--from", dest="from_step", metavar="STEP", help="Preselect STEP for 'Replay from' and plan from it.")
    @argument("--db", metavar="URL", help="Registry database URL (default: $SCIDEX_REPLAY_DB).")
    @line_magic
    def artifact_chain(self, line: str) -> Any:
        """Show the chain that produced an artifact, as planned, with the replay controls. Runs nothing.

        Returns the widget: its buttons replay all, replay from the selected
        step, or restart the last failed run.
        """
        from scidex_replay.replay.options import ReplayOptions
        from scidex_replay.surfaces.widget import ReplayWidget

        args = parse_argstring(self.artifact_chain, line)
        with usage_errors():
            registry = _open_registry(args.db)
            try:
                widget = ReplayWidget.for_artifact(
                    registry, args.artifact_id, ReplayOptions(from_step=args.from_step), owns_registry=True
                )
            except BaseException:
                registry.close()
                raise
        self.last_widget = widget
        return widget

    @magic_arguments()
    @argument("--in", dest="inputs", action="append", default=[], metavar="ID", help="An input artifact id (or file), in order: inputs[0], inputs[1]... Repeatable.")
    @argument("--out", required=True, metavar="NAME", help="File name of the output the cell writes to the path `output`.")
    @argument("--type", dest="step_type", default="python.cell", help="The step type (default: python.cell).")
    @argument("--param", dest="params", action="append", default=[], metavar="KEY=VALUE", help="A step parameter, bound as a variable in the cell (VALUE read as JSON if it parses). Repeatable.")
    @argument("--env", dest="env", action="append", default=[], metavar="NAME[=VALUE]", help="An environment variable the cell sees (a bare NAME: its value here); recorded and replayed. The cell sees no other variable of the kernel's. Repeatable.")
    @argument("--kind", help="Kind of the output artifact (default: from NAME's suffix).")
    @argument("--name", dest="step_name", metavar="STEP", help="Name the step (unique in its chain); usable wherever a step id is, e.g. %%rerun_artifact ID --from STEP.")
    @argument("--as", dest="as_var", metavar="VAR", help="Bind the recorded artifact (its .id, .name...) to VAR in the notebook.")
    @argument("--check", action="store_true", help="Then re-run the step under perturbations (clock, threads, time zone...) and warn in the cell if it would not reproduce, and why.")
    @argument("--timeout", metavar="SECONDS", help=TIMEOUT_HELP)
    @argument("--memory-limit", dest="memory_limit", metavar="MB", help=MEMORY_HELP)
    @argument("--db", metavar="URL", help="Registry database URL (default: $SCIDEX_REPLAY_DB).")
    @cell_magic
    def scidex_step(self, line: str, cell: str) -> None:
        """Run the cell as a processing step and record it, so that it can be replayed.

        The cell source is the step's method. It runs as plain Python in a fresh
        interpreter in deterministic mode, exactly as on replay: ``inputs`` (list
        of paths to frozen copies of the --in artifacts), ``output`` (the path to
        write, named --out) and ``params`` (the --param values, also bound by
        name) are defined; notebook variables are not, and nothing earlier cells
        did to the kernel (RNG state, rcParams, threads) reaches it, so import
        what the cell uses. It sees the --env variables and no others. What it
        prints is shown below the cell. Nothing is recorded unless the cell
        finishes and writes ``output``. Prints the new step and artifact ids.
        """
        from scidex_replay.handlers import load_handlers
        from scidex_replay.recording import run_handler

        args = parse_argstring(self.scidex_step, line)
        if args.as_var is not None and not args.as_var.isidentifier():
            raise UsageError(f"--as {args.as_var}: not a Python identifier")
        with usage_errors():
            params = self._params(args.params)
            timeout_s, memory_limit_mb = parse_limit("--timeout")(args.timeout), parse_limit("--memory-limit")(args.memory_limit)
            handler = load_handlers().get(args.step_type)
            with _open_registry(args.db) as registry:
                artifact = run_handler(
                    registry, handler, method=cell, parameters=params, inputs=args.inputs, output=args.out, kind=args.kind,
                    name=args.step_name, env=args.env, timeout_s=timeout_s, memory_limit_mb=memory_limit_mb,
                )
                step = registry.producing_step(artifact.id)
                label = f"{step.name} ({step.step_id})" if step is not None and step.name else step.step_id if step else "?"
                print(f"recorded step {label} ({args.step_type}): artifact {artifact.id} ({artifact.name})")
                if args.check:
                    self._check(registry, artifact.id, label)
        if args.as_var:
            self.shell.user_ns[args.as_var] = artifact

    @magic_arguments()
    @argument("notebook", metavar="NB.ipynb", help="The notebook to run (a path from the kernel's folder).")
    @argument("-p", "--parameter", dest="parameters", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
              help="A papermill parameter, injected after the cell tagged 'parameters' (VALUE read as JSON if it parses). Repeatable.")
    @argument("-i", "--input", dest="inputs", action="append", default=[], metavar="FILE|ID|ID:PATH",
              help="An input, staged where the notebook finds it (as scidex-replay run -i). Repeatable.")
    @argument("-o", "--output", dest="outputs", action="append", default=[], metavar="PATH",
              help="A file the notebook writes; each becomes an artifact and is saved here. Repeatable.")
    @argument("--executed", metavar="PATH", help="Where the executed notebook is saved (default: NB.executed.ipynb).")
    @argument("--kernel", metavar="NAME", help="The Jupyter kernel (default: the notebook's kernelspec, else python3).")
    @argument("--step", dest="step_name", metavar="NAME", help="Name the step (default: the notebook's stem).")
    @argument("--env", dest="env", action="append", default=[], metavar="NAME[=VALUE]",
              help="A variable the notebook may see (a bare NAME: its value here); it sees no other. Repeatable.")
    @argument("--timeout", metavar="SECONDS", help=TIMEOUT_HELP)
    @argument("--memory-limit", dest="memory_limit", metavar="MB", help=MEMORY_HELP)
    @argument("--as", dest="as_var", metavar="VAR", help="Bind the result (.step, .artifacts) to VAR in the notebook.")
    @argument("--db", metavar="URL", help="Registry database URL (default: $SCIDEX_REPLAY_DB).")
    @line_magic
    def run_notebook(self, line: str) -> Any:
        """Run a notebook with papermill in deterministic mode and record it as a `notebook` step,
        as ``scidex-replay run-notebook`` does (same options).

        It runs in a fresh kernel, not this one: only the -p values and the -i inputs reach it.
        Each output and the executed notebook are saved in this kernel's folder; prints their ids
        and returns the record (``.step``, ``.artifacts``: the -o outputs, then the executed
        notebook). Replay it with ``%rerun_artifact ID``; sweep a parameter with
        ``%rerun_artifact ID --fork --set STEP.NAME=VALUE``.
        """
        import json

        from scidex_replay.notebook import run_notebook

        args = parse_argstring(self.run_notebook, line)
        if args.as_var is not None and not args.as_var.isidentifier():
            raise UsageError(f"--as {args.as_var}: not a Python identifier")
        values: dict[str, Any] = {}
        for name, raw in args.parameters:
            try:
                values[name] = json.loads(raw)
            except ValueError:
                values[name] = raw
        with usage_errors():
            with _open_registry(args.db) as registry:
                recorded = run_notebook(
                    args.notebook, values, inputs=args.inputs, outputs=args.outputs, executed=args.executed,
                    kernel=args.kernel, step=args.step_name, env=args.env, registry=registry,
                    timeout_s=parse_limit("--timeout")(args.timeout), memory_limit_mb=parse_limit("--memory-limit")(args.memory_limit),
                )
        step = recorded.step
        print(f"recorded step {step.name} ({step.step_id}, notebook): " + ", ".join(f"{a.id} ({a.name})" for a in recorded.artifacts))
        if args.as_var:
            self.shell.user_ns[args.as_var] = recorded
        return recorded

    @staticmethod
    def _check(registry: Any, artifact_id: str, label: str) -> None:
        """``--check``: explain the new step; a warning in the cell (stderr) when it would not reproduce."""
        import sys

        from scidex_replay.replay.explain import check_message, explain_recorded

        explanation = explain_recorded(registry, artifact_id)
        message = check_message(label, explanation)
        if message:
            kind = "warning" if explanation.threats() else "note"
            print(f"{kind}: {message} ({explanation.runs} re-runs, {explanation.seconds:.1f} s)", file=sys.stderr)

    @staticmethod
    def _params(specs: list[str]) -> dict[str, Any]:
        from scidex_replay.errors import BadInput
        from scidex_replay.surfaces.args import parse_sets

        bad = [s for s in specs if "=" not in s or not s.partition("=")[0]]
        if bad:
            raise BadInput(f"--param {bad[0]!r}: expected KEY=VALUE")
        return parse_sets(f"p.{spec}" for spec in specs).get("p", {})


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics (``%load_ext scidex_replay``)."""
    ipython.register_magics(ReplayMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext scidex_replay``: drop the magics again."""
    magics = ipython.magics_manager.magics
    for kind, names in (("line", ("rerun_artifact", "artifact_chain", "run_notebook")), ("cell", ("scidex_step",))):
        for name in names:
            magics[kind].pop(name, None)
