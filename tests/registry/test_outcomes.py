"""Outcomes are values: each is stored in its own column and read back as it was written
(SQLite and PostgreSQL), and revision 0003 backfills them from the first wave's reason strings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from scidex_replay.outcomes import Outcome, Status, is_ok, status_of
from scidex_replay.registry import Registry, input_hash_of, migrate
from scidex_replay.registry.records import StepResult

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
DETAILS = {
    Outcome.REPRODUCED: "",
    Outcome.EQUIVALENT: "equivalent: only metadata differs (docProps/core.xml)",
    Outcome.OUTPUT_DIFFERS: "replayed 1a2b, recorded 3c4d (first difference at byte 10)",
    Outcome.INPUT_DIFFERS: "inputs hash to 9f, recorded 8e (aborted by --strict)",
    Outcome.FAILED: "exit 1: boom: it broke",
    Outcome.UNREPLAYABLE: "no handler for step_type lab.x",
    Outcome.SKIPPED: "upstream failed",
    Outcome.FROZEN: "before --from",
    Outcome.REUSED: "run r_00000001",
    Outcome.FORKED: "differs from live (expected)",
}


def _chain(registry: Registry, n: int) -> list[str]:
    """``n`` steps, each on the previous one's output; their step ids."""
    current = registry.add_artifact(b"raw\n", name="raw.txt").id
    ids = []
    for i in range(n):
        digest = registry.get_artifact(current).content_hash
        step, art = registry.record_step(
            step_type="shell", method=f"step {i}", parameters={}, sources=[current], output=f"{i}\n".encode(),
            input_hash=input_hash_of([digest]), env=None, started_at=T0, completed_at=T0 + timedelta(seconds=1),
        )
        ids.append(step.step_id)
        current = art.id
    return ids


def test_every_outcome_round_trips_through_its_own_column(registry: Registry):
    step_ids = _chain(registry, len(Outcome))
    last = registry.get_step(step_ids[-1]).target_artifact_id
    run = registry.create_run(target_artifact_id=last, kind="replay", options={})
    written = [
        StepResult(step_id, position, outcome, is_ok(outcome), DETAILS[outcome], duration_s=0.5)
        for position, (step_id, outcome) in enumerate(zip(step_ids, Outcome))
    ]
    status = status_of((r.outcome, r.ok) for r in written)
    finished = registry.finish_run(run.run_id, status=status, results=written, manifest={})

    assert registry.results(run.run_id) == written
    assert finished.status is Status.FAILED and registry.get_run(run.run_id).status is Status.FAILED
    frozen = next(r for r in registry.results(run.run_id) if r.outcome is Outcome.FROZEN)
    assert frozen.ok is None and frozen.reason == "frozen: before --from"
    with registry.engine.connect() as conn:  # the reason column holds the words only
        stored = dict(conn.execute(text("SELECT outcome, reason FROM replay_results")).all())
    assert stored == {o.value: DETAILS[o] for o in Outcome}


@pytest.mark.parametrize(
    "outcomes, aborted, status",
    [
        ([Outcome.REPRODUCED, Outcome.FROZEN, Outcome.REUSED], False, Status.REPRODUCED),
        ([Outcome.REPRODUCED, Outcome.OUTPUT_DIFFERS], False, Status.DIFFERS),
        ([Outcome.INPUT_DIFFERS, Outcome.REPRODUCED], False, Status.DIFFERS),
        ([Outcome.OUTPUT_DIFFERS, Outcome.FAILED], False, Status.FAILED),
        ([Outcome.REPRODUCED, Outcome.UNREPLAYABLE], False, Status.FAILED),
        ([Outcome.INPUT_DIFFERS, Outcome.SKIPPED], True, Status.ABORTED),
        ([Outcome.FORKED, Outcome.FROZEN], False, Status.REPRODUCED),
        ([Outcome.REPRODUCED, Outcome.EQUIVALENT], False, Status.DIFFERS),
    ],
)
def test_a_run_status_follows_from_its_outcomes(outcomes, aborted, status):
    assert status_of(((o, is_ok(o)) for o in outcomes), aborted=aborted) is status


def test_an_accepted_equivalent_step_is_ok_and_its_run_reproduced():
    assert is_ok(Outcome.EQUIVALENT) is False
    assert is_ok(Outcome.EQUIVALENT, {Outcome.EQUIVALENT}) is True
    accepted = [(Outcome.REPRODUCED, True), (Outcome.EQUIVALENT, is_ok(Outcome.EQUIVALENT, {Outcome.EQUIVALENT}))]
    assert status_of(accepted) is Status.REPRODUCED


# -- revision 0003 ------------------------------------------------------------------

