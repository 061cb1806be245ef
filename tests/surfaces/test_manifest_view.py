"""The static view's table: a step by its name, and a step's several outputs each marked,
from manifests built by hand (``_manifests.py``)."""

from __future__ import annotations

from _manifests import H_LIVE, H_OTHER, v1_manifest, v2_manifest

from scidex_replay.outcomes import Outcome, Status
from scidex_replay.surfaces.manifest_view import ManifestView, manifest_rows


def _figures_manifest() -> dict:
    """A differs run whose one step wrote three outputs: the second differs, the others reproduce."""
    manifest = v2_manifest(Status.DIFFERS, Outcome.OUTPUT_DIFFERS)
    step = manifest["steps"][0]
    step["step_name"] = "plot"
    step["outputs"] = [
        {"artifact_id": f"a_0000001{i}", "name": name, "hash_live": H_LIVE, "hash_replayed": replayed,
         "ok": replayed == H_LIVE, "outcome": "reproduced" if replayed == H_LIVE else "output-differs", "comparison": None}
        for i, (name, replayed) in enumerate((("figures/fig1.png", H_LIVE), ("figures/fig2.png", H_OTHER), ("fit.txt", H_LIVE)))
    ]
    return manifest


def test_step_column_shows_the_step_name_else_the_id():
    named = v2_manifest(Status.REPRODUCED, Outcome.REPRODUCED, Outcome.REPRODUCED)
    named["steps"][1]["step_name"] = None  # a step recorded before steps had names
    assert [r["step"] for r in manifest_rows(named)] == ["step1", "s_00000002"]
    assert [r["step_id"] for r in manifest_rows(named)] == ["s_00000001", "s_00000002"]
    assert list(ManifestView(v1_manifest(None, True, "reproduced")).to_dataframe()["step"]) == ["s_00000001"]


def test_several_outputs_are_listed_each_marked_so_the_one_that_differs_shows():
    view = ManifestView(_figures_manifest())
    assert list(view.to_dataframe()["outputs"]) == ["figures/fig1.png ✓, figures/fig2.png ✗, fit.txt ✓"]
    assert "figures/fig1.png ✓, figures/fig2.png ✗, fit.txt ✓" in view._repr_html_()


def test_a_single_output_or_a_v1_step_leaves_the_outputs_column_empty():
    for manifest in (v2_manifest(Status.REPRODUCED, Outcome.REPRODUCED), v1_manifest(None, True, "reproduced")):
        assert list(ManifestView(manifest).to_dataframe()["outputs"]) == [""]


def test_step_and_output_names_are_text_in_the_html():
    manifest = _figures_manifest()
    manifest["steps"][0]["step_name"] = "<b>plot</b>"
    manifest["steps"][0]["outputs"][0]["name"] = "<img src=x onerror=alert(1)>.png"
    html = ManifestView(manifest)._repr_html_()
    assert "<b>plot" not in html and "&lt;b&gt;plot&lt;/b&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;.png ✓" in html
