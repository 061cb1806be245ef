"""``%load_ext scidex_replay`` in a real InteractiveShell: the magics, their help,
the report they return, the manifest bundle they attach, and one-line errors."""

from __future__ import annotations

import json

import pytest
from _notebook import COUNT, NOISE, UPPER, as_saved, chain, ip, ip_without_registry, manifest_outputs, step_of  # noqa: F401
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from scidex_replay.recording import record_step
from scidex_replay.replay.manifest import MIMETYPE

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def magics(shell, kind: str = "line") -> set[str]:
    return set(shell.magics_manager.magics[kind])


# -- loading and help -----------------------------------------------------------
def test_load_ext_registers_the_magics_and_import_alone_does_not(bare_home):
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    import scidex_replay.surfaces.magic  # noqa: F401 - importing must not register anything

    assert "rerun_artifact" not in magics(shell)
    shell.run_line_magic("load_ext", "scidex_replay")
    try:
        assert {"rerun_artifact", "artifact_chain"} <= magics(shell)
        assert "scidex_step" in magics(shell, "cell")
    finally:
        shell.run_line_magic("unload_ext", "scidex_replay")
    assert "rerun_artifact" not in magics(shell)


def test_question_mark_help_lists_every_flag(ip_without_registry):
    ip = ip_without_registry
    with capture_output() as cap:
        ip.run_cell("%rerun_artifact?")
    for flag in ("--from", "--strict", "--dask-address", "--diff", "--executor", "--restart", "--reuse", "--fork", "--set", "--input", "--out", "--db", "--no-widget"):
        assert flag in cap.stdout, flag
    assert "kernel,subprocess,dask" in cap.stdout
    assert "--in" in ip.find_cell_magic("scidex_step").__doc__
    assert "--out" in ip.find_cell_magic("scidex_step").__doc__


# -- %rerun_artifact --------------------------------------------------------------
def test_rerun_of_a_cell_chain_returns_an_ok_report_and_attaches_the_manifest(ip, chain):
    _, _, c = chain.three_steps()
    with capture_output() as cap:
        result = ip.run_cell(f"r = %rerun_artifact {c.id}")
    assert result.success, cap.stderr
    report = ip.user_ns["r"]
    assert report.ok is True and report.status == "reproduced"
    assert [s["outcome"] for s in report.manifest["steps"]] == ["reproduced"] * 3
    bundles = manifest_outputs(cap.outputs)
    assert len(bundles) == 1
    data = bundles[0].data
    assert data[MIMETYPE] == as_saved(report.manifest)
    assert json.loads(report.manifest_path.read_text()) == as_saved(report.manifest)
    assert "text/html" in data and all(s["step_id"] in data["text/html"] for s in report.manifest["steps"])
    assert data["text/plain"].startswith(f"run {report.run_id} (replay) of {c.id}: reproduced")
    assert any(WIDGET_VIEW in o.data for o in cap.outputs), "the widget is displayed by default"


def test_no_widget_displays_only_the_manifest_bundle(ip, chain):
    _, _, c = chain.three_steps()
    with capture_output() as cap:
        report = ip.run_line_magic("rerun_artifact", f"{c.id} --no-widget")
    assert [set(o.data) for o in cap.outputs] == [{MIMETYPE, "text/html", "text/plain"}]
    assert cap.outputs[0].data[MIMETYPE]["ok"] is True
    assert cap.outputs[0].data[MIMETYPE]["run_id"] == report.run_id


