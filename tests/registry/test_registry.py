"""Registry round-trips: artifacts, steps, environments, chains, and what it refuses to open."""

from __future__ import annotations

import hashlib
import math
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from scidex_replay.errors import BadInput, NotFound, RegistryUnavailable
from scidex_replay.registry import Environment, Registry, Step, input_hash_of
from scidex_replay.store import hash_bytes

TABLES = ("artifacts", "processing_steps", "step_inputs", "environments", "replay_runs", "replay_results")
T0 = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
ENV = Environment(env_hash="e" * 64, python="CPython 3.11.9", platform="linux-x86_64", requirements_lock="a==1\nb==2\n")


def counts(reg: Registry) -> dict[str, int]:
    with reg.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def blob_files(reg: Registry) -> list[str]:
    root = reg.store.root
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def step_from(reg: Registry, sources: list[str], output: bytes, *, step_type: str = "shell", t: datetime = T0, **kw):
    hashes = [reg.get_artifact(a).content_hash for a in sources]
    return reg.record_step(
        step_type=step_type,
        method=kw.pop("method", "python clean.py"),
        parameters=kw.pop("parameters", {}),
        sources=sources,
        output=output,
        input_hash=input_hash_of(hashes),
        env=kw.pop("env", None),
        started_at=t,
        completed_at=t + timedelta(seconds=1),
        **kw,
    )


# -- artifacts ----------------------------------------------------------------------


def test_same_bytes_added_twice_return_the_same_artifact(registry: Registry, tmp_path: Path):
    first = registry.add_artifact(b"well,abs\nA1,0.4\n", kind="csv", name="plate.csv")
    f = tmp_path / "plate.csv"
    f.write_bytes(b"well,abs\nA1,0.4\n")
    second = registry.add_artifact(f, kind="text")
    # documented: same bytes under the same name are the same artifact; the first registration's kind wins
    assert second == first
    assert (second.name, second.kind) == ("plate.csv", "csv")
    assert counts(registry)["artifacts"] == 1
    assert len(blob_files(registry)) == 1


def test_adding_a_file_already_stored_only_hashes_it(registry: Registry, tmp_path: Path, monkeypatch):
    from scidex_replay.store import BlobStore

    writes: list[int] = []
    real_put = BlobStore._put
    monkeypatch.setattr(BlobStore, "_put", lambda self, stream, *a: writes.append(1) or real_put(self, stream, *a))
    f, g = tmp_path / "a.csv", tmp_path / "b.csv"
    f.write_bytes(b"x,1\n")
    g.write_bytes(b"y,2\n")  # same size, other bytes
    first = registry.add_artifact(f)
    assert len(writes) == 1
    assert registry.add_artifact(f) == first and len(writes) == 1  # no temp copy of stored bytes
    other = registry.add_artifact(g)
    assert len(writes) == 2 and other.content_hash != first.content_hash
    assert len(blob_files(registry)) == 2


def test_same_bytes_under_another_name_are_a_new_artifact_on_the_same_blob(registry: Registry):
    first = registry.add_artifact(b"well,abs\nA1,0.4\n", name="plate.csv")
    second = registry.add_artifact(b"well,abs\nA1,0.4\n", name="other.csv")
    assert second.id != first.id and second.content_hash == first.content_hash
    assert counts(registry)["artifacts"] == 2
    assert len(blob_files(registry)) == 1


def test_different_bytes_get_different_artifacts(registry: Registry):
    a = registry.add_artifact(b"one")
    b = registry.add_artifact(b"two")
    assert a.id != b.id
    assert a.content_hash != b.content_hash
    assert counts(registry)["artifacts"] == 2


def test_added_file_round_trips_with_its_fields(registry: Registry, tmp_path: Path):
    f = tmp_path / "readings.csv"
    f.write_bytes(b"a,b\n1,2\n")
    art = registry.add_artifact(f, metadata={"instrument": "plate-reader", "n": 2})
    got = registry.get_artifact(art.id)
    assert got == art
    assert got.content_hash == hash_bytes(b"a,b\n1,2\n")
    assert got.size == 8
    assert got.kind == "csv"  # guessed from the suffix
    assert got.name == "readings.csv"
    assert got.metadata == {"instrument": "plate-reader", "n": 2}
    assert got.created_at.tzinfo is not None
    assert registry.store.verify(got.content_hash)


def test_adding_bytes_equal_to_a_step_output_makes_a_new_source_artifact(registry: Registry):
    src = registry.add_artifact(b"in")
    _, out = step_from(registry, [src.id], b"same bytes")
    added = registry.add_artifact(b"same bytes")
    assert added.id != out.id
    assert registry.producing_step(added.id) is None
    assert registry.producing_step(out.id) is not None


def test_adding_a_missing_file_is_bad_input(registry: Registry, tmp_path: Path):
    with pytest.raises(BadInput):
        registry.add_artifact(tmp_path / "nope.csv")
    assert counts(registry)["artifacts"] == 0


