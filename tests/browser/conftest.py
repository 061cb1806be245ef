"""Fixtures of the browser test: a registry with a recorded chain, a JupyterLab
server on 127.0.0.1 over it, Debian's chromium through Playwright, and a
notebook that replays the chain."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from _jupyter import Recorder, jupyter
from _lab import (
    CHROMIUM, CHROMIUM_ARGS, CLEAN, CONSOLE_SCRIPT, OVERRIDES, REPORT, SAMPLE, SHOTS, SLOW,
    Chain, Lab, command, new_page, write_notebook,
)  # fmt: skip
from playwright.sync_api import Browser, Page, expect, sync_playwright


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """A temporary registry with the chain data.csv → clean → sample (random) → report."""
    assert CONSOLE_SCRIPT.is_file(), f"console script not installed at {CONSOLE_SCRIPT}"
    work = tmp_path_factory.mktemp("chain")
    home = work / "home"
    home.mkdir()
    env = {**os.environ, "SCIDEX_REPLAY_HOME": str(home), "SCIDEX_REPLAY_DB": f"sqlite:///{home / 'registry.db'}"}
    for name, text in {"data.csv": "x,y\n1,2\n\n3,4\n", "clean.py": CLEAN, "sample.py": SAMPLE, "report.py": REPORT}.items():
        (work / name).write_text(text)
    rec = Recorder(work, env)
    raw = rec.cli("add", "data.csv")
    clean = rec.step("clean.py", raw, "clean.csv")
    sample = rec.step("sample.py", clean, "sample.csv")
    report = rec.step("report.py", sample, "report.md")
    return Chain(env=env, clean=clean, sample=sample, report=report)


@pytest.fixture(scope="module")
def lab(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A JupyterLab server on 127.0.0.1 whose kernels see the chain's registry."""
    base = tmp_path_factory.mktemp("lab")
    root, settings, user = base / "root", base / "app-settings", base / "user"
    for d in (root, settings, user):
        d.mkdir()
    (settings / "overrides.json").write_text(json.dumps(OVERRIDES))
    token = secrets.token_hex(16)
    env = {
        **chain.env,
        "JUPYTER_CONFIG_DIR": str(user / "config"),
        "JUPYTER_RUNTIME_DIR": str(user / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(user / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(user / "workspaces"),
    }
    args = ["--expose-app-in-browser", f"--LabApp.app_settings_dir={settings}"]
    with jupyter("jupyterlab", root=root, env=env, log=base / "server.log", token=token, args=args) as server:
        yield Lab(url=server.url, token=token, root=root)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} not found: `make test` installs Debian's chromium"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def replayed(lab: Lab, chain: Chain, browser: Browser) -> Iterator[Page]:
    """replay.ipynb opened and run: a replay of the report, then a restart of that run."""
    write_notebook(
        lab.root / "replay.ipynb",
        "%load_ext scidex_replay",
        f"r = %rerun_artifact {chain.report} --no-widget",
        f"%rerun_artifact {chain.report} --restart {{r.manifest['run_id']}} --no-widget",
    )
    page = new_page(browser)
    lab.open(page, "replay.ipynb")
    command(page, "notebook:run-all-cells")
    expect(page.locator(".jp-OutputArea .scidex-Manifest")).to_have_count(2, timeout=SLOW)
    expect(page.get_by_text("| Idle")).to_be_visible(timeout=SLOW)
    yield page
    page.context.close()
