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