# The reasons revision 0002 stored, one per outcome, as the first wave's engine wrote them.
LEGACY = [
    ("reproduced", "reproduced", ""),
    ("reproduced: output identical although inputs differ", "reproduced", "output identical although inputs differ"),
    ("output-differs: replayed 1a2b, recorded 3c4d (first difference at byte 10)", "output-differs",
     "replayed 1a2b, recorded 3c4d (first difference at byte 10)"),
    ("input-differs: inputs hash to 9f, recorded 8e (aborted by --strict)", "input-differs",
     "inputs hash to 9f, recorded 8e (aborted by --strict)"),
    ("failed: exit 1: boom", "failed", "exit 1: boom"),
    ("unreplayable: no handler for step_type lab.x", "unreplayable", "no handler for step_type lab.x"),
    ("skipped: aborted by --strict", "skipped", "aborted by --strict"),
    ("frozen: before --from", "frozen", "before --from"),
    ("reused: run r_00000001", "reused", "run r_00000001"),
    ("forked: identical to live", "forked", "identical to live"),
]


def _upgrade(engine, revision: str) -> None:
    cfg = migrate.alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_revision_0003_backfills_outcomes_words_ok_and_run_statuses(empty_db_url: str):
    engine = create_engine(empty_db_url)
    try:
        _upgrade(engine, "0002")
        with engine.begin() as conn:
            for n, (reason, _, _) in enumerate(LEGACY):
                conn.execute(text(
                    "INSERT INTO artifacts (id, content_hash, size, kind, name, created_at, metadata) "
                    "VALUES (:a, :h, 1, 'text', 'x', :t, '{}')"
                ), {"a": f"a_{n}", "h": "0" * 64, "t": T0})
                conn.execute(text(
                    "INSERT INTO processing_steps (step_id, step_type, method, parameters, target_artifact_id, "
                    "input_hash, output_hash, started_at, completed_at) "
                    "VALUES (:s, 'shell', 'm', '{}', :a, :h, :h, :t, :t)"
                ), {"s": f"s_{n}", "a": f"a_{n}", "h": "0" * 64, "t": T0})
            # r_ok reproduced; r_diff had only differing outputs; r_fail had a step that could not run.
            runs = {"r_ok": ("succeeded", [0, 1, 7, 8]), "r_diff": ("failed", [0, 2, 3]), "r_fail": ("failed", [2, 4, 5])}
            for run_id, (status, rows) in runs.items():
                conn.execute(text(
                    "INSERT INTO replay_runs (run_id, target_artifact_id, kind, options, status, started_at) "
                    "VALUES (:r, 'a_0', 'replay', '{}', :st, :t)"
                ), {"r": run_id, "st": status, "t": T0})
                for n in rows:
                    conn.execute(text(
                        "INSERT INTO replay_results (run_id, step_id, position, ok, reason, duration_s) "
                        "VALUES (:r, :s, :p, :ok, :reason, 0.1)"
                    ), {"r": run_id, "s": f"s_{n}", "p": n, "ok": n in (0, 1, 8, 9), "reason": LEGACY[n][0]})
            conn.execute(text(
                "INSERT INTO replay_runs (run_id, target_artifact_id, kind, options, status, started_at) "
                "VALUES ('r_all', 'a_0', 'replay', '{}', 'failed', :t)"
            ), {"t": T0})
            for n, (reason, _, _) in enumerate(LEGACY):
                conn.execute(text(
                    "INSERT INTO replay_results (run_id, step_id, position, ok, reason, duration_s) "
                    "VALUES ('r_all', :s, :p, false, :reason, 0.1)"
                ), {"s": f"s_{n}", "p": n, "reason": reason})

        _upgrade(engine, "head")

        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT step_id, outcome, reason, ok FROM replay_results WHERE run_id = 'r_all' ORDER BY position"
            )).all()
            statuses = dict(conn.execute(text("SELECT run_id, status FROM replay_runs")).all())
        assert [(o, words) for _, o, words, _ in rows] == [(o, words) for _, o, words in LEGACY]
        assert [ok for *_, ok in rows] == [None if o == "frozen" else False for _, o, _ in LEGACY]
        assert statuses == {"r_ok": "reproduced", "r_diff": "differs", "r_fail": "failed", "r_all": "failed"}
    finally:
        engine.dispose()


def test_a_registry_upgraded_from_0002_reads_results_as_values(empty_db_url: str, tmp_path):
    engine = create_engine(empty_db_url)
    _upgrade(engine, "0002")
    engine.dispose()
    with Registry.open(empty_db_url, home=tmp_path) as registry:  # opening upgrades to head
        assert migrate.current_revision(registry.engine) == migrate.HEAD
        step_ids = _chain(registry, 1)
        run = registry.create_run(target_artifact_id=registry.get_step(step_ids[0]).target_artifact_id, kind="replay", options={})
        result = StepResult(step_ids[0], 0, Outcome.OUTPUT_DIFFERS, False, "replayed 1, recorded 2")
        registry.finish_run(run.run_id, status=Status.DIFFERS, results=[result], manifest={})
        assert registry.results(run.run_id) == [result]
