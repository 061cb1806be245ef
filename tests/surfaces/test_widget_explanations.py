"""The widget and the static view show a step's explanation (``--explain``): its summary, one chip
per factor (changes-output highlighted with how the output changed as tooltip, muted when only
metadata changed; no-effect muted; not-tested grey with the reason as tooltip) and its cost."""

from __future__ import annotations

import re

from _differs import record
from _manifests import v2_manifest

from scidex_replay.outcomes import Outcome, Status
from scidex_replay.replay.manifest import load
from scidex_replay.surfaces.manifest_view import ManifestView, explanation_rows, manifest_bundle
from scidex_replay.surfaces.widget import ReplayWidget

EXPLANATION = {
    "factors": {
        "repeat": "no-effect", "clock": "changes-output", "hash-seed": "no-effect", "tz": "changes-output",
        "locale": "not-tested", "rng-seed": "no-effect",
    },
    "summary": "the output depends on the clock <script>",
    "runs": 7,
    "seconds": 2.345,
    "not_tested": {"locale": 'no "de_DE" locale <here>'},
    "details": {"clock": "content: line 1: 1700000000 → 1800000000 <b>", "tz": "metadata: only the mtime differs"},
}


def explained_manifest() -> dict:
    manifest = v2_manifest(Status.DIFFERS, Outcome.REPRODUCED, Outcome.OUTPUT_DIFFERS)
    manifest["steps"][1]["explanation"] = EXPLANATION
    return load(manifest)  # checked against the schema, explanation included


def chips(html: str) -> dict[str, tuple[str, str, str | None]]:
    """factor -> (class, verdict, title) of every chip in ``html``."""
    found = {}
    for tag in re.findall(r'<span class="scidex-replay-factor [^>]*>', html):
        factor = re.search(r'data-factor="([^"]*)"', tag).group(1)
        title = re.search(r'title="([^"]*)"', tag)
        found[factor] = (
            re.search(r'class="([^"]*)"', tag).group(1), re.search(r'data-verdict="([^"]*)"', tag).group(1),
            title.group(1) if title else None,
        )
    return found


def test_an_explained_step_shows_a_chip_per_factor_with_its_tooltip():
    html = ManifestView(explained_manifest())._repr_html_()
    found = chips(html)
    assert list(found) == list(EXPLANATION["factors"])
    assert found["clock"] == (
        "scidex-replay-factor scidex-replay-factor-changes-output", "changes-output",
        "content: line 1: 1700000000 → 1800000000 &lt;b&gt;",
    )
    assert found["tz"] == ("scidex-replay-factor scidex-replay-factor-metadata", "changes-output", "metadata: only the mtime differs")
    assert found["repeat"] == ("scidex-replay-factor scidex-replay-factor-no-effect", "no-effect", None)
    assert found["locale"] == ("scidex-replay-factor scidex-replay-factor-not-tested", "not-tested", "no &quot;de_DE&quot; locale &lt;here&gt;")
    assert "tz (metadata only)</span>" in html
    assert "font-weight: bold" in re.search(r'<span class="[^"]*changes-output"[^>]*>', html).group()
    assert "7 re-runs, 2.3 s" in html
    assert 'data-step="s_00000002"' in html and "<b>step2</b>" in html


def test_an_explanation_is_escaped():
    html = manifest_bundle(explained_manifest())["text/html"]
    assert "the output depends on the clock &lt;script&gt;" in html
    assert "<script>" not in html and "<here>" not in html and "→ 1800000000 <b>" not in html


def test_a_manifest_without_explanations_shows_none():
    manifest = v2_manifest(Status.DIFFERS, Outcome.REPRODUCED, Outcome.OUTPUT_DIFFERS)
    assert explanation_rows(manifest) == []
    assert "scidex-replay-explanation" not in ManifestView(manifest)._repr_html_()


def test_the_widget_shows_the_manifests_explanations(registry):
    w = ReplayWidget(registry, artifact_id="a_00000002", step_ids=["s_00000001", "s_00000002"])
    try:
        w.manifest = explained_manifest()
        assert [(r["step"], r["explanation"]["summary"]) for r in w.explanations] == [("step2", EXPLANATION["summary"])]
        assert chips(w._explanations.value)["clock"][1] == "changes-output"
        assert "7 re-runs, 2.3 s" in w._explanations.value
        assert "scidex-replay-factor-not-tested" in w.static_html()
    finally:
        w.close()


CLOCK = "import sys, time\nopen(sys.argv[1], 'w').write(str(int(time.time())) + '\\n')\n"


def test_a_real_explained_replay_names_the_clock_in_the_widget(registry):
    from scidex_replay.replay.explain import faketime_library

    assert faketime_library() is not None, "libfaketime is missing: `make pytest` installs it (make faketime)"
    w = ReplayWidget.for_artifact(registry, record(registry, CLOCK, "out.txt"))
    try:
        w.replay(explain="all")
        (row,) = w.explanations
        assert row["explanation"]["factors"]["clock"] == "changes-output"
        found = chips(w._explanations.value)
        assert found["clock"][:2] == ("scidex-replay-factor scidex-replay-factor-changes-output", "changes-output")
        assert chips(w.static_html())["clock"][1] == "changes-output"
    finally:
        w.close()
