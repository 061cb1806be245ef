"""The widget and the static view show what differs: per compared output, the comparator's
summary and its differences with their kinds; for an image, the recorded, replayed and diff
pictures side by side, read from the store."""

from __future__ import annotations

import base64
import re

import ipywidgets as widgets
import pytest
from _differs import NOISY_JSON, NOISY_PNG, equivalent_comparison, image_comparison, record
from _manifests import v2_manifest

from scidex_replay.outcomes import Outcome, Status
from scidex_replay.surfaces.manifest_view import IMAGE_MAX_BYTES, ManifestView, comparison_rows, manifest_bundle
from scidex_replay.surfaces.widget import ReplayWidget


@pytest.fixture
def replayed(registry, monkeypatch):
    """A widget on a chain of its own, replayed with a stand-in comparator."""
    made = []

    def make(program: str, output: str, comparator) -> ReplayWidget:
        monkeypatch.setattr("scidex_replay.replay.runner.compare_files", comparator)
        w = ReplayWidget.for_artifact(registry, record(registry, program, output))
        made.append(w)
        w.replay_all_button.click()
        assert w.wait(60), "the replay the button started did not end"
        return w

    yield make
    for w in made:
        w.close()


def _pictures(w: ReplayWidget) -> list[widgets.Image]:
    return [c for box in w._comparisons.children if isinstance(box, widgets.HBox) for v in box.children for c in v.children
            if isinstance(c, widgets.Image)]


def test_an_image_output_shows_recorded_replayed_and_diff_pictures_side_by_side(replayed, registry):
    w = replayed(NOISY_PNG, "plot.png", image_comparison)
    (row,) = w.comparisons
    assert row["output"] == "plot.png" and row["outcome"] == "output-differs"
    assert row["comparison"]["differences"][0]["kind"] == "content"
    live, again, diff = _pictures(w)
    store = registry.store
    assert live.value == store.path(row["hash_live"]).read_bytes()
    assert again.value == store.path(row["hash_replayed"]).read_bytes() != live.value
    assert diff.value == store.path(row["comparison"]["metrics"]["diff_image_blob"]).read_bytes()
    assert {p.format for p in (live, again, diff)} == {"png"} and live.layout.max_width == "320px"
    (head,) = [c for c in w._comparisons.children if isinstance(c, widgets.HTML) and "<details" in c.value]
    assert "content differs: 1 of 64 pixels, at (3, 5)" in head.value and 'data-kind="content"' in head.value

    static = w.static_html()  # what the notebook keeps: the pictures as data: URIs
    assert static.count('src="data:image/png;base64,') == 3
    assert base64.b64encode(diff.value).decode() in static


def test_an_equivalent_output_shows_its_summary_and_kinds_escaped(replayed):
    w = replayed(NOISY_JSON, "result.json", equivalent_comparison)
    assert w.manifest["steps"][0]["outcome"] == "equivalent"
    (row,) = w.comparisons
    assert row["outcome"] == "equivalent" and row["comparison"]["equivalent"] is True
    html = "".join(c.value for c in w._comparisons.children if isinstance(c, widgets.HTML))
    assert "equivalent: only $.id (a random id) and $.created differ" in html
    assert re.findall(r'data-kind="([^"]+)"', html) == ["volatile-id", "metadata"]
    assert "&lt;b&gt;uuid4&lt;/b&gt;" in html and "<b>uuid4" not in html
    assert not _pictures(w)  # no diff picture, no pictures
    assert [r["outcome"] for r in w._table.rows] == ["equivalent"]  # the view gives the row its outcome's class


def test_the_static_view_lists_compared_outputs_only_and_embeds_pictures_given_a_store(registry, tmp_path):
    manifest = v2_manifest(Status.DIFFERS, Outcome.REPRODUCED, Outcome.OUTPUT_DIFFERS, Outcome.EQUIVALENT)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    digest = registry.store.put_bytes(png)[0]
    big = registry.store.put_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (IMAGE_MAX_BYTES + 1))[0]
    differs, equivalent = manifest["steps"][1]["outputs"][0], manifest["steps"][2]["outputs"][0]
    differs.update(hash_live=digest, hash_replayed=big, comparison={
        "comparator": "image", "equivalent": False, "summary": "content differs: 3 pixels",
        "differences": [{"where": "pixel (1, 2)", "kind": "content", "detail": "(0, 0, 0) → (9, 9, 9)"}],
        "metrics": {"diff_image_blob": digest},
    })
    equivalent["comparison"] = {
        "comparator": "csv", "equivalent": True, "summary": "equivalent: rows in another order",
        "differences": [{"where": "rows 1-3", "kind": "order", "detail": "same rows"}], "metrics": {},
    }
    assert [(r["step"], r["outcome"]) for r in comparison_rows(manifest)] == [("step2", "output-differs"), ("step3", "equivalent")]

    without = ManifestView(manifest)._repr_html_()
    assert "content differs: 3 pixels" in without and "equivalent: rows in another order" in without
    assert 'data-kind="order"' in without and "data:image" not in without

    html = manifest_bundle(manifest, registry.store)["text/html"]
    assert html.count("data:image/png;base64,") == 2  # recorded and diff; the replayed one is too large
    assert f"{IMAGE_MAX_BYTES + 9} bytes: too large to show here" in html

    assert "What differs" not in ManifestView(v2_manifest(Status.REPRODUCED, Outcome.REPRODUCED))._repr_html_()
