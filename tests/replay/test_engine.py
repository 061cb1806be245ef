"""The replay engine end to end on chains recorded through the real recording API."""

from __future__ import annotations

import json
import re
import os
import stat

import pytest
from sqlalchemy import text

from scidex_replay.errors import BadInput, ChainNotFound, NotFound
from scidex_replay.handlers import HandlerRegistry
from scidex_replay.handlers.copy import CopyHandler
from scidex_replay.handlers.shell import ShellHandler
from scidex_replay.handlers.spec import ReplayedArtifact
from scidex_replay.registry import input_hash_of
from scidex_replay.replay import rerun_artifact
from scidex_replay.replay.manifest import SCHEMA


def run_count(reg) -> int:
    with reg.engine.connect() as conn:
        return conn.execute(text("select count(*) from replay_runs")).scalar_one()


def blob(reg, digest: str) -> bytes:
    return reg.store.path(digest).read_bytes()


class Instrument:
    """A third-party handler for a step type no built-in knows."""

    step_type = "lab.instrument"
    version = "1"

    def __init__(self, data: bytes = b"measured"):
        self.data = data

    def __call__(self, step, inputs, output):
        output.write_bytes(self.data)
        return ReplayedArtifact(output)


class Flaky:
    """A handler with a bug: it raises a plain exception, not StepFailed."""

    step_type = "lab.flaky"
    version = "1"

    def __call__(self, step, inputs, output):
        raise RuntimeError("sensor offline")


def handlers_with(*extra) -> HandlerRegistry:
    hr = HandlerRegistry()
    for h in (ShellHandler(), CopyHandler(), *extra):
        hr.register(h)
    return hr


# -- a chain that reproduces -------------------------------------------------------


def test_three_step_shell_chain_reproduces_and_is_recorded(rec, reg, tmp_path):
    raw = rec.source("a,b\n1,2\n")
    a = rec.tagged("A", [raw])
    b = rec.tagged("B", [a])
    c = rec.tagged("C", [b, raw])
    steps = [rec.step(x) for x in (a, b, c)]

    report = rerun_artifact(c, registry=reg, out=tmp_path / "m")

    m = report.manifest
    assert m["schema"] == SCHEMA == "scidex-replay/manifest/v2"
    assert m["target_artifact_id"] == c and m["kind"] == "replay" and m["parent_run_id"] is None
    assert [s["step_id"] for s in m["steps"]] == [s.step_id for s in steps]
    for entry, step in zip(m["steps"], steps):
        assert entry["ok"] is True and entry["outcome"] == entry["reason"] == "reproduced"
        assert entry["output_hash_replayed"] == entry["output_hash_live"] == step.output_hash
        assert entry["input_hash_replayed"] == entry["input_hash"] == step.input_hash
    assert m["ok"] is True and m["summary"] == {"reproduced": 3}
    assert report.ok and report.exit_code == 0 and report.status == "reproduced"
    assert report.manifest_path == tmp_path / "m" / "manifest.json"
    assert json.loads(report.manifest_path.read_text()) == m

    run = reg.get_run(report.run_id)
    assert run.status == "reproduced" and run.completed_at is not None
    results = reg.results(report.run_id)
    assert [r.step_id for r in results] == [s.step_id for s in steps]
    assert all(r.ok is True and r.reason == "reproduced" for r in results)
    assert [r.output_hash_replayed for r in results] == [s.output_hash for s in steps]


def test_manifest_goes_under_home_runs_by_default(rec, reg):
    a = rec.tagged("A", [rec.source("x")])
    report = rerun_artifact(a, registry=reg)
    assert report.manifest_path == reg.home / "runs" / report.run_id / "manifest.json"
    assert json.loads(report.manifest_path.read_text())["run_id"] == report.run_id


def test_dataframe_has_one_row_per_step_in_execution_order(rec, reg, tmp_path):
    a = rec.tagged("A", [rec.source("x")])
    b = rec.tagged("B", [a])
    df = rerun_artifact(b, registry=reg, out=tmp_path / "m").to_dataframe()
    assert list(df.index) == [rec.step(a).step_id, rec.step(b).step_id]
    assert list(df["outcome"]) == ["reproduced", "reproduced"]


