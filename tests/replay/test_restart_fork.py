"""Restart and fork with replay reuse, and lineage in every view (issue 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scidex_replay.errors import BadInput
from scidex_replay.recording import record_call
from scidex_replay.registry import Registry
from scidex_replay.replay import rerun_artifact
from scidex_replay.surfaces.cli import main

HERE = Path(__file__).parent


@pytest.fixture
def chain(home, tmp_path, monkeypatch):
    """A 10-step python.call chain; returns (registry, target id, step ids, log path, fault path)."""
    monkeypatch.syspath_prepend(str(HERE))
    log, fault = tmp_path / "log.txt", tmp_path / "fault.txt"
    monkeypatch.setenv("CHAIN_LOG", str(log))
    monkeypatch.setenv("CHAIN_FAULT", str(fault))
    import _chain_funcs

    reg = Registry.open()
    current = reg.add_artifact(b"start\n", name="start.txt").id
    for k in range(1, 11):
        current = record_call(reg, _chain_funcs.bump, inputs=[current], output=f"s{k}.txt", env=["CHAIN_LOG", "CHAIN_FAULT"], k=k, suffix="").id
    steps = [row["step_id"] for row in _chain_json(current)]
    log.write_text("")
    yield reg, current, steps, log, fault
    reg.close()


def _chain_json(artifact_id):
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["chain", artifact_id, "--json"]) == 0
    return json.loads(buf.getvalue())


def _executed(log: Path) -> list[int]:
    ks = [int(x) for x in log.read_text().split()]
    log.write_text("")
    return ks


def _blobs(reg: Registry) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in reg.store.root.glob("??/*")}


def test_restart_after_a_fault_reuses_steps_1_to_6_and_executes_7_to_10(chain):
    reg, target, steps, log, fault = chain
    fault.write_text("7")
    failed = rerun_artifact(target, registry=reg)
    assert failed.status == "failed" and failed.exit_code == 1
    assert _executed(log) == [1, 2, 3, 4, 5, 6, 7]
    outcomes = [s["outcome"] for s in failed.manifest["steps"]]
    assert outcomes == ["reproduced"] * 6 + ["failed"] + ["skipped"] * 3
    assert "injected fault at step 7" in failed.manifest["steps"][6]["reason"]

    fault.unlink()
    restart = rerun_artifact(target, registry=reg, restart=failed.run_id)
    assert restart.ok and restart.exit_code == 0
    assert _executed(log) == [7, 8, 9, 10]
    m = restart.manifest
    assert m["kind"] == "restart" and m["parent_run_id"] == failed.run_id
    assert [s["reused_from_run"] for s in m["steps"][:6]] == [failed.run_id] * 6
    assert all(s["outcome"] == "reused" and s["ok"] for s in m["steps"][:6])
    assert [s["outcome"] for s in m["steps"][6:]] == ["reproduced"] * 4
    df = restart.to_dataframe()
    assert list(df["reused_from_run"].iloc[:6]) == [failed.run_id] * 6

    again = rerun_artifact(target, registry=reg, restart=restart.run_id)
    assert _executed(log) == []
    origins = [s["reused_from_run"] for s in again.manifest["steps"]]
    assert origins == [failed.run_id] * 6 + [restart.run_id] * 4, "reuse names the run that executed the step"


def test_restart_with_reuse_none_executes_everything(chain):
    reg, target, steps, log, fault = chain
    first = rerun_artifact(target, registry=reg)
    _executed(log)
    rerun_artifact(target, registry=reg, restart=first.run_id, reuse="none")
    assert _executed(log) == list(range(1, 11))


def test_plain_replays_do_not_reuse_but_reuse_all_does(chain):
    reg, target, steps, log, fault = chain
    rerun_artifact(target, registry=reg)
    _executed(log)
    rerun_artifact(target, registry=reg)
    assert _executed(log) == list(range(1, 11))
    other = rerun_artifact(target, registry=reg)
    _executed(log)
    restart = rerun_artifact(target, registry=reg, restart=other.run_id, reuse="all")
    assert _executed(log) == []
    assert all(s["outcome"] == "reused" for s in restart.manifest["steps"])


def test_interrupted_run_is_marked_and_resumable(chain):
    reg, target, steps, log, fault = chain
    fault.write_text("3")
    fault.with_suffix(".kind").write_text("interrupt")
    with pytest.raises(KeyboardInterrupt):
        rerun_artifact(target, registry=reg)
    run = reg.runs(target)[-1]
    assert run.status == "interrupted"
    assert [r.reason for r in reg.results(run.run_id)] == ["reproduced", "reproduced"]
    assert not list((reg.store.root / "tmp").glob("*")), "no partial blob is left behind"
    _executed(log)
    fault.unlink()
    resumed = rerun_artifact(target, registry=reg, restart=run.run_id)
    assert resumed.ok
    assert _executed(log) == list(range(3, 11))


def test_fork_of_step_5_executes_5_to_10_only_and_leaves_live_artifacts_unchanged(chain):
    reg, target, steps, log, fault = chain
    before = _blobs(reg)
    live_chain = _chain_json(target)
    fork = rerun_artifact(target, registry=reg, fork=True, set_params={steps[4]: {"suffix": "-forked"}})
    assert _executed(log) == [5, 6, 7, 8, 9, 10]
    m = fork.manifest
    assert m["kind"] == "fork" and fork.ok and fork.exit_code == 0
    assert [s["outcome"] for s in m["steps"][:4]] == ["frozen"] * 4
    assert all(s["outcome"] == "forked" and "differs from live (expected)" in s["reason"] for s in m["steps"][4:])
    after = _blobs(reg)
    assert all(after[name] == data for name, data in before.items()), "live bytes are never rewritten"
    assert _chain_json(target) == live_chain
    new_target = m["steps"][-1]["forked_artifact_id"]
    assert new_target and new_target != target
    art = reg.get_artifact(new_target)
    assert art.metadata["forked_from"] == target and art.metadata["fork_run"] == fork.run_id
    forked_chain = _chain_json(new_target)
    assert [s["parameters"]["suffix"] for s in forked_chain][4] == "-forked"
    assert reg.store.path(art.content_hash).read_text().endswith("5-forked\n6\n7\n8\n9\n10\n")


def test_fork_reuses_unchanged_upstream_steps_that_an_earlier_run_reproduced(chain):
    reg, target, steps, log, fault = chain
    replay = rerun_artifact(target, registry=reg)
    _executed(log)
    fork = rerun_artifact(target, registry=reg, fork=True, set_params={steps[4]: {"suffix": "x"}})
    assert _executed(log) == [5, 6, 7, 8, 9, 10]
    assert [s["reused_from_run"] for s in fork.manifest["steps"][:4]] == [replay.run_id] * 4


def test_fork_with_a_swapped_input(chain, tmp_path):
    reg, target, steps, log, fault = chain
    new_input = tmp_path / "other.txt"
    new_input.write_text("other\n")
    fork = rerun_artifact(target, registry=reg, fork=True, input_overrides={steps[0]: str(new_input)})
    assert _executed(log) == list(range(1, 11))
    art = reg.get_artifact(fork.manifest["steps"][-1]["forked_artifact_id"])
    assert reg.store.path(art.content_hash).read_text().startswith("other\n1\n")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fork": True, "set_params": {"s_nope": {"k": 1}}}, "no such step"),
        ({"fork": True, "set_params": {"STEP0": {"nope": 1}}}, "has no parameter 'nope'"),
        ({"set_params": {"STEP0": {"k": 1}}}, "add --fork"),
        ({"fork": True}, "--fork needs"),
        ({"restart": "r_nope0000"}, "unknown run id"),
        ({"reuse": "sometimes"}, "--reuse sometimes"),
        ({"fork": True, "input_overrides": {"STEP0:5": "x"}}, "no such input"),
    ],
)
def test_bad_restart_and_fork_arguments_are_rejected_before_any_run(chain, kwargs, message):
    reg, target, steps, log, fault = chain
    kwargs = json.loads(json.dumps(kwargs).replace("STEP0", steps[0]))
    with pytest.raises(BadInput, match=message):
        rerun_artifact(target, registry=reg, **kwargs)
    assert reg.runs() == [] and _executed(log) == []


def test_restart_of_a_run_of_another_artifact_is_rejected(chain):
    reg, target, steps, log, fault = chain
    first = rerun_artifact(target, registry=reg)
    other = reg.producing_step(target).source_artifact_ids[0]
    with pytest.raises(BadInput, match="not"):
        rerun_artifact(other, registry=reg, restart=first.run_id)


def test_runs_show_prints_the_lineage_and_runs_lists_counts(chain, capsys):
    reg, target, steps, log, fault = chain
    fault.write_text("7")
    failed = rerun_artifact(target, registry=reg)
    fault.unlink()
    restart = rerun_artifact(target, registry=reg, restart=failed.run_id)
    capsys.readouterr()
    assert main(["runs", "show", restart.run_id]) == 0
    out = capsys.readouterr().out
    assert f"lineage: {restart.run_id} (restart) ← {failed.run_id} (replay)" in out
    assert main(["runs", target, "--json"]) == 0
    rows = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[restart.run_id]["parent_run_id"] == failed.run_id
    assert (rows[restart.run_id]["reused"], rows[restart.run_id]["executed"]) == (6, 4)
    assert (rows[failed.run_id]["executed"], rows[failed.run_id]["failed"]) == (7, 4)
    assert main(["runs"]) == 0
    tree = capsys.readouterr().out
    assert tree.index(failed.run_id) < tree.index(restart.run_id)


def test_cli_fork_and_restart_flags(chain, capsys):
    reg, target, steps, log, fault = chain
    assert main(["rerun-artifact", target, "--fork", "--set", f"{steps[8]}.suffix=\"!\"", "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["kind"] == "fork"
    assert [s["outcome"] for s in manifest["steps"]][-2:] == ["forked", "forked"]
    assert main(["rerun-artifact", target, "--fork", "--set", "bad"]) == 2
    assert "expected STEP.KEY=VALUE" in capsys.readouterr().err


def test_prov_export_has_the_chain_and_the_run_bundle(chain, capsys):
    reg, target, steps, log, fault = chain
    run = rerun_artifact(target, registry=reg)
    capsys.readouterr()
    assert main(["export", target, "--prov", "--run", run.run_id]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["activity"]) == {f"scidex:{s}" for s in steps}
    assert len(doc["wasGeneratedBy"]) == 10
    used = list(doc["used"].values())
    assert sum(u["prov:role"].startswith("in") for u in used) == 10, "every data input"
    code = [u for u in used if u["prov:role"] == "code"]
    assert len(code) == 10 and {u["scidex:module"] for u in code} == {"_chain_funcs"}, "each step's module source"
    bundle = doc["bundle"][f"scidex:{run.run_id}"]
    assert len(bundle["alternateOf"]) == 10, "every reproduced output is an alternate of its live entity"
    entity = doc["entity"][f"scidex:{target}"]
    assert entity["scidex:sha256"] == reg.get_artifact(target).content_hash


# -- the plan of a restart or a fork (what --dry-run prints) ---------------------------


def _actions(the_plan) -> list[str]:
    return [p.action for p in the_plan.steps]


def _counts(reg: Registry) -> tuple[int, int, int]:
    from sqlalchemy import text

    with reg.engine.connect() as conn:
        return tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in ("artifacts", "processing_steps", "replay_runs"))


def test_the_plan_of_a_fork_freezes_what_the_fork_leaves_unchanged(chain, tmp_path):
    from scidex_replay.replay import plan_replay

    reg, target, steps, log, fault = chain
    swapped = tmp_path / "other.txt"
    swapped.write_text("other\n")
    before = _counts(reg), _blobs(reg)
    by_set = plan_replay(reg, target, fork=True, set_params={steps[4]: {"suffix": "!"}})
    assert _actions(by_set) == ["frozen"] * 4 + ["execute"] * 6
    assert by_set.steps[0].reason == "frozen: unchanged by fork"
    by_input = plan_replay(reg, target, fork=True, input_overrides={steps[7]: str(swapped)})
    assert _actions(by_input) == ["frozen"] * 7 + ["execute"] * 3
    assert (_counts(reg), _blobs(reg)) == before  # a dry run writes nothing, not even the --input file
    assert _executed(log) == []
    with pytest.raises(BadInput, match="no such file"):
        plan_replay(reg, target, fork=True, input_overrides={steps[7]: str(tmp_path / "missing.txt")})
    with pytest.raises(BadInput, match="add --fork"):
        plan_replay(reg, target, set_params={steps[4]: {"suffix": "!"}})


def test_the_plan_of_a_restart_inherits_the_runs_from_and_fork(chain):
    from scidex_replay.replay import plan_replay

    reg, target, steps, log, fault = chain
    from_run = rerun_artifact(target, registry=reg, from_step=steps[7])
    assert _actions(plan_replay(reg, target, restart=from_run.run_id)) == ["frozen"] * 7 + ["execute"] * 3
    fork_run = rerun_artifact(target, registry=reg, fork=True, set_params={steps[8]: {"suffix": "?"}})
    assert _actions(plan_replay(reg, target, restart=fork_run.run_id)) == ["frozen"] * 8 + ["execute"] * 2
    with pytest.raises(BadInput, match="unknown run id|run id"):
        plan_replay(reg, target, restart="r_00000000")
