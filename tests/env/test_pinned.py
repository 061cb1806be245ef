"""Pinned environments: a step recorded in another environment replays in a venv built from its lock."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from scidex_replay.env import current_environment
from scidex_replay.env.capture import lock_changes
from scidex_replay.env.pinned import ensure_pinned, split_lock
from scidex_replay.registry import Environment, Registry, input_hash_of
from scidex_replay.replay import rerun_artifact

HERE = Path(__file__).parent


def _environment(lock: str) -> Environment:
    import hashlib

    live = current_environment()
    return Environment(
        env_hash=hashlib.sha256(lock.encode()).hexdigest(), python=live.python, platform=live.platform, requirements_lock=lock
    )


def _record(registry: Registry, method: str, output: bytes, env: Environment, parameters=None) -> str:
    now = datetime.now(timezone.utc)
    _, art = registry.record_step(
        step_type="python.call",
        method=method,
        parameters=parameters or {},
        sources=[],
        output=output,
        input_hash=input_hash_of([]),
        env=env,
        started_at=now,
        completed_at=now,
        name="out.txt",
    )
    return art.id


@pytest.fixture
def pinned_registry(db_url, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    reg = Registry.open(db_url, home=tmp_path / "home")
    yield reg
    reg.close()


def test_split_lock_keeps_local_packages_out_of_the_sync_and_names_them():
    lock = "pandas==3.1.1\nscidex-replay==0.1.0  # direct_url: file:///work/main\nsix==1.16.0  # direct_url: https://x/six.whl\n"
    installable, local = split_lock(lock)
    assert installable == ["pandas==3.1.1", "six==1.16.0"]
    assert local == ["scidex-replay"]


def test_step_from_another_env_replays_in_a_pinned_venv_that_is_reused(pinned_registry):
    env = _environment("six==1.16.0\n")
    target = _record(pinned_registry, "_pinned_funcs:six_version", b"1.16.0", env)

    first = rerun_artifact(target, registry=pinned_registry)
    step = first.manifest["steps"][0]
    assert first.ok, step["reason"]
    assert step["output_hash_replayed"] == step["output_hash_live"]
    assert f"pinned env {env.env_hash[:12]} (built)" in step["reason"]
    venv = pinned_registry.home / "envs" / env.env_hash[:16]
    ready = (venv / ".scidex-ready").stat().st_mtime_ns

    second = rerun_artifact(target, registry=pinned_registry)
    assert second.ok
    assert f"pinned env {env.env_hash[:12]} (reused)" in second.manifest["steps"][0]["reason"]
    assert (venv / ".scidex-ready").stat().st_mtime_ns == ready


def test_unbuildable_pin_falls_back_to_the_live_env_with_a_warning(pinned_registry):
    env = _environment("six==0.0.0.post999\n")
    target = _record(pinned_registry, "_pinned_funcs:constant", b"same", env)
    warnings = []
    report = rerun_artifact(
        target, registry=pinned_registry, on_event=lambda kind, p: warnings.append(p) if kind == "warning" else None
    )
    step = report.manifest["steps"][0]
    assert step["outcome"] == "reproduced"
    assert "env-differs: ran in live env" in step["reason"]
    assert warnings and "env-differs" in warnings[0]["message"]
    assert not list((pinned_registry.home / "envs").glob(".*")), "a failed build must leave no half-built venv"


def test_no_pin_runs_in_the_live_env_without_building(pinned_registry):
    env = _environment("six==1.16.0\n")
    target = _record(pinned_registry, "_pinned_funcs:constant", b"same", env)
    report = rerun_artifact(target, registry=pinned_registry, pin=False)
    assert report.ok
    reason = report.manifest["steps"][0]["reason"]
    assert reason.startswith("reproduced: env-differs: ran in the live environment (--no-pin): ")
    assert lock_changes(env, current_environment()) in reason  # which packages it ran with instead
    assert not (pinned_registry.home / "envs").exists()


def test_lock_changes_name_changed_then_missing_then_new_packages():
    recorded = Environment("a" * 64, "CPython 3.11.9", "linux", "matplotlib==3.11.0\nh5py==3.16.0\nnumpy==2.1.0\n")
    live = Environment("b" * 64, "CPython 3.11.9", "linux", "Matplotlib==3.10.1\nnumpy==2.1.0\nrich==13.7.1 --hash=sha256:ab\n")
    assert lock_changes(recorded, live) == "matplotlib 3.11.0 → 3.10.1, -h5py 3.16.0, +rich 13.7.1"
    assert lock_changes(recorded, recorded) == ""
    many = Environment("c" * 64, "CPython 3.12.1", "linux", "".join(f"p{i}==1\n" for i in range(20)))
    assert lock_changes(recorded, many, limit=3) == "python 3.11.9 → 3.12.1, -h5py 3.16.0, -matplotlib 3.11.0, 21 more"


def test_ensure_pinned_never_raises_and_names_the_cause(tmp_path):
    pin = ensure_pinned(_environment("definitely-not-a-package-xyz==1.0\n"), tmp_path)
    assert pin.python is None
    assert pin.note.startswith("env-differs: ran in live env (pinned env could not be built:")
