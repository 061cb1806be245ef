"""Steps recorded from a kernel record what a fresh process in deterministic mode writes.

The kernel here is the test process, made as unlike a fresh process as a notebook session
gets: a random hash seed (pytest does not fix it), OPENBLAS_NUM_THREADS=2, a consumed global
RNG, rcParams changed by an "earlier cell", a variable set in the shell. Each step is recorded
through ``record_call`` and through ``%%scidex_step``; replayed in the kernel, with
``--executor subprocess`` and from the CLI in a new process, every verdict is ``reproduced``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _fresh_steps import CASES, CELLS
from _notebook import ip  # noqa: F401

import _fresh_steps
from scidex_replay.recording import record_call
from scidex_replay.replay import rerun_artifact

CONSOLE_SCRIPT = Path(sys.executable).parent / "scidex-replay"


@pytest.fixture
def used_kernel(monkeypatch: pytest.MonkeyPatch):
    """This process, in the state a notebook session leaves a kernel in."""
    import matplotlib
    import numpy as np

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    monkeypatch.setenv("LEAKED", "from-the-shell")
    monkeypatch.setitem(matplotlib.rcParams, "lines.linewidth", 6.0)  # an earlier cell: sns.set(...) and the like
    np.random.random(3)  # an earlier cell drew from the global RNG


def verdicts(registry, artifact_id: str, tmp_path: Path, run_in_kernel) -> dict[str, str]:
    """The run status of a replay in the kernel, with --executor subprocess and from the CLI."""
    out = tmp_path / f"cli-{artifact_id}"
    proc = subprocess.run(
        [str(CONSOLE_SCRIPT), "rerun-artifact", artifact_id, "--out", str(out)],
        capture_output=True, text=True, env=dict(os.environ), cwd=tmp_path, timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return {
        "kernel": run_in_kernel(artifact_id),
        "subprocess": rerun_artifact(artifact_id, registry=registry, executor="subprocess").run.status,
        "cli": json.loads((out / "manifest.json").read_text())["status"],
    }


ALL_REPRODUCED = {"kernel": "reproduced", "subprocess": "reproduced", "cli": "reproduced"}


@pytest.mark.parametrize("case", CASES)
def test_record_call_records_what_a_fresh_process_writes(case, registry, used_kernel, tmp_path):
    art = record_call(registry, getattr(_fresh_steps, case), output=f"{case}.out")
    in_kernel = lambda a: rerun_artifact(a, registry=registry, executor="kernel").run.status  # noqa: E731
    assert verdicts(registry, art.id, tmp_path, in_kernel) == ALL_REPRODUCED


@pytest.mark.parametrize("case", CASES)
def test_scidex_step_records_what_a_fresh_process_writes(case, ip, registry, used_kernel, tmp_path):  # noqa: F811
    ip.run_cell_magic("scidex_step", f"--out {case}.out --as art", CELLS[case])
    art = ip.user_ns.pop("art")
    in_kernel = lambda a: ip.run_line_magic("rerun_artifact", f"{a} --no-widget").run.status  # noqa: E731
    assert verdicts(registry, art.id, tmp_path, in_kernel) == ALL_REPRODUCED


def test_the_plot_recorded_is_not_the_one_this_kernel_draws(registry, used_kernel, tmp_path):
    # the control for the cases above: in this process the plot comes out otherwise
    art = record_call(registry, _fresh_steps.plot, output="plot.svg")
    _fresh_steps.plot([], tmp_path / "here.svg")
    recorded = registry.store.path(art.content_hash).read_bytes()
    assert b"stroke-width: 6" in (tmp_path / "here.svg").read_bytes()
    assert b"stroke-width: 6" not in recorded


def test_record_call_sees_only_the_variables_it_declares_and_a_fork_changes_them(registry, used_kernel, monkeypatch, tmp_path):
    monkeypatch.setenv("NORMALIZE", "z-score")
    hidden = record_call(registry, _fresh_steps.environment, output="hidden.txt")
    declared = record_call(registry, _fresh_steps.environment, output="declared.txt", env=["NORMALIZE"], step_name="norm")
    assert registry.store.path(hidden.content_hash).read_text() == "(None, None)\n"
    assert registry.store.path(declared.content_hash).read_text() == "('z-score', None)\n"
    assert registry.producing_step(declared.id).parameters["env"] == {"NORMALIZE": "z-score"}
    monkeypatch.setenv("NORMALIZE", "minmax")  # replay uses the recorded value, not this shell's
    assert rerun_artifact(declared.id, registry=registry).run.status == "reproduced"
    fork = rerun_artifact(declared.id, registry=registry, fork=True, set_params={"norm": {"env.NORMALIZE": "minmax"}}, out=tmp_path / "f")
    assert (tmp_path / "f" / "norm" / "declared.txt").read_text() == "('minmax', None)\n"
    assert fork.run.kind == "fork"


def test_scidex_step_env_declares_variables_for_the_cell(ip, registry, used_kernel, monkeypatch):  # noqa: F811
    monkeypatch.setenv("NORMALIZE", "z-score")
    cell = "import os\noutput.write_text(repr((os.environ.get('NORMALIZE'), os.environ.get('LEAKED'))))\n"
    ip.run_cell_magic("scidex_step", "--out e.txt --env NORMALIZE --env MODE=fast --as art", cell)
    art = ip.user_ns.pop("art")
    assert registry.store.path(art.content_hash).read_text() == "('z-score', None)"
    assert registry.producing_step(art.id).parameters["env"] == {"NORMALIZE": "z-score", "MODE": "fast"}


def test_a_bad_env_declaration_is_refused_before_anything_runs(registry, tmp_path):
    from scidex_replay.errors import BadInput

    stored = sorted(registry.store.root.rglob("*"))
    with pytest.raises(BadInput, match="UNSET_SOMEWHERE_42"):
        record_call(registry, _fresh_steps.environment, output="x.txt", env=["UNSET_SOMEWHERE_42"])
    with pytest.raises(BadInput, match="give a dict or a list"):
        record_call(registry, _fresh_steps.environment, output="x.txt", env="NORMALIZE=1")
    assert sorted(registry.store.root.rglob("*")) == stored
