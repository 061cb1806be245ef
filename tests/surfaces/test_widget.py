"""The replay widget driven through its buttons (``.click()``) and traits, and the
static views that a notebook shows without a kernel. No browser needed."""

from __future__ import annotations

import base64
import json

import pytest
from _notebook import FLAGGED, NOISE, UPPER, as_saved, chain, ip, step_of  # noqa: F401 - fixtures
from traitlets import TraitError

from scidex_replay.replay.manifest import MIMETYPE
from scidex_replay.surfaces.manifest_view import COLUMNS, ManifestView, manifest_bundle
from scidex_replay.surfaces.widget import ReplayWidget

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def widget_of(registry):
    made = []

    def make(artifact, **kwargs) -> ReplayWidget:
        w = ReplayWidget.for_artifact(registry, artifact.id, **kwargs)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def outcomes(w: ReplayWidget) -> list[str]:
    return list(w.dataframe["outcome"])


def test_shows_the_planned_chain_as_a_dataframe_before_anything_runs(chain, registry, widget_of):
    a, b, c = chain.three_steps()
    w = widget_of(c)
    ids = [step_of(registry, x) for x in (a, b, c)]
    assert w.step_ids == ids and w.selected_step == ids[0]
    df = w.dataframe
    assert list(df.columns) == COLUMNS
    assert list(df["step"]) == ids and outcomes(w) == ["pending"] * 3
    assert list(df["type"]) == ["python.cell"] * 3
    assert df["replayed hash"].isna().all()
    assert w.status == "idle" and w.manifest == {} and w.progress == 0 and w.total == 3
    assert w.restart_button.disabled and "download" not in w._download.value


def test_replay_all_button_runs_the_chain_and_fills_every_trait(chain, widget_of):
    _, _, c = chain.three_steps()
    w = widget_of(c)
    seen = []
    w.observe(lambda ch: seen.append(ch["new"]), names="progress")
    bar = []
    w.progress_bar.observe(lambda ch: bar.append(ch["new"]), names="value")
    w.replay_all_button.click()
    assert w.wait(60), "the replay the button started did not end"
    assert w.status == "reproduced" and not w.running
    assert outcomes(w) == ["reproduced"] * 3
    assert w.manifest["ok"] is True and w.manifest["run_id"] == w.run_id == w.last_report.run_id
    assert seen == [1, 2, 3], "progress advances once per step"
    assert bar[-3:] == [1, 2, 3] and w.progress_bar.value == w.progress_bar.max == 3
    assert (w.dataframe["replayed hash"] == w.dataframe["live output hash"]).all()
    assert w.message.startswith(f"run {w.run_id} (replay) of {c.id}: reproduced")
    assert w.last_failed_run is None and w.restart_button.disabled


def test_replay_from_button_replays_the_selected_step_and_its_descendants(chain, registry, widget_of):
    a, b, c = chain.three_steps()
    w = widget_of(c)
    w._dropdown.value = step_of(registry, b)  # what choosing in the dropdown does
    assert w.selected_step == step_of(registry, b)
    w.replay_from_button.click()
    assert w.wait(60), "the replay the button started did not end"
    assert outcomes(w) == ["frozen", "reproduced", "reproduced"]
    assert w.manifest["from_step"] == step_of(registry, b)
    assert w.progress_bar.value == w.progress_bar.max == 3


def test_a_differing_step_is_output_differs_and_colored(chain, registry, widget_of):
    _, b, c = chain.three_steps(middle=NOISE)
    w = widget_of(c)
    w._diff.value = True
    w.replay_all_button.click()
    assert w.wait(60), "the replay the button started did not end"
    df = w.dataframe.set_index("step")
    assert df.loc[step_of(registry, b), "outcome"] == "output-differs"
    assert w.manifest["options"]["diff"] is True and "diff" in w.manifest["steps"][1]
    assert [r["outcome"] for r in w._table.rows] == ["reproduced", "output-differs", "reproduced"], "the view draws these rows"
    assert w.status == "differs" and w.last_failed_run == w.run_id and not w.restart_button.disabled


def test_toggles_and_executor_choice_reach_the_engine(chain, widget_of):
    _, _, c = chain.three_steps()
    w = widget_of(c)
    w._strict.value = True
    w._executor.value = "subprocess"
    assert (w.strict, w.executor) == (True, "subprocess")
    w.replay_all_button.click()
    assert w.wait(60), "the replay the button started did not end"
    assert w.manifest["options"]["strict"] is True
    assert w.manifest["options"]["executor"] == "subprocess"
    assert outcomes(w) == ["reproduced"] * 3
    w.strict = False
    assert w._strict.value is False


def test_restart_button_restarts_the_last_failed_run_reusing_what_succeeded(chain, registry, widget_of, tmp_path):
    flag = tmp_path / "flag"
    raw = tmp_path / "raw.txt"
    raw.write_text("abc\n")
    a = chain.step(UPPER, [str(raw)], "upper.txt")
    b = chain.step(FLAGGED, [a.id], "flagged.txt", f'flag="{flag}"')
    w = widget_of(b)
    flag.write_text("up")
    w.replay_all_button.click()
    assert w.wait(60), "the replay the button started did not end"
    failed = w.run_id
    assert w.status == "failed" and outcomes(w) == ["reproduced", "failed"]
    assert "the flag is up" in w.dataframe["reason"][1]
    assert w.last_failed_run == failed and not w.restart_button.disabled
    flag.unlink()
    w.restart_button.click()
    assert w.wait(60), "the replay the button started did not end"
    assert w.manifest["kind"] == "restart" and w.manifest["parent_run_id"] == failed
    assert outcomes(w) == ["reused", "reproduced"]
    assert [row["reused-from"] for row in w.rows] == [failed, None]
    assert w.status == "reproduced" and w.last_failed_run is None and w.restart_button.disabled


