"""``Registry.search_artifacts`` (the workbench's artifact search), ``producers`` and ``latest_runs``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from scidex_replay.registry.models import ArtifactRow

NAMES = ["Sample-1.csv", "sample_2.csv", "table%3.parquet", "notes.txt", "fit.json", None, "x_y.csv"]


@pytest.fixture
def named(registry) -> list[str]:
    """Artifacts named ``NAMES`` created one second apart, oldest first; returns their ids."""
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ids = [f"a_t{i:07d}" for i in range(len(NAMES))]
    rows = [
        dict(id=aid, content_hash=f"{i:064x}", size=i, kind=(name or "x.bin").rsplit(".", 1)[1],
             name=name, created_at=start + timedelta(seconds=i), meta={})
        for i, (aid, name) in enumerate(zip(ids, NAMES))
    ]
    with registry.session() as s:
        s.execute(insert(ArtifactRow), rows)
    return ids


def search(registry, q=None, kind=None, limit=50, offset=0) -> tuple[list[str], int]:
    page, total = registry.search_artifacts(q, kind, limit=limit, offset=offset)
    return [a.id for a in page], total


def test_newest_first_in_pages_with_the_total(registry, named):
    newest_first = named[::-1]
    assert search(registry) == (newest_first, 7)
    assert search(registry, limit=3) == (newest_first[:3], 7)
    assert search(registry, limit=3, offset=3) == (newest_first[3:6], 7)
    assert search(registry, limit=3, offset=6) == (newest_first[6:], 7)
    assert search(registry, limit=3, offset=9) == ([], 7)  # past the end: still the total


def test_q_is_a_name_substring_any_case_or_an_id_prefix(registry, named):
    assert search(registry, "SAMPLE") == ([named[1], named[0]], 2)
    assert search(registry, "sample", limit=1, offset=1) == ([named[0]], 2)
    assert search(registry, "A_T000000") == (named[::-1], 7)  # every id starts so
    assert search(registry, named[3]) == ([named[3]], 1)


def test_like_wildcards_in_q_are_plain_characters(registry, named):
    assert search(registry, "%") == ([named[2]], 1)
    assert search(registry, "_") == ([named[6], named[1]], 2)
    assert search(registry, "e_2") == ([named[1]], 1)


def test_kind_is_exact_and_combines_with_q(registry, named):
    assert search(registry, kind="csv") == ([named[6], named[1], named[0]], 3)
    assert search(registry, "sample", kind="csv") == ([named[1], named[0]], 2)
    assert search(registry, kind="cs") == ([], 0)


def test_producers_and_latest_runs_of_a_page(registry, named):
    from scidex_replay.outcomes import Status

    assert registry.producers(named) == {}
    assert registry.latest_runs(named) == {}
    first = registry.create_run(target_artifact_id=named[0], kind="replay", options={})
    registry.finish_run(first.run_id, status=Status.REPRODUCED, results=[], manifest={"summary": {}})
    second = registry.create_run(target_artifact_id=named[0], kind="replay", options={})
    latest = registry.latest_runs(named)
    assert list(latest) == [named[0]] and latest[named[0]].run_id == second.run_id
    assert latest[named[0]].manifest is None  # not read for a page


def test_the_count_holds_each_match_once_id_or_name_and_nameless_ones(registry, named):
    """The count (asked for when the page is full) of artifacts matched by their id, their name or
    both: every id starts with ``a``, three names hold it, one artifact has no name."""
    assert search(registry, "a", limit=2) == (named[:-3:-1], 7)
    assert search(registry, "A_T", limit=2, kind="csv") == ([named[6], named[1]], 3)
    assert search(registry, "sample", limit=1) == ([named[1]], 2)


def test_postgresql_search_reads_the_trigram_index_for_3_characters_or_more(pg_server, tmp_path):
    """On 20,000 artifacts (one name in 10,000 holds ``rare``, one in 6 ``sample``), the page and
    the count of a ``q`` of 3 characters or more read revision 0008's trigram index (the page of a
    frequent word may walk the newest-first index instead: 50 matches come soon); a ``q`` under 3
    characters, which no trigram serves, never makes PostgreSQL read the whole GIN index."""
    from _pg import create_database, drop_database
    from sqlalchemy import event, text

    from scidex_replay.registry import Registry

    url = create_database(pg_server)
    reg = Registry.open(url, home=tmp_path)
    try:
        with reg.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO artifacts (id, content_hash, size, kind, name, created_at, metadata) "
                "SELECT 'a_' || lpad(i::text, 8, '0'), lpad(to_hex(i), 64, '0'), i, 'csv', "
                "CASE WHEN i % 10000 = 0 THEN 'rare-' ELSE (ARRAY['sample','table','report','clean','fit','plot'])[i % 6 + 1] END "
                "|| '-' || i || '.csv', timestamp '2026-01-01' + i * interval '1 second', '{}' FROM generate_series(1, 20000) i"
            ))
        with reg.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE artifacts"))
        statements: list[tuple[str, object]] = []

        @event.listens_for(reg.engine, "before_cursor_execute")
        def keep(conn, cursor, statement, parameters, context, executemany):
            if not statement.startswith("EXPLAIN"):
                statements.append((statement, parameters))

        def plans(q: str, limit: int = 50) -> tuple[int, list[str]]:
            statements.clear()
            total = reg.search_artifacts(q, limit=limit)[1]
            with reg.engine.connect() as conn:
                found = ["\n".join(conn.exec_driver_sql("EXPLAIN " + st, p).scalars()) for st, p in list(statements)]
            return total, found

        total, [page] = plans("RARE-")  # a page not full: no count
        assert total == 2
        assert "ix_artifacts_name_trgm" in page and "ix_artifacts_id_pattern" in page, page  # a BitmapOr
        total, [_, count] = plans("RARE-", limit=1)
        assert total == 2
        assert "ix_artifacts_name_trgm" in count and "ix_artifacts_id_pattern" in count, count
        total, [_, count] = plans("sample")
        assert total == sum(1 for i in range(1, 20001) if i % 6 == 0 and i % 10000)
        assert "Bitmap Index Scan on ix_artifacts_name_trgm" in count, count
        total, [_, count] = plans("a_000123", limit=10)  # an id prefix
        assert total == sum(1 for i in range(1, 20001) if f"a_{i:08d}".startswith("a_000123"))
        assert "ix_artifacts_id_pattern" in count, count
        for short in ("sa", "e"):
            total, [_, count] = plans(short)
            assert total > 50 and "ix_artifacts_name_trgm" not in count, count
    finally:
        reg.close()
        drop_database(url)
