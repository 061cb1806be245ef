"""``scidex-replay`` (also ``scidex``): the command line. Thin: parse, call, render.

``main`` is the one place that maps errors to exit codes: 0 ok, 1 a step
differed or failed, 2 bad usage or input (one line, no traceback), 3 aborted by
``--strict``.

Start-up: this module imports only click, the standard library and the replay
flag table (``surfaces/args.py``, shared with ``%rerun_artifact``). Each command
imports what it needs (the registry, which loads SQLAlchemy; the replay engine;
Rich) inside its function, after its arguments are checked, so that ``--help``
and bad input answer without loading any of them. ``tests/surfaces/test_cli_startup.py``
keeps it so; ``benchmarks/bench_cli.py`` measures it.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from scidex_replay.errors import BadInput, Notice, ReplayError, one_line, regular_file, utf8_text
from scidex_replay.registry.records import find_step
from scidex_replay.surfaces.args import MEMORY_HELP, TIMEOUT_HELP, click_options, replay_options

PROG = "scidex-replay"
SIGPIPE_EXIT = 141
_python_showwarning = warnings.showwarning

STORE_HELP = (
    "The blob store shared by a team: an fsspec URL (s3://bucket/prefix, gs://..., file:///mnt/blobs); "
    "options as JSON in SCIDEX_REPLAY_STORE_OPTIONS. Default: the data home's own [env SCIDEX_REPLAY_STORE]."
)


def _use_store(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--store URL``, before the command or after it: every registry this process opens (and
    every step process it starts) uses it."""
    if value:
        from scidex_replay.config import STORE_ENV

        os.environ[STORE_ENV] = value


store_option = click.option("--store", metavar="URL", expose_value=False, callback=_use_store, help=STORE_HELP)


def db_option(command: Any) -> Any:
    """``--db URL`` and ``--store URL``: where a command's registry and blobs are."""
    command = click.option(
        "--db", "db", envvar="SCIDEX_REPLAY_DB", metavar="URL", help="Registry database URL [env SCIDEX_REPLAY_DB]."
    )(command)
    return store_option(command)


def _registry(db: str | None):
    from scidex_replay.registry import Registry

    return Registry.open(db)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _print_table(table: Any) -> None:
    """Print a rich ``Table``: on a terminal as rich draws it, its cells folded to fit the width
    (never cropped); elsewhere (a pipe, a file) plain and parseable: the title on a ``# `` line,
    then the header and one line per row, cells separated by tabs, a cell's lines by `` ; ``."""
    console = _console()
    if console.is_terminal:
        console.print(table)
        return
    from rich.text import Text

    def plain(cell: Any) -> str:
        text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
        return " ; ".join(line for line in text.splitlines() if line.strip())

    if table.title:
        click.echo(f"# {plain(table.title)}")
    columns = [[plain(c.header), *map(plain, c.cells)] for c in table.columns]
    for row in zip(*columns):
        click.echo("\t".join(row))


def _note(message: str) -> None:
    click.echo(message, err=True)


def _data(value: object, style: str = "") -> Any:
    """``value`` (data from the registry or a step: a name, a command, a reason) as a rich ``Text``:
    never read as markup, its control characters shown as escapes (``labels.shown``)."""
    from rich.text import Text

    from scidex_replay.surfaces.labels import shown

    return Text(shown(value), style=style)


def _markup(value: object) -> str:
    """``value`` (data) for a string rich reads as markup: escaped, control characters shown."""
    from rich.markup import escape

    from scidex_replay.surfaces.labels import shown

    return escape(shown(value))


