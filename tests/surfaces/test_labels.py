"""What a run is called and how a step is coloured, in the CLI, the widget and the static
view. The manifests are built by hand (``_manifests.py``), so these run without the engine."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from _manifests import v1_manifest, v2_manifest

from scidex_replay.outcomes import Outcome, Status
from scidex_replay.surfaces import cli, labels, widget
from scidex_replay.surfaces.labels import OUTCOME_COLORS, OUTCOME_STYLE, STATUS_VERDICTS, manifest_verdict, run_verdict
from scidex_replay.surfaces.manifest_view import ManifestView, manifest_bundle

DIFFERS = v2_manifest(Status.DIFFERS, Outcome.REPRODUCED, Outcome.OUTPUT_DIFFERS, Outcome.REPRODUCED)
FAILED = v2_manifest(Status.FAILED, Outcome.REPRODUCED, Outcome.FAILED, Outcome.SKIPPED)
REPRODUCED = v2_manifest(Status.REPRODUCED, Outcome.REPRODUCED, Outcome.REUSED)


# -- the tables ---------------------------------------------------------------------
def test_every_outcome_has_a_style_in_the_cli_and_a_colour_in_the_widget():
    assert set(OUTCOME_STYLE) == set(Outcome)
    assert set(OUTCOME_COLORS) == set(Outcome)
    assert widget.OUTCOME_COLORS is OUTCOME_COLORS  # the widget and the static view colour from the same table


def test_every_status_has_a_label():
    assert set(STATUS_VERDICTS) == set(Status)


@pytest.mark.parametrize(
    "status, ok, kind, v1, label",
    [
        ("reproduced", True, "replay", False, "reproduced"),
        ("differs", False, "replay", False, "did not reproduce"),
        ("failed", False, "replay", False, "failed"),
        ("aborted", False, "replay", False, "aborted"),
        ("interrupted", False, "replay", False, "interrupted"),
        ("running", None, "replay", False, "running"),
        ("reproduced", True, "fork", False, "fork completed"),
        ("failed", False, "fork", False, "fork failed"),
        ("differs", False, "restart", False, "did not reproduce"),
        # v1: succeeded/failed/none are read from ok; failed also meant "an output differs"
        ("succeeded", True, "replay", True, "reproduced"),
        ("failed", False, "replay", True, "did not reproduce"),
        (None, False, "replay", True, "did not reproduce"),
        (None, True, "fork", True, "fork completed"),
        ("aborted", False, "replay", True, "aborted"),
        # a registry row from before v2, without its manifest
        ("succeeded", None, "replay", False, "succeeded"),
    ],
)
def test_run_labels(status, ok, kind, v1, label):
    assert run_verdict(status, ok=ok, kind=kind, v1=v1).label == label


def test_reproduced_is_green_and_differs_red():
    assert manifest_verdict(REPRODUCED).rich_style == "green"
    assert manifest_verdict(DIFFERS).rich_style == "red"


def test_the_hand_built_manifests_follow_the_v2_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(labels.__file__).parents[1] / "replay" / "schemas" / "manifest.schema.json").read_text())
    for manifest in (DIFFERS, FAILED, REPRODUCED, v1_manifest("failed", False, "output-differs")):
        jsonschema.validate(manifest, schema)


# -- the CLI ------------------------------------------------------------------------
def _title(stdout: str) -> str:
    """The results table's title (not a terminal here: its ``# `` line)."""
    return next(line for line in stdout.splitlines() if line.startswith("# run r_00000001")).removeprefix("# ").rstrip()


@pytest.fixture
def replayed(monkeypatch):
    """``rerun-artifact`` answered by a fake engine with the report of ``manifest``."""
    import scidex_replay.replay

    def run(manifest: dict, capsys) -> str:
        report = SimpleNamespace(manifest=manifest, manifest_path=Path("manifest.json"), exit_code=0 if manifest["ok"] else 1)
        monkeypatch.setattr(cli, "_registry", lambda db: object())
        monkeypatch.setattr(scidex_replay.replay, "rerun_artifact", lambda *a, **kw: report)
        assert cli.main(["rerun-artifact", manifest["target_artifact_id"]]) == report.exit_code
        return capsys.readouterr().out

    return run


def test_cli_summary_of_a_differs_run_says_did_not_reproduce(replayed, capsys):
    title = _title(replayed(DIFFERS, capsys))
    assert title.endswith(f"of {DIFFERS['target_artifact_id']}: did not reproduce"), title


def test_cli_summary_of_a_failed_run_says_failed(replayed, capsys):
    title = _title(replayed(FAILED, capsys))
    assert title.endswith(": failed") and "did not reproduce" not in title, title


def test_cli_summary_of_a_reproduced_run_says_reproduced(replayed, capsys):
    assert _title(replayed(REPRODUCED, capsys)).endswith(": reproduced")


