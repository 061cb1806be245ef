"""The live environment: cached per process, hashed stably, locked with normalized sorted names."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scidex_replay.env import current_environment
from scidex_replay.env.capture import lock_text, normalize

NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
PRINT_HASH = "from scidex_replay.env import current_environment; print(current_environment().env_hash)"


def test_current_environment_is_cached_per_process():
    assert current_environment() is current_environment()


def test_env_hash_is_the_sha256_of_the_header_and_lock():
    env = current_environment()
    header = f"# python: {env.python}\n# platform: {env.platform}\n"
    assert env.env_hash == hashlib.sha256((header + env.requirements_lock).encode()).hexdigest()
    assert env.python.split()[1] == ".".join(map(str, sys.version_info[:3]))


@pytest.mark.parametrize("cwd", ["/", "repo"])
def test_env_hash_is_stable_across_processes(cwd: str):
    where = Path(__file__).resolve().parents[2] if cwd == "repo" else Path(cwd)
    proc = subprocess.run(
        [sys.executable, "-c", PRINT_HASH], capture_output=True, text=True, cwd=where, env=dict(os.environ), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == current_environment().env_hash


def test_lock_lines_are_normalized_pinned_and_sorted():
    lines = current_environment().requirements_lock.splitlines()
    assert lines, "the lock lists the installed distributions"
    assert lines == sorted(lines)
    assert len(lines) == len(set(lines))
    names = set()
    for line in lines:
        requirement = line.split("  # direct_url: ")[0]
        name, sep, version = requirement.partition("==")
        assert sep and version, line
        assert NAME.fullmatch(name), f"not PEP 503-normalized: {name!r}"
        names.add(name)
    # distributions that are spelled with capitals or underscores upstream
    assert {"sqlalchemy", "scidex-replay", "pytest"} <= names


def test_the_editable_package_carries_its_direct_url():
    line = next(l for l in current_environment().requirements_lock.splitlines() if l.startswith("scidex-replay=="))
    assert "# direct_url: file://" in line


def test_lock_text_ends_with_a_newline_and_matches_the_cached_environment():
    text = lock_text()
    assert text.endswith("\n")
    assert text == current_environment().requirements_lock


@pytest.mark.parametrize(
    "raw, normalized",
    [("SQLAlchemy", "sqlalchemy"), ("typing_extensions", "typing-extensions"), ("zope.interface", "zope-interface"),
     ("Foo__Bar-._baz", "foo-bar-baz"), ("ruamel.yaml.clib", "ruamel-yaml-clib")],
)
def test_names_are_normalized_as_pep_503_says(raw: str, normalized: str):
    assert normalize(raw) == normalized
