"""The chain walk: the fast UNION ALL path on tree-shaped ancestries, the UNION fallback on
diamonds and corrupt cycles, and migration 0002, which copies each input's producer."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, event, text

from scidex_replay.registry import Registry
from scidex_replay.registry import migrate
from scidex_replay.registry.registry import walk_step_ids
from test_registry import T0, step_from


def walks_run(reg: Registry, artifact_id: str) -> tuple[list[str], list[str]]:
    """``walk_step_ids`` and the kind of every recursive walk it sent ("UNION ALL" or "UNION")."""
    sent: list[str] = []

    def spy(conn, cursor, statement, *args):
        if "RECURSIVE" in statement.upper():
            sent.append("UNION ALL" if "UNION ALL" in statement.upper() else "UNION")

    event.listen(reg.engine, "before_cursor_execute", spy)
    try:
        with reg.engine.connect() as conn:
            ids = walk_step_ids(conn, artifact_id)
    finally:
        event.remove(reg.engine, "before_cursor_execute", spy)
    return ids, sent


def test_a_linear_chain_is_walked_once_without_the_duplicate_check(registry: Registry):
    art = registry.add_artifact(b"raw")
    expected = []
    for i in range(5):
        step, art = step_from(registry, [art.id], f"v{i}".encode())
        expected.append(step.step_id)
    ids, sent = walks_run(registry, art.id)
    assert sorted(ids) == sorted(expected)
    assert sent == ["UNION ALL"]


def test_a_diamond_falls_back_to_the_distinct_walk(registry: Registry):
    raw = registry.add_artifact(b"raw")
    s_top, top = step_from(registry, [raw.id], b"top")
    s_left, left = step_from(registry, [top.id], b"left")
    s_right, right = step_from(registry, [top.id], b"right")
    s_join, joined = step_from(registry, [left.id, right.id], b"joined")
    ids, sent = walks_run(registry, joined.id)
    assert sorted(ids) == sorted([s_top.step_id, s_left.step_id, s_right.step_id, s_join.step_id])
    assert sent == ["UNION ALL", "UNION"]


def test_diamonds_in_series_do_not_explode(registry: Registry):
    # 2**30 paths from the last step to the first: walking paths instead of steps would never end.
    art = registry.add_artifact(b"raw")
    count = 0
    for i in range(30):
        _, left = step_from(registry, [art.id], f"l{i}".encode())
        _, right = step_from(registry, [art.id], f"r{i}".encode())
        _, art = step_from(registry, [left.id, right.id], f"j{i}".encode())
        count += 3
    ids, sent = walks_run(registry, art.id)
    assert len(ids) == len(set(ids)) == count
    assert sent == ["UNION ALL", "UNION"]


def test_a_corrupt_cycle_terminates(registry: Registry):
    raw = registry.add_artifact(b"raw")
    s_a, a = step_from(registry, [raw.id], b"a")
    s_b, b = step_from(registry, [a.id], b"b")
    with registry.engine.begin() as conn:  # make a's input b's output: a cycle no recording can make
        conn.execute(
            text("UPDATE step_inputs SET artifact_id = :b, producer_step_id = :sb WHERE step_id = :sa"),
            {"b": b.id, "sb": s_b.step_id, "sa": s_a.step_id},
        )
    assert sorted(walks_run(registry, b.id)[0]) == sorted([s_a.step_id, s_b.step_id])
    assert {s.step_id for s in registry.chain(b.id)} == {s_a.step_id, s_b.step_id}


@st.composite
def dags(draw) -> list[list[int]]:
    """Step i reads 1–3 of the artifacts 0..i (artifact 0 is the source, artifact j>0 is step j-1's output)."""
    n = draw(st.integers(1, 12))
    return [draw(st.lists(st.integers(0, i), min_size=1, max_size=3)) for i in range(n)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dags(), st.randoms(use_true_random=False))
def test_chain_is_exactly_the_steps_the_target_depends_on(registry: Registry, dag: list[list[int]], rnd: random.Random):
    artifacts = [registry.add_artifact(f"src{rnd.random()}".encode()).id]
    steps = []
    for i, reads in enumerate(dag):
        step, out = step_from(registry, [artifacts[j] for j in reads], f"out{i}-{rnd.random()}".encode())
        steps.append(step.step_id)
        artifacts.append(out.id)
    target = rnd.randrange(len(dag))
    expected, todo = set(), [target]
    while todo:  # brute force: step i depends on the steps that produced what it reads
        i = todo.pop()
        if steps[i] not in expected:
            expected.add(steps[i])
            todo.extend(j - 1 for j in dag[i] if j > 0)
    chain = [s.step_id for s in registry.chain(artifacts[target + 1])]
    assert len(chain) == len(set(chain))
    assert set(chain) == expected


def test_migration_0002_copies_every_inputs_producer(empty_db_url: str, tmp_path: Path):
    url = empty_db_url
    engine = create_engine(url)
    cfg = migrate.alembic_config(engine)
    with engine.begin() as conn:  # a registry as revision 0001 left it: raw -> s1 -> a1 -> s2 -> a2
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        h, t = "0" * 64, T0.replace(tzinfo=None).isoformat(" ")
        for aid in ("a_raw", "a_1", "a_2"):
            conn.execute(text("INSERT INTO artifacts VALUES (:id, :h, 0, 'txt', NULL, :t, '{}')"), {"id": aid, "h": h, "t": t})
        for sid, target, source in (("s_1", "a_1", "a_raw"), ("s_2", "a_2", "a_1")):
            conn.execute(
                text("INSERT INTO processing_steps VALUES (:s, 'copy', 'copy', '{}', :a, :h, :h, NULL, NULL, :t, :t)"),
                {"s": sid, "a": target, "h": h, "t": t},
            )
            conn.execute(text("INSERT INTO step_inputs VALUES (:s, 0, :a)"), {"s": sid, "a": source})
    engine.dispose()

    reg = Registry.open(url, home=tmp_path)
    try:
        with reg.engine.connect() as conn:
            rows = {s: p for s, p in conn.execute(text("SELECT step_id, producer_step_id FROM step_inputs"))}
        assert rows == {"s_1": None, "s_2": "s_1"}
        assert sorted(s.step_id for s in reg.chain("a_2")) == ["s_1", "s_2"]
        assert [s.source_artifact_ids for s in reg.chain("a_1")] == [("a_raw",)]
    finally:
        reg.close()
    assert migrate.current_revision(create_engine(url)) == migrate.HEAD


def test_recording_stores_each_inputs_producer(registry: Registry):
    raw = registry.add_artifact(b"raw")
    s1, a1 = step_from(registry, [raw.id], b"one")
    s2, _ = step_from(registry, [a1.id, raw.id], b"two", t=T0 + timedelta(seconds=5))
    with registry.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT position, producer_step_id FROM step_inputs WHERE step_id = :s ORDER BY position"), {"s": s2.step_id}
        ).all()
    assert [tuple(r) for r in rows] == [(0, s1.step_id), (1, None)]


