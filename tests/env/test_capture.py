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


def _first_wave_environment_hash() -> str:
    """The env_hash as the first wave computed it, before the lock code was shared with the probe."""
    import json
    import platform
    import sysconfig
    from importlib import metadata

    lines: dict[str, str] = {}
    for entry in sys.path:
        folder = Path(entry or ".")
        if not folder.is_dir():
            continue
        for info in folder.iterdir():
            if info.suffix not in (".dist-info", ".egg-info"):
                continue
            name, _, version = info.stem.partition("-")
            version = version.split("-py")[0]
            if not version:
                dist = metadata.Distribution.at(info)
                name, version = dist.metadata["Name"] or "", dist.version
            key = re.sub(r"[-_.]+", "-", name).lower()
            if not key or key in lines:
                continue
            line = f"{key}=={version}"
            try:
                url = json.loads((info / "direct_url.json").read_text()).get("url")
            except (OSError, ValueError, AttributeError):
                url = None
            if url:
                line += f"  # direct_url: {url}"
            lines[key] = line
    lock = "\n".join(sorted(lines.values())) + "\n"
    header = f"# python: {platform.python_implementation()} {platform.python_version()}\n# platform: {sysconfig.get_platform()}\n"
    return hashlib.sha256((header + lock).encode()).hexdigest()


def test_env_hash_of_the_live_environment_is_unchanged_since_the_first_wave():
    assert current_environment().env_hash == _first_wave_environment_hash()