def test_unknown_artifact_id_is_not_found(registry: Registry):
    with pytest.raises(NotFound):
        registry.get_artifact("a_00000000")


@pytest.mark.parametrize("bad", ["../etc/passwd", "a b", "", "x" * 33, "a;drop", "a-1"])
def test_malformed_artifact_id_is_bad_input(registry: Registry, bad: str):
    with pytest.raises(BadInput, match="malformed"):
        registry.get_artifact(bad)


# -- steps --------------------------------------------------------------------------


def test_recorded_step_round_trips_every_field(registry: Registry):
    a = registry.add_artifact(b"script")
    b = registry.add_artifact(b"data")
    c = registry.add_artifact(b"more data")
    sources = [c.id, a.id, b.id]  # deliberately not in creation order
    ih = input_hash_of([c.content_hash, a.content_hash, b.content_hash])
    params = {"argv": ["python", "{in0}", "{out}"], "threshold": 0.5, "nested": {"k": [1, None, True]}}
    step, out = registry.record_step(
        step_type="shell",
        method="python {in0} {out}",
        parameters=params,
        sources=sources,
        output=b"result bytes",
        input_hash=ih,
        env=ENV,
        started_at=T0,
        completed_at=T0 + timedelta(seconds=3),
        trace_id="trace-1",
        kind="txt",
        name="result.txt",
        metadata={"note": "x"},
    )
    got = registry.get_step(step.step_id)
    assert got == step
    assert got.step_type == "shell"
    assert got.method == "python {in0} {out}"
    assert got.parameters == params
    assert got.source_artifact_ids == tuple(sources)
    assert got.target_artifact_id == out.id
    assert got.input_hash == ih
    assert got.output_hash == hash_bytes(b"result bytes") == out.content_hash
    assert got.env_hash == ENV.env_hash
    assert got.trace_id == "trace-1"
    assert got.started_at == T0
    assert got.completed_at == T0 + timedelta(seconds=3)
    assert registry.get_environment(ENV.env_hash) == ENV
    assert registry.producing_step(out.id) == got
    assert registry.get_artifact(out.id) == out
    assert (out.kind, out.name, out.metadata) == ("txt", "result.txt", {"note": "x"})