def test_events_report_start_each_step_and_end(rec, reg, tmp_path):
    b = rec.tagged("B", [rec.tagged("A", [rec.source("x")])])
    events = []
    report = rerun_artifact(b, registry=reg, out=tmp_path / "m", on_event=lambda kind, payload: events.append((kind, payload)))
    assert [k for k, _ in events] == ["start", "running", "step", "running", "step", "end"]
    assert events[0][1]["run_id"] == report.run_id
    assert [p["position"] for k, p in events if k == "running"] == [0, 1], "each step is announced as it is handed over"
    assert [(p["position"], p["total"]) for k, p in events if k == "step"] == [(0, 2), (1, 2)]
    assert events[-1][1]["report"] is report


def test_diamond_replays_each_step_exactly_once(rec, reg, funcs, tmp_path):
    log = tmp_path / "executions.log"
    raw = rec.source("r")
    top = rec.call(funcs.concat, [raw], "top.txt", tag="T", log=str(log))
    left = rec.call(funcs.concat, [top], "left.txt", tag="L", log=str(log))
    right = rec.call(funcs.concat, [top], "right.txt", tag="R", log=str(log))
    bottom = rec.call(funcs.concat, [left, right], "bottom.txt", tag="B", log=str(log))
    log.write_text("")

    report = rerun_artifact(bottom, registry=reg, out=tmp_path / "m")

    executed = log.read_text().split()
    assert sorted(executed) == ["B", "L", "R", "T"]
    assert executed[0] == "T" and executed[-1] == "B"
    ids = [s["step_id"] for s in report.manifest["steps"]]
    assert len(ids) == len(set(ids)) == 4
    assert report.exit_code == 0 and report.manifest["summary"] == {"reproduced": 4}


def test_subprocess_executor_reproduces_python_call_and_shell_steps(rec, reg, funcs, tmp_path):
    raw = rec.source("r")
    a = rec.call(funcs.concat, [raw], "a.txt", tag="A")
    b = rec.tagged("B", [a])
    report = rerun_artifact(b, registry=reg, executor="subprocess", out=tmp_path / "m")
    assert report.manifest["summary"] == {"reproduced": 2}, report.manifest["steps"]
    assert report.manifest["options"]["executor"] == "subprocess"


def test_subprocess_executor_runs_a_third_party_handler_by_its_class(rec, reg, funcs, tmp_path):
    raw = rec.source("r")
    stamped = rec.opaque("lab.stamp", [raw], output="s.txt", data=b"r stamped")
    report = rerun_artifact(
        stamped, registry=reg, handlers=handlers_with(funcs.Stamp()), executor="subprocess", out=tmp_path / "m"
    )
    assert [s["reason"] for s in report.manifest["steps"]] == ["reproduced"]


@pytest.mark.parametrize(
    "executor",
    [
        "kernel",
        "subprocess",
    ],
)
def test_a_configured_handler_instance_is_the_one_that_runs(rec, reg, funcs, tmp_path, executor):
    raw = rec.source("ab")
    out = rec.opaque("lab.repeat", [raw], output="rep.txt", data=b"ababab")
    report = rerun_artifact(
        out, registry=reg, handlers=handlers_with(funcs.repeat_three_times()), executor=executor, out=tmp_path / "m"
    )
    assert [s["reason"] for s in report.manifest["steps"]] == ["reproduced"]


def test_replaying_an_intermediate_artifact_replays_only_its_upstream(rec, reg, tmp_path):
    a = rec.tagged("A", [rec.source("r")])
    b = rec.tagged("B", [a])
    rec.tagged("C", [b])  # downstream of the target: not part of its chain
    report = rerun_artifact(b, registry=reg, out=tmp_path / "m")
    assert [s["step_id"] for s in report.manifest["steps"]] == [rec.step(a).step_id, rec.step(b).step_id]


def test_a_plain_replay_re_executes_every_step_each_time(rec, reg, funcs, tmp_path):
    log = tmp_path / "executions.log"
    a = rec.call(funcs.concat, [rec.source("r")], "a.txt", tag="A", log=str(log))
    b = rec.call(funcs.concat, [a], "b.txt", tag="B", log=str(log))
    log.write_text("")
    first = rerun_artifact(b, registry=reg, out=tmp_path / "m1")
    second = rerun_artifact(b, registry=reg, out=tmp_path / "m2")
    assert log.read_text().split() == ["A", "B", "A", "B"]  # nothing was silently reused
    assert first.run_id != second.run_id
    assert all(s["reused_from_run"] is None for s in second.manifest["steps"])


