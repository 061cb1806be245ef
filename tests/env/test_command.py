"""The environment of the program a command runs: an analysis venv's interpreter, a console script, another program."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scidex_replay.env import InterpreterProbeFailed, command_environment, current_environment, interpreter_environment
from scidex_replay.env import command
from scidex_replay.env.capture import environment
from scidex_replay.env.probe_cache import CACHE
from scidex_replay.errors import BadInput

PACKAGE = "tabulate"  # small, pure Python, and not installed in the tool's venv
OLD, NEW = "0.8.10", "0.9.0"


def _uv() -> str:
    import uv

    return uv.find_uv_bin()


def _uv_run(*args: str) -> None:
    proc = subprocess.run([_uv(), *args], capture_output=True, text=True, timeout=300, env=dict(os.environ, VIRTUAL_ENV=""))
    assert proc.returncode == 0, proc.stderr


def make_venv(where: Path, *requirements: str) -> Path:
    """A venv at ``where`` on this interpreter with ``requirements`` installed by uv; its ``bin/python``."""
    _uv_run("venv", "--quiet", "--python", sys.executable, str(where))
    python = where / "bin" / "python"
    if requirements:
        _uv_run("pip", "install", "--quiet", "--python", str(python), *requirements)
    return python


@pytest.fixture(scope="module")
def analysis_venv(tmp_path_factory) -> Path:
    """A separate analysis venv holding ``tabulate==0.8.10``; tests must not change it."""
    return make_venv(tmp_path_factory.mktemp("analysis") / "venv", f"{PACKAGE}=={OLD}")


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """Every test starts with an empty memory cache and a disk cache under its own data home."""
    monkeypatch.setenv("SCIDEX_REPLAY_HOME", str(tmp_path / "home"))
    CACHE.clear_memory()
    yield tmp_path / "home" / "cache" / "interpreters"
    CACHE.clear_memory()


def _script(where: Path, text: str) -> Path:
    where.write_text(text)
    where.chmod(0o755)
    return where


def test_a_package_installed_in_the_analysis_venv_is_in_its_lock_and_not_in_the_tools(analysis_venv):
    env = interpreter_environment(analysis_venv)
    line = f"{PACKAGE}=={OLD}"
    assert line in env.requirements_lock.splitlines()
    assert not any(l.startswith(f"{PACKAGE}==") for l in current_environment().requirements_lock.splitlines())
    assert "scidex-replay" not in env.requirements_lock, "the tool's own packages are not the analysis's"
    assert env.env_hash != current_environment().env_hash
    assert (env.python, env.platform) == (current_environment().python, current_environment().platform)


def test_a_venv_lock_has_the_format_and_hash_rule_of_the_live_one(analysis_venv):
    env = interpreter_environment(analysis_venv)
    lines = env.requirements_lock.splitlines()
    assert env.requirements_lock.endswith("\n") and lines == sorted(lines)
    assert env == environment(env.python, env.platform, env.requirements_lock)


def test_probes_an_interpreter_that_does_not_have_scidex_replay(analysis_venv, tmp_path):
    proc = subprocess.run([str(analysis_venv), "-c", "import scidex_replay"], capture_output=True, env={}, cwd=tmp_path)
    assert proc.returncode != 0, "the analysis venv must not see scidex_replay for this test to mean anything"
    assert interpreter_environment(analysis_venv).requirements_lock


def test_probing_the_live_interpreter_gives_current_environment_byte_for_byte():
    probed = interpreter_environment(sys.executable)  # a real probe: the caches start empty
    live = current_environment()
    assert probed.requirements_lock.encode() == live.requirements_lock.encode()
    assert probed.env_hash == live.env_hash
    assert probed == live


def test_installing_into_the_venv_changes_its_env_hash_despite_the_cache(tmp_path):
    python = make_venv(tmp_path / "venv", f"{PACKAGE}=={OLD}")
    before = interpreter_environment(python)
    assert interpreter_environment(python) is before, "a second call is answered from memory"

    _uv_run("pip", "install", "--quiet", "--python", str(python), f"{PACKAGE}=={NEW}")
    upgraded = interpreter_environment(python)
    assert upgraded.env_hash != before.env_hash
    assert f"{PACKAGE}=={NEW}" in upgraded.requirements_lock.splitlines()
    assert f"{PACKAGE}=={OLD}" not in upgraded.requirements_lock

    CACHE.clear_memory()  # now the entry on disk must notice as well
    assert interpreter_environment(python) == upgraded
    CACHE.clear_memory()
    _uv_run("pip", "install", "--quiet", "--python", str(python), "six==1.16.0")
    added = interpreter_environment(python)
    assert added.env_hash != upgraded.env_hash
    assert "six==1.16.0" in added.requirements_lock.splitlines()


def test_a_cached_interpreter_is_not_probed_again_in_memory_or_from_disk(analysis_venv, fresh_cache, monkeypatch):
    first = interpreter_environment(analysis_venv)
    assert list(fresh_cache.glob("*.json")), "the probe is kept on disk"

    def no_probe(*args, **kwargs):
        raise AssertionError("probed again")

    monkeypatch.setattr(command.subprocess, "run", no_probe)
    assert interpreter_environment(analysis_venv) is first
    CACHE.clear_memory()
    assert interpreter_environment(analysis_venv) == first


def test_modules_in_the_working_directory_do_not_shadow_the_probes(analysis_venv, tmp_path, monkeypatch):
    for name in ("json", "re", "platform", "sysconfig", "pathlib"):
        (tmp_path / f"{name}.py").write_text("raise SystemExit('shadowed')\n")
    monkeypatch.chdir(tmp_path)
    assert f"{PACKAGE}=={OLD}" in interpreter_environment(analysis_venv).requirements_lock


def test_a_cache_dir_passed_in_holds_the_entry(analysis_venv, tmp_path, fresh_cache):
    interpreter_environment(analysis_venv, cache_dir=tmp_path / "elsewhere")
    assert list((tmp_path / "elsewhere").glob("*.json"))
    assert not fresh_cache.exists()


def test_python3_on_the_given_path_resolves_to_the_venv(analysis_venv):
    env = command_environment(["python3", "fit.py", "--alpha", "1"], path=str(analysis_venv.parent))
    assert env == interpreter_environment(analysis_venv)
    assert f"{PACKAGE}=={OLD}" in env.requirements_lock


def test_an_interpreter_path_relative_to_the_working_directory_resolves(analysis_venv):
    venv = analysis_venv.parent.parent
    assert command_environment(["bin/python", "fit.py"], cwd=venv) == interpreter_environment(analysis_venv)
    assert command_environment([str(analysis_venv), "fit.py"]) == interpreter_environment(analysis_venv)


def test_a_console_script_of_the_venv_records_the_venv(analysis_venv):
    assert (analysis_venv.parent / PACKAGE).read_text().startswith(f"#!{analysis_venv}")
    assert command_environment([PACKAGE, "data.csv"], path=str(analysis_venv.parent)) == interpreter_environment(analysis_venv)


def test_an_env_shebang_finds_python_on_the_given_path(analysis_venv, tmp_path):
    script = _script(tmp_path / "fit", "#!/usr/bin/env python3\nprint('never run')\n")
    env = command_environment([str(script)], path=str(analysis_venv.parent))
    assert env == interpreter_environment(analysis_venv)


@pytest.mark.skipif(not shutil.which("git"), reason="needs git")
def test_a_non_python_program_records_its_path_and_version():
    git = os.path.abspath(shutil.which("git"))
    version = subprocess.run([git, "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    env = command_environment(["git", "log"])
    assert env.python == "git"
    lines = env.requirements_lock.splitlines()
    assert lines[0] == f"# program: {git}"
    assert lines[-1] == f"# version: {version}"
    assert env == environment("git", current_environment().platform, env.requirements_lock)


def test_a_program_that_fails_or_hangs_on_version_is_version_unknown(tmp_path, monkeypatch):
    monkeypatch.setattr(command, "VERSION_TIMEOUT_S", 0.5)
    failing = _script(tmp_path / "failing", "#!/bin/sh\necho 'unknown option' >&2\nexit 2\n")
    hanging = _script(tmp_path / "hanging", "#!/bin/sh\nsleep 30\n")
    assert command.version_string(str(failing)) == command.UNKNOWN_VERSION
    assert command.version_string(str(hanging)) == command.UNKNOWN_VERSION
    assert command.version_string(str(tmp_path / "missing")) == command.UNKNOWN_VERSION


def test_a_script_is_never_run_to_ask_its_version(tmp_path):
    marker = tmp_path / "ran"
    shell = _script(tmp_path / "analysis.sh", f"#!/bin/sh\ntouch {marker}\n")
    orphan = _script(tmp_path / "orphan", f"#!/no/such/interpreter\ntouch {marker}\n")
    assert command_environment([str(shell)]) == command_environment(["/bin/sh"])
    env = command_environment([str(orphan)])
    assert env.requirements_lock == f"# program: {orphan}\n# version: version unknown\n"
    assert not marker.exists()


def test_an_unresolvable_program_is_none(tmp_path):
    assert command_environment(["no-such-program-scidex-xyz", "x"]) is None
    assert command_environment(["no-such-program-scidex-xyz"], path=str(tmp_path)) is None
    assert command_environment(["./missing/python"], cwd=tmp_path) is None
    assert command_environment([]) is None


def test_probe_errors_are_one_line_bad_input(tmp_path):
    with pytest.raises(InterpreterProbeFailed) as missing:
        interpreter_environment(tmp_path / "nope" / "python")
    fake = _script(tmp_path / "python3", "#!/bin/sh\necho 'Traceback (most recent call last):' >&2\necho 'boom: broken' >&2\nexit 3\n")
    with pytest.raises(BadInput) as broken:
        command_environment([str(fake), "fit.py"])
    for error in (missing.value, broken.value):
        assert "\n" not in str(error)
    assert "no such executable" in str(missing.value)
    assert "exit 3" in str(broken.value) and "boom: broken" in str(broken.value)


@pytest.mark.parametrize(
    "name, expected",
    [("python", True), ("python3", True), ("python3.11", True), ("pythonw", True), ("pypy3.10", True),
     ("python3.13t", True), ("python3-config", False), ("ipython", False), ("pythonic", False), ("git", False)],
)
def test_python_interpreters_are_recognised_by_name(tmp_path, name: str, expected: bool):
    assert command.is_python(tmp_path / name) is expected


def test_a_symlink_to_an_interpreter_is_an_interpreter(tmp_path):
    link = tmp_path / "analysis-py"
    link.symlink_to(os.path.realpath(sys.executable))
    assert command.is_python(link)
    assert command_environment([str(link), "fit.py"]).python == current_environment().python
