"""manifest.json (schema scidex-replay/manifest/v2), the diff detail and the Report."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from scidex_replay.compare import Tolerance
from scidex_replay.compare.binary import CHUNK, BytesComparator, first_difference
from scidex_replay.compare.text import TextComparator
from scidex_replay.errors import BadInput, ReplayError
from scidex_replay.outcomes import Outcome
from scidex_replay.registry.records import Run, Step, StepResult
from scidex_replay.replay import diff as diffs
from scidex_replay.replay import manifest as manifests
from scidex_replay.replay.report import Report
from scidex_replay.store import BlobStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
TOP_KEYS = {
    "schema", "run_id", "kind", "parent_run_id", "target_artifact_id", "from_step", "options", "env",
    "started_at", "completed_at", "ok", "summary", "steps",
}
STEP_KEYS = {
    "step_id", "step_type", "input_hash", "output_hash_live", "output_hash_replayed", "ok", "reason",
    "reused_from_run", "duration_s",
}


def step(step_id: str, env_hash: str | None = "e1") -> Step:
    return Step(
        step_id=step_id, step_type="shell", method="m", parameters={}, target_artifact_id=f"a_{step_id}",
        source_artifact_ids=(), input_hash="0" * 64, output_hash="1" * 64, env_hash=env_hash, trace_id=None,
        started_at=T0, completed_at=T0 + timedelta(seconds=1),
    )


def run(status: str = "reproduced") -> Run:
    return Run(
        run_id="r_test", target_artifact_id="a_s3", kind="replay", parent_run_id=None, from_step=None,
        options={"strict": False}, status=status, started_at=T0, completed_at=None,
    )


def result(step_id: str, position: int, ok, reason: str, **kw) -> StepResult:
    code, _, words = reason.partition(": ")
    return StepResult(step_id=step_id, position=position, outcome=Outcome(code), ok=ok, detail=words, **kw)


def build(steps, results, **kw):
    return manifests.build(
        run(), steps, results, artifacts={}, replay_env="e9", completed_at="2024-05-01T12:01:00+00:00", **kw
    )


@pytest.mark.parametrize(
    "reason, code",
    [
        ("reproduced", "reproduced"),
        ("output-differs: replayed abc, recorded def (first difference at byte 3)", "output-differs"),
        ("unreplayable: no handler for step_type lab.x", "unreplayable"),
        ("failed: exit 3: boom: more", "failed"),
        ("skipped: upstream failed", "skipped"),
        ("frozen: before --from", "frozen"),
    ],
)
def test_outcome_is_the_code_before_the_first_colon(reason, code):
    """Only the 0003 migration reads an outcome out of words (the first wave's reasons)."""
    from importlib import import_module

    split_reason = import_module("scidex_replay.registry.migrations.versions.0003_result_outcome").split_reason
    assert split_reason(reason)[0] == code
    assert result("s", 0, None, reason).reason == reason


def test_manifest_has_the_documented_fields_at_top_level_and_per_step():
    m = build([step("s1")], [result("s1", 0, True, "reproduced", output_hash_replayed="1" * 64, duration_s=0.1234567)])
    assert TOP_KEYS <= set(m)
    assert m["schema"] == "scidex-replay/manifest/v2"
    assert STEP_KEYS <= set(m["steps"][0])
    assert m["steps"][0]["duration_s"] == 0.123457
    assert m["started_at"] == T0.isoformat()
    json.dumps(m)  # plain JSON


def test_manifest_env_lists_distinct_live_env_hashes_in_order_and_the_replay_one():
    m = build([step("s1", "e1"), step("s2", "e2"), step("s3", "e1"), step("s4", None)], [])
    assert m["env"] == {"live": ["e1", "e2"], "replay": "e9"}


def test_summary_counts_outcomes_and_frozen_steps_do_not_spoil_ok():
    steps = [step("s1"), step("s2"), step("s3")]
    results = [
        result("s1", 0, None, "frozen: before --from"),
        result("s2", 1, None, "frozen: before --from"),
        result("s3", 2, True, "reproduced"),
    ]
    m = build(steps, results)
    assert m["summary"] == {"frozen": 2, "reproduced": 1}
    assert m["ok"] is True
    assert [s["ok"] for s in m["steps"]] == [None, None, True]


@pytest.mark.parametrize(
    "results",
    [
        [result("s1", 0, True, "reproduced"), result("s2", 1, False, "output-differs: x")],
        [result("s1", 0, True, "reproduced")],  # interrupted: a step has no result
        [result("s1", 0, None, "frozen: before --from"), result("s2", 1, None, "frozen: before --from")],  # nothing checked
    ],
    ids=["a step differs", "a step is missing", "nothing was checked"],
)
def test_manifest_is_not_ok_unless_every_step_was_checked_or_frozen_and_reproduced(results):
    assert build([step("s1"), step("s2")], results)["ok"] is False


def test_extras_are_merged_into_their_step():
    diff = {"first_difference_offset": 4, "size_live": 9, "size_replayed": 9}
    m = build([step("s1")], [result("s1", 0, False, "output-differs: x")], extras={"s1": {"diff": diff}})
    assert m["steps"][0]["diff"] == diff


def test_write_puts_manifest_json_atomically_and_never_replaces_an_old_one(tmp_path):
    out = tmp_path / "deep" / "dir"
    path = manifests.write({"schema": "x", "n": 1}, out)
    assert path == out / "manifest.json"
    with pytest.raises(BadInput, match="appeared during the replay and was left as it is"):
        manifests.write({"schema": "x", "n": 2, "run_id": "r_2"}, out)
    assert json.loads(path.read_text()) == {"schema": "x", "n": 1}
    assert [p.name for p in out.iterdir()] == ["manifest.json"]  # no temp file left behind


def test_write_leaves_no_temp_file_when_the_manifest_cannot_be_serialized(tmp_path):
    with pytest.raises(TypeError):
        manifests.write({"bad": object()}, tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- where outputs differ ---------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    return BlobStore(tmp_path / "blobs")


@pytest.mark.parametrize(
    "live, replayed, offset",
    [
        (b"abcdef", b"abcdef", None),
        (b"abcdef", b"abXdef", 2),
        (b"Xbcdef", b"abcdef", 0),
        (b"abc", b"abcdef", 3),
        (b"abcdef", b"abc", 3),
        (b"", b"a", 0),
    ],
)
def test_first_difference_is_the_exact_byte_offset(store, live, replayed, offset):
    a, _ = store.put_bytes(live)
    b, _ = store.put_bytes(replayed)
    assert first_difference(store.path(a), store.path(b)) == offset


def test_first_difference_counts_across_chunk_boundaries(store):
    base = bytes(range(256)) * (CHUNK // 256 + 8)
    changed = bytearray(base)
    at = CHUNK + 1000
    changed[at] ^= 1
    a, _ = store.put_bytes(base)
    b, _ = store.put_bytes(bytes(changed))
    assert first_difference(store.path(a), store.path(b)) == at


def test_describe_gives_sizes_offset_and_the_comparators_diff(store):
    a, _ = store.put_bytes(b"x,y\n1,2\n3,4\n")
    b, _ = store.put_bytes(b"x,y\n1,2\n3,5\n")
    comparison = TextComparator().compare(store.path(a), store.path(b), name="t.txt", tolerance=Tolerance())
    d = diffs.describe(store, a, b, comparison)
    assert d["first_difference_offset"] == 10
    assert (d["size_live"], d["size_replayed"], d["replayed_blob"]) == (12, 12, b)
    assert d["unified"].startswith("--- live/t.txt\n+++ replayed/t.txt\n")
    assert "-3,4\n+3,5\n" in d["unified"]


def test_describe_has_no_unified_diff_without_a_readable_one(store):
    a, _ = store.put_bytes(b"\xff\x00\x01")
    b, _ = store.put_bytes(b"\xff\x00\x02")
    comparison = BytesComparator().compare(store.path(a), store.path(b), name="x.bin", tolerance=Tolerance())
    assert comparison.full_diff is None and "unified" not in diffs.describe(store, a, b, comparison)
    assert "unified" not in diffs.describe(store, a, b, None)


def test_long_unified_diff_is_cut(store, monkeypatch):
    monkeypatch.setattr(diffs, "DIFF_LINES", 5)
    a, _ = store.put_bytes(b"".join(b"a%d\n" % i for i in range(100)))
    b, _ = store.put_bytes(b"".join(b"b%d\n" % i for i in range(100)))
    comparison = TextComparator().compare(store.path(a), store.path(b), name="x.txt", tolerance=Tolerance())
    unified = diffs.describe(store, a, b, comparison)["unified"]
    assert unified.endswith("…\n") and unified.count("\n") == 6


# -- Report ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, ok, code",
    [("reproduced", True, 0), ("failed", False, 1), ("aborted", False, 3), ("interrupted", False, 1)],
)
def test_report_exit_code_follows_status_and_ok(status, ok, code):
    report = Report(run=run(status), manifest={"ok": ok, "summary": {}, "steps": []})
    assert report.exit_code == code and report.ok is ok and report.status == status


def test_report_dataframe_is_indexed_by_step_in_order():
    m = build([step("s1"), step("s2")], [result("s2", 0, True, "reproduced"), result("s1", 1, False, "failed: x")])
    df = Report(run=run(), manifest=m).to_dataframe()
    assert list(df.index) == ["s2", "s1"]
    assert list(df["outcome"]) == ["reproduced", "failed"]
    assert "duration_s" in df.columns and "reason" in df.columns


# -- the schema ----------------------------------------------------------------------


def _valid() -> dict:
    return build([step("s1")], [result("s1", 0, True, "reproduced", output_hash_replayed="1" * 64)])


def test_a_built_manifest_validates_against_the_packaged_schema_and_loads():
    m = _valid()
    assert manifests.problem(m) is None
    assert manifests.load(json.loads(json.dumps(m))) == m


@pytest.mark.parametrize(
    "spoil, where",
    [
        (lambda m: m["steps"][0].update(outcome="mostly-reproduced"), "steps/0/outcome"),
        (lambda m: m["steps"][0]["outputs"][0].update(outcome="nearly"), "steps/0/outputs/0/outcome"),
        (lambda m: m["steps"][0].pop("reason"), "'reason' is a required property"),
        (lambda m: m.pop("status"), "'status' is a required property"),
        (lambda m: m.update(status="succeeded"), "status"),
        (lambda m: m["summary"].update(wobbly=1), "summary"),
    ],
    ids=["unknown outcome", "unknown output outcome", "missing step field", "missing status", "v1 status", "unknown summary key"],
)
def test_the_schema_rejects_an_unknown_outcome_or_a_missing_field(spoil, where):
    m = _valid()
    spoil(m)
    with pytest.raises(BadInput, match="not a valid scidex-replay/manifest/v2 manifest") as caught:
        manifests.load(m)
    assert where in str(caught.value) and "\n" not in str(caught.value)


def test_build_refuses_to_write_a_manifest_that_breaks_the_schema():
    with pytest.raises(ReplayError, match="breaks its own schema"):
        build([step("s1")], [result("s1", 0, True, "reproduced")], extras={"s1": {"colour": "red"}})


def test_a_v1_manifest_from_a_first_wave_notebook_still_loads():
    v1 = {
        "schema": "scidex-replay/manifest/v1", "run_id": "r_1", "kind": "replay", "target_artifact_id": "a_1",
        "ok": False, "status": "failed", "summary": {"output-differs": 1},
        "steps": [{
            "step_id": "s_1", "step_type": "shell", "input_hash": "0" * 64, "output_hash_live": "1" * 64,
            "output_hash_replayed": "2" * 64, "ok": False, "outcome": "output-differs",
            "reason": "output-differs: replayed 222222222222, recorded 111111111111", "reused_from_run": None,
            "duration_s": 0.1,
        }],
    }
    assert manifests.load(v1) == v1
    v1["steps"][0].pop("duration_s")
    with pytest.raises(BadInput, match="duration_s"):
        manifests.load(v1)
