"""Ids become paths (a step's scratch directory, a pinned venv, ``--out DIR/STEP``): an id edited
into the registry to leave its directory is refused, one line and exit 2, before anything runs."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest

from scidex_replay.env import current_environment
from scidex_replay.env.pinned import ensure_pinned
from scidex_replay.errors import BadInput
from scidex_replay.registry.records import Environment
from scidex_replay.replay import plan_replay, rerun_artifact

pytestmark = pytest.mark.sqlite_only(reason="edits ids in the SQLite file, whose foreign keys are not enforced outside the registry")


def _edit(db_url: str, sql: str, **values: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(sql), values)
    engine.dispose()


def _rename_step(db_url: str, old: str, new: str) -> None:
    for table, column in (("step_inputs", "step_id"), ("step_inputs", "producer_step_id"), ("step_outputs", "step_id"),
                          ("processing_steps", "step_id")):
        _edit(db_url, f"UPDATE {table} SET {column} = :new WHERE {column} = :old", old=old, new=new)


def test_a_crafted_step_id_is_refused_and_never_becomes_a_path(rec, reg, cli, db_url):
    out = rec.tagged("a")
    escaped = f"scidex-escaped-{uuid.uuid4().hex[:8]}"
    _rename_step(db_url, rec.step(out).step_id, f"../{escaped}")
    outside = Path(tempfile.gettempdir()) / escaped
    try:
        with pytest.raises(BadInput, match="step id '../scidex-escaped-.*' is not a valid id"):
            rerun_artifact(out, registry=reg)
        with pytest.raises(BadInput):
            plan_replay(reg, out)
        proc = cli("rerun-artifact", out, "--out", Path(tempfile.mkdtemp()) / "o")
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "not a valid id" in proc.stderr, proc.stderr
        assert not outside.exists()
    finally:
        if outside.exists():
            import shutil

            shutil.rmtree(outside)


def test_a_crafted_env_hash_is_refused_before_it_names_a_venv(rec, reg, db_url, tmp_path):
    out = rec.tagged("a")
    _edit(db_url, "UPDATE processing_steps SET env_hash = :h", h="../../../escaped")
    with pytest.raises(BadInput, match="env_hash of step .* is not a sha256 hex digest"):
        rerun_artifact(out, registry=reg)
    live = current_environment()
    crafted = "../../escaped-xx"  # <home>/envs/<env_hash[:16]> would be tmp_path/escaped-xx
    pin = ensure_pinned(Environment(crafted, live.python, live.platform, "six==1.16.0\n"), tmp_path / "pins")
    assert pin.python is None and "not a sha256 hex digest" in pin.note
    assert not (tmp_path / "pins").exists() and not (tmp_path / "escaped-xx").exists()
