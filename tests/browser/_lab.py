"""Helpers of the browser test: the recorded chain, the JupyterLab server handle,
notebook files, and a WCAG contrast ratio. Fixtures are in ``conftest.py``."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

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


def luminance(css_color: str) -> float:
    parts = css_color[css_color.index("(") + 1 : css_color.index(")")].replace("/", " ").replace(",", " ").split()
    channels = [float(p) / 255 for p in parts[:3]]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


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
