"""Helpers of the browser test: the recorded chain, the JupyterLab server handle,
notebook files, and a WCAG contrast ratio. Fixtures are in ``conftest.py``."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, expect

MIME = "application/vnd.scidex.replay-manifest+json"
CHROMIUM = os.environ.get("SCIDEX_CHROMIUM", "/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
#: The committed screenshots are refreshed only on request (SCIDEX_UPDATE_SCREENSHOTS=1); a normal
#: test run writes its screenshots to a scratch directory so it leaves the checkout unchanged.
SHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("SCIDEX_UPDATE_SCREENSHOTS")
    else Path(os.environ.get("TMPDIR", "/tmp")) / "scidex-replay-screenshots"
)
SHOTS.mkdir(parents=True, exist_ok=True)
CONSOLE_SCRIPT = Path(sys.executable).parent / "scidex-replay"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: turns off JupyterLab's news and update checks (they would pop up a toast)
OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
SLOW = 90_000  # ms: a kernel start plus a replay of three subprocess steps

CLEAN = 'import sys\nrows = open(sys.argv[1]).read().splitlines()\nopen(sys.argv[2], "w").write("\\n".join(r for r in rows if r) + "\\n")\n'
SAMPLE = 'import os, sys\ndata = open(sys.argv[1]).read()\nopen(sys.argv[2], "w").write(data + "nonce," + os.urandom(8).hex() + "\\n")\n'
REPORT = (
    "import hashlib, sys\ndata = open(sys.argv[1], 'rb').read()\n"
    "open(sys.argv[2], 'w').write('# report\\nsha256 of sample: ' + hashlib.sha256(data).hexdigest() + '\\n')\n"
)


@dataclass(frozen=True)
class Chain:
    env: dict[str, str]
    clean: str  # data.csv -> clean.csv: reproduces
    sample: str  # clean.csv + random nonce: output differs on replay
    report: str  # hash of the sample: its input differs on replay


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    root: Path

    def open(self, page: Page, notebook: str) -> None:
        """Open ``notebook`` in a fresh workspace and wait until its kernel is idle."""
        page.goto(f"{self.url}/lab/tree/{notebook}?reset&token={self.token}")
        page.locator(".jp-NotebookPanel").first.wait_for(timeout=SLOW)
        expect(page.get_by_text("| Idle")).to_be_visible(timeout=SLOW)
        for plugin in ("scidex-replay:manifest-keeper", "scidex-replay:rerun-command"):
            assert page.evaluate("id => window.jupyterapp.isPluginActivated(id)", plugin), (
                f"{plugin} is not active: is the extension built and installed (make labext)?"
            )


def command(page: Page, name: str, args: dict | None = None) -> object:
    return page.evaluate("([id, args]) => window.jupyterapp.commands.execute(id, args)", [name, args or {}])


def write_notebook(path: Path, *sources: str) -> None:
    cells = [
        {"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [], "source": src}
        for i, src in enumerate(sources)
    ]
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))


def outputs_with_manifest(nb: dict) -> list[dict]:
    """The manifests in a saved notebook's outputs, in cell order."""
    return [out["data"][MIME] for cell in nb["cells"] for out in cell.get("outputs", []) if MIME in out.get("data", {})]


def chips(page: Page, table: int) -> list[str]:
    return page.locator(".jp-OutputArea .scidex-Manifest").nth(table).locator(
        ".scidex-Manifest-steps .scidex-Chip"
    ).all_inner_texts()


def rgba(css_color: str) -> tuple[float, float, float, float]:
    """A computed CSS colour as 0–1 channels and alpha: ``rgb(r, g, b)``/``rgba(r, g, b, a)`` with
    0–255 channels, or ``color(srgb r g b [/ a])`` with 0–1 channels (what ``color-mix`` computes to)."""
    parts = css_color[css_color.index("(") + 1 : css_color.index(")")].replace("/", " ").replace(",", " ").split()
    if parts[0] == "srgb":
        values = [float(p) for p in parts[1:]]
    else:
        values = [float(p) / 255 for p in parts[:3]] + [float(p) for p in parts[3:]]
    return values[0], values[1], values[2], values[3] if len(values) > 3 else 1.0


def luminance(css_color: str) -> float:
    """The relative luminance (WCAG 2) of a computed CSS colour (its alpha left aside: see ``contrast``)."""
    return _luminance(rgba(css_color)[:3])