def test_an_engine_error_from_a_button_lands_in_the_status_not_a_traceback(chain, widget_of):
    _, _, c = chain.three_steps()
    w = widget_of(c)
    w.last_failed_run = "r_00000000"
    w.restart_button.click()
    assert w.wait(60), "the replay the button started did not end"
    assert w.status == "error" and "unknown run id: r_00000000" in w.message
    assert not w.running and not w.replay_all_button.disabled


def test_invalid_trait_values_raise_trait_error(chain, widget_of):
    _, _, c = chain.three_steps()
    w = widget_of(c)
    with pytest.raises(TraitError):
        w.selected_step = "s_notinchain"
    with pytest.raises(TraitError):
        w.executor = "nowhere"


def test_download_link_carries_the_manifest(chain, widget_of):
    _, _, c = chain.three_steps()
    w = widget_of(c)
    w.replay_all_button.click()
    assert w.wait(60), "the replay the button started did not end"
    link = w._download.value
    assert f'download="manifest-{w.run_id}.json"' in link
    encoded = link.split("base64,", 1)[1].split('"', 1)[0]
    assert json.loads(base64.b64decode(encoded)) == as_saved(w.manifest)


def test_static_fallback_shows_every_step_without_a_kernel(chain, registry, widget_of):
    a, b, c = chain.three_steps()
    w = widget_of(c)
    ids = [step_of(registry, x) for x in (a, b, c)]
    bundle = w._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and all(i in bundle["text/html"] for i in ids)
    w.replay_all_button.click()
    assert w.wait(60), "the replay the button started did not end"
    view = ManifestView(w.manifest)
    for html in (w._repr_mimebundle_()["text/html"], view._repr_html_()):
        assert all(i in html for i in ids) and "reproduced" in html and f"download manifest-{w.run_id}.json" in html
    assert view._repr_mimebundle_()[MIMETYPE] == w.manifest
    assert list(view.to_dataframe()["step"]) == ids


def test_manifest_bundle_escapes_cell_source_in_html(registry, tmp_path):
    from scidex_replay.recording import record_step
    from scidex_replay.replay import rerun_artifact

    (tmp_path / "raw.txt").write_text("x")
    source = "# <script>alert(1)</script>\noutput.write_text('ok')\n"
    with record_step(registry, "python.cell", method=source, inputs=[str(tmp_path / "raw.txt")], output="o.txt") as st:
        st.output.write_text("ok")
    report = rerun_artifact(st.artifact.id, registry=registry)
    html = manifest_bundle(report.manifest)["text/html"]
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_an_engine_warning_shows_in_the_status_line(chain, widget_of):
    _, _, c = chain.three_steps()
    w = widget_of(c)
    w._on_event("warning", {"step_id": "s_x", "message": "env-differs: ran in live env"})
    assert w.message == "s_x: env-differs: ran in live env" and "env-differs" in w._status.value


def test_a_named_step_shows_by_its_name_and_is_still_filled_in_by_its_id(registry, tmp_path):
    from scidex_replay.recording import record_step

    (tmp_path / "raw.txt").write_text("x")
    with record_step(registry, "python.cell", method="output.write_text('ok')\n", inputs=[str(tmp_path / "raw.txt")],
                     output="o.txt", name="fit") as st:
        st.output.write_text("ok")
    w = ReplayWidget.for_artifact(registry, st.artifact.id)
    try:
        assert [row["step"] for row in w.rows] == ["fit"] and w.step_ids == [w.rows[0]["step_id"]]
        seen = []
        w.observe(lambda ch: seen.append([row["outcome"] for row in w.rows]), names="progress")
        w.replay_all_button.click()
        assert w.wait(60), "the replay the button started did not end"
        assert seen == [["reproduced"]], "the engine's step event fills in the row of the named step"
        assert list(w.dataframe["step"]) == ["fit"] and outcomes(w) == ["reproduced"]
        assert [r["step"] for r in w._table.rows] == ["fit"], "the view draws the step's name"
    finally:
        w.close()


def test_planned_rows_list_several_outputs_by_path_unmarked_before_anything_runs():
    from types import SimpleNamespace

    from scidex_replay.registry.records import StepOutput
    from scidex_replay.surfaces.widget import plan_rows

    step = SimpleNamespace(
        step_id="s_00000001", label="plot", step_type="shell", method="python plot.py", input_hash="0" * 64,
        output_hash="1" * 64, all_outputs=(StepOutput("a_1", "1" * 64, "figures/fig1.png"), StepOutput("a_2", "2" * 64)),
    )
    (row,) = plan_rows(SimpleNamespace(steps=[SimpleNamespace(step=step, action="execute", reason="")]))
    assert (row["step_id"], row["step"], row["outputs"], row["outcome"]) == ("s_00000001", "plot", "figures/fig1.png, a_2", "pending")
