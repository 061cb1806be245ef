"""The replay flags, declared once for ``scidex-replay rerun-artifact`` and ``%rerun_artifact``.

``REPLAY_FLAGS`` is the table: one row per flag, with its one help text. ``click_options``
stacks the rows on a click command and ``ipython_arguments`` on a magic (as IPython's
``script_args`` stacks the shared ``@argument``s of the script magics); ``replay_options``
turns what either parser produced into the engine's ``ReplayOptions``. Choices are the
engine's own constants. Flags that only one surface has (``--json``, ``--dry-run``, ``--db``,
``--no-widget``) stay with that surface.

Also the parsing of ``--set STEP.KEY=VALUE`` and ``--input STEP[:N]=FILE``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from scidex_replay.errors import BadInput
from scidex_replay.replay.options import ACCEPTABLE, EXECUTOR_NAMES, EXPLAIN_NOT_REPRODUCED, REUSE_MODES

if TYPE_CHECKING:
    from scidex_replay.replay.options import ReplayOptions


def parse_sets(specs: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``["s_1.threshold=3", "s_1.label=a b"]`` -> ``{"s_1": {"threshold": 3, "label": "a b"}}``.

    VALUE is read as JSON when it parses (numbers, booleans, lists, quoted
    strings), otherwise taken as a plain string. ``BadInput`` for a malformed spec, or a
    VALUE nested too deeply for Python to read.
    """
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        target, sep, raw = spec.partition("=")
        step, dot, key = target.partition(".")
        if not sep or not dot or not step or not key:
            raise BadInput(f"--set {spec!r}: expected STEP.KEY=VALUE")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        except RecursionError:  # json nests by recursion: thousands of [ or { exhaust the stack
            raise BadInput(f"--set {target}: the value is nested too deeply to read") from None
        out.setdefault(step, {})[key] = value
    return out


def parse_inputs(specs: Iterable[str]) -> dict[str, str]:
    """``["s_1=new.csv", "s_2:1=a_xyz"]`` -> ``{"s_1": "new.csv", "s_2:1": "a_xyz"}``."""
    out: dict[str, str] = {}
    for spec in specs:
        target, sep, source = spec.partition("=")
        if not sep or not target or not source:
            raise BadInput(f"--input {spec!r}: expected STEP=FILE or STEP:N=FILE")
        out[target] = source
    return out


def parse_number(flag: str) -> Callable[[Any], float | None]:
    """A converter of ``flag``'s text to a float (None when not given); ``BadInput`` for anything else."""
    def convert(raw: Any) -> float | None:
        if raw is None:
            return None
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise BadInput(f"{flag} {raw!r}: expected a number such as 1e-9") from None
    return convert


def parse_limit(flag: str) -> Callable[[Any], float | int | None]:
    """A converter of ``--timeout`` (seconds) or ``--memory-limit`` (MB) text to its value (None when
    not given); ``BadInput`` naming ``flag`` for anything but a number above 0 (a whole one for MB)."""
    from scidex_replay.handlers.process import parse_memory_limit, parse_timeout

    parse = parse_timeout if flag == "--timeout" else parse_memory_limit

    def convert(raw: Any) -> float | int | None:
        return None if raw is None else parse(raw, flag)

    return convert


#: ``--timeout`` and ``--memory-limit``: on a replay (``REPLAY_FLAGS``) and on ``scidex-replay run``.
TIMEOUT_HELP = "Stop a step (and every process it started) after SECONDS; it fails 'timed out' [default: 3600]."
MEMORY_HELP = (
    "Limit each step's process to MB of address space; a step that needs more fails [default: $SCIDEX_REPLAY_MEMORY_LIMIT_MB, else none]."
)


@dataclass(frozen=True)
class Flag:
    """One replay flag.

    ``kind``: ``switch`` (present or not), ``value`` (one value), ``repeat`` (a value per
    use, collected in a list), ``optional`` (a value that may be left out: then ``const``). ``dest`` names the parsed value; ``field`` the
    ``ReplayOptions`` field it sets (``dest`` when not given), through ``convert`` when
    the parsed form differs (``--no-pin`` → ``pin``, ``--set`` → ``set_params``).
    """

    name: str
    dest: str
    help: str
    kind: Literal["switch", "value", "repeat", "optional"] = "value"
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    default: Any = None
    directory: bool = False
    field: str | None = None
    convert: Callable[[Any], Any] | None = None
    const: Any = None

    def option_value(self, parsed: Any) -> tuple[str, Any]:
        """The ``ReplayOptions`` field this flag sets, and its value from ``parsed``."""
        return self.field or self.dest, self.convert(parsed) if self.convert else parsed