def _luminance(channels: tuple[float, ...]) -> float:
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    """The WCAG contrast ratio of text colour ``fg`` on an opaque background ``bg``; a translucent
    ``fg`` (the themes' secondary font colours) is composited over ``bg`` first."""
    *front, alpha = rgba(fg)
    back = rgba(bg)[:3]
    shown = tuple(alpha * f + (1 - alpha) * b for f, b in zip(front, back))
    a, b = sorted((_luminance(shown), _luminance(back)), reverse=True)
    return (a + 0.05) / (b + 0.05)


#: the workbench sidebar's id (its tab in the left side bar carries it as data-id)
WORKBENCH = "scidex-replay-workbench"
#: a step that takes its time, so that a Cancel lands while it runs: python slow.py SOURCE OUT SECONDS
SLOW_STEP = "import shutil, sys, time\ntime.sleep(float(sys.argv[3]))\nshutil.copyfile(sys.argv[1], sys.argv[2])\n"


def api(lab: Lab, path: str) -> dict:
    """GET ``scidex-replay/api/PATH`` of the lab's server, with its token."""
    sep = "&" if "?" in path else "?"
    with urllib.request.urlopen(f"{lab.url}/scidex-replay/api/{path}{sep}token={lab.token}", timeout=30) as r:
        return json.loads(r.read())


def open_workbench(page: Page) -> Locator:
    """Click the workbench's tab in the left side bar; the sidebar's locator once it shows."""
    sidebar = page.locator(f"#{WORKBENCH}")
    if not sidebar.is_visible():
        page.locator(f".jp-SideBar.jp-mod-left [data-id='{WORKBENCH}']").click()
    expect(sidebar).to_be_visible()
    return sidebar


def widen_left_area(page: Page, x: int) -> None:
    """Drag the handle between the left side bar's panel and the main area to ``x`` px."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    assert box is not None, "the left area's handle is not shown"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(x, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()


def open_artifact(sidebar: Locator, query: str, artifact_id: str) -> Locator:
    """Search the sidebar for ``query``, click the artifact ``artifact_id``; its page once its graph is drawn."""
    search = sidebar.locator(".scidex-Workbench-search")
    search.fill(query)
    row = sidebar.locator(f".scidex-Workbench-artifact[data-artifact-id='{artifact_id}']")
    expect(row).to_have_count(1)
    row.click()
    page = sidebar.locator(f".scidex-Page[data-artifact-id='{artifact_id}']")
    expect(page.locator(".scidex-Graph-svg")).to_have_count(1)
    return page


def finished_job(page: Locator, status: str = "done") -> Locator:
    """The artifact page's job pane once its job ended with ``status``."""
    job = page.locator(".scidex-Page-job")
    expect(job).to_have_attribute("data-status", status, timeout=SLOW)
    return job


def new_page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def text_contrast(locator) -> float:
    """The WCAG contrast of ``locator``'s text against the background it is drawn on (its own,
    or that of the nearest ancestor that paints one)."""
    fg, bg = locator.evaluate(
        """e => {
            const fg = getComputedStyle(e).color;
            let n = e;
            while (n) {
                const bg = getComputedStyle(n).backgroundColor;
                if (bg && bg !== 'transparent' && !/rgba\\(.*,\\s*0\\)$/.test(bg)) return [fg, bg];
                n = n.parentElement;
            }
            return [fg, 'rgb(255, 255, 255)'];
        }"""
    )
    return contrast(_over(fg, bg), bg)


def _over(fg: str, bg: str) -> str:
    """``fg`` (``rgb(...)``/``rgba(...)``) painted over the opaque ``bg``: a translucent text colour
    (the themes' ``--jp-ui-font-color1`` is black or white at 87 %) as it is seen."""
    def channels(css: str) -> list[float]:
        return [float(p) for p in css[css.index("(") + 1 : css.index(")")].replace("/", " ").replace(",", " ").split()]

    f, b = channels(fg), channels(bg)
    alpha = f[3] if len(f) > 3 else 1.0
    mixed = [round(alpha * f[i] + (1 - alpha) * b[i]) for i in range(3)]
    return f"rgb({mixed[0]}, {mixed[1]}, {mixed[2]})"