def test_interrupted_run_keeps_what_it_did_and_says_so(rec, reg, funcs, tmp_path):
    a = rec.tagged("A", [rec.source("r")])
    b = rec.opaque("lab.interrupt", [a])
    with pytest.raises(KeyboardInterrupt):
        rerun_artifact(b, registry=reg, handlers=handlers_with(funcs.Interrupting()), out=tmp_path / "m")
    ((run_id, status),) = _runs(reg)
    assert status == "interrupted"
    assert [r.reason for r in reg.results(run_id)] == ["reproduced"]
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["run_id"] == run_id and manifest["status"] == "interrupted" and manifest["ok"] is False


def _runs(reg) -> list[tuple[str, str]]:
    with reg.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text("select run_id, status from replay_runs"))]


# -- outputs that differ -------------------------------------------------------------


def test_non_reproducing_step_differs_and_downstream_gets_the_replayed_bytes(rec, reg, tmp_path):
    noise = rec.random()
    down = rec.tagged("D", [noise])
    s_noise, s_down = rec.step(noise), rec.step(down)

    report = rerun_artifact(down, registry=reg, out=tmp_path / "m")

    steps = rec.by_step(report)
    n, d = steps[s_noise.step_id], steps[s_down.step_id]
    assert n["outcome"] == "output-differs" and n["ok"] is False
    assert re.match(r"output-differs: bytes differ from byte \d; both 9 bytes$", n["reason"])  # random bytes: no format
    assert n["comparison"]["comparator"] == "bytes" and n["comparison"]["equivalent"] is False
    assert n["output_hash_replayed"] != n["output_hash_live"]
    # the downstream step was given the replayed bytes, not the live ones
    assert d["outcome"] == "input-differs" and d["ok"] is False
    assert d["input_hash_replayed"] == input_hash_of([n["output_hash_replayed"]]) != s_down.input_hash
    assert blob(reg, d["output_hash_replayed"]) == blob(reg, n["output_hash_replayed"]) + b"D"
    assert report.exit_code == 1 and not report.ok and report.status == "differs"
    assert reg.get_run(report.run_id).status == "differs"


def test_identical_output_from_differing_inputs_counts_as_reproduced(rec, reg, tmp_path):
    noise = rec.random()
    const = rec.shell("import sys; open(sys.argv[-1], 'w').write('constant')", [noise], "const.txt")
    report = rerun_artifact(const, registry=reg, out=tmp_path / "m")
    entry = rec.by_step(report)[rec.step(const).step_id]
    assert entry["reason"] == "reproduced: output identical although inputs differ"
    assert entry["ok"] is True and entry["outcome"] == "reproduced"
    assert entry["input_hash_replayed"] != entry["input_hash"]
    assert report.exit_code == 1  # the noise step itself still differs


def test_strict_aborts_at_the_first_input_that_differs(rec, reg, tmp_path):
    noise = rec.random()
    d1 = rec.tagged("1", [noise])
    d2 = rec.tagged("2", [d1])
    d3 = rec.tagged("3", [d2])

    report = rerun_artifact(d3, registry=reg, strict=True, out=tmp_path / "m")

    steps = rec.by_step(report)
    assert steps[rec.step(noise).step_id]["outcome"] == "output-differs"
    first = steps[rec.step(d1).step_id]
    assert first["outcome"] == "input-differs" and first["reason"].endswith("(aborted by --strict)")
    assert first["output_hash_replayed"] is None  # it was not run
    for later in (d2, d3):
        assert steps[rec.step(later).step_id]["reason"] == "skipped: aborted by --strict"
        assert steps[rec.step(later).step_id]["ok"] is False
    assert report.status == "aborted" and report.exit_code == 3
    assert reg.get_run(report.run_id).status == "aborted"
    assert json.loads(report.manifest_path.read_text())["status"] == "aborted"


