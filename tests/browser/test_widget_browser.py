"""The replay widget in a real JupyterLab with chromium: a 300-step chain replayed from its
button, Cancel then Restart, the notebook reopened after a kernel restart, the dark theme,
and every button-started run kept in the saved notebook's metadata."""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from pathlib import Path

import pytest
from _lab import SHOTS, SLOW, Chain, Lab, command, new_page, outputs_with_manifest, text_contrast, write_notebook
from playwright.sync_api import Browser, Page, expect

from scidex_replay.handlers.copy import CopyHandler
from scidex_replay.handlers.shell import ShellHandler
from scidex_replay.recording import run_handler
from scidex_replay.registry import Registry

#: ``python -c PROGRAM FLAG {in0} {out}``: sleeps a minute while FLAG exists, then copies its input
SLOW_WHEN_FLAGGED = (
    "import os, shutil, sys, time\n"
    "while os.path.exists(sys.argv[1]):\n"
    "    time.sleep(0.1)\n"
    "shutil.copyfile(sys.argv[2], sys.argv[-1])\n"
)
TABLE_ROWS = ".jp-OutputArea .scidex-chain-table tbody tr"
WIDGET = ".jp-OutputArea .scidex-replay-widget"
MANIFEST = ".jp-OutputArea .scidex-Manifest"


def _registry(chain: Chain) -> Registry:
    return Registry.open(chain.env["SCIDEX_REPLAY_DB"], home=chain.env["SCIDEX_REPLAY_HOME"])


