"""The replay flags are declared once (``surfaces/args.py``): the CLI and the magic offer the
same flags with the same help and choices, and turn the same words into the same options."""

from __future__ import annotations

import re

import pytest
from _notebook import ip_without_registry  # noqa: F401 - fixture
from IPython.utils.capture import capture_output

from scidex_replay.errors import BadInput
from scidex_replay.replay.options import ACCEPTABLE, EXECUTOR_NAMES, EXPLAIN_NOT_REPRODUCED, REUSE_MODES, ReplayOptions
from scidex_replay.surfaces.args import FLAGS, REPLAY_FLAGS, replay_options
from scidex_replay.surfaces.cli import cli, main
from scidex_replay.surfaces.magic import ReplayMagics


def words(text: str) -> str:
    """``text`` as words: whitespace made one space, and a line wrapped after a hyphen joined again."""
    return re.sub(r"- ", "-", " ".join(text.split()))


@pytest.fixture(scope="module")
def cli_help() -> str:
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["rerun-artifact", "--help"]) == 0
    return out.getvalue()


@pytest.fixture
def magic_help(ip_without_registry) -> str:
    with capture_output() as cap:
        ip_without_registry.run_cell("%rerun_artifact?")
    return cap.stdout


def test_every_replay_flag_has_the_same_help_in_the_cli_and_the_magic(cli_help, magic_help):
    assert len(REPLAY_FLAGS) == len(FLAGS) == 19
    for flag in REPLAY_FLAGS:
        for surface, text in (("rerun-artifact --help", cli_help), ("%rerun_artifact?", magic_help)):
            assert re.search(rf"(^|\s){re.escape(flag.name)}\b", text), f"{flag.name} missing from {surface}"
            assert words(flag.help) in words(text), f"{flag.name}: {surface} shows another help text"


def test_choices_are_the_engine_constants():
    command = cli.commands["rerun-artifact"]
    click_choices = {p.opts[0]: tuple(p.type.choices) for p in command.params if hasattr(p.type, "choices")}
    parser = ReplayMagics.rerun_artifact.parser
    magic_choices = {name: tuple(parser._option_string_actions[name].choices) for name in click_choices}
    assert click_choices == magic_choices == {"--executor": EXECUTOR_NAMES, "--reuse": REUSE_MODES, "--accept": ACCEPTABLE}


ARGV = [
    "--from", "s_2", "--strict", "--diff", "--out", "out_dir", "--executor", "subprocess", "--no-pin",
    "--restart", "r_1", "--reuse", "all", "--fork", "--set", "s_2.n=3", "--set", 's_2.label="ab"',
    "--input", "s_3:1=new.csv", "--live", "--accept", "equivalent", "--rtol", "1e-6", "--atol", "0.5",
]  # no token needs quoting: the magic splits its line as IPython does, the CLI gets argv


def _from_click(argv: list[str]) -> ReplayOptions:
    ctx = cli.commands["rerun-artifact"].make_context("rerun-artifact", ["a_1", *argv])
    return replay_options(ctx.params)


def _from_magic(argv: list[str]) -> ReplayOptions:
    return replay_options(vars(ReplayMagics.rerun_artifact.parser.parse_argstring(" ".join(["a_1", *argv]))))


def test_the_cli_and_the_magic_make_the_same_options_from_the_same_flags():
    expected = ReplayOptions(
        from_step="s_2", strict=True, diff=True, out="out_dir", executor="subprocess", pin=False, restart="r_1",
        reuse="all", fork=True, set_params={"s_2": {"n": 3, "label": "ab"}}, input_overrides={"s_3:1": "new.csv"},
        live=True, accept=("equivalent",), rtol=1e-6, atol=0.5,
    )
    assert _from_click(ARGV) == _from_magic(ARGV) == expected


@pytest.mark.parametrize("argv, explain", [
    (["--explain"], EXPLAIN_NOT_REPRODUCED), (["--explain", "all"], "all"), (["--explain", "fit"], "fit"),
    (["--explain", "--strict"], EXPLAIN_NOT_REPRODUCED),
])
def test_explain_takes_an_optional_step_the_same_from_either_surface(argv, explain):
    assert _from_click(argv).explain == _from_magic(argv).explain == explain


def test_no_flags_are_the_default_options():
    assert _from_click([]) == _from_magic([]) == ReplayOptions()


@pytest.mark.parametrize("argv, message", [
    (["--set", "nodot=1"], "expected STEP.KEY=VALUE"), (["--input", "s_1"], "expected STEP=FILE"),
    (["--rtol", "tight"], "--rtol 'tight': expected a number"), (["--atol", "-1"], "--atol must be a finite number >= 0"),
])
def test_malformed_set_or_input_is_bad_input_from_either_surface(argv, message):
    for parse in (_from_click, _from_magic):
        with pytest.raises(BadInput, match=message):
            parse(argv)


def test_the_workbench_json_body_makes_the_same_options_as_the_flags():
    """The workbench's request body: the flags without dashes as keys, through the same parsing."""
    from scidex_replay.surfaces.args import JSON_KEYS, json_options

    body = {
        "from": "s_2", "strict": True, "diff": True, "out": "out_dir", "executor": "subprocess", "pin": False,
        "restart": "r_1", "reuse": "all", "fork": True, "set": {"s_2.n": 3, "s_2.label": "ab"},
        "input": {"s_3:1": "new.csv"}, "live": True, "accept": ["equivalent"], "rtol": 1e-6, "atol": 0.5,
    }
    assert json_options(body) == _from_click(ARGV)
    assert json_options({}) == json_options({"from": None, "pin": True}) == ReplayOptions()
    assert json_options({"explain": True}).explain == EXPLAIN_NOT_REPRODUCED
    assert json_options({"timeout": 60, "memory_limit": 512}) == _from_click(["--timeout", "60", "--memory-limit", "512"])
    assert len(JSON_KEYS) == len(REPLAY_FLAGS)


@pytest.mark.parametrize("body, message", [
    ({"frm": "s_1"}, "unknown replay option 'frm'"), ({"strict": 1}, "'strict': expected true or false"),
    ({"set": "s_1.n=3"}, "'set': expected an object"), ({"from": 3}, "'from': expected a non-empty string"),
    ({"timeout": [1]}, "'timeout': expected a number"), ({"executor": "gpu"}, "unknown executor 'gpu'"),
    ([1], "must be a JSON object"),
])
def test_a_bad_workbench_json_body_is_bad_input(body, message):
    from scidex_replay.surfaces.args import json_options

    with pytest.raises(BadInput, match=re.escape(message)):
        json_options(body)