def test_cli_runs_listing_labels_each_run_by_its_status(monkeypatch, capsys):
    started = datetime(2025, 1, 1, tzinfo=timezone.utc)

    def run(run_id: str, status: str, manifest: dict | None) -> SimpleNamespace:
        return SimpleNamespace(
            run_id=run_id, kind="replay", parent_run_id=None, target_artifact_id="a_00000003", status=status,
            started_at=started, manifest=manifest and {**manifest, "run_id": run_id},
        )

    runs = [
        run("r_differs1", "differs", DIFFERS),
        run("r_failed01", "failed", FAILED),
        run("r_reprodu1", "reproduced", REPRODUCED),
        run("r_aborted1", "aborted", None),
        # first-wave runs, as revision 0003 left them: the registry's status is migrated, the manifest stays v1
        run("r_v1differ", "differs", v1_manifest("failed", False, "reproduced", "output-differs")),
        run("r_v1failed", "failed", v1_manifest("failed", False, "reproduced", "failed: exit 1", "skipped: upstream failed")),
    ]
    monkeypatch.setattr(cli, "_registry", lambda db: SimpleNamespace(runs=lambda artifact=None: runs))
    assert cli.main(["runs"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[1]: line for line in out.splitlines() if "r_" in line}
    assert re.search(r"a_00000003 did not reproduce ", lines["r_differs1"])
    assert re.search(r"a_00000003 failed ", lines["r_failed01"])
    assert re.search(r"a_00000003 reproduced ", lines["r_reprodu1"])
    assert re.search(r"a_00000003 aborted ", lines["r_aborted1"])
    assert re.search(r"a_00000003 did not reproduce ", lines["r_v1differ"])
    assert re.search(r"a_00000003 failed ", lines["r_v1failed"]), "the registry's status, not the v1 manifest's ok"


@pytest.mark.parametrize("status, label", [("failed", "failed"), ("differs", "did not reproduce"), ("reproduced", "reproduced")])
def test_cli_runs_show_labels_a_first_wave_run_by_its_migrated_status(monkeypatch, capsys, status, label):
    manifest = v1_manifest("failed" if status != "reproduced" else "succeeded", status == "reproduced", "reproduced", "failed: exit 1")
    manifest["steps"] = [{**s, "outcome": s["reason"].split(":")[0]} for s in manifest["steps"]]  # the first wave wrote it too
    run = SimpleNamespace(run_id=manifest["run_id"], kind="replay", status=status, manifest={**manifest, "parent_run_id": None})
    registry = SimpleNamespace(get_run=lambda run_id: run, ancestry=lambda run_id: [run_id])
    monkeypatch.setattr(cli, "_registry", lambda db: registry)
    assert cli.main(["runs", "show", run.run_id]) == 0
    title = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("# run r_"))
    assert title.rstrip().endswith(f": {label}"), title


# -- the widget ---------------------------------------------------------------------
def test_widget_labels_a_differs_run_did_not_reproduce():
    w = widget.ReplayWidget(None, artifact_id=DIFFERS["target_artifact_id"], step_ids=[s["step_id"] for s in DIFFERS["steps"]])
    try:
        w.run_id = DIFFERS["run_id"]  # as the engine's "start" event sets it
        report = SimpleNamespace(manifest=DIFFERS, status=Status.DIFFERS, run_id=DIFFERS["run_id"], ok=False)
        w._on_event("end", {"report": report})
        assert w.status == "differs" and w.verdict == "did not reproduce"
        assert f"run {DIFFERS['run_id']} (replay) of {DIFFERS['target_artifact_id']}: did not reproduce" in w._status.value
        assert "did not reproduce" in w._status.value and "failed" not in w._status.value
        assert w.message.startswith(f"run {DIFFERS['run_id']} (replay) of {DIFFERS['target_artifact_id']}: did not reproduce —")
        assert f"run {DIFFERS['run_id']}: did not reproduce" in w.static_html()
        assert [r["outcome"] for r in w._table.rows].count(Outcome.OUTPUT_DIFFERS.value) == 1  # the browser colours it by outcome
        assert w.last_failed_run == DIFFERS["run_id"] and not w.restart_button.disabled
    finally:
        w.close()


def test_widget_labels_a_failed_run_failed_and_a_reproduced_one_reproduced():
    for manifest, status, label in ((FAILED, Status.FAILED, "failed"), (REPRODUCED, Status.REPRODUCED, "reproduced")):
        w = widget.ReplayWidget(None, artifact_id=manifest["target_artifact_id"])
        try:
            w._on_event("end", {"report": SimpleNamespace(manifest=manifest, status=status, run_id=manifest["run_id"])})
            assert w.verdict == label and f": {label} —" in w.message
        finally:
            w.close()


# -- the static view ----------------------------------------------------------------
def test_static_view_labels_a_differs_run_did_not_reproduce():
    bundle = manifest_bundle(DIFFERS)
    assert bundle["text/plain"].startswith(f"run {DIFFERS['run_id']} (replay) of {DIFFERS['target_artifact_id']}: did not reproduce —")
    html = ManifestView(DIFFERS)._repr_html_()
    assert ": did not reproduce —" in html and "failed" not in html
    assert labels.TONE_HTML["bad"] in html.split("<table", 1)[0]


def test_static_view_labels_a_failed_run_failed():
    assert ": failed —" in manifest_bundle(FAILED)["text/plain"]


@pytest.mark.parametrize(
    "manifest, label",
    [
        (v1_manifest("succeeded", True, "reproduced", "reused: run r_0"), "reproduced"),
        (v1_manifest("failed", False, "reproduced", "output-differs"), "did not reproduce"),
        (v1_manifest(None, False, "failed: exit 1"), "did not reproduce"),
        (v1_manifest(None, True, "reproduced"), "reproduced"),
    ],
)
def test_a_v1_manifest_still_renders_labelled_from_ok(manifest, label):
    view = ManifestView(manifest)
    assert f": {label} —" in repr(view) and f": {label} —" in view._repr_html_()
    assert list(view.to_dataframe()["outcome"]) == [r.split(":")[0] for r in (s["reason"] for s in manifest["steps"])]


def test_shown_writes_control_characters_as_escapes_and_keeps_newlines():
    assert labels.shown("a\x1b[31mb\tc\x07\nd\x9b") == "a\\x1b[31mb\\tc\\x07\nd\\x9b"