class _Commands(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The reader went away (``cat ID | head``): nothing to say, and the status a program
            # killed by SIGPIPE reports (128 + 13), as coreutils' cat gives under ``set -o pipefail``;
            # not click's 1, which ``cat`` gives for bytes that do not verify. stdout goes to
            # /dev/null so that its last flush is quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(SIGPIPE_EXIT) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scidex-replay", prog_name=PROG)
@store_option
def cli() -> None:
    """Record processing steps, replay them, prove that the outputs reproduce."""


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--kind", help="Artifact kind (default: the file's suffix).")
@click.option("--name", help="Artifact name (default: the file's name).")
@db_option
def add(file: Path, kind: str | None, name: str | None, db: str | None) -> None:
    """Store FILE as an artifact and print its id (the same bytes give the same id)."""
    utf8_text(str(file), "file")
    if name is not None:
        utf8_text(name, "--name")
    regular_file(file)  # before the registry opens: missing, a FIFO, a directory...
    art = _registry(db).add_artifact(file, kind=kind, name=name)
    _note(f"{art.id}  {art.name}  {art.size} bytes  sha256:{art.content_hash[:12]}")
    click.echo(art.id)


@cli.command(context_settings={"allow_interspersed_args": False})
@click.option("-i", "--input", "inputs", multiple=True, metavar="FILE|ID|ID:PATH",
              help="An input, staged where the command finds it: a file at the path given, an artifact id under its name, or at PATH; also {in0}, {in1}...")
@click.option("-o", "--output", "outputs", multiple=True, metavar="PATH",
              help="A file the command writes (repeatable); each becomes an artifact and is saved here. Also {out} / {out0}, {out1}...")
@click.option("--stdout", "stdout_name", metavar="NAME", help="Record the command's standard output as an artifact, saved as NAME.")
@click.option("--step", "step_name", metavar="NAME", help="Name the step (default: from the script, e.g. fit for python fit.py); usable wherever a step id is.")
@click.option("--env", "env", multiple=True, metavar="NAME[=VALUE]",
              help="A variable the command may see (recorded; NAME alone takes its value here). It sees no other of yours.")
@click.option("--rtol", metavar="X", help="Relative tolerance for numbers in the outputs, recorded: a replay within it is equivalent and ok.")
@click.option("--atol", metavar="X", help="Absolute tolerance for numbers in the outputs, recorded: a replay within it is equivalent and ok.")
@click.option("--kind", help="Kind of the output artifacts.")
@click.option("--check", is_flag=True, help="Then re-run the step under perturbations (clock, threads, time zone...) and warn if it would not reproduce, and why.")
@click.option("--timeout", "timeout", metavar="SECONDS", help=TIMEOUT_HELP)
@click.option("--memory-limit", "memory_limit", metavar="MB", help=MEMORY_HELP)
@db_option
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
def run(
    inputs: tuple[str, ...], outputs: tuple[str, ...], stdout_name: str | None, step_name: str | None,
    env: tuple[str, ...], rtol: str | None, atol: str | None, kind: str | None, check: bool,
    timeout: str | None, memory_limit: str | None, db: str | None, cmd: tuple[str, ...],
) -> None:
    """Run CMD as written, in deterministic mode, and record it as a `shell` step; print each output's id.

    CMD runs without a shell in its own working directory, where every input sits at the path
    it was given, so a script that opens its files by name records and replays unchanged.
    A file here that CMD names as an argument (a relative path, not the program) and no -i
    declares is recorded as an input too, and said so.
    Each -o is read from there afterwards; ids are printed one per line, in -o order, then the
    --stdout one. Nothing is recorded unless CMD exits 0 and writes every output.
    """
    from scidex_replay.command import check_command, declared_variables, record_command

    from scidex_replay.replay.options import ReplayOptions
    from scidex_replay.surfaces.args import parse_limit, parse_number

    check_command(cmd, inputs, outputs, stdout_name, Path.cwd())  # before the registry opens
    declared_variables(env)
    options = ReplayOptions(
        rtol=parse_number("--rtol")(rtol), atol=parse_number("--atol")(atol),
        timeout_s=parse_limit("--timeout")(timeout), memory_limit_mb=parse_limit("--memory-limit")(memory_limit),
    )  # checks them all, $SCIDEX_REPLAY_MEMORY_LIMIT_MB too
    reg = _registry(db)
    recorded = record_command(
        reg, cmd, inputs=inputs, outputs=outputs, stdout=stdout_name, step_name=step_name, kind=kind, env=env,
        tolerance=options.tolerance, timeout_s=options.timeout_s, memory_limit_mb=options.memory_limit_mb,
    )
    for path in recorded.named:
        _note(f"{PROG}: recorded {path} as an input (named in the command, not declared with -i)")
    for path, artifact in recorded.linked:
        _note(f"{PROG}: {path} is the output {artifact.id} of a recorded step (same name and bytes): the chain goes on through it")
    _save_recorded(reg, recorded)
    if check:
        from scidex_replay.handlers.process import applied

        with applied(options.limits):  # the re-runs have the limits the command had
            _check(reg, recorded.artifacts[0].id, _step_label(recorded.step.name, recorded.step.step_id))


@cli.command("run-notebook")
@click.argument("notebook", metavar="NB.ipynb")
@click.option("-p", "--parameter", "parameters", multiple=True, nargs=2, metavar="NAME VALUE",
              help="A papermill parameter, injected after the cell tagged 'parameters' (VALUE read as JSON if it parses). Repeatable.")
@click.option("-i", "--input", "inputs", multiple=True, metavar="FILE|ID|ID:PATH",
              help="An input, staged where the notebook finds it: a file at the path given, an artifact id under its name, or at PATH.")
@click.option("-o", "--output", "outputs", multiple=True, metavar="PATH",
              help="A file the notebook writes (repeatable); each becomes an artifact and is saved here.")
@click.option("--executed", metavar="PATH", help="Where the executed notebook is saved (default: NB.executed.ipynb beside NB); recorded as the last output.")
@click.option("--kernel", metavar="NAME", help="The Jupyter kernel (default: the notebook's kernelspec, else python3).")
@click.option("--step", "step_name", metavar="NAME", help="Name the step (default: the notebook's stem); usable in --set NAME.PARAM=VALUE.")
@click.option("--env", "env", multiple=True, metavar="NAME[=VALUE]",
              help="A variable the notebook may see (recorded; NAME alone takes its value here). It sees no other of yours.")
@click.option("--kind", help="Kind of the output artifacts.")
@click.option("--timeout", "timeout", metavar="SECONDS", help=TIMEOUT_HELP)
@click.option("--memory-limit", "memory_limit", metavar="MB", help=MEMORY_HELP)
@db_option
def run_notebook(
    notebook: str, parameters: tuple[tuple[str, str], ...], inputs: tuple[str, ...], outputs: tuple[str, ...],
    executed: str | None, kernel: str | None, step_name: str | None, env: tuple[str, ...], kind: str | None,
    timeout: str | None, memory_limit: str | None, db: str | None,
) -> None:
    """Run NB.ipynb with papermill in deterministic mode and record it as a `notebook` step;
    print each output's id, then the executed notebook's.

    The notebook is an input (an edit after recording is source drift; rerun-artifact --live runs
    the edited one); -p values are its parameters (change one with --fork --set STEP.NAME=VALUE);
    inputs and outputs are staged as `run` stages them, and the kernel runs in the notebook's
    folder. Nothing is recorded unless every cell runs and every output is written.
    """
    from scidex_replay.command import declared_variables
    from scidex_replay.notebook import check_notebook, record_notebook
    from scidex_replay.surfaces.args import parse_limit

    timeout_s, memory_limit_mb = parse_limit("--timeout")(timeout), parse_limit("--memory-limit")(memory_limit)
    values: dict[str, Any] = {}
    for name, raw in parameters:
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    check_notebook(notebook, values, outputs, executed, Path.cwd())  # before the registry opens
    declared_variables(env)
    reg = _registry(db)
    recorded = record_notebook(
        reg, notebook, values, inputs=inputs, outputs=outputs, executed=executed, kernel=kernel, step_name=step_name,
        env=env, kind=kind, timeout_s=timeout_s, memory_limit_mb=memory_limit_mb,
    )
    _save_recorded(reg, recorded)


def _check(reg: Any, artifact_id: str, label: str) -> None:
    """``run --check``: explain the new step at once; a warning on stderr when it would not
    reproduce, a note when it reproduces only because deterministic mode fixes what it depends on."""
    from scidex_replay.replay.explain import check_message, explain_recorded
    from scidex_replay.surfaces.labels import shown

    explanation = explain_recorded(reg, artifact_id)
    message = check_message(label, explanation)
    if message:
        kind = "warning" if explanation.threats() else "note"
        _note(shown(f"{PROG}: {kind}: {message} ({explanation.runs} re-runs, {explanation.seconds:.1f} s)"))


def _save_recorded(reg: Any, recorded: Any) -> None:
    """Save each output of a step just recorded where the command wrote it, say where on stderr,
    and print the output ids on stdout (``run`` and ``run-notebook``)."""
    for art, dest in zip(recorded.artifacts, recorded.saved):
        reg.store.save(art.content_hash, dest)
        _note(f"{art.id}  {dest}  {art.size} bytes  sha256:{art.content_hash[:12]}")
    _note(f"step {recorded.step.name} ({recorded.step.step_id})")
    for art in recorded.artifacts:
        click.echo(art.id)


@cli.command()
@click.argument("artifact_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@db_option
def chain(artifact_id: str, as_json: bool, db: str | None) -> None:
    """The steps that produced ARTIFACT_ID, in execution order: each step's name, its inputs and
    outputs where the command finds and writes them, and the command as it runs."""
    reg = _registry(db)
    art = reg.get_artifact(artifact_id)
    from scidex_replay.replay.order import topological

    steps = topological(reg.chain(art.id))
    if as_json:
        from scidex_replay.registry.records import step_to_json

        rows = [step_to_json(s) for s in steps]
        for row in rows:  # the public name of the inputs in `chain --json` (DESIGN.md: "ordered sources")
            row["sources"] = row.pop("source_artifact_ids")
        click.echo(json.dumps(rows, indent=2))
        return
    if not steps:
        from scidex_replay.surfaces.labels import shown

        _note(shown(f"{art.id} ({art.name}) is a source artifact: no step produced it"))
        return
    from rich.table import Table

    artifacts = reg.artifacts(_artifact_ids(steps))
    table = Table(title=_data(f"chain of {art.id} ({art.name})"), title_justify="left")
    for col in ("#", "step", "type", "inputs → outputs", "command"):
        table.add_column(col, overflow="fold", no_wrap=col in ("#", "type"), min_width=20 if col == "command" else None)
    for n, s in enumerate(steps, 1):
        ins, outs = _step_files(s, artifacts)
        table.add_row(
            str(n),
            _data(_step_label(s.name, s.step_id)),
            _data(s.step_type),
            _data(f"{', '.join(ins) or '-'} → {', '.join(outs)}\n")
            + _data("".join(f"code: {c.module} ({c.path})\n" for c in s.code_inputs))
            + _data(f"{', '.join(s.source_artifact_ids) or '-'} → {', '.join(s.output_ids)}", style="dim"),
            _data(_command(s, artifacts)),
        )
    _print_table(table)


def _step_label(name: str | None, step_id: str) -> str:
    """``fit (s_k3f9x2qa)``; the id alone for a step without a name."""
    return f"{name} ({step_id})" if name else step_id


def _step_files(step: Any, artifacts: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Where ``step`` finds each input and writes each output in its working directory (the path
    it was recorded with, else the file name it is given), in order."""
    from scidex_replay.handlers.spec import output_paths, safe_name, staged_inputs

    def names(ids: tuple[str, ...]) -> list[str]:
        return [safe_name(artifacts[a].name if a in artifacts else None, a) for a in ids]

    try:
        ins = [p.as_posix() for p in staged_inputs(step, Path(), names(step.source_artifact_ids))]
        outs = [p.as_posix() for p in output_paths(step, Path(), names(step.output_ids))]
    except BadInput:  # a recorded path that leaves the working directory: say it as recorded
        ins, outs = names(step.source_artifact_ids), names(step.output_ids)
    return ins, outs


def _command(step: Any, artifacts: dict[str, Any]) -> str:
    """The command as it runs in the step's working directory: a shell step's argv with its
    placeholders replaced by the files they stand for, joined as a shell would read it (``> NAME``
    for a recorded standard output), never its free-text ``method``, which replay does not run;
    other steps' ``method``, which is what they run (a ``python.call``'s ``module:function``, a
    ``python.cell``'s source). The variables the step declared
    come first, as a shell writes them: ``NORMALIZE=z-score python fit.py``."""
    from scidex_replay.env.deterministic import declared_of

    declared = declared_of(step.parameters) or {}
    assignments = "".join(f"{name}={shlex.quote(value)} " for name, value in declared.items())
    return assignments + _bare_command(step, artifacts)


def _bare_command(step: Any, artifacts: dict[str, Any]) -> str:
    argv = step.parameters.get("argv")
    if step.step_type == "notebook":  # papermill NB -p NAME VALUE...: the parameters it injects
        from scidex_replay.surfaces.labels import step_method

        return step_method(step)
    if step.step_type != "shell":
        return step.method
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        return "(no argv list in its parameters: the step fails, nothing runs)"
    from scidex_replay.handlers.shell import substitute

    ins, outs = _step_files(step, artifacts)
    try:
        argv = substitute(argv, [Path(p) for p in ins], [Path(p) for p in outs])
    except BadInput:
        pass
    text = shlex.join(argv)
    stdout = step.parameters.get("stdout")
    return f"{text} > {shlex.quote(stdout)}" if isinstance(stdout, str) else text


@cli.command("cat")
@click.argument("ref", metavar="ID | RUN")
@click.argument("step_output", metavar="[STEP[:OUTPUT]]", required=False)
@db_option
def cat_(ref: str, step_output: str | None, db: str | None) -> None:
    """Write the bytes of artifact ID, or of what run RUN replayed for STEP's OUTPUT, to stdout
    (verified against their hash first).

    STEP is a step name or id; OUTPUT an output's index (0, 1, ...) or its path or name, by
    default the step's first output.
    """
    import shutil

    from scidex_replay.errors import IntegrityError, NotFound

    reg = _registry(db)
    if step_output is None:
        if ref.startswith("r_") and not reg.has_artifact(ref):
            reg.get_run(ref)  # NotFound: "unknown run id"
            raise BadInput(f"{ref} is a run: say which step's output, cat {ref} STEP[:OUTPUT]")
        art = reg.get_artifact(ref)
        digest, what = art.content_hash, art.id
    else:
        digest, what = _replayed_output(reg, ref, step_output)
    try:
        blob = reg.store.open_verified(digest)
    except (NotFound, IntegrityError) as exc:
        raise IntegrityError(f"the stored bytes of {what} are missing or do not match sha256:{digest[:12]}") from exc
    out = click.get_binary_stream("stdout")
    with blob:
        shutil.copyfileobj(blob, out)
    out.flush()


def _replayed_output(reg: Any, run_id: str, spec: str) -> tuple[str, str]:
    """(digest, words for an error) of the output ``spec`` (``STEP[:OUTPUT]``) as run ``run_id`` replayed it."""
    run = reg.get_run(run_id)
    ref, sep, output = spec.partition(":")
    results = {r.step_id: r for r in reg.results(run.run_id)}
    steps = sorted((s for s in reg.chain(run.target_artifact_id) if s.step_id in results), key=lambda s: results[s.step_id].position)
    step = find_step(steps, ref)
    if step is None:
        known = ", ".join(s.label for s in steps) or "none"
        raise BadInput(f"run {run.run_id} has no step {ref!r} (its steps: {known})")
    outputs = step.all_outputs
    if not sep or not output:
        index = 0
    elif output.isdigit():
        index = int(output)
        if index >= len(outputs):
            raise BadInput(f"step {step.label} has {len(outputs)} output(s): no output {index}")
    else:
        artifacts = reg.artifacts(step.output_ids)
        names = [(o.path, artifacts[o.artifact_id].name if o.artifact_id in artifacts else None, o.artifact_id) for o in outputs]
        matches = [i for i, n in enumerate(names) if output in n]
        matches = matches or [i for i, (path, name, _) in enumerate(names) if output in (Path(path or "").name, name and Path(name).name)]
        if len(matches) != 1:
            known = ", ".join(path or name or a for path, name, a in names)
            raise BadInput(f"step {step.label} has {'more than one' if matches else 'no'} output {output!r} (its outputs: {known})")
        index = matches[0]
    result = results[step.step_id]
    digests = result.digests
    if index >= len(digests):
        raise BadInput(f"run {run.run_id} has no replayed bytes for step {step.label} ({result.reason})")
    where = outputs[index].path or outputs[index].artifact_id
    return digests[index], f"{where} of step {step.label} in run {run.run_id}"


@cli.command("step-types")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@db_option
def step_types(as_json: bool, db: str | None) -> None:
    """Distinct step types with counts, and whether a handler exists for each."""
    from scidex_replay.handlers import load_handlers

    handlers = load_handlers()
    rows = [(t, n, t in handlers) for t, n in _registry(db).step_types()]
    if as_json:
        click.echo(json.dumps([{"step_type": t, "count": n, "handler": h} for t, n, h in rows], indent=2))
        return
    from rich.table import Table

    table = Table()
    for col in ("step_type", "steps", "handler"):
        table.add_column(col, overflow="fold")
    for t, n, h in rows:
        table.add_row(_data(t), str(n), "yes" if h else "[red]none[/red]")
    _print_table(table)


@cli.command("rerun-artifact")
@click.argument("artifact_id")
@click_options
@click.option("--dry-run", is_flag=True, help="Print the plan and exit without running anything.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest (or, with --dry-run, the plan) as JSON.")
@db_option
def rerun_artifact(artifact_id: str, dry_run: bool, as_json: bool, db: str | None, **flags: Any) -> int:
    """Replay the steps that produced ARTIFACT_ID and byte-compare every output.

    Exit 0 when every step reproduced, 1 when a step differed, failed or was
    unreplayable, 2 on bad input, 3 when --strict aborted the run.
    """
    options = replay_options(flags)
    from scidex_replay.replay import plan_replay
    from scidex_replay.replay import rerun_artifact as replay

    reg = _registry(db)
    if dry_run:
        the_plan = plan_replay(reg, artifact_id, options)
        set_params, input_overrides = options.set_params, options.input_overrides
        if options.restart and not (set_params or input_overrides):  # a restart repeats its run's changes
            inherited = reg.get_run(options.restart).options
            set_params, input_overrides = inherited.get("set") or {}, inherited.get("inputs") or {}
        steps = [p.step for p in the_plan.steps]
        changes = _changes(reg, steps, set_params, input_overrides)
        _print_plan(the_plan, as_json, changes, reg.artifacts(_artifact_ids(steps)))
        return 0
    report = replay(artifact_id, options, registry=reg, on_event=_progress_printer())
    if as_json:
        click.echo(json.dumps(report.manifest, indent=2))
    else:
        _print_manifest(report.manifest)
        if options.diff:
            _print_comparisons(reg, report.manifest, options.out)
    _note(f"manifest: {report.manifest_path}")
    return report.exit_code


#: Lines ``--diff`` prints per output at most (header, differences, diff excerpt); the whole diff is a file.
DIFF_SHOWN_LINES = 40
#: Differences listed per output at most (the manifest keeps up to 50).
DIFF_SHOWN_DIFFERENCES = 8
#: Characters of a diff line shown at most.
DIFF_LINE_CHARS = 200


def _print_comparisons(reg: Any, manifest: dict[str, Any], out: Any) -> None:
    """``--diff``: for each output that differs or is equivalent, its comparator's verdict as the
    manifest has it (summary, differences with kind, where and detail), the first lines of its
    readable diff (the ``diff_blob`` in the store), and where ``--out`` wrote the whole diff.
    At most ``DIFF_SHOWN_LINES`` lines per output."""
    from scidex_replay.surfaces.labels import OUTCOME_STYLE
    from scidex_replay.surfaces.manifest_view import comparison_rows

    say = _sayer()
    for row in comparison_rows(manifest):
        name, outcome, c = row["output"], row["outcome"], row["comparison"]
        lines: list[tuple[str, str]] = []
        head = f"{_step_label(row['step_name'], row['step_id'])}: {name}: {outcome}"
        lines.append((head + (f" ({c['comparator']})" if c else ""), f"bold {OUTCOME_STYLE.get(outcome, '')}".strip()))
        if not c:
            lines.append(("  no comparison: the recorded bytes are not in the store", "dim"))
            _emit(say, lines)
            continue
        lines.append((f"  {c['summary']}", ""))
        differences = c.get("differences") or []
        for d in differences[:DIFF_SHOWN_DIFFERENCES]:
            lines.append((f"  {d['kind']:<11} {d['where']}: {d['detail']}", _KIND_STYLE.get(d["kind"], "")))
        if len(differences) > DIFF_SHOWN_DIFFERENCES:
            lines.append((f"  … {len(differences) - DIFF_SHOWN_DIFFERENCES} more difference(s) (--json lists them)", "dim"))
        blob = (c.get("metrics") or {}).get("diff_blob")
        where = _diff_file(out, row) if out is not None else None
        budget = DIFF_SHOWN_LINES - len(lines) - 2  # the "…" and "full diff" lines
        if isinstance(blob, str) and reg.store.has(blob):
            shown, more = _diff_head(reg.store, blob, max(budget, 1))
            lines.extend((f"  {line}", _diff_style(line)) for line in shown)
            if more:
                lines.append(("  …", "dim"))
            if where is not None:
                lines.append((f"full diff: {where}", ""))
            else:
                lines.append(("full diff: replay with --out DIR to have it in DIR/STEP/NAME.diff", "dim"))
        _emit(say, lines)


_KIND_STYLE = {"content": "red", "numeric": "yellow", "metadata": "cyan", "volatile-id": "cyan", "order": "cyan"}


def _diff_style(line: str) -> str:
    if line.startswith("@@"):
        return "cyan"
    if line.startswith("+") and not line.startswith("+++"):
        return "green"
    if line.startswith("-") and not line.startswith("---"):
        return "red"
    return "dim" if line.startswith(("---", "+++")) else ""


def _diff_head(store: Any, digest: str, n: int) -> tuple[list[str], bool]:
    """The first ``n`` lines of the text blob ``digest`` (each cut at ``DIFF_LINE_CHARS``), and
    whether more follow; reads only that far."""
    import io

    lines: list[str] = []
    with store.open(digest) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        for line in text:
            if len(lines) == n:
                return lines, True
            line = line.rstrip("\r\n")
            lines.append(line if len(line) <= DIFF_LINE_CHARS else line[:DIFF_LINE_CHARS] + "…")
    return lines, False


def _diff_file(out: Any, row: dict[str, Any]) -> Path | None:
    """Where ``--out`` wrote the whole diff of a compared output (``OUT/STEP/PATH.diff``,
    ``row`` from ``comparison_rows``), if it did."""
    from scidex_replay.handlers.spec import safe_name
    from scidex_replay.replay.engine import export_path

    name = row["output"]
    for candidate in (name, safe_name(name, row["artifact_id"] or "output")):
        try:
            path = export_path(Path(out), row["step"], row["step_id"], candidate)
        except BadInput:
            continue
        diff = path.with_name(path.name + ".diff")
        if diff.is_file():
            return diff
    return None


def _sayer():
    """Print one line of ``--diff``: through Rich with its style on a terminal, plain otherwise
    (a pipe, a file). Either way the text is data: never markup, control characters shown."""
    console = _console()
    if console.is_terminal:
        return lambda text, style: console.print(_data(text, style=style), soft_wrap=True)
    from scidex_replay.surfaces.labels import shown

    return lambda text, style: click.echo(shown(text))


def _emit(say: Any, lines: list[tuple[str, str]]) -> None:
    say("", "")
    for text, style in lines:
        say(text, style)


def _progress_printer():
    """Per-step progress on stderr: a Rich progress bar on a terminal, one line per step otherwise."""
    labels: dict[str, str] = {}  # step id -> "name (id)", from the plan

    def label(step_id: str) -> str:
        return labels.get(step_id, step_id)

    def start(payload: dict[str, Any]) -> None:
        labels.update((p.step.step_id, _step_label(p.step.name, p.step.step_id)) for p in payload["plan"].steps)

    from scidex_replay.surfaces.labels import shown

    if not sys.stderr.isatty():

        def lines(kind: str, payload: dict[str, Any]) -> None:
            if kind == "start":
                start(payload)
                _note(f"run {payload['run_id']}: {len(payload['plan'])} step(s)")
            elif kind == "step":
                r = payload["result"]
                _note(shown(f"[{payload['position'] + 1}/{payload['total']}] {label(r.step_id)}  {r.reason}  ({r.duration_s:.2f} s)"))
            elif kind == "warning":
                _note(shown(f"warning: {payload['message']}"))
            elif kind == "explaining":
                _note(shown(f"explaining {label(payload['step_id'])}: re-running it under perturbations"))

        return lines

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=_console(stderr=True), transient=True,
    )
    task = None

    def bar(kind: str, payload: dict[str, Any]) -> None:
        nonlocal task
        if kind == "start":
            start(payload)
            progress.start()
            task = progress.add_task(f"run {payload['run_id']}", total=len(payload["plan"]))
        elif kind == "step" and task is not None:
            r = payload["result"]
            progress.console.print(shown(f"{label(r.step_id)}  {r.reason}  ({r.duration_s:.2f} s)"), markup=False)
            progress.update(task, advance=1)
        elif kind == "warning":
            progress.console.print(f"[yellow]warning:[/yellow] {_markup(payload['message'])}")
        elif kind == "explaining":
            progress.console.print(shown(f"explaining {label(payload['step_id'])}: re-running it under perturbations"), markup=False)
        elif kind == "end":
            progress.stop()

    return bar


def _artifact_ids(steps: list[Any]) -> list[str]:
    return [a for s in steps for a in (*s.source_artifact_ids, *s.output_ids)]


def _print_plan(the_plan: Any, as_json: bool, changes: list[dict[str, Any]], artifacts: dict[str, Any] | None) -> None:
    if as_json:
        rows = [
            {"step_id": p.step.step_id, "step_name": p.step.name, "step_type": p.step.step_type, "action": p.action,
             "reason": p.reason, "method": p.step.method, "command": _command(p.step, artifacts or {})}
            for p in the_plan.steps
        ]
        click.echo(json.dumps(
            {"target_artifact_id": the_plan.target_artifact_id, "from_step": the_plan.from_step, "changes": changes, "steps": rows},
            indent=2,
        ))
        return
    from rich.table import Table

    from scidex_replay.surfaces.labels import shown

    if changes:
        click.echo("the fork changes:")
        for change in changes:
            click.echo(f"  {shown(change['text'])}")
    table = Table(title=_data(f"plan for {the_plan.target_artifact_id}"), title_justify="left")
    for col in ("#", "step", "type", "action", "command"):
        table.add_column(col, overflow="fold")
    for n, p in enumerate(the_plan.steps, 1):
        command = _data(_command(p.step, artifacts or {}))
        table.add_row(
            str(n), _data(_step_label(p.step.name, p.step.step_id)), _data(p.step.step_type), _data(p.reason or p.action), command,
        )
    _print_table(table)


def _changes(reg: Any, steps: list[Any], set_params: Any, input_overrides: Any) -> list[dict[str, Any]]:
    """What a fork changes in the chain ``steps``, old → new, each with its words in ``text``:
    ``STEP.KEY: old → new`` for a ``--set`` (values as JSON), ``STEP:N: a_old (path) → new`` for
    an ``--input`` (``new``: a file as given, or an artifact id and its name). Steps may be given by
    name or id (the options of a command line) or by id (a run's options)."""
    changes: list[dict[str, Any]] = []

    def which(ref: str) -> tuple[Any, dict[str, Any]]:
        step = find_step(steps, ref)
        return step, {"step_id": step.step_id if step else ref, "step_name": step.name if step else None}

    for ref, values in set_params.items():
        step, named = which(ref)
        for key, new in values.items():
            known = step is not None and key in step.parameters
            old = step.parameters[key] if known else None
            changes.append({
                "kind": "parameter", **named, "key": key, "old": old, "new": new,
                "text": f"{step.label if step else ref}.{key}: {_json_value(old) if known else '?'} → {_json_value(new)}",
            })
    inputs = []
    for spec, new in input_overrides.items():
        ref, _, index_text = spec.partition(":")
        step, index = find_step(steps, ref), int(index_text) if index_text.isdigit() else 0
        old_id = step.source_artifact_ids[index] if step and index < len(step.source_artifact_ids) else None
        inputs.append((ref, index, old_id, new))
    artifacts = reg.artifacts([a for *_, old_id, new in inputs for a in (old_id, new) if a])
    for ref, index, old_id, new in inputs:
        step, named = which(ref)
        old_words = "?"
        if old_id is not None:
            path = step.input_paths[index] if index < len(step.input_paths) else None
            old_words = f"{old_id} ({path or (artifacts[old_id].name if old_id in artifacts else '?')})"
        new_art = artifacts.get(new)
        new_words = f"{new} ({new_art.name})" if new_art else new
        changes.append({
            "kind": "input", **named, "index": index, "old_artifact_id": old_id, "new": new,
            "new_artifact_id": new_art.id if new_art else None,
            "text": f"{step.label if step else ref}:{index}: {old_words} → {new_words}",
        })
    return changes


def _json_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _outcome_counts(manifest: dict[str, Any]) -> str:
    """``2 reproduced, 1 failed, 1 skipped``: how many steps of a run ended each way (its
    manifest's ``summary``, or counted from its steps), the same words wherever a run is shown."""
    from collections import Counter

    summary = manifest.get("summary") or dict(sorted(Counter(s.get("outcome") or "unknown" for s in manifest.get("steps", [])).items()))
    return ", ".join(f"{n} {outcome}" for outcome, n in summary.items()) or "no step done"


def _print_manifest(m: dict[str, Any], status: str | None = None) -> None:
    """Print a manifest as a table; ``status``, when given, is the registry's (authoritative) run status."""
    from rich.table import Table

    from scidex_replay.surfaces.labels import OUTCOME_STYLE, manifest_verdict, run_verdict

    v = manifest_verdict(m) if status is None else run_verdict(status, kind=m.get("kind"))
    lineage = f" ({m['kind']} of {m['parent_run_id']})" if m.get("parent_run_id") else f" ({m['kind']})"
    title = _data(f"run {m['run_id']}{lineage} of {m['target_artifact_id']}: ") + _data(v.label, style=v.rich_style)
    table = Table(title=title, title_justify="left")
    for col in ("#", "step", "type", "outcome", "replayed sha256", "reason", "s"):
        table.add_column(col, overflow="fold", no_wrap=col in ("step", "outcome"))
    for n, s in enumerate(m["steps"], 1):
        outcome = s.get("outcome", "")  # a hand-made v1 manifest may have none
        style = OUTCOME_STYLE.get(outcome, "")
        table.add_row(
            str(n),
            _data(_step_label(s.get("step_name"), s["step_id"])),
            _data(s["step_type"]),
            _data(outcome, style=style),
            _data((s["output_hash_replayed"] or "-")[:12]),
            _data(s["reason"].removeprefix(outcome).removeprefix(": ") if outcome else s["reason"]),  # the words
            f"{s['duration_s']:.2f}",
        )
    _print_table(table)
    _console().print(_data(_outcome_counts(m)))
    for s in m["steps"]:
        e = s.get("explanation")
        if e:
            cost = f" ({e['runs']} re-runs, {e['seconds']:.1f} s)" if "runs" in e and "seconds" in e else ""
            _console().print(_data(f"explain {_step_label(s.get('step_name'), s['step_id'])}: {e['summary']}{cost}"), soft_wrap=True)
    for s in m["steps"]:
        if s.get("forked_artifact_id"):
            _console().print(_data(f"new artifact {s['forked_artifact_id']} (forked from {s['target_artifact_id']}) by {_step_label(s.get('step_name'), s['step_id'])}"))


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, metavar="[ID] | show RUN")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a tree.")
@db_option
def runs(args: tuple[str, ...], as_json: bool, db: str | None) -> None:
    """Replay runs as a lineage tree (replay → restart → fork …), with per-run counts.

    `runs` lists every run, `runs ID` the runs of artifact ID, `runs show RUN`
    one run with its lineage and per-step outcomes.
    """
    from scidex_replay.outcomes import Status
    from scidex_replay.replay.engine import run_manifest
    from scidex_replay.replay.manifest import counts
    from scidex_replay.surfaces.labels import run_verdict, shown

    reg = _registry(db)
    if args[:1] == ("show",):
        if len(args) != 2:
            raise click.UsageError("usage: runs show RUN")
        run = reg.get_run(args[1])
        lineage = reg.ancestry(run.run_id)
        changes = _run_changes(reg, run, {})
        manifest = run_manifest(reg, run.run_id)
        if as_json:
            click.echo(json.dumps({"lineage": lineage, "changes": changes, "status": run.status, "manifest": manifest}, indent=2))
            return
        _console().print(_data("lineage: " + " ← ".join(f"{r} ({reg.get_run(r).kind})" for r in lineage)))
        if changes:
            click.echo("the fork changed:")
            for change in changes:
                click.echo(f"  {shown(change['text'])}")
        if manifest["steps"] or run.manifest:
            _print_manifest(manifest, status=run.status)
        if run.status in (Status.RUNNING, Status.INTERRUPTED) and run.manifest is None:
            alive = f" (pid {run.pid} on {run.host})" if run.status is Status.RUNNING else ""
            _note(f"run {run.run_id} is {run.status}{alive}: {len(manifest['steps'])} step(s) done; "
                  f"`{PROG} rerun-artifact {run.target_artifact_id} --restart {run.run_id}` goes on from there")
        return
    if len(args) > 1:
        raise click.UsageError("usage: runs [ID] | runs show RUN")
    all_runs = reg.runs(args[0] if args else None)
    chains: dict[str, list[Any]] = {}
    rows = [
        {
            "run_id": r.run_id,
            "kind": r.kind,
            "parent_run_id": r.parent_run_id,
            "target_artifact_id": r.target_artifact_id,
            "status": r.status,
            "started_at": r.started_at.isoformat(),
            "from_step": _from_step(r.manifest),
            "changes": _run_changes(reg, r, chains),
            **counts(r.manifest or {}),
        }
        for r in all_runs
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        _note("no replay runs yet")
        return
    from rich.tree import Tree

    children: dict[str | None, list[dict[str, Any]]] = {}
    ids = {r["run_id"] for r in rows}
    for r in rows:
        children.setdefault(r["parent_run_id"] if r["parent_run_id"] in ids else None, []).append(r)

    # The registry's status is a Status (revision 0003 migrated the first wave's), even where the
    # stored manifest is a v1 one, whose "failed" could also mean "differs".
    verdicts = {r.run_id: run_verdict(r.status, kind=r.kind) for r in all_runs}
    outcomes = {r.run_id: _outcome_counts(r.manifest or {}) for r in all_runs}

    def label(r: dict[str, Any]) -> str:
        v = verdicts[r["run_id"]]
        start = f" from {_markup(r['from_step'])}" if r["from_step"] else ""
        changed = "".join(f"\n  changed {_markup(c['text'])}" for c in r["changes"])
        return (
            f"{_markup(r['run_id'])} {_markup(r['kind'])} of {_markup(r['target_artifact_id'])}{start} [{v.rich_style}]{v.label}[/{v.rich_style}]  "
            f"{_markup(outcomes[r['run_id']])}  {r['started_at'][:19]}{changed}"
        )

    def grow(node: Any, parent: str | None) -> None:
        for r in children.get(parent, []):
            grow(node.add(label(r)), r["run_id"])

    tree = Tree("replay runs")
    grow(tree, None)
    _console().print(tree)


def _from_step(manifest: dict[str, Any] | None) -> str | None:
    """The ``--from`` step of a run, by name when its manifest knows it."""
    if not manifest or not manifest.get("from_step"):
        return None
    names = {s["step_id"]: s.get("step_name") for s in manifest.get("steps", [])}
    return names.get(manifest["from_step"]) or manifest["from_step"]


def _run_changes(reg: Any, run: Any, chains: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """What a fork (or a restart of one) changed, from the run's options, the old values from the
    chain of its target (read once per target into ``chains``); ``[]`` for a plain replay."""
    if run.kind == "replay":
        return []
    set_params, inputs = run.options.get("set") or {}, run.options.get("inputs") or {}
    if not (set_params or inputs):
        return []
    if run.target_artifact_id not in chains:
        chains[run.target_artifact_id] = reg.chain(run.target_artifact_id)
    return _changes(reg, chains[run.target_artifact_id], set_params, inputs)


@cli.command()
@click.argument("artifact_id")
@click.option("--prov", "as_prov", is_flag=True, required=True, help="W3C PROV-JSON (the only format so far).")
@click.option("--run", "run_id", metavar="RUN", help="Add this replay run as a PROV bundle.")
@db_option
def export(artifact_id: str, as_prov: bool, run_id: str | None, db: str | None) -> None:
    """Export the provenance of ARTIFACT_ID's chain (and of a run) as W3C PROV-JSON."""
    from scidex_replay.provenance import export_prov

    if not as_prov:
        raise click.UsageError("choose a format: --prov")
    click.echo(json.dumps(export_prov(_registry(db), artifact_id, run_id), indent=2, sort_keys=True))


@cli.command()
@click.option("--repair", is_flag=True, help="Quarantine corrupt blobs, remove stale temp files, abort stale incomplete uploads (S3).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def verify(repair: bool, as_json: bool, db: str | None) -> int:
    """Check every blob against its hash and every registry reference against the store.

    Exit 0 when nothing is missing or corrupt, 1 otherwise.
    """
    from scidex_replay.integrity import verify as check

    report = check(_registry(db), repair=repair)
    if as_json:
        click.echo(json.dumps({"checked": report.checked, "ok": report.ok, "problems": [vars(p) for p in report.problems], "repaired": list(report.repaired)}, indent=2))
    else:
        for p in report.problems:
            click.echo(f"{p.kind:8} {p.digest if p.kind in ('temp', 'upload') else p.digest[:16]}  {p.detail}")
        for line in report.repaired:
            _note(line)
        _note(f"{report.checked} blob(s) checked: {'ok' if report.ok else 'problems found'}")
    return 0 if report.ok else 1


@cli.command()
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.option("--grace", "grace", default="1d", show_default=True, metavar="AGE",
              help="Only blobs older than this (90s, 12h, 7d): younger ones may belong to an add in progress.")
@db_option
def gc(dry_run: bool, grace: str, db: str | None) -> None:
    """Delete the blobs that no artifact, result, manifest or pending step references and that are
    older than --grace, from the store in use (the local one or --store URL); say how many bytes were freed."""
    from scidex_replay.gc import collect, parse_grace

    seconds = parse_grace(grace)
    report = collect(_registry(db), grace_s=seconds, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for digest, size in report.deleted:
        click.echo(f"{verb} {digest}  {size} bytes")
    for key, size in report.uploads:
        _note(f"{'would abort' if dry_run else 'aborted'} the incomplete upload of {key} ({'bytes unknown' if size is None else f'{size} bytes'})")
    _note(
        f"{verb} {len(report.deleted)} blob(s), {report.bytes_freed} bytes {'to free' if dry_run else 'freed'}; "
        f"kept {report.referenced} referenced{_young(report.young, seconds, grace)}"
    )


def _young(n: int, seconds: float, grace: str) -> str:
    """The end of gc's summary: `` and 3 younger than 1d``; `` (no grace period)`` at 0."""
    if seconds > 0:
        return f" and {n} younger than {grace.strip()}"
    return f" and {n} dated in the future (no grace period)" if n else " (no grace period)"


@cli.command()
@db_option
def recover(db: str | None) -> None:
    """Record the steps that ran but that the registry refused to record (locked, gone).

    `run` keeps such a step aside (its outputs in the store, the rest in
    <home>/pending/); this records each one, oldest first, and prints its output ids
    as `run` would have.
    """
    from scidex_replay.pending import pending_files, record_pending
    from scidex_replay.surfaces.labels import shown

    reg = _registry(db)
    kept = pending_files(reg)
    if not kept:
        _note("no step is waiting to be recorded")
    for path in kept:
        artifacts = record_pending(reg, path)
        for artifact in artifacts:
            click.echo(artifact.id)
        _note(f"recorded the step kept in {path.name}: " + ", ".join(shown(a.name or a.id) for a in artifacts))


@cli.command()
@db_option
def upgrade(db: str | None) -> None:
    """Upgrade the registry to the newest schema this scidex-replay knows, a SQLite file backed up
    first to REGISTRY.bak-REVISION; say from which revision to which.

    Exit 0 when upgraded or already up to date, 2 when the registry is of a newer schema (left as it is).
    """
    from scidex_replay.registry import Registry

    change = Registry.upgrade(db)
    if change.before == change.after:
        click.echo(f"registry {change.url} is already at schema revision {change.after}, the newest: nothing to do")
        return
    before = f"from schema revision {change.before}" if change.before else "from an empty database"
    kept = f"; the registry as it was is kept at {change.backup}" if change.backup else ""
    click.echo(f"upgraded registry {change.url} {before} to {change.after}{kept}")


@cli.command()
@db_option
def demo(db: str | None) -> None:
    """Record a small real analysis (matplotlib's sample stock prices), replay it, fork it once, and say what happened."""
    from scidex_replay.config import data_home
    from scidex_replay.demo import run_demo

    reg = _registry(db)
    where = db or os.environ.get("SCIDEX_REPLAY_DB") or str(data_home())
    return run_demo(reg, where, say=click.echo)


def _show_warning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """A ``Notice`` (a repair, an upgrade) as one line on stderr; any other warning as Python shows it."""
    if issubclass(category, Notice):
        _note(f"{PROG}: notice: {one_line(message)}")
    else:
        _python_showwarning(message, category, *args, **kwargs)


def main(argv: list[str] | None = None) -> int:
    """Entry point of both console scripts; returns the process exit code."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", Notice)
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        rv = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        hint = f" (see {PROG} {exc.ctx.info_name if exc.ctx and exc.ctx.parent else ''} --help)".replace("  ", " ")
        _note(f"{PROG}: error: {exc.format_message()}{hint}")
        return 2
    except click.ClickException as exc:
        _note(f"{PROG}: error: {exc.format_message()}")
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        _note(f"{PROG}: interrupted")
        return 130
    except ReplayError as exc:
        _note(f"{PROG}: error: {one_line(exc)}")
        return exc.exit_code
    return rv if isinstance(rv, int) else 0


def _interrupt_on_sigterm() -> None:
    """``kill`` ends a replay like Ctrl-C does: the run is recorded as interrupted, never left running."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def entry() -> None:
    _interrupt_on_sigterm()
    sys.exit(main())


if __name__ == "__main__":
    entry()