def test_reproduces_a_chain_recorded_with_the_recording_api(ip, registry, tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("one\ntwo\n")
    with record_step(registry, "python.cell", method=UPPER, inputs=[str(raw)], output="upper.txt") as up:
        up.output.write_text(up.inputs[0].read_text().upper())  # what the recorded source does
    with record_step(registry, "python.cell", method=COUNT, inputs=[up.artifact.id], output="count.txt", parameters={"scale": 3}) as n:
        n.output.write_text(f"{len(n.inputs[0].read_text().splitlines()) * 3} lines\n")
    with capture_output():
        report = ip.run_line_magic("rerun_artifact", f"{n.artifact.id} --no-widget --executor subprocess")
    assert report.ok, report.manifest["steps"]
    assert [s["outcome"] for s in report.manifest["steps"]] == ["reproduced", "reproduced"]
    assert report.manifest["options"]["executor"] == "subprocess"


def test_a_differing_step_shows_as_output_differs_in_widget_and_manifest(ip, chain, registry):
    _, b, c = chain.three_steps(middle=NOISE)
    with capture_output() as cap:
        report = ip.run_line_magic("rerun_artifact", f"{c.id} --diff")
    assert report.ok is False and report.exit_code == 1
    df = ip.magics_manager.registry["ReplayMagics"].last_widget.dataframe.set_index("step")
    assert df.loc[step_of(registry, b), "outcome"] == "output-differs"
    assert manifest_outputs(cap.outputs)[0].data[MIMETYPE]["ok"] is False


def test_from_replays_only_the_step_and_its_descendants(ip, chain, registry):
    a, b, c = chain.three_steps()
    with capture_output():
        report = ip.run_line_magic("rerun_artifact", f"{c.id} --from {step_of(registry, b)} --no-widget")
    outcomes = {s["step_id"]: s["outcome"] for s in report.manifest["steps"]}
    assert outcomes == {step_of(registry, a): "frozen", step_of(registry, b): "reproduced", step_of(registry, c): "reproduced"}


def test_fork_with_set_changes_a_cell_parameter(ip, chain, registry):
    _, _, c = chain.three_steps()
    with capture_output():
        report = ip.run_line_magic("rerun_artifact", f"{c.id} --fork --set {step_of(registry, c)}.scale=10 --no-widget")
    assert report.manifest["kind"] == "fork"
    last = report.manifest["steps"][-1]
    assert last["outcome"] == "forked"
    new = registry.get_artifact(last["forked_artifact_id"])
    assert registry.store.path(new.content_hash).read_text() == "30 lines\n"


def test_restart_and_reuse_reach_the_engine(ip, chain, registry):
    _, _, c = chain.three_steps()
    with capture_output():
        first = ip.run_line_magic("rerun_artifact", f"{c.id} --no-widget")
        again = ip.run_line_magic("rerun_artifact", f"{c.id} --restart {first.run_id} --reuse all --no-widget")
    assert again.manifest["kind"] == "restart" and again.manifest["parent_run_id"] == first.run_id
    assert {s["outcome"] for s in again.manifest["steps"]} == {"reused"}


@pytest.mark.parametrize(
    "args, message",
    [
        ("a_nope1234", r"unknown artifact id: a_nope1234"),
        ("{c} --from s_nowhere", r"--from s_nowhere: no such step in the chain of a_\w+"),
        ("{c} --fork --set scale=3", r"--set 'scale=3': expected STEP.KEY=VALUE"),
        ("{c} --set {s}.scale=3", r"--set and --input change a replay into a fork: add --fork"),
        ("{c} --dask-address tcp://127.0.0.1:1", r"a dask scheduler address was given for the kernel executor"),
        ("{c} --executor nope", r"argument --executor: invalid choice"),
    ],
)
def test_bad_input_is_a_one_line_usage_error(ip, chain, registry, args, message):
    _, _, c = chain.three_steps()
    line = args.format(c=c.id, s=step_of(registry, c))
    with pytest.raises(UsageError, match=message) as info:
        ip.run_line_magic("rerun_artifact", line)
    assert "\n" not in str(info.value)


def test_a_replay_the_engine_refuses_leaves_no_widget_behind(ip, chain, registry):
    _, _, c = chain.three_steps()
    with capture_output(), pytest.raises(UsageError, match="no such step"):
        ip.run_line_magic("rerun_artifact", f"{c.id} --fork --set s_nowhere0.scale=3")
    widget = ip.magics_manager.registry["ReplayMagics"].last_widget
    assert widget.comm is None  # closed: the frontend drops it


def test_unknown_id_prints_one_line_and_no_traceback(ip):
    with capture_output() as cap:
        result = ip.run_cell("%rerun_artifact a_nope1234")
    assert isinstance(result.error_in_exec, UsageError)
    assert cap.stderr == "UsageError: unknown artifact id: a_nope1234\n"
    assert "Traceback" not in cap.stdout + cap.stderr and cap.outputs == []


# -- %artifact_chain -----------------------------------------------------------------
def test_artifact_chain_shows_the_plan_with_controls_and_runs_nothing(ip, chain, registry):
    _, b, c = chain.three_steps()
    with capture_output():
        result = ip.run_cell(f"%artifact_chain {c.id} --from {step_of(registry, b)}")
    widget = result.result
    assert widget is ip.magics_manager.registry["ReplayMagics"].last_widget
    assert widget.artifact_id == c.id and widget.selected_step == step_of(registry, b)
    assert list(widget.dataframe["outcome"]) == ["frozen", "pending", "pending"]
    assert widget.replay_all_button.description == "Replay all" and widget.restart_button.disabled
    assert WIDGET_VIEW in widget._repr_mimebundle_()
    assert registry.runs() == []


def test_artifact_chain_of_a_source_artifact_is_a_usage_error(ip, registry, tmp_path):
    (tmp_path / "x.txt").write_text("x")
    art = registry.add_artifact(tmp_path / "x.txt")
    with pytest.raises(UsageError, match=f"{art.id} .* is a source artifact"):
        ip.run_line_magic("artifact_chain", art.id)


# -- %%scidex_step --------------------------------------------------------------------
def test_scidex_step_records_the_cell_source_as_a_python_cell_step(ip, registry, tmp_path):
    (tmp_path / "raw.txt").write_text("abc")
    with capture_output() as cap:
        ip.run_cell_magic("scidex_step", "--in raw.txt --out up.txt --as up --param k=2", UPPER)
    art = ip.user_ns.pop("up")
    step = registry.producing_step(art.id)
    assert (step.step_type, step.method, step.parameters) == ("python.cell", UPPER, {"k": 2, "env": {}})
    assert registry.store.path(art.content_hash).read_text() == "ABC"
    assert registry.get_artifact(step.source_artifact_ids[0]).name == "raw.txt"
    assert cap.stdout == f"recorded step {step.step_id} (python.cell): artifact {art.id} (up.txt)\n"


def test_scidex_step_names_the_step_and_replay_takes_the_name(ip, registry, tmp_path):
    (tmp_path / "raw.txt").write_text("abc")
    with capture_output() as cap:
        ip.run_cell_magic("scidex_step", "--in raw.txt --out up.txt --as up --name upper", UPPER)
    art = ip.user_ns.pop("up")
    step = registry.producing_step(art.id)
    assert step.name == "upper"
    assert cap.stdout == f"recorded step upper ({step.step_id}) (python.cell): artifact {art.id} (up.txt)\n"
    with capture_output():
        report = ip.run_line_magic("rerun_artifact", f"{art.id} --from upper --no-widget")
    assert report.manifest["steps"][0]["step_name"] == "upper" and report.ok


def test_scidex_step_cell_runs_like_on_replay_without_notebook_variables(ip, registry, tmp_path):
    (tmp_path / "raw.txt").write_text("abc")
    ip.user_ns["secret"] = 42
    try:
        with pytest.raises(UsageError, match=r"^NameError \(cell line 2\): name 'secret' is not defined$"):
            ip.run_cell_magic("scidex_step", "--in raw.txt --out o.txt", "x = 1\noutput.write_text(str(secret))\n")
    finally:
        ip.user_ns.pop("secret")
    assert registry.step_types() == []


@pytest.mark.parametrize(
    "line, cell, message",
    [
        ("--in raw.txt --out o.txt", "pass\n", r"^the cell finished without writing its output o.txt$"),
        ("--in a_nope1234 --out o.txt", "pass\n", r"input not found: a_nope1234"),
        ("--in raw.txt --out o.txt", "%time 1\n", r"not plain Python"),
        ("--in raw.txt --out o.txt --type lab.nope", "pass\n", r"no handler for step_type lab.nope"),
        ("--in raw.txt --out o.txt --param novalue", "pass\n", r"--param 'novalue': expected KEY=VALUE"),
        ("--in raw.txt --out o.txt --as 9x", "output.write_text('x')\n", r"--as 9x: not a Python identifier"),
        ("--in raw.txt", "pass\n", r"the following arguments are required: --out"),
    ],
)
def test_scidex_step_bad_cells_record_nothing(ip, registry, tmp_path, line, cell, message):
    (tmp_path / "raw.txt").write_text("abc")
    with pytest.raises(UsageError, match=message) as info:
        ip.run_cell_magic("scidex_step", line, cell)
    assert "\n" not in str(info.value)
    assert registry.step_types() == []


# -- end to end through a real kernel ---------------------------------------------------
@pytest.fixture
def kernel_env(home, tmp_path, monkeypatch):
    """A ``python3`` kernelspec for this interpreter, found first on ``JUPYTER_PATH``."""
    import sys

    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "scidex test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    return tmp_path


def test_a_notebook_records_cells_and_saves_the_manifest_in_its_outputs(kernel_env):
    import nbformat
    from nbclient import NotebookClient

    work = kernel_env / "nb"
    work.mkdir()
    (work / "raw.txt").write_text("alpha\nbeta\n")
    cells = [
        nbformat.v4.new_code_cell("%load_ext scidex_replay"),
        nbformat.v4.new_code_cell(f"%%scidex_step --in raw.txt --out upper.txt --as up\n{UPPER}"),
        nbformat.v4.new_code_cell(f"%%scidex_step --in {{up.id}} --out count.txt --as n --param scale=2\n{COUNT}"),
        nbformat.v4.new_code_cell("r = %rerun_artifact {n.id} --no-widget\nr.ok, r.run_id"),
        nbformat.v4.new_code_cell("%rerun_artifact a_nope1234", metadata={"tags": ["raises-exception"]}),
        nbformat.v4.new_code_cell("%rerun_artifact {n.id} --executor subprocess"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(work)}}).execute()
    path = work / "replay.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)

    replay_cell, error_cell = saved.cells[3], saved.cells[4]
    bundles = [o for o in replay_cell.outputs if o.output_type == "display_data" and MIMETYPE in o.data]
    assert len(bundles) == 1 and [o.output_type for o in replay_cell.outputs] == ["display_data", "execute_result"]
    manifest = bundles[0].data[MIMETYPE]
    assert manifest["ok"] is True and manifest["status"] == "reproduced"
    assert [s["outcome"] for s in manifest["steps"]] == ["reproduced", "reproduced"]
    assert {"text/html", "text/plain"} <= set(bundles[0].data)
    assert replay_cell.outputs[1].data["text/plain"] == f"(True, '{manifest['run_id']}')"
    text = json.dumps(error_cell.outputs)
    assert "unknown artifact id: a_nope1234" in text and "Traceback" not in text

    widget_cell = saved.cells[5]
    kinds = [set(o.get("data", {})) for o in widget_cell.outputs]
    # one output for the replay: the widget's own, replaced at the end by the static manifest
    # (the run left nothing to restart), so that a reopened notebook needs no kernel
    assert kinds[0] >= {MIMETYPE, "text/html", "text/plain"} and WIDGET_VIEW not in kinds[0]
    assert [o.output_type for o in widget_cell.outputs] == ["display_data", "execute_result"]
    assert widget_cell.outputs[0].data[MIMETYPE]["ok"] is True
    assert [s["outcome"] for s in widget_cell.outputs[0].data[MIMETYPE]["steps"]] == ["reproduced", "reproduced"]
