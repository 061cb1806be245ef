"""The pieces the engine is built from: a frozen options value, the reuse cache whose miss is an
ordinary answer, executors behind one protocol, and resources closed on every path."""

from __future__ import annotations

import dataclasses

import pytest

from scidex_replay.errors import BadInput, NotFound
from scidex_replay.executors import EXECUTORS, Executor, KernelExecutor, SubprocessExecutor
from scidex_replay.handlers.spec import ReplayedArtifact
from scidex_replay.registry import Registry
from scidex_replay.replay import EXECUTOR_NAMES, ReplayOptions, rerun_artifact
from scidex_replay.replay.cache import CacheMiss, ReuseCache


def test_options_are_frozen_and_refuse_unknown_names():
    options = ReplayOptions.of(strict=True, set_params={"s_1": {"k": 1}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.strict = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        options.set_params["s_1"] = {}  # type: ignore[index]
    with pytest.raises(TypeError, match="stric"):
        ReplayOptions.of(stric=True)
    assert ReplayOptions.of(options, diff=True) == dataclasses.replace(options, diff=True)


@pytest.mark.parametrize(
    "changes, message",
    [({"executor": "gpu"}, "unknown executor 'gpu'"), ({"reuse": "some"}, "--reuse some"),
     ({"dask_address": "tcp://x:1"}, "use executor dask")],
)
def test_bad_options_are_bad_input(changes, message):
    with pytest.raises(BadInput, match=message):
        ReplayOptions.of(**changes)


def test_option_choices_are_the_executors_that_exist():
    assert EXECUTOR_NAMES == EXECUTORS


class _Echo:
    step_type, version = "echo", "1"

    def __call__(self, step, inputs, output):
        if step == "bad":
            raise ValueError("bad step")
        return ReplayedArtifact(output)


def test_a_serial_executor_reports_each_call_and_its_failure_through_on_done(tmp_path):
    executor = KernelExecutor()
    assert isinstance(executor, Executor) and isinstance(SubprocessExecutor(), Executor)
    done = []
    calls = [(_Echo(), "good", [], tmp_path / "a"), (_Echo(), "bad", [], tmp_path / "b")]
    executor.run_many(calls, lambda i, produced, seconds: done.append((i, produced, seconds >= 0)))
    executor.close()
    executor.close()
    assert done[0] == (0, ReplayedArtifact(tmp_path / "a"), True)
    assert done[1][0] == 1 and isinstance(done[1][1], ValueError) and done[1][2]


def test_a_cache_miss_is_an_ordinary_answer_and_a_hit_needs_its_bytes(rec, reg, tmp_path):
    a = rec.tagged("A", [rec.source("r")])
    first = rerun_artifact(a, registry=reg, out=tmp_path / "m1")
    step_id = first.manifest["steps"][0]["step_id"]
    key = reg.results(first.run_id)[0].reuse_key

    assert not ReuseCache(reg, [step_id], "none")
    with pytest.raises(CacheMiss):
        ReuseCache(reg, [step_id], "none").lookup(key)
    hit = ReuseCache(reg, [step_id], "all").lookup(key)
    assert (hit.run_id, hit.digests) == (first.run_id, (first.manifest["steps"][0]["output_hash_replayed"],))
    with pytest.raises(CacheMiss):
        ReuseCache(reg, [step_id], "succeeded-before", ancestry=["r_other"]).lookup(key)
    reg.store.path(hit.digests[0]).unlink()
    with pytest.raises(CacheMiss):
        ReuseCache(reg, [step_id], "all").lookup(key)


def test_a_registry_opened_by_rerun_artifact_is_closed_on_every_path(rec, reg, tmp_path, monkeypatch):
    a = rec.tagged("A", [rec.source("r")])
    url = reg.engine.url.render_as_string(hide_password=False)
    closed = []
    real_close = Registry.close
    monkeypatch.setattr(Registry, "close", lambda self: (closed.append(self), real_close(self))[1])

    rerun_artifact(a, db=url, out=tmp_path / "ok")
    with pytest.raises(NotFound):
        rerun_artifact("a_nonexist", db=url, out=tmp_path / "bad")
    with pytest.raises(BadInput):
        rerun_artifact(a, db=url, executor="gpu")
    assert len(closed) == 2  # the third never opened one: its options were refused first
    rerun_artifact(a, registry=reg, out=tmp_path / "theirs")
    assert len(closed) == 2  # a registry passed in stays open for its owner


def test_the_executor_is_closed_when_the_run_ends_or_breaks(rec, reg, tmp_path, monkeypatch):
    a = rec.tagged("A", [rec.source("r")])
    closed = []
    monkeypatch.setattr(KernelExecutor, "close", lambda self: closed.append(self))
    rerun_artifact(a, registry=reg, out=tmp_path / "m")
    assert len(closed) == 1

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(KernelExecutor, "run", boom)
    with pytest.raises(KeyboardInterrupt):
        rerun_artifact(a, registry=reg, out=tmp_path / "m2")
    assert len(closed) == 2