def test_diff_gives_first_differing_byte_and_unified_diff_for_text(rec, reg, tmp_path):
    ext = tmp_path / "ext.txt"
    ext.write_text("line1\nline2\nline3\n")
    art = rec.external(ext)
    ext.write_text("line1\nlineX\nline3\n")  # differs at byte 10

    report = rerun_artifact(art, registry=reg, diff=True, out=tmp_path / "m")

    (entry,) = report.manifest["steps"]
    assert entry["outcome"] == "output-differs"
    assert entry["reason"] == "output-differs: content differs: 1 line(s) in 1 place(s), first at line 2"
    assert entry["comparison"]["differences"] == [{"where": "line 2", "kind": "content", "detail": "column 5: 'line2' → 'lineX'"}]
    d = entry["diff"]
    assert d["first_difference_offset"] == 10
    assert d["size_live"] == d["size_replayed"] == 18
    assert d["replayed_blob"] == entry["output_hash_replayed"]
    assert "--- live/ext.txt" in d["unified"] and "+++ replayed/ext.txt" in d["unified"]
    assert "-line2\n" in d["unified"] and "+lineX\n" in d["unified"] and "-line1" not in d["unified"]


def test_diff_of_binary_output_has_offset_but_no_unified_diff(rec, reg, tmp_path):
    ext = tmp_path / "ext.bin"
    ext.write_bytes(b"\xff\xfe\x00abc")
    art = rec.external(ext, output="ext.bin")
    ext.write_bytes(b"\xff\xfe\x00abcdef")  # a longer output: differs where the live one ends

    (entry,) = rerun_artifact(art, registry=reg, diff=True, out=tmp_path / "m").manifest["steps"]
    assert entry["diff"]["first_difference_offset"] == 6
    assert (entry["diff"]["size_live"], entry["diff"]["size_replayed"]) == (6, 9)
    assert "unified" not in entry["diff"]


def test_without_diff_option_no_diff_is_computed(rec, reg, tmp_path):
    ext = tmp_path / "ext.txt"
    ext.write_text("one\n")
    art = rec.external(ext)
    ext.write_text("two\n")
    (entry,) = rerun_artifact(art, registry=reg, out=tmp_path / "m").manifest["steps"]
    assert entry["outcome"] == "output-differs" and "diff" not in entry


# -- failures -------------------------------------------------------------------------


def test_failing_step_is_failed_dependents_skipped_other_branches_run(rec, reg, tmp_path):
    flag = tmp_path / "flag"
    raw = rec.source("r")
    bad = rec.fails_when_flagged(flag, [raw])
    after_bad = rec.tagged("AB", [bad])
    good = rec.tagged("G", [raw])
    final = rec.tagged("F", [after_bad, good])
    flag.touch()

    report = rerun_artifact(final, registry=reg, out=tmp_path / "m")

    steps = rec.by_step(report)
    failed = steps[rec.step(bad).step_id]
    assert failed["reason"] == "failed: exit 3: warming up | the flag is up"
    assert failed["ok"] is False and failed["output_hash_replayed"] is None
    assert steps[rec.step(after_bad).step_id]["reason"] == "skipped: upstream failed"
    assert steps[rec.step(final).step_id]["reason"] == "skipped: upstream failed"
    assert steps[rec.step(good).step_id]["reason"] == "reproduced"
    assert report.exit_code == 1 and report.status == "failed"
    assert report.manifest["summary"] == {"failed": 1, "reproduced": 1, "skipped": 2}


def test_handler_raising_a_plain_exception_fails_its_step_not_the_run(rec, reg, tmp_path):
    raw = rec.source("r")
    flaky = rec.opaque("lab.flaky", [raw])
    after = rec.tagged("A", [flaky])
    good = rec.tagged("G", [raw])
    final = rec.tagged("F", [after, good])

    report = rerun_artifact(final, registry=reg, handlers=handlers_with(Flaky()), out=tmp_path / "m")

    steps = rec.by_step(report)
    assert steps[rec.step(flaky).step_id]["reason"] == "failed: RuntimeError: sensor offline"
    assert steps[rec.step(after).step_id]["reason"] == "skipped: upstream failed"
    assert steps[rec.step(good).step_id]["reason"] == "reproduced"
    assert report.exit_code == 1 and reg.get_run(report.run_id).status == "failed"


@pytest.mark.parametrize(
    "executor",
    [
        "kernel",
        "subprocess",
    ],
)
def test_a_handler_bug_reads_the_same_whichever_executor_ran_it(rec, reg, funcs, tmp_path, executor):
    broken = rec.opaque("lab.broken", [rec.source("r")])
    report = rerun_artifact(broken, registry=reg, handlers=handlers_with(funcs.Broken()), executor=executor, out=tmp_path / "m")
    assert [s["reason"] for s in report.manifest["steps"]] == ["failed: RuntimeError: sensor offline"]


