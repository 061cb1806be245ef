"""Record a command as it is written (``scidex-replay run``; DESIGN.md, "Recording a command as it is written").

The command runs in its own working directory, where every input sits at the path it was
given (``-i data/x.csv`` at ``data/x.csv``; an artifact id under its artifact name, or at
``ID:PATH``) and from which every ``-o`` path is read afterwards, each its own artifact;
``--stdout NAME`` makes its standard output one more. A script that opens its files by name
records and replays unchanged; ``{in0}``… ``{out}``, ``{out1}``… still work.

Paths are resolved against ``cwd`` (the folder ``run`` is called from). A path outside it is
accepted only when the command reaches it through a placeholder (it is then staged under its
file name); otherwise the command would read or write outside its working directory, and that
is refused. Every refusal is a ``BadInput`` with one line, before anything runs; so is a file
name or argument that is not valid UTF-8 (it could not be recorded).

A file the command names but no ``-i`` declares is recorded as an input all the same, staged at
the path it is named by (``named_files`` gives the rule), so that an edited script is caught as
source drift at replay (``replay/drift.py``).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from scidex_replay.compare.base import TOLERANCE_KEY, Tolerance
from scidex_replay.errors import BadInput, regular_file, utf8_text
from scidex_replay.handlers.shell import PLACEHOLDER, ShellHandler, check_argv
from scidex_replay.handlers.spec import relative_path, safe_name
from scidex_replay.registry.records import Artifact, Step

if TYPE_CHECKING:
    from scidex_replay.registry import Registry

#: File suffixes that make an argument the step's script (its stem names the step).
SCRIPT_SUFFIXES = (".py", ".r", ".R", ".jl", ".sh", ".pl", ".rb", ".m", ".ipynb", ".js", ".do")


@dataclass(frozen=True)
class RecordedCommand:
    step: Step
    artifacts: list[Artifact]  # the outputs in ``-o`` order, then the ``--stdout`` one
    saved: list[Path]  # where each output was saved in the caller's folder, in the same order
    named: list[str]  # files the command names that no -i declared, recorded as inputs (paths relative to cwd)
    linked: list[tuple[str, Artifact]] = ()  # input files known as an earlier step's output: (path, that artifact)


def record_command(
    registry: Registry,
    argv: Sequence[str],
    *,
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    stdout: str | None = None,
    step_name: str | None = None,
    kind: str | None = None,
    cwd: Path | None = None,
    env: Sequence[str] = (),
    tolerance: Tolerance | None = None,
    timeout_s: float | None = None,
    memory_limit_mb: int | None = None,
) -> RecordedCommand:
    """Run ``argv`` in deterministic mode in a working directory laid out as ``cwd`` and record it
    as a ``shell`` step; nothing is recorded unless it exits 0 and writes every output.

    ``inputs``: files (paths as the command names them), artifact ids, or ``ID:PATH``.
    ``outputs``: paths the command writes. ``stdout``: a file name for its standard output.
    ``env``: ``NAME=VALUE`` or ``NAME`` (its value here) for each variable the command may see;
    recorded, part of the reuse key; it sees nothing else of this environment (``declared_env``).
    ``tolerance`` (``run --rtol/--atol``): how far numbers in its outputs may move in a replay
    and still count as equal; recorded on the step (``compare.base.TOLERANCE_KEY``).
    ``timeout_s`` (seconds, default 3600) and ``memory_limit_mb`` (MiB of address space, default
    ``$SCIDEX_REPLAY_MEMORY_LIMIT_MB``, else none) limit the command and all it starts
    (``handlers.process``); not recorded: a replay sets its own.
    Files under ``cwd`` that ``argv`` names and ``inputs`` do not declare become inputs too
    (``named_files``); ``RecordedCommand.named`` lists them.
    Raises ``BadInput`` for a bad limit, a missing input, a path outside the folder that no placeholder names,
    two inputs or outputs at one path, a step name already used in the chain, or a name or
    argument that is not valid UTF-8.
    """
    from scidex_replay.env import command_environment
    from scidex_replay.recording import record_step

    from scidex_replay.handlers.process import limits

    cwd = (cwd or Path.cwd()).resolve()
    argv = list(argv)
    step_limits = limits(timeout_s, memory_limit_mb)
    written = check_command(argv, inputs, outputs, stdout, cwd)
    used = {m.group(0) for arg in argv for m in PLACEHOLDER.finditer(arg)}
    sources, staged = _inputs(registry, inputs, cwd, used)
    named = named_files(argv, [*staged, *written], cwd)
    sources += [str(cwd / path) for path in named]
    staged += named
    linked = _link_outputs(registry, sources)
    name = _step_name(registry, argv, step_name, [s for s in sources if registry.has_artifact(s)])
    parameters: dict[str, object] = {"argv": argv, "env": declared_variables(env)}
    if stdout:
        parameters["stdout"] = written[-1]
    if tolerance is not None:
        parameters[TOLERANCE_KEY] = tolerance.to_json()
    # The environment of the program the command runs (its own venv's Python, say), not ours.
    environment = command_environment(argv, os.environ.get("PATH"), cwd=cwd)
    with record_step(
        registry, "shell", method=shlex.join(argv), inputs=sources, input_paths=staged, outputs=written,
        parameters=parameters, kind=kind, name=name, env=environment,
    ) as rec:
        ShellHandler(step_limits.timeout_s, step_limits.memory_limit_mb)(rec.provisional_step(), rec.inputs, rec.output)
    assert rec.step is not None
    saved = [cwd / path for path in outputs] + ([cwd / stdout] if stdout else [])
    return RecordedCommand(rec.step, rec.artifacts, saved, named, [(os.path.relpath(path, cwd), art) for path, art in linked])


def _link_outputs(registry: Registry, sources: list[str]) -> list[tuple[str, Artifact]]:
    """Replace in ``sources`` each file whose name and bytes are those of an output a recorded step
    produced (a file an earlier ``run`` saved in this folder) by that artifact's id, so that the
    chain goes on through that step, as DVC links a stage's dependency to the stage that outputs
    it; returns (file, artifact) for each one linked. A file edited since is not linked: its bytes
    differ, and it is a source of its own."""
    from scidex_replay.store import hash_file

    linked = []
    for i, source in enumerate(sources):
        if registry.has_artifact(source):
            continue
        try:
            digest = hash_file(source)
        except OSError:  # an unreadable input: staging it says so in one line
            continue
        produced = registry.produced(digest, Path(source).name)
        if produced is not None:
            sources[i] = produced.id
            linked.append((source, produced))
    return linked


def named_files(argv: Sequence[str], taken: Sequence[str], cwd: Path) -> list[str]:
    """The files the command names that it is not given otherwise, as paths relative to ``cwd``,
    in argument order, each once.

    The rule: an argument after the program (``argv[1:]``), taken whole, that is a relative path
    without ``..`` and names a regular file (or a link to one) under ``cwd``; not one holding a
    placeholder, and not a path in ``taken`` (where the declared inputs are staged, and the
    outputs and ``--stdout`` are read). An absolute path is left alone: the command would read the
    file there, not a staged copy. Options such as ``--data=x.csv`` are not split.
    """
    seen = set(taken)
    found: list[str] = []
    for arg in argv[1:]:
        if not arg or "\0" in arg or os.path.isabs(arg) or PLACEHOLDER.search(arg) or ".." in Path(arg).parts:
            continue
        full = Path(os.path.normpath(cwd / arg))
        if full == cwd or not full.is_relative_to(cwd) or not os.path.isfile(full):  # False for a name too long, too
            continue
        path = full.relative_to(cwd).as_posix()
        if path not in seen:
            seen.add(path)
            found.append(path)
    return found


def declared_variables(specs: Sequence[str]) -> dict[str, str]:
    """``["NORMALIZE=1", "LANGUAGE"]`` -> ``{"NORMALIZE": "1", "LANGUAGE": <its value here>}``.

    Raises ``BadInput`` for a malformed name, or a bare name that is not set here.
    """
    declared: dict[str, str] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise BadInput(f"--env {spec!r}: expected NAME=VALUE or NAME")
        if not sep:
            if name not in os.environ:
                raise BadInput(f"--env {name}: not set here; give its value as {name}=VALUE")
            value = os.environ[name]
        declared[name] = utf8_text(value, f"--env {name}")
    return declared


def check_command(argv: Sequence[str], inputs: Sequence[str], outputs: Sequence[str], stdout: str | None, cwd: Path) -> list[str]:
    """What can be checked before the registry is opened: the command, its placeholders, that every
    name and argument is valid UTF-8, and the outputs. Returns where each output is read in the
    working directory (``-o``, then ``--stdout``)."""
    if not outputs and not stdout:
        raise BadInput("say what the command writes: -o PATH (repeatable) and/or --stdout NAME")
    for spec in inputs:
        utf8_text(spec, "input")
    for path in outputs:
        utf8_text(path, "output")
    if stdout:
        utf8_text(stdout, "--stdout")
    for i, arg in enumerate(argv):
        utf8_text(arg, f"command argument {i}")
    check_argv(argv, len(inputs), max(len(outputs), 1))
    used = {m.group(0) for arg in argv for m in PLACEHOLDER.finditer(arg)}
    written = _outputs(outputs, stdout, cwd, used)
    _no_direct_writes(argv, [*outputs, *([stdout] if stdout else [])], cwd)
    return written


def _inside(cwd: Path, path: str, what: str, placeholder: str, used: set[str]) -> str:
    """``path`` relative to ``cwd`` when it is inside; its file name when a placeholder names it."""
    full = Path(os.path.normpath(cwd / path))  # an absolute ``path`` replaces ``cwd``
    if full != cwd and full.is_relative_to(cwd):
        return relative_path(full.relative_to(cwd).as_posix(), what)
    return _outside(path, what, placeholder, used)


def _outside(path: str, what: str, placeholder: str, used: set[str]) -> str:
    if placeholder not in used:
        raise BadInput(
            f"{what} {path} is outside the folder the command runs in: "
            f"name it inside, or pass it as {placeholder} in the command"
        )
    return relative_path(safe_name(Path(path).name, what), what)


def _inputs(registry: Registry, specs: Sequence[str], cwd: Path, used: set[str]) -> tuple[list[str], list[str]]:
    """(each input's artifact id or file, where it is staged)."""
    sources, staged = [], []
    for i, spec in enumerate(specs):
        artifact_id, sep, at = spec.partition(":")
        if registry.has_artifact(spec):
            art = registry.get_artifact(spec)
            sources.append(spec)
            staged.append(relative_path(safe_name(art.name, art.id), "input"))
        elif sep and registry.has_artifact(artifact_id):
            sources.append(artifact_id)
            staged.append(relative_path(at, "input"))
        elif os.path.lexists(cwd / spec):  # an absolute spec replaces cwd
            regular_file(cwd / spec, "input")  # BadInput for a FIFO, a directory, a dangling link
            sources.append(str(cwd / spec))
            staged.append(_inside(cwd, spec, "input", f"{{in{i}}}", used))
        else:
            raise BadInput(f"input not found: {spec} is neither an artifact id nor a file")
    _no_twice(staged, specs, "inputs")
    return sources, staged


def _outputs(outputs: Sequence[str], stdout: str | None, cwd: Path, used: set[str]) -> list[str]:
    """Where each output is read in the working directory: the ``-o`` paths, then ``--stdout``."""
    paths = []
    for i, path in enumerate(outputs):
        if os.path.isdir(cwd / path):
            raise BadInput(f"output path is a directory: {path}")
        if not os.path.isdir((cwd / path).parent):  # where it is saved after the run
            raise BadInput(f"output directory does not exist: {(cwd / path).parent}")
        placeholder = "{out}" if i == 0 and "{out}" in used else f"{{out{i}}}"
        paths.append(_inside(cwd, path, "output", placeholder, used))
    if stdout:
        paths.append(_inside(cwd, stdout, "--stdout", "(no placeholder)", set()))
    _no_twice(paths, [*outputs, *([stdout] if stdout else [])], "outputs")
    return paths


def _no_direct_writes(argv: Sequence[str], outputs: Sequence[str], cwd: Path) -> None:
    """Refuse a command that names an output by its absolute path: it would write the caller's file
    itself, not the copy in its working directory (and overwrite it even if the step then fails)."""
    targets = {Path(os.path.normpath(cwd / o)) for o in outputs}
    for arg in argv[1:]:
        if os.path.isabs(arg) and Path(os.path.normpath(arg)) in targets:
            raise BadInput(
                f"the command names the output {arg} by its absolute path, so it would write that file itself: "
                "name it as -o gives it (relative), or as {out}"
            )


def _no_twice(paths: Sequence[str], given: Sequence[str], what: str) -> None:
    seen: dict[str, str] = {}
    for path, spec in zip(paths, given):
        if path in seen:
            raise BadInput(f"two {what} at {path}: {seen[path]} and {spec}")
        seen[path] = spec


def _step_name(registry: Registry, argv: Sequence[str], given: str | None, upstream: Sequence[str]) -> str:
    """``given`` (checked), or a name from the script the command runs (``fit`` for ``python fit.py``);
    unique within the chain: a derived name gets ``-2``, ``-3``… a given one that is taken is refused."""
    if given is not None:
        from scidex_replay.recording import check_step_name

        return check_step_name(registry, given, upstream)
    taken = registry.step_names(upstream) if upstream else set()
    script = next((a for a in argv[1:] if a.endswith(SCRIPT_SUFFIXES) and not PLACEHOLDER.search(a)), argv[0])
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(script).stem if script != argv[0] else Path(script).name).strip("-_")
    base = (base or "step")[:60]
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name