@pytest.fixture(scope="module")
def long_chain(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> str:
    """300 ``copy`` steps (cheap: they run in the kernel), recorded through the API."""
    seed = tmp_path_factory.mktemp("long") / "seed.txt"
    seed.write_text("seed\n")
    current = str(seed)
    with _registry(chain) as reg:
        for k in range(300):
            current = run_handler(reg, CopyHandler(), method="copy", parameters={"k": k}, inputs=[current], output=f"o{k}.txt").id
    return current


@pytest.fixture(scope="module")
def slow_chain(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """copy → a shell step that waits while the flag file exists (absent while recording)."""
    work = tmp_path_factory.mktemp("slow")
    (work / "seed.txt").write_text("slow\n")
    flag = work / "flag"
    with _registry(chain) as reg:
        first = run_handler(reg, CopyHandler(), method="copy", parameters={}, inputs=[str(work / "seed.txt")], output="first.txt")
        argv = [sys.executable, "-c", SLOW_WHEN_FLAGGED, str(flag), "{in0}", "{out}"]
        slow = run_handler(reg, ShellHandler(), method="python -c wait", parameters={"argv": argv}, inputs=[first.id], output="slow.txt", name="wait-for-flag")
    return slow.id, flag


def _kept(lab: Lab, notebook: str) -> dict:
    command_result = json.loads((lab.root / notebook).read_text())
    return command_result


def _saved_manifests(page: Page, lab: Lab, notebook: str) -> list[dict]:
    """Save ``notebook`` until its file holds a manifest output (the save is asynchronous); those manifests."""
    for _ in range(30):
        command(page, "docmanager:save")
        page.wait_for_timeout(500)
        found = outputs_with_manifest(_kept(lab, notebook))
        if found:
            return found
    return []


def _restart_kernel(lab: Lab) -> None:
    with urllib.request.urlopen(f"{lab.url}/api/kernels?token={lab.token}") as r:
        kernels = json.load(r)
    for k in kernels:
        req = urllib.request.Request(f"{lab.url}/api/kernels/{k['id']}/restart?token={lab.token}", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=60).close()


def _open_chain(lab: Lab, browser: Browser, notebook: str, artifact: str, rows: int) -> Page:
    write_notebook(lab.root / notebook, "%load_ext scidex_replay", f"%artifact_chain {artifact}")
    page = new_page(browser)
    lab.open(page, notebook)
    command(page, "notebook:run-all-cells")
    expect(page.locator(TABLE_ROWS)).to_have_count(rows, timeout=SLOW)
    expect(page.get_by_text("| Idle")).to_be_visible(timeout=SLOW)
    return page


def test_a_300_step_chain_replays_from_the_button_and_a_reopened_notebook_shows_the_static_manifest(
    lab: Lab, long_chain: str, browser: Browser
) -> None:
    page = _open_chain(lab, browser, "long.ipynb", long_chain, 300)
    try:
        page.locator(WIDGET).get_by_role("button", name="Replay all").click()
        manifest = page.locator(MANIFEST)
        expect(manifest).to_have_count(1, timeout=SLOW)  # the widget's output became the static manifest
        expect(page.locator(".jp-OutputArea .scidex-chain-table")).to_have_count(0)  # one table per replay
        run_id = manifest.locator(".scidex-Manifest-runId").text_content()
        assert page.locator(f"{MANIFEST} .scidex-Manifest-steps .scidex-Chip").count() >= 300
        command(page, "docmanager:save")
        saved = _kept(lab, "long.ipynb")
        assert run_id in saved["metadata"]["scidex_replay"]["manifests"], "a button-started run is kept in the metadata"
        (shown,) = outputs_with_manifest(saved)
        assert shown["run_id"] == run_id and shown["status"] == "reproduced" and len(shown["steps"]) == 300
    finally:
        page.context.close()

    _restart_kernel(lab)
    page = new_page(browser)
    try:
        lab.open(page, "long.ipynb")
        expect(page.locator(MANIFEST)).to_have_count(1, timeout=SLOW)
        assert page.locator(f"{MANIFEST} .scidex-Manifest-runId").text_content() == run_id
        page.wait_for_timeout(1000)  # the widget manager has had its chance to complain
        assert page.get_by_text("model not found").count() == 0
        assert page.get_by_text("Error displaying widget").count() == 0
    finally:
        page.context.close()


def test_cancel_then_restart_from_the_widget(lab: Lab, slow_chain: tuple[str, Path], browser: Browser) -> None:
    artifact, flag = slow_chain
    flag.write_text("up")
    page = _open_chain(lab, browser, "cancel.ipynb", artifact, 2)
    try:
        page.locator(WIDGET).get_by_role("button", name="Replay all").click()
        running = page.locator(f"{TABLE_ROWS}.scidex-running")
        expect(running).to_have_count(1, timeout=SLOW)
        expect(running).to_contain_text("wait-for-flag")  # the step's name, not only its id
        expect(running).to_contain_text(re.compile(r"running \d+\.\d s"))
        page.locator(WIDGET).get_by_role("button", name="Cancel").click()
        status = page.locator(".jp-OutputArea .scidex-status")
        expect(status).to_contain_text("interrupted", timeout=SLOW)
        run_id = re.search(r"run (r_\w+)", status.inner_text()).group(1)
        expect(page.locator(f"{TABLE_ROWS}.scidex-running")).to_have_count(0)
        assert "Traceback" not in page.locator(".jp-Notebook").inner_text()
        restart = page.locator(WIDGET).get_by_role("button", name="Restart last failed run")
        expect(restart).to_be_enabled()
        assert restart.evaluate("b => b.scrollWidth <= b.clientWidth"), "the label is cut off"
        page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=str(SHOTS / "widget-cancelled.png"))
        flag.unlink()
        restart.click()
        manifest = page.locator(MANIFEST)
        expect(manifest).to_have_count(1, timeout=SLOW)
        assert manifest.locator(".scidex-Manifest-runId").text_content() != run_id
        command(page, "docmanager:save")
        kept = _kept(lab, "cancel.ipynb")["metadata"]["scidex_replay"]["manifests"]
        assert kept[run_id]["status"] == "interrupted", "the cancelled run is kept too"
        (restarted,) = [m for m in kept.values() if m.get("parent_run_id") == run_id]
        assert restarted["kind"] == "restart" and restarted["status"] == "reproduced"
    finally:
        flag.unlink(missing_ok=True)
        page.context.close()


def test_the_kernel_interrupt_button_stops_a_replay_started_from_the_widget(
    lab: Lab, slow_chain: tuple[str, Path], browser: Browser
) -> None:
    """The kernel is idle while a button's replay runs in its thread: JupyterLab's interrupt
    (SIGINT, which ipykernel ignores between cells) must still end the run ``interrupted``, as
    Cancel does, and the kernel must live on."""
    artifact, flag = slow_chain
    flag.write_text("up")
    page = _open_chain(lab, browser, "interrupt.ipynb", artifact, 2)
    try:
        page.locator(WIDGET).get_by_role("button", name="Replay all").click()
        expect(page.locator(f"{TABLE_ROWS}.scidex-running")).to_have_count(1, timeout=SLOW)
        command(page, "kernelmenu:interrupt")
        status = page.locator(".jp-OutputArea .scidex-status")
        expect(status).to_contain_text("interrupted", timeout=SLOW)
        expect(page.locator(WIDGET).get_by_role("button", name="Restart last failed run")).to_be_enabled()
        assert "Traceback" not in page.locator(".jp-Notebook").inner_text()
        # the kernel lives on: Restart goes on from the interrupted run
        flag.unlink()
        page.locator(WIDGET).get_by_role("button", name="Restart last failed run").click()
        expect(page.locator(MANIFEST)).to_have_count(1, timeout=SLOW)
    finally:
        flag.unlink(missing_ok=True)
        page.context.close()


def test_the_widget_reads_in_the_light_and_the_dark_theme(lab: Lab, chain: Chain, browser: Browser) -> None:
    page = _open_chain(lab, browser, "dark.ipynb", chain.report, 3)
    widget = page.locator(".jp-OutputArea .scidex-replay-widget")

    def measured() -> dict[str, float]:
        return {
            "cell": text_contrast(widget.locator(".scidex-chain-table td").first),
            "header": text_contrast(widget.locator(".scidex-chain-table th").first),
            "title": text_contrast(widget.locator(".scidex-title")),
            "status": text_contrast(widget.locator(".scidex-verdict")),
            "button": text_contrast(widget.get_by_role("button", name="Replay all")),
        }

    try:
        light = measured()
        assert all(v >= 4.5 for v in light.values()), light
        cell_color = widget.locator(".scidex-chain-table td").first.evaluate("e => getComputedStyle(e).color")
        command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
        expect(page.locator("body[data-jp-theme-light='false']")).to_have_count(1, timeout=30_000)
        page.wait_for_timeout(500)  # the theme's stylesheet settles
        assert widget.locator(".scidex-chain-table td").first.evaluate("e => getComputedStyle(e).color") != cell_color
        dark = measured()
        page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=str(SHOTS / "widget-dark.png"))
        assert all(v >= 4.5 for v in dark.values()), dark
        assert "nan" not in widget.locator(".scidex-chain-table").inner_text().split()
    finally:
        command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
        page.context.close()


