"""A manifest from elsewhere is data: checked, never executed, rendered escaped (fuzzed with hypothesis)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scidex_replay.errors import BadInput
from scidex_replay.replay.manifest import SCHEMA_V1 as SCHEMA, load
from scidex_replay.surfaces.widget import ManifestView, manifest_bundle

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
texts = st.text(min_size=0, max_size=40)


def _step(reason: str, step_id: str = "s_1") -> dict:
    return {
        "step_id": step_id, "step_type": "shell", "input_hash": "0" * 64, "output_hash_live": "1" * 64,
        "output_hash_replayed": "1" * 64, "ok": True, "reason": reason, "reused_from_run": None, "duration_s": 0.1,
    }


def _manifest(steps: list) -> dict:
    return {"schema": SCHEMA, "run_id": "r_1", "kind": "replay", "target_artifact_id": "a_1", "ok": True,
            "summary": {"reproduced": len(steps)}, "steps": steps}


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_is_either_a_manifest_or_a_one_line_bad_input(value):
    try:
        data = load(value) if isinstance(value, dict) else load({"schema": SCHEMA, "steps": value})
    except BadInput as exc:
        assert "\n" not in str(exc)
    else:
        assert data["schema"] == SCHEMA


@settings(max_examples=200, deadline=None)
@given(reason=texts, step_id=texts)
def test_every_manifest_string_is_escaped_in_the_html(reason, step_id, tmp_path_factory):
    evil = f"<script>alert(1)</script>{reason}"
    manifest = load(_manifest([_step(evil, step_id + "<img src=x onerror=alert(1)>")]))
    html = manifest_bundle(manifest)["text/html"]
    assert "<script>" not in html and "<img" not in html
    path = tmp_path_factory.mktemp("m") / "manifest.json"
    path.write_text(json.dumps(manifest))
    assert ManifestView.load(path).manifest == manifest


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "cannot read manifest"),
        ("[]", "not a scidex-replay/manifest/v2 or v1 manifest"),
        (json.dumps({"schema": "other"}), "not a scidex-replay/manifest/v2 or v1 manifest"),
        (json.dumps({**_manifest([]), "ok": "yes"}), "ok: 'yes' is not of type 'boolean'"),
        (json.dumps(_manifest([{**_step("x"), "ok": "true"}])), "steps/0/ok: 'true' is not of type"),
        (json.dumps(_manifest([{**_step("x"), "duration_s": True}])), "steps/0/duration_s: True is not of type 'number'"),
        (json.dumps(_manifest(["step"])), "steps/0: 'step' is not of type 'object'"),
    ],
)
def test_malformed_manifest_files_are_bad_input(tmp_path, content, message):
    path = tmp_path / "manifest.json"
    path.write_text(content)
    with pytest.raises(BadInput, match=message):
        load(path)


def test_a_real_manifest_loads(registry, tmp_path):
    import _steps
    from scidex_replay.recording import record_call
    from scidex_replay.replay import rerun_artifact

    raw = registry.add_artifact(b"x", name="x.txt")
    art = record_call(registry, _steps.shout, inputs=[raw.id], output="y.txt")
    report = rerun_artifact(art.id, registry=registry, out=tmp_path)
    assert load(tmp_path / "manifest.json") == report.manifest
