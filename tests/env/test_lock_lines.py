"""A recorded requirements.lock goes to the installer only when every line is ``name==version``
(with hashes), a comment or blank: anything else is refused, named in the step's result, and the
step runs in the live env like any other pin failure."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scidex_replay.env import current_environment, pinned
from scidex_replay.errors import BadInput
from scidex_replay.registry import Environment, Registry, input_hash_of
from scidex_replay.replay import rerun_artifact

HERE = Path(__file__).parent
HASH = "0123456789abcdef" * 4
REFUSED = [
    "six @ file:///tmp/six-1.16.0-py2.py3-none-any.whl",
    "https://example.com/six-1.16.0-py2.py3-none-any.whl",
    "--index-url https://example.com/simple",
    "--extra-index-url=https://example.com/simple",
    "-r /etc/shadow",
    "-e /tmp/six",
    "six>=1.16",
    "six==1.16.0; python_version > '3'",
    "six==1.16.0 --index-url https://example.com/simple",
]


def _environment(lock: str) -> Environment:
    live = current_environment()
    return Environment(hashlib.sha256(lock.encode()).hexdigest(), live.python, live.platform, lock)


def test_a_lock_of_pins_hashes_and_comments_is_accepted():
    lock = (
        "# python: CPython 3.11.7\n\n"
        f"six==1.16.0 --hash=sha256:{HASH}  # from the index\n"
        f"pandas==3.1.1 \\\n    --hash=sha256:{HASH}\n"
        "scidex-replay==0.1.0  # direct_url: file:///work/main\n"
    )
    assert pinned.split_lock(lock) == (
        [f"six==1.16.0 --hash=sha256:{HASH}", f"pandas==3.1.1 --hash=sha256:{HASH}"], ["scidex-replay"],
    )


@pytest.mark.parametrize("line", REFUSED)
def test_any_other_line_refuses_the_lock_before_the_installer_runs(line, tmp_path, monkeypatch):
    def no_installer():
        raise AssertionError("the installer must not run")

    monkeypatch.setattr(pinned, "_uv", no_installer)
    with pytest.raises(BadInput, match="only name==version lines"):
        pinned.split_lock(f"six==1.16.0\n{line}\n")
    pin = pinned.ensure_pinned(_environment(f"six==1.16.0\n{line}\n"), tmp_path)
    assert pin.python is None and pin.note.startswith("env-differs: ran in live env") and repr(line)[:60] in pin.note
    assert not (tmp_path / "envs").exists()


def test_a_step_whose_lock_is_refused_runs_in_the_live_env_and_says_why(db_url, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    reg = Registry.open(db_url, home=tmp_path / "home")
    try:
        now = datetime.now(timezone.utc)
        _, art = reg.record_step(
            step_type="python.call", method="_pinned_funcs:constant", parameters={}, sources=[], output=b"same",
            input_hash=input_hash_of([]), env=_environment("six==1.16.0\n-r /etc/shadow\n"),
            started_at=now, completed_at=now, name="out.txt",
        )
        step = rerun_artifact(art.id, registry=reg).manifest["steps"][0]
    finally:
        reg.close()
    assert step["outcome"] == "reproduced"
    assert "env-differs: ran in live env" in step["reason"] and "'-r /etc/shadow'" in step["reason"]