#: Every flag of a replay, in the order ``--help`` lists them.
REPLAY_FLAGS: tuple[Flag, ...] = (
    Flag("--from", "from_step", "Replay STEP and its descendants; freeze the steps before it.", metavar="STEP"),
    Flag(
        "--strict", "strict",
        "Abort the run (exit 3) at the first input whose bytes differ from the record, or whose source file changed since.",
        kind="switch",
    ),
    Flag(
        "--diff", "diff",
        "For a differing output, print what differs, a readable diff (the whole one is written under --out).",
        kind="switch",
    ),
    Flag(
        "--accept", "accept",
        "Count steps with this outcome as ok (exit 0): equivalent (only metadata, volatile ids, order or numbers within the tolerance differ). Repeatable.",
        kind="repeat", choices=ACCEPTABLE, convert=tuple,
    ),
    Flag(
        "--rtol", "rtol", "Relative tolerance for numbers, replacing the one recorded on each step; declaring one accepts equivalent steps.",
        metavar="X", convert=parse_number("--rtol"),
    ),
    Flag(
        "--atol", "atol", "Absolute tolerance for numbers, replacing the one recorded on each step; declaring one accepts equivalent steps.",
        metavar="X", convert=parse_number("--atol"),
    ),
    Flag(
        "--out", "out", "Where manifest.json is written; one that already holds a manifest.json is refused [default: <home>/runs/<run_id>].",
        metavar="DIR", directory=True,
    ),
    Flag(
        "--executor", "executor",
        "Where handlers run: kernel (this process), subprocess (a fresh interpreter per step) or dask [default: kernel].",
        choices=EXECUTOR_NAMES, default="kernel",
    ),
    Flag("--dask-address", "dask_address", "With --executor dask: an existing scheduler instead of a local cluster.", metavar="ADDRESS"),
    Flag(
        "--no-pin", "no_pin", "Run every step in the live environment, even one recorded in another environment.",
        kind="switch", field="pin", convert=lambda no_pin: not no_pin,
    ),
    Flag("--restart", "restart", "Restart RUN, reusing the steps that succeeded in it and its ancestors.", metavar="RUN"),
    Flag(
        "--reuse", "reuse",
        "Where reused results may come from [default: succeeded-before with --restart, all with --fork, else none].",
        choices=REUSE_MODES,
    ),
    Flag("--fork", "fork", "Replay with changed parameters or inputs; outputs become new artifacts.", kind="switch"),
    Flag(
        "--set", "sets", "With --fork: change a step parameter (VALUE read as JSON if it parses). Repeatable.",
        kind="repeat", metavar="STEP.KEY=VALUE", field="set_params", convert=parse_sets,
    ),
    Flag(
        "--input", "input_specs", "With --fork: replace a step's input N (default 0) by a file or artifact id. Repeatable.",
        kind="repeat", metavar="STEP[:N]=FILE", field="input_overrides", convert=parse_inputs,
    ),
    Flag(
        "--live", "live",
        "Replay with the working copy of every source file that changed since it was recorded (a fork of those inputs).",
        kind="switch",
    ),
    Flag(
        "--explain", "explain",
        "Re-run steps under perturbations (clock, hash seed, threads, time zone, locale, RNG seed, working directory, "
        "environment, and a plain repeat) and say which change the output: alone, the steps that did not reproduce; "
        "with STEP, that step; with all, every replayed step. Put it after ID.",
        kind="optional", metavar="[STEP|all]", const=EXPLAIN_NOT_REPRODUCED,
    ),
    Flag("--timeout", "timeout", TIMEOUT_HELP, metavar="SECONDS", field="timeout_s", convert=parse_limit("--timeout")),
    Flag("--memory-limit", "memory_limit", MEMORY_HELP, metavar="MB", field="memory_limit_mb", convert=parse_limit("--memory-limit")),
)
FLAGS: Mapping[str, Flag] = {flag.name: flag for flag in REPLAY_FLAGS}


def replay_options(parsed: Mapping[str, Any]) -> "ReplayOptions":
    """The ``ReplayOptions`` of the flags' parsed values (click's keyword arguments, or
    ``vars()`` of the magic's argparse namespace); other keys are ignored.

    Raises ``BadInput`` for a malformed ``--set``/``--input`` or an inconsistent combination.
    """
    from scidex_replay.replay.options import ReplayOptions

    fields = dict(flag.option_value(parsed[flag.dest]) for flag in REPLAY_FLAGS if flag.dest in parsed)
    return ReplayOptions(**fields)


