"""``record_call(check=True)`` and ``%%scidex_step --check``: the step just recorded is explained at
once, and a step that would not reproduce is warned about (a ``NotReproducible`` warning; a line
on stderr under the cell) with its cause; a pure step is recorded silently."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import _notebook
import pytest
from IPython.utils.capture import capture_output

from scidex_replay.recording import record_call
from scidex_replay.replay.explain import NotReproducible

ip = _notebook.ip  # the shell fixture, found by pytest here
FUNCS_DIR = Path(__file__).resolve().parents[1] / "replay"
CLOCK_CELL = "import time\noutput.write_text(str(int(time.time())))\n"
PURE_CELL = "output.write_text('hello')\n"


@pytest.fixture
def funcs(monkeypatch):
    monkeypatch.syspath_prepend(str(FUNCS_DIR))
    monkeypatch.setenv("PYTHONPATH", str(FUNCS_DIR))
    return importlib.import_module("_explain_funcs")


def test_record_call_check_warns_that_a_step_reading_the_clock_would_not_reproduce(registry, funcs):
    with pytest.warns(NotReproducible, match=r"step stamp \(s_\w+\) would not reproduce: output depends on the wall clock \(clock\)"):
        art = record_call(registry, funcs.stamp, output="t.txt", step_name="stamp", check=True)
    assert registry.producing_step(art.id).parameters == {"env": {}}  # check is not a parameter of the step


def test_record_call_check_is_silent_for_a_pure_step(registry, funcs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotReproducible)
        art = record_call(registry, funcs.pure, output="p.txt", check=True)
    assert registry.store.path(art.content_hash).read_text() == "hello\n"


def test_scidex_step_check_warns_in_the_cell_for_the_clock_and_not_for_a_pure_cell(ip, registry):
    with capture_output() as cap:
        ip.run_cell_magic("scidex_step", "--out t.txt --name stamped --check", CLOCK_CELL)
    assert "recorded step stamped" in cap.stdout
    assert "warning: step stamped (s_" in cap.stderr
    assert "would not reproduce: output depends on the wall clock (clock)" in cap.stderr
    with capture_output() as cap:
        ip.run_cell_magic("scidex_step", "--out p.txt --name plain --check", PURE_CELL)
    assert "recorded step plain" in cap.stdout
    assert cap.stderr == ""