def test_unreplayable_step_is_reported_and_downstream_replays_from_its_live_output(rec, reg, tmp_path):
    raw = rec.source("r")
    meas = rec.opaque("lab.instrument", [raw], data=b"42")
    out = rec.tagged("U", [meas])

    report = rerun_artifact(out, registry=reg, out=tmp_path / "m")

    steps = rec.by_step(report)
    inst = steps[rec.step(meas).step_id]
    assert inst["reason"] == "unreplayable: no handler for step_type lab.instrument"
    assert inst["ok"] is False and inst["output_hash_replayed"] is None
    used = steps[rec.step(out).step_id]
    assert used["reason"] == "reproduced"
    assert used["input_hash_replayed"] == used["input_hash"]
    assert report.exit_code == 1 and not report.ok


def test_third_party_handler_passed_in_replays_its_step_type(rec, reg, tmp_path):
    meas = rec.opaque("lab.instrument", [rec.source("r")], data=b"42")
    out = rec.tagged("U", [meas])
    report = rerun_artifact(out, registry=reg, handlers=handlers_with(Instrument(b"42")), out=tmp_path / "m")
    assert report.manifest["summary"] == {"reproduced": 2} and report.exit_code == 0


def test_a_handler_registry_without_shell_makes_shell_steps_unreplayable(rec, reg, tmp_path):
    a = rec.tagged("A", [rec.source("r")])
    hr = HandlerRegistry()
    hr.register(CopyHandler())
    (entry,) = rerun_artifact(a, registry=reg, handlers=hr, out=tmp_path / "m").manifest["steps"]
    assert entry["reason"] == "unreplayable: no handler for step_type shell"


# -- --from ----------------------------------------------------------------------------


def test_from_last_step_freezes_upstream_and_replays_from_live_outputs(rec, reg, tmp_path):
    noise = rec.random()  # would differ if it ran
    mid = rec.tagged("M", [noise])
    last = rec.tagged("L", [mid])
    s_last = rec.step(last)

    report = rerun_artifact(last, registry=reg, from_step=s_last.step_id, out=tmp_path / "m")

    steps = rec.by_step(report)
    for frozen in (noise, mid):
        entry = steps[rec.step(frozen).step_id]
        assert entry["reason"] == "frozen: before --from" and entry["ok"] is None
        assert entry["output_hash_replayed"] is None
    assert steps[s_last.step_id]["reason"] == "reproduced"
    assert report.manifest["from_step"] == s_last.step_id
    assert report.exit_code == 0 and report.ok and report.status == "reproduced"
    stored = {r.step_id: r.ok for r in reg.results(report.run_id)}
    assert stored[rec.step(noise).step_id] is None and stored[s_last.step_id] is True


def test_from_a_step_outside_the_chain_is_bad_input_and_creates_no_run(rec, reg, tmp_path):
    a = rec.tagged("A", [rec.source("r")])
    other = rec.tagged("O", [rec.source("o")])
    with pytest.raises(BadInput, match=rec.step(other).step_id):
        rerun_artifact(a, registry=reg, from_step=rec.step(other).step_id, out=tmp_path / "m")
    assert run_count(reg) == 0


# -- inputs are frozen and the store is never written over ---------------------------


def _flip_first_byte(path):
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    os.chmod(path, 0o444)


def _corrupt_chain(rec, reg, funcs, log):
    """raw -> a -> b (python.call steps that log each execution), then raw's blob is damaged."""
    raw = rec.source("raw bytes")
    a = rec.call(funcs.concat, [raw], "a.txt", tag="A", log=str(log))
    b = rec.call(funcs.concat, [a], "b.txt", tag="B", log=str(log))
    log.write_text("")
    _flip_first_byte(reg.store.path(reg.get_artifact(raw).content_hash))
    return raw, a, b