def click_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add every replay flag to a click command; its callback receives them by ``dest``."""
    import click

    for flag in reversed(REPLAY_FLAGS):  # click lists options in decorator order, top first
        if flag.kind == "switch":
            option = click.option(flag.name, flag.dest, is_flag=True, help=flag.help)
        elif flag.kind == "optional":
            option = click.option(flag.name, flag.dest, is_flag=False, flag_value=flag.const, default=None, metavar=flag.metavar, help=flag.help)
        else:
            type_: Any = None
            if flag.choices:
                type_ = click.Choice(flag.choices)
            elif flag.directory:
                type_ = click.Path(file_okay=False)
            option = click.option(
                flag.name, flag.dest, type=type_, metavar=flag.metavar, default=flag.default,
                multiple=flag.kind == "repeat", help=flag.help,
            )
        command = option(command)
    return command


def ipython_arguments(magic: Callable[..., Any]) -> Callable[..., Any]:
    """Add every replay flag to a magic as IPython ``@argument``s (under ``@magic_arguments()``)."""
    from IPython.core.magic_arguments import argument

    for flag in reversed(REPLAY_FLAGS):  # the parser lists arguments in decorator order, top first
        if flag.kind == "switch":
            magic = argument(flag.name, dest=flag.dest, action="store_true", help=flag.help)(magic)
        elif flag.kind == "optional":
            magic = argument(flag.name, dest=flag.dest, nargs="?", const=flag.const, default=None, metavar=flag.metavar, help=flag.help)(magic)
        elif flag.kind == "repeat":
            magic = argument(
                flag.name, dest=flag.dest, action="append", default=[], metavar=flag.metavar, choices=flag.choices, help=flag.help,
            )(magic)
        else:
            magic = argument(flag.name, dest=flag.dest, metavar=flag.metavar, choices=flag.choices, default=flag.default, help=flag.help)(magic)
    return magic


def _json_key(flag: Flag) -> str:
    """The key of ``flag`` in a JSON body: its name without dashes, ``--no-pin`` as ``pin``."""
    return "pin" if flag.name == "--no-pin" else flag.name[2:].replace("-", "_")


#: The keys of a replay's options as a JSON object (the workbench's request body) -> their flag.
JSON_KEYS: Mapping[str, Flag] = {_json_key(flag): flag for flag in REPLAY_FLAGS}


def _json_value(key: str, flag: Flag, value: Any) -> Any:
    """What the flag's parser would have produced for ``value``; ``BadInput`` naming ``key`` for the wrong type."""
    def wrong(expected: str) -> BadInput:
        return BadInput(f"replay option {key!r}: expected {expected}, got {json.dumps(value)[:60]}")

    if flag.kind == "switch":
        if not isinstance(value, bool):
            raise wrong("true or false")
        return not value if flag.name == "--no-pin" else value
    if flag.kind == "optional":  # --explain: true alone, or a step / "all"
        if value is True:
            return flag.const
        if value is False:
            return None
        if not isinstance(value, str):
            raise wrong("true, false or a step")
        return value
    if flag.dest == "sets":
        if not isinstance(value, Mapping):
            raise wrong('an object {"STEP.KEY": value}')
        return [f"{target}={json.dumps(v)}" for target, v in value.items()]
    if flag.dest == "input_specs":
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise wrong('an object {"STEP": artifact id or file}')
        return [f"{target}={source}" for target, source in value.items()]
    if flag.kind == "repeat":  # --accept: a list, or one value
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise wrong("a list of strings")
        return values
    if flag.convert is not None:  # numbers: the flag's own converter says what is wrong
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise wrong("a number")
        return value
    if not isinstance(value, str) or not value:
        raise wrong("a non-empty string")
    return value


def json_options(body: Any) -> "ReplayOptions":
    """The ``ReplayOptions`` of a JSON object whose keys are the replay flags without their dashes
    (``JSON_KEYS``): ``{"from": "clean", "executor": "subprocess", "pin": false, "restart": "r_…",
    "fork": true, "set": {"clean.threshold": 3}, "input": {"clean": "a_…"}, "timeout": 60,
    "memory_limit": 512, "explain": true}``; a null value is a flag not given. The same parsing and
    checks as the CLI's flags (``replay_options``).

    Raises ``BadInput`` (one line naming the key) for a body that is not an object, an unknown
    key, a value of the wrong type or an inconsistent combination.
    """
    if not isinstance(body, Mapping):
        raise BadInput("the replay options must be a JSON object")
    parsed: dict[str, Any] = {}
    for key, value in body.items():
        flag = JSON_KEYS.get(key)
        if flag is None:
            raise BadInput(f"unknown replay option {key!r}: choose among {', '.join(JSON_KEYS)}")
        if value is not None:
            parsed[flag.dest] = _json_value(key, flag, value)
    return replay_options(parsed)