@pytest.mark.parametrize("n", [1, 25_001])
def test_chain_hydrates_every_step_of_a_long_chain(registry: Registry, n: int):
    from sqlalchemy import insert

    from scidex_replay.registry.models import ArtifactRow, StepInputRow, StepOutputRow, StepRow

    h = "0" * 64
    rows = {
        ArtifactRow: [dict(id=f"a_{i}", content_hash=h, size=0, kind="txt", name=None, created_at=T0, meta={}) for i in range(n + 1)],
        StepRow: [
            dict(step_id=f"s_{i}", step_type="copy", method="copy", parameters={"i": i}, target_artifact_id=f"a_{i + 1}",
                 input_hash=h, output_hash=h, env_hash=None, trace_id=None, started_at=T0, completed_at=T0)
            for i in range(n)
        ],
        StepInputRow: [dict(step_id=f"s_{i}", position=0, artifact_id=f"a_{i}", producer_step_id=f"s_{i - 1}" if i else None) for i in range(n)],
        StepOutputRow: [dict(step_id=f"s_{i}", position=0, artifact_id=f"a_{i + 1}", path=None) for i in range(n)],
    }
    with registry.session() as s:
        for model, values in rows.items():
            s.execute(insert(model), values)
    chain = registry.chain(f"a_{n}")
    assert len(chain) == n
    by_id = {s.step_id: s for s in chain}
    for i in (0, n // 2, n - 1):
        step = by_id[f"s_{i}"]
        assert step.parameters == {"i": i} and step.source_artifact_ids == (f"a_{i}",) and step.started_at == T0


def test_each_recursion_of_the_walk_is_an_index_probe(registry: Registry):
    # On PostgreSQL the planner would otherwise hash-join every recursion against the whole
    # step_inputs table; walk_step_ids sets the plan for its transaction, which is still open here.
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql, sqlite

    from scidex_replay.registry.registry import walk_cte

    art = registry.add_artifact(b"raw")
    for i in range(3):
        _, art = step_from(registry, [art.id], f"v{i}".encode())
    query = select(walk_cte(art.id, distinct=False).c.step_id)
    with registry.engine.connect() as conn:
        walk_step_ids(conn, art.id)
        dialect = conn.dialect.name
        sql = str(query.compile(dialect=postgresql.dialect() if dialect == "postgresql" else sqlite.dialect(),
                                compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN " if dialect == "postgresql" else "EXPLAIN QUERY PLAN "
        plan = "\n".join(str(row[-1]) for row in conn.execute(text(explain + sql)))
    assert not any(scan in plan for scan in ("Hash Join", "Merge Join", "Seq Scan", "SCAN used")), plan
    assert "step_inputs used" in plan if dialect == "postgresql" else "COVERING INDEX ix_step_inputs_walk" in plan, plan