def test_corrupted_input_blob_is_never_given_to_the_step(rec, reg, funcs, tmp_path):
    log = tmp_path / "executions.log"
    raw, a, b = _corrupt_chain(rec, reg, funcs, log)

    report = rerun_artifact(b, registry=reg, out=tmp_path / "m")

    steps = rec.by_step(report)
    first = steps[rec.step(a).step_id]
    assert first["ok"] is False and first["output_hash_replayed"] is None, first["reason"]
    assert raw in first["reason"]
    assert steps[rec.step(b).step_id]["reason"] == "skipped: upstream failed"
    assert log.read_text() == ""  # the corrupt bytes never reached a step
    assert report.exit_code == 1 and report.status == "failed"
    assert first["outcome"] == "input-differs" and "do not match" in first["reason"]


def test_corrupted_input_blob_aborts_a_strict_replay_with_exit_3(rec, reg, funcs, tmp_path):
    log = tmp_path / "executions.log"
    raw, a, b = _corrupt_chain(rec, reg, funcs, log)

    report = rerun_artifact(b, registry=reg, strict=True, out=tmp_path / "m")

    assert report.status == "aborted" and report.exit_code == 3
    steps = rec.by_step(report)
    assert steps[rec.step(a).step_id]["reason"].endswith("(aborted by --strict)")
    assert steps[rec.step(b).step_id]["reason"] == "skipped: aborted by --strict"
    assert log.read_text() == ""


def test_replay_never_modifies_a_live_blob(rec, reg, tmp_path):
    raw = rec.source("r")
    noise = rec.random()
    down = rec.tagged("D", [noise, raw])
    before = rec.blob_hashes()
    live = {x: reg.get_artifact(x).content_hash for x in (raw, noise, down)}

    report = rerun_artifact(down, registry=reg, diff=True, out=tmp_path / "m")

    assert report.exit_code == 1
    after = rec.blob_hashes()
    assert {p: after.get(p) for p in before} == before
    assert len(after) > len(before)  # the replayed bytes went in under their own hash
    assert {x: reg.get_artifact(x).content_hash for x in live} == live
    assert all(reg.store.verify(d) for d in live.values())


def test_a_reproduced_output_is_only_hashed_never_written_to_the_store(rec, reg, tmp_path, monkeypatch):
    from scidex_replay.store import BlobStore

    down = rec.tagged("D", [rec.tagged("U", [rec.source("r")])])
    noise = rec.random()
    writes: list[str] = []
    real_put = BlobStore._put
    monkeypatch.setattr(BlobStore, "_put", lambda self, stream, *a: writes.append("put") or real_put(self, stream, *a))

    assert rerun_artifact(down, registry=reg, out=tmp_path / "a").ok
    assert writes == []  # both outputs reproduced: their bytes are stored already
    assert rerun_artifact(noise, registry=reg, out=tmp_path / "b").exit_code == 1
    assert writes == ["put"]  # new bytes are stored


def test_input_hash_is_checked_before_the_step_runs(rec, reg, funcs, tmp_path):
    raw = rec.source("original")
    out = rec.call(funcs.copy_then_tamper, [raw], "copy.txt")
    s = rec.step(out)

    (entry,) = rerun_artifact(out, registry=reg, out=tmp_path / "m").manifest["steps"]

    assert entry["reason"] == "reproduced"
    assert entry["input_hash_replayed"] == s.input_hash == input_hash_of([reg.get_artifact(raw).content_hash])
    assert reg.store.verify(reg.get_artifact(raw).content_hash)


# -- bad requests -----------------------------------------------------------------------


def test_replaying_a_source_artifact_raises_chain_not_found(rec, reg, tmp_path):
    raw = rec.source("r")
    with pytest.raises(ChainNotFound, match=raw):
        rerun_artifact(raw, registry=reg, out=tmp_path / "m")
    assert run_count(reg) == 0


def test_unknown_artifact_id_raises_not_found(reg, tmp_path):
    with pytest.raises(NotFound, match="a_nonexist"):
        rerun_artifact("a_nonexist", registry=reg, out=tmp_path / "m")


@pytest.mark.parametrize("executor", ["bogus"])  # dask without dask installed: tests/executors/test_dask.py
def test_unavailable_executor_is_bad_input_before_any_run(rec, reg, tmp_path, executor):
    a = rec.tagged("A", [rec.source("r")])
    with pytest.raises(BadInput, match=executor):
        rerun_artifact(a, registry=reg, executor=executor, out=tmp_path / "m")
    assert run_count(reg) == 0