def test_a_non_utc_start_time_round_trips_as_the_same_instant(registry: Registry):
    src = registry.add_artifact(b"in")
    t = datetime(2026, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    step, _ = step_from(registry, [src.id], b"out", t=t)
    assert registry.get_step(step.step_id).started_at == t


def test_environment_is_stored_once_per_env_hash(registry: Registry):
    src = registry.add_artifact(b"in")
    step_from(registry, [src.id], b"one", env=ENV)
    step_from(registry, [src.id], b"two", env=ENV)
    registry.ensure_environment(ENV)
    assert counts(registry)["environments"] == 1
    assert counts(registry)["processing_steps"] == 2


def test_every_step_gets_its_own_target_even_for_equal_bytes(registry: Registry):
    src = registry.add_artifact(b"in")
    s1, t1 = step_from(registry, [src.id], b"equal")
    s2, t2 = step_from(registry, [src.id], b"equal")
    assert t1.id != t2.id and s1.step_id != s2.step_id
    assert len(blob_files(registry)) == 2  # b"in" and b"equal", each once


@pytest.mark.parametrize(
    "parameters",
    [{"s": {1, 2}}, {"x": math.nan}, {"x": math.inf}, {"o": object()}, {"b": b"bytes"}],
    ids=["set", "nan", "inf", "object", "bytes"],
)
def test_non_json_parameters_are_rejected_and_nothing_is_written(registry: Registry, parameters):
    src = registry.add_artifact(b"in")
    before, blobs_before = counts(registry), blob_files(registry)
    with pytest.raises(BadInput):
        step_from(registry, [src.id], b"output that must not be stored", parameters=parameters)
    assert counts(registry) == before
    assert blob_files(registry) == blobs_before


def test_step_with_an_unknown_source_is_not_found_and_records_no_row(registry: Registry):
    before = counts(registry)
    with pytest.raises(NotFound):
        registry.record_step(
            step_type="shell",
            method="m",
            parameters={},
            sources=["a_00000000"],
            output=b"x",
            input_hash="0" * 64,
            env=None,
            started_at=T0,
            completed_at=T0,
        )
    assert counts(registry) == before


def test_unknown_step_id_is_not_found_and_malformed_is_bad_input(registry: Registry):
    with pytest.raises(NotFound):
        registry.get_step("s_00000000")
    with pytest.raises(BadInput, match="malformed"):
        registry.get_step("../s")


# -- chains --------------------------------------------------------------------------


def test_chain_of_a_diamond_returns_each_step_once(registry: Registry):
    #        raw
    #       /   \
    #   left     right
    #       \   /
    #       joined ---- final (also reads left)
    raw = registry.add_artifact(b"raw")
    s_left, left = step_from(registry, [raw.id], b"left", t=T0)
    s_right, right = step_from(registry, [raw.id], b"right", t=T0 + timedelta(seconds=1))
    s_join, joined = step_from(registry, [left.id, right.id], b"joined", t=T0 + timedelta(seconds=2))
    s_final, final = step_from(registry, [joined.id, left.id], b"final", t=T0 + timedelta(seconds=3))
    unrelated = registry.add_artifact(b"other")
    step_from(registry, [unrelated.id], b"unrelated output")

    chain = registry.chain(final.id)
    ids = [s.step_id for s in chain]
    assert len(ids) == len(set(ids)) == 4
    assert set(ids) == {s_left.step_id, s_right.step_id, s_join.step_id, s_final.step_id}

    assert {s.step_id for s in registry.chain(joined.id)} == {s_left.step_id, s_right.step_id, s_join.step_id}
    assert [s.step_id for s in registry.chain(left.id)] == [s_left.step_id]


def test_chain_of_a_source_artifact_is_empty(registry: Registry):
    raw = registry.add_artifact(b"raw")
    step_from(registry, [raw.id], b"derived")
    assert registry.chain(raw.id) == []


def test_chain_of_an_unknown_artifact_is_not_found(registry: Registry):
    with pytest.raises(NotFound):
        registry.chain("a_00000000")


def test_step_types_are_counted(registry: Registry):
    assert registry.step_types() == []
    raw = registry.add_artifact(b"raw")
    for i in range(3):
        step_from(registry, [raw.id], f"shell {i}".encode(), step_type="shell")
    step_from(registry, [raw.id], b"copy", step_type="copy")
    assert registry.step_types() == [("copy", 1), ("shell", 3)]


# -- opening ----------------------------------------------------------------------


@pytest.mark.sqlite_only(reason="WAL is an SQLite journal mode")
def test_sqlite_registry_is_opened_in_wal_mode(registry: Registry, home: Path):
    with registry.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    # WAL is persistent: a plain sqlite3 connection sees it too
    con = sqlite3.connect(home / "registry.db")
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()


def test_reopening_keeps_the_records(home: Path):
    with Registry.open() as reg:
        art = reg.add_artifact(b"persisted")
    with Registry.open() as reg:
        assert reg.get_artifact(art.id) == art


def test_an_empty_database_gets_the_schema_on_open_and_reopening_is_a_no_op(empty_db_url: str, tmp_path: Path):
    from scidex_replay.registry.migrate import HEAD, current_revision

    with Registry.open(empty_db_url, home=tmp_path / "home") as reg:
        assert current_revision(reg.engine) == HEAD
        art = reg.add_artifact(b"first")
    with Registry.open(empty_db_url, home=tmp_path / "home") as reg:
        assert current_revision(reg.engine) == HEAD
        assert reg.get_artifact(art.id) == art


def test_a_database_with_foreign_tables_is_unavailable_and_gains_no_tables(empty_db_url: str, tmp_path: Path):
    engine = create_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)"))
        with pytest.raises(RegistryUnavailable, match="not a scidex-replay registry"):
            Registry.open(empty_db_url, home=tmp_path / "home")
        assert set(inspect(engine).get_table_names()) == {"users"}
    finally:
        engine.dispose()


def test_a_garbage_file_is_unavailable_and_left_unchanged(bare_home: Path, tmp_path: Path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database, not even close\n" * 200)
    before = sha256_file(garbage)
    with pytest.raises(RegistryUnavailable, match="not a database"):
        Registry.open(f"sqlite:///{garbage}")
    assert sha256_file(garbage) == before


def test_a_sqlite_db_with_foreign_tables_is_unavailable_and_left_unchanged(bare_home: Path, tmp_path: Path):
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO users (name) VALUES ('ada')")
    con.commit()
    con.close()
    before = sha256_file(foreign)
    with pytest.raises(RegistryUnavailable, match="not a scidex-replay registry"):
        Registry.open(f"sqlite:///{foreign}")
    assert sha256_file(foreign) == before


@pytest.mark.parametrize("url", ["nosuchdialect://host/db", "sqlite+nosuchdriver:///x.db", "not a url at all"])
def test_an_unknown_dialect_or_unparseable_url_is_unavailable(bare_home: Path, url: str):
    with pytest.raises(RegistryUnavailable):
        Registry.open(url)


def test_a_directory_path_is_unavailable(bare_home: Path, tmp_path: Path):
    d = tmp_path / "a-directory"
    d.mkdir()
    with pytest.raises(RegistryUnavailable, match="directory"):
        Registry.open(f"sqlite:///{d}")
    assert list(d.iterdir()) == []


def test_registry_errors_are_bad_input():
    # RegistryUnavailable is what the CLI turns into exit 2
    assert issubclass(RegistryUnavailable, BadInput)
    assert RegistryUnavailable.exit_code == 2


def test_steps_returned_are_frozen_records(registry: Registry):
    src = registry.add_artifact(b"in")
    step, _ = step_from(registry, [src.id], b"out")
    assert isinstance(step, Step)
    with pytest.raises(AttributeError):
        step.method = "changed"  # type: ignore[misc]
