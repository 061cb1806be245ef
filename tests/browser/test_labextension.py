"""End to end: the JupyterLab extension in a real JupyterLab, driven in Debian's chromium.

A JupyterLab server runs on 127.0.0.1 (free port, token, temporary root and
settings) over a temporary registry holding a three-step chain whose middle step
writes random bytes: a replay shows ``reproduced``, ``output-differs`` and
``input-differs``, a restart shows ``reused`` and its parent run. The browser
(Playwright on ``/usr/bin/chromium``, never a downloaded browser) opens
notebooks, runs them, clicks the "Rerun artifact" toolbar button, and the tests
assert on the DOM and on the saved ``.ipynb``. Screenshots go to
``docs/screenshots/`` and ``docs/images/comparison.png`` (with SCIDEX_UPDATE_SCREENSHOTS=1).

``make test`` installs chromium (Debian package) and builds the extension first.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from _lab import REPO, SHOTS, SLOW, Chain, Lab, chips, command, contrast, new_page, outputs_with_manifest, write_notebook
from playwright.sync_api import Browser, Page, expect


def test_magic_output_renders_as_table_with_status_chips_and_lineage(replayed: Page) -> None:
    page = replayed
    tables = page.locator(".jp-OutputArea .scidex-Manifest")
    assert chips(page, 0) == ["reproduced", "output-differs", "input-differs"]
    assert chips(page, 1) == ["reused", "output-differs", "input-differs"]
    first, second = tables.nth(0), tables.nth(1)
    first_run = first.locator(".scidex-Manifest-runId").inner_text()
    assert first_run.startswith("r_")
    assert first.locator(".scidex-Manifest-lineage-kind dd").inner_text() == "replay"
    assert first.locator(".scidex-Manifest-lineage-parent dd").inner_text() == "none"
    assert second.locator(".scidex-Manifest-lineage-kind dd").inner_text() == "restart"
    assert second.locator(".scidex-Manifest-lineage-parent dd").inner_text() == first_run
    assert second.locator(".scidex-Manifest-reusedFrom").first.inner_text() == first_run
    assert first.locator(".scidex-Manifest-verdict").inner_text() == "did not reproduce"
    # the HTML fallback of the bundle is not what is shown: the extension's renderer is
    assert page.locator(".jp-OutputArea-output[data-mime-type='text/html']").count() == 0
    page.locator(".jp-Notebook .jp-Cell").nth(2).screenshot(path=str(SHOTS / "manifest-light.png"))


def test_saved_notebook_keeps_each_displayed_manifest_in_metadata(replayed: Page, lab: Lab) -> None:
    page = replayed
    command(page, "docmanager:save")
    saved = json.loads((lab.root / "replay.ipynb").read_text())
    shown = outputs_with_manifest(saved)
    assert len(shown) == 2
    kept = saved["metadata"]["scidex_replay"]["manifests"]
    assert set(kept) == {m["run_id"] for m in shown}
    for manifest in shown:
        assert kept[manifest["run_id"]] == manifest
    displayed = page.locator(".jp-OutputArea .scidex-Manifest-runId").all_inner_texts()
    assert displayed == [m["run_id"] for m in shown]
    for i, manifest in enumerate(shown):
        assert chips(page, i) == [step["outcome"] for step in kept[manifest["run_id"]]["steps"]]


def test_the_download_link_saves_the_manifest_shown_under_its_run_id(replayed: Page) -> None:
    page = replayed
    first = page.locator(".jp-OutputArea .scidex-Manifest").first
    run_id = first.locator(".scidex-Manifest-runId").text_content()
    with page.expect_download() as info:
        first.locator(".scidex-Manifest-download").click()
    download = info.value
    assert download.suggested_filename == f"manifest-{run_id}.json"
    saved = json.loads(Path(download.path()).read_text())
    assert saved["run_id"] == run_id
    assert [step["outcome"] for step in saved["steps"]] == chips(page, 0)


def test_manifest_reads_in_light_and_dark_themes(replayed: Page) -> None:
    page = replayed
    chip = page.locator(".jp-OutputArea .scidex-Manifest .scidex-Chip-output-differs").first
    cell = page.locator(".jp-OutputArea .scidex-Manifest").first

    def text_contrast() -> float:
        fg = chip.evaluate("e => getComputedStyle(e).color")
        bg = page.locator(".jp-Notebook").evaluate("e => getComputedStyle(e).backgroundColor")
        return contrast(fg, bg)

    assert page.evaluate("document.body.dataset.jpThemeLight") == "true"
    assert text_contrast() >= 4.5
    light_text = cell.evaluate("e => getComputedStyle(e).color")
    command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    expect(page.locator("body[data-jp-theme-light='false']")).to_have_count(1, timeout=30_000)
    page.wait_for_timeout(500)  # the theme's stylesheet settles
    try:
        assert cell.evaluate("e => getComputedStyle(e).color") != light_text
        assert text_contrast() >= 4.5
        page.locator(".jp-Notebook .jp-Cell").nth(2).screenshot(path=str(SHOTS / "manifest-dark.png"))
    finally:
        command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
        expect(page.locator("body[data-jp-theme-light='true']")).to_have_count(1, timeout=30_000)


def test_toolbar_button_reruns_an_artifact_and_keeps_its_manifest(lab: Lab, chain: Chain, browser: Browser) -> None:
    write_notebook(lab.root / "toolbar.ipynb", "")
    page = new_page(browser)
    try:
        lab.open(page, "toolbar.ipynb")
        page.locator(".jp-NotebookPanel-toolbar").get_by_text("Rerun artifact").click()
        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_be_visible()
        dialog.locator("input").fill(chain.sample)
        dialog.screenshot(path=str(SHOTS / "rerun-dialog.png"))
        dialog.get_by_role("button", name="Rerun").click()
        table = page.locator(".jp-OutputArea .scidex-Manifest")
        expect(table).to_have_count(1, timeout=SLOW)
        assert chips(page, 0) == ["reproduced", "output-differs"]
        # the command ran the magic in the notebook's kernel, in a new cell
        sources = page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").all_inner_texts()
        assert f"%rerun_artifact {chain.sample} --no-widget" in [s.strip() for s in sources]
        run_id = table.locator(".scidex-Manifest-runId").inner_text()
        page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=str(SHOTS / "rerun-toolbar.png"))
        command(page, "docmanager:save")
        saved = json.loads((lab.root / "toolbar.ipynb").read_text())
        (shown,) = outputs_with_manifest(saved)
        assert shown["run_id"] == run_id
        assert shown["target_artifact_id"] == chain.sample
        assert saved["metadata"]["scidex_replay"]["manifests"] == {run_id: shown}
    finally:
        page.context.close()


def test_toolbar_command_refuses_what_is_not_an_artifact_id(lab: Lab, browser: Browser) -> None:
    write_notebook(lab.root / "refuse.ipynb", "")
    page = new_page(browser)
    try:
        lab.open(page, "refuse.ipynb")
        # not awaited here: the command resolves only once its error dialog is closed
        page.evaluate(
            "() => { window.__ran = window.jupyterapp.commands.execute('scidex-replay:rerun-artifact', {id: 'a_1 --strict'}); }"
        )
        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_contain_text("Not an artifact id")
        dialog.get_by_role("button").last.click()
        assert page.evaluate("window.__ran") == []
        assert page.locator(".jp-Notebook .jp-Cell").count() == 1
    finally:
        page.context.close()


def test_manifests_stay_in_metadata_after_outputs_are_cleared(replayed: Page, lab: Lab) -> None:
    page = replayed
    command(page, "docmanager:save")
    before = json.loads((lab.root / "replay.ipynb").read_text())["metadata"]["scidex_replay"]["manifests"]
    assert len(before) == 2
    command(page, "notebook:clear-all-cell-outputs")
    expect(page.locator(".jp-OutputArea .scidex-Manifest")).to_have_count(0)
    command(page, "docmanager:save")
    saved = json.loads((lab.root / "replay.ipynb").read_text())
    assert outputs_with_manifest(saved) == []
    assert saved["metadata"]["scidex_replay"]["manifests"] == before


def test_the_shipped_example_notebook_renders_and_keeps_its_manifests(lab: Lab, browser: Browser) -> None:
    # notebooks/02 as nbval checks it: saved outputs only, executed outside JupyterLab, so no metadata yet.
    example = Path(__file__).resolve().parents[2] / "notebooks" / "02-restart-and-fork.ipynb"
    shutil.copyfile(example, lab.root / example.name)
    saved_outputs = outputs_with_manifest(json.loads(example.read_text()))
    assert len(saved_outputs) >= 2 and "scidex_replay" not in json.loads(example.read_text())["metadata"]
    page = new_page(browser)
    try:
        lab.open(page, example.name)
        tables = page.locator(".jp-OutputArea .scidex-Manifest")
        expect(tables).to_have_count(len(saved_outputs), timeout=SLOW)
        for i, manifest in enumerate(saved_outputs):  # text, not inner text: cells out of view are not laid out
            shown = tables.nth(i).locator(".scidex-Manifest-steps .scidex-Chip").all_text_contents()
            assert [t.strip() for t in shown] == [step["outcome"] for step in manifest["steps"]]
        command(page, "docmanager:save")
        kept = json.loads((lab.root / example.name).read_text())["metadata"]["scidex_replay"]["manifests"]
        assert kept == {m["run_id"]: m for m in saved_outputs}
    finally:
        page.context.close()


def _compared_manifest() -> dict:
    """A run that did not reproduce: a JSON output equivalent (only a random id and a time
    differ), then a CSV output whose content differs (one mean beyond the tolerance), as the
    comparators' entries read in manifest.json; the CSV step was explained (``--explain``): the
    thread count changes its output, the locale could not be tested."""
    h = lambda c: c * 64  # noqa: E731

    def step(n: int, name: str, outcome: str, comparison: dict) -> dict:
        replayed = h(str(n + 4))
        return {
            "step_id": f"s_{name[:4]}000{n}", "step_name": name, "step_type": "shell", "method": f"python {name}.py",
            "target_artifact_id": f"a_{name[:4]}000{n}", "input_hash": h("0"), "input_hash_replayed": h("0"),
            "output_hash_live": h(str(n)), "output_hash_replayed": replayed, "ok": False, "outcome": outcome,
            "reason": f"{outcome}: {comparison['summary']}", "reused_from_run": None, "duration_s": 0.4,
            "outputs": [{
                "artifact_id": f"a_{name[:4]}000{n}", "name": {"summarise": "summary.json", "fit": "fit.csv"}[name],
                "hash_live": h(str(n)), "hash_replayed": replayed, "ok": False, "outcome": outcome, "comparison": comparison,
            }],
            "comparison": comparison,
        }

    fit = step(2, "fit", "output-differs", {
        "comparator": "csv", "equivalent": False,
        "summary": "content differs: column 'mean' max abs diff 0.25 (row 17), 2 of 120 rows",
        "differences": [
            {"where": "column 'mean' row 17", "kind": "content", "detail": "3.5 → 3.75 (abs 0.25, rel 0.071)"},
            {"where": "column 'sd' row 4", "kind": "numeric", "detail": "0.1 → 0.10000000000000002 (within rtol 1e-09)"},
        ],
        "metrics": {"max_abs_diff": 0.25, "max_rel_diff": 0.0714, "rows_differing": 2},
    })
    fit["explanation"] = {
        "factors": {"repeat": "no-effect", "clock": "no-effect", "threads": "changes-output", "locale": "not-tested"},
        "summary": "the output changes with the number of threads",
        "runs": 9, "seconds": 4.2,
        "not_tested": {"locale": "no second locale is installed"},
        "details": {"threads": "content: column 'mean' max abs diff 0.25 (row 17)"},
    }
    return {
        "schema": "scidex-replay/manifest/v2", "run_id": "r_compare1", "kind": "replay", "parent_run_id": None,
        "target_artifact_id": "a_fit00002", "from_step": None, "options": {}, "env": {"live": [h("e")], "replay": h("e")},
        "started_at": "2026-11-29T21:30:00+00:00", "completed_at": "2026-11-29T21:30:01+00:00",
        "status": "differs", "ok": False, "summary": {"equivalent": 1, "output-differs": 1},
        "steps": [
            step(1, "summarise", "equivalent", {
                "comparator": "json", "equivalent": True, "summary": "equivalent: only $.run_id (a random id) and $.created differ",
                "differences": [
                    {"where": "$.run_id", "kind": "volatile-id", "detail": "'3f2a9c…' → '81d0e4…' (uuid4)"},
                    {"where": "$.created", "kind": "metadata", "detail": "2026-11-29T21:02:11 → 2026-11-29T21:30:00"},
                ],
                "metrics": {},
            }),
            fit,
        ],
    }


def test_renderer_shows_an_equivalent_step_and_what_differs_with_its_kinds(lab: Lab, browser: Browser) -> None:
    from scidex_replay.replay.manifest import load

    manifest = load(_compared_manifest())  # a manifest the schema accepts
    (lab.root / "compared.json").write_text(json.dumps(manifest))
    write_notebook(lab.root / "compared.ipynb", "from scidex_replay.surfaces.manifest_view import ManifestView\nManifestView.load('compared.json')")
    page = new_page(browser)
    page.set_viewport_size({"width": 1600, "height": 1200})  # the whole table in the screenshot
    try:
        lab.open(page, "compared.ipynb")
        if page.locator("#jp-left-stack").is_visible():
            command(page, "application:toggle-left-area")
        command(page, "notebook:run-all-cells")
        table = page.locator(".jp-OutputArea .scidex-Manifest")
        expect(table).to_have_count(1, timeout=SLOW)
        assert table.locator(".scidex-Manifest-steps .scidex-Chip").all_inner_texts() == ["equivalent", "output-differs"]
        assert table.locator(".scidex-Manifest-verdict").inner_text() == "did not reproduce"
        equivalent, differs = table.locator(".scidex-Manifest-comparison").all()
        expect(equivalent.locator(".scidex-Manifest-comparisonSummary")).to_have_text(
            "equivalent: only $.run_id (a random id) and $.created differ"
        )
        expect(differs.locator(".scidex-Manifest-comparisonSummary")).to_have_text(
            "content differs: column 'mean' max abs diff 0.25 (row 17), 2 of 120 rows"
        )
        # a content difference is open at first; its kinds show
        expect(differs.locator(".scidex-Kind").first).to_be_visible()
        assert differs.locator(".scidex-Kind").all_inner_texts() == ["content", "numeric"]
        assert differs.locator(".scidex-Manifest-differenceWhere").first.inner_text() == "column 'mean' row 17"
        # an equivalent one is collapsed until clicked
        expect(equivalent.locator(".scidex-Kind").first).to_be_hidden()
        equivalent.locator("summary").click()
        expect(equivalent.locator(".scidex-Kind").first).to_be_visible()
        assert equivalent.locator(".scidex-Kind").all_inner_texts() == ["volatile-id", "metadata"]
        # the explained step: its summary, a chip per factor, the culprit highlighted with its detail as tooltip
        explanation = table.locator(".scidex-Manifest-explanation")
        expect(explanation).to_be_visible()
        expect(explanation.locator(".scidex-Manifest-explanationSummary")).to_have_text("the output changes with the number of threads")
        assert explanation.locator(".scidex-Factor").all_inner_texts() == ["repeat", "clock", "threads", "locale"]
        culprit = explanation.locator(".scidex-Factor-changes-output")
        expect(culprit).to_have_text("threads")
        expect(culprit).to_have_attribute("title", "content: column 'mean' max abs diff 0.25 (row 17)")
        expect(explanation.locator(".scidex-Factor-not-tested")).to_have_attribute("title", "no second locale is installed")
        expect(explanation.locator(".scidex-Manifest-explanationCost")).to_have_text("9 re-runs, 4.2 s")
        muted = explanation.locator(".scidex-Factor-no-effect").first.evaluate("e => getComputedStyle(e).backgroundColor")
        assert culprit.evaluate("e => getComputedStyle(e).backgroundColor") != muted  # highlighted by the stylesheet
        kind_bg = differs.locator(".scidex-Kind-content").evaluate("e => getComputedStyle(e).backgroundColor")
        assert kind_bg not in ("rgba(0, 0, 0, 0)", "transparent")  # the stylesheet is loaded
        shots = REPO / "docs" / "images" if os.environ.get("SCIDEX_UPDATE_SCREENSHOTS") else SHOTS
        shots.mkdir(parents=True, exist_ok=True)
        table.screenshot(path=str(shots / "comparison.png"))
    finally:
        page.context.close()
