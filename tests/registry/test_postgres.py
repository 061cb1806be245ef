"""The same registry and engine code on PostgreSQL (no SQLite-only SQL)."""

from __future__ import annotations

import pytest

from scidex_replay.errors import BadInput
from scidex_replay.recording import record_call
from scidex_replay.registry import Registry
from scidex_replay.replay import rerun_artifact

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_registry(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("SCIDEX_REPLAY_HOME", str(tmp_path / "home"))
    reg = Registry.open(pg_url, home=tmp_path / "home")
    yield reg
    reg.close()


def test_schema_is_created_by_alembic_and_reopening_is_a_no_op(pg_registry, pg_url, tmp_path):
    from scidex_replay.registry.migrate import HEAD, current_revision

    assert current_revision(pg_registry.engine) == HEAD
    again = Registry.open(pg_url, home=tmp_path / "home")
    assert current_revision(again.engine) == HEAD
    again.close()


def test_artifacts_steps_and_a_diamond_chain_round_trip(pg_registry):
    import _steps

    raw = pg_registry.add_artifact(b"1,2\n3,4\n", name="raw.csv")
    assert pg_registry.add_artifact(b"1,2\n3,4\n", name="raw.csv").id == raw.id
    left = record_call(pg_registry, _steps.shout, inputs=[raw.id], output="left.csv")
    right = record_call(pg_registry, _steps.reverse, inputs=[raw.id], output="right.csv")
    top = record_call(pg_registry, _steps.shout, inputs=[left.id, right.id], output="top.csv")
    steps = pg_registry.chain(top.id)
    assert len(steps) == 3 and len({s.step_id for s in steps}) == 3
    top_step = next(s for s in steps if s.target_artifact_id == top.id)
    assert top_step.source_artifact_ids == (left.id, right.id)
    assert top_step.started_at.tzinfo is not None
    assert dict(pg_registry.step_types()) == {"python.call": 3}


def test_replay_restart_and_reuse_on_postgres(pg_registry):
    import _steps

    raw = pg_registry.add_artifact(b"a\n", name="a.txt")
    mid = record_call(pg_registry, _steps.shout, inputs=[raw.id], output="mid.txt")
    top = record_call(pg_registry, _steps.reverse, inputs=[mid.id], output="top.txt")
    first = rerun_artifact(top.id, registry=pg_registry)
    assert first.ok and first.manifest["summary"] == {"reproduced": 2}
    restart = rerun_artifact(top.id, registry=pg_registry, restart=first.run_id)
    assert restart.manifest["summary"] == {"reused": 2}
    assert [r.reused_from_run for r in pg_registry.results(restart.run_id)] == [first.run_id] * 2
    with pytest.raises(BadInput):
        rerun_artifact(top.id, registry=pg_registry, from_step="s_notthere")