def test_a_cancelled_run_left_as_it_is_shows_its_manifest_after_a_kernel_restart(
    lab: Lab, slow_chain: tuple[str, Path], browser: Browser
) -> None:
    """The widget stays beside the interrupted run's manifest (for Restart) while its kernel
    lives; once the kernel restarts, and in the notebook opened again, the output is the
    static manifest alone: never "model not found"."""
    artifact, flag = slow_chain
    flag.write_text("up")
    page = _open_chain(lab, browser, "left.ipynb", artifact, 2)
    try:
        page.locator(WIDGET).get_by_role("button", name="Replay all").click()
        expect(page.locator(f"{TABLE_ROWS}.scidex-running")).to_have_count(1, timeout=SLOW)
        page.locator(WIDGET).get_by_role("button", name="Cancel").click()
        expect(page.locator(".jp-OutputArea .scidex-status")).to_contain_text("interrupted", timeout=SLOW)
        expect(page.locator(WIDGET)).to_have_count(1)
        kept = _saved_manifests(page, lab, "left.ipynb")
        assert [m["status"] for m in kept] == ["interrupted"]
        (kept,) = kept

        # as a user restarts it: the command (not awaited: it waits for its dialog), then the dialog's Restart
        page.evaluate("() => { window.jupyterapp.commands.execute('kernelmenu:restart'); }")
        page.locator(".jp-Dialog .jp-mod-accept").click()
        expect(page.locator(WIDGET)).to_have_count(0, timeout=SLOW)
        expect(page.locator(MANIFEST)).to_have_count(1)
        assert page.locator(f"{MANIFEST} .scidex-Manifest-runId").text_content() == kept["run_id"]
        assert page.get_by_text("model not found").count() == 0
    finally:
        flag.unlink(missing_ok=True)
        page.context.close()

    page = new_page(browser)
    try:
        lab.open(page, "left.ipynb")
        expect(page.locator(MANIFEST)).to_have_count(1, timeout=SLOW)
        page.wait_for_timeout(1000)  # the widget manager has had its chance to complain
        assert page.get_by_text("model not found").count() == 0
        assert page.get_by_text("Error displaying widget").count() == 0
    finally:
        page.context.close()
