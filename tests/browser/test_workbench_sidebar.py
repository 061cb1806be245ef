"""The replay workbench sidebar in a real JupyterLab, driven in Debian's chromium, over the
package's REST API (the server extension, no mock): search → artifact page → chain graph →
Replay → progress → manifest; Replay from a node; a Fork through its form; Cancel then
Restart; the dark theme; the manifests kept in a notebook after its outputs are cleared.

The chain is the browser tests' data.csv → clean → sample (random) → report; a second chain
data.csv → slow (sleeps) lets a Cancel land while a step runs. Screenshots of the sidebar and
its graph, light and dark, go to docs/screenshots with SCIDEX_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest
from _jupyter import Recorder
from _lab import (
    SHOTS, SLOW, SLOW_STEP, WORKBENCH, Chain, Lab, api, command, contrast, finished_job, new_page, open_artifact,
    open_workbench, outputs_with_manifest, widen_left_area, write_notebook,
)  # fmt: skip
from playwright.sync_api import Browser, Locator, Page, expect

SLEEP_S = 8
PAGE_SIZE = 50  # the sidebar's page of search results (sidebar.ts)  # long enough for the test to see the step running and cancel it


@pytest.fixture(scope="module")
def slow(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An artifact of the chain's registry made by a step that sleeps SLEEP_S seconds."""
    work = tmp_path_factory.mktemp("slow")
    (work / "slow.py").write_text(SLOW_STEP)
    (work / "numbers.csv").write_text("n\n1\n2\n")
    rec = Recorder(work, chain.env)
    source = rec.cli("add", "numbers.csv")
    return rec.cli("run", "-i", "slow.py", "-i", source, "-o", "waited.csv", "--",
                   sys.executable, "{in0}", "{in1}", "{out}", str(SLEEP_S))  # fmt: skip


@pytest.fixture(scope="module")
def bulk(chain: Chain) -> int:
    """How many small source artifacts named bulk-NNN.txt it added to the chain's registry: more than a page."""
    from scidex_replay.registry import Registry

    n = PAGE_SIZE + 12
    reg = Registry.open(chain.env["SCIDEX_REPLAY_DB"], chain.env["SCIDEX_REPLAY_HOME"])
    try:
        for i in range(n):
            reg.add_artifact(f"row {i}\n".encode(), name=f"bulk-{i:03d}.txt")
    finally:
        reg.close()
    return n


@pytest.fixture
def page(lab: Lab, browser: Browser) -> Iterator[Page]:
    """JupyterLab with an empty notebook open (for Insert cell), the workbench not yet shown."""
    write_notebook(lab.root / "bench.ipynb", "")
    p = new_page(browser)
    try:
        lab.open(p, "bench.ipynb")
        assert p.evaluate("id => window.jupyterapp.isPluginActivated(id)", "scidex-replay:workbench")
        yield p
    finally:
        p.context.close()


def node_ids(artifact_page: Locator) -> list[str]:
    return artifact_page.locator(".scidex-Page-graph .scidex-Graph-node").evaluate_all("ns => ns.map(n => n.dataset.nodeId)")


def chain_node_ids(lab: Lab, artifact_id: str) -> list[str]:
    """The nodes the chain of ``artifact_id`` has, from the REST API's steps: a node per step and per artifact."""
    steps = api(lab, f"artifacts/{artifact_id}/chain")["steps"]
    artifacts = {a for s in steps for a in [*s["inputs"], *s["outputs"]]} or {artifact_id}
    return sorted([f"step:{s['step_id']}" for s in steps] + [f"artifact:{a}" for a in artifacts])


def manifest_chips(job: Locator) -> list[str]:
    return job.locator(".scidex-Job-manifest .scidex-Manifest-steps .scidex-Chip").all_inner_texts()


def test_search_opens_the_chain_graph_and_replay_shows_progress_then_the_manifest(page: Page, lab: Lab, chain: Chain) -> None:
    sidebar = open_workbench(page)
    # the first page of the search lists every artifact of the registry, newest first
    expect(sidebar.locator(".scidex-Workbench-artifact").first).to_be_visible()
    sidebar.locator(".scidex-Workbench-search").fill("report")
    row = sidebar.locator(f".scidex-Workbench-artifact[data-artifact-id='{chain.report}']")
    expect(row).to_have_count(1)
    expect(row.locator(".scidex-Workbench-name")).to_have_text("report.md")
    art = open_artifact(sidebar, "report", chain.report)
    expected = chain_node_ids(lab, chain.report)
    assert sorted(node_ids(art)) == expected and len(expected) == 10  # 3 steps; their scripts, data and outputs
    assert art.locator(".scidex-Page-graph .scidex-Graph-step").count() == 3
    assert art.locator(".scidex-Graph-target").evaluate("n => n.dataset.nodeId") == f"artifact:{chain.report}"
    labels = art.locator(".scidex-Graph-artifact .scidex-Graph-label").all_text_contents()
    assert {"data.csv", "clean.csv", "sample.csv", "report.md"} <= set(labels), labels
    # left to right: each edge goes from a node further left to one further right
    xs = {n: b["x"] for n, b in zip(node_ids(art), [e.bounding_box() for e in art.locator(".scidex-Page-graph .scidex-Graph-node").all()])}
    for edge in art.locator(".scidex-Page-graph .scidex-Graph-edge").evaluate_all("es => es.map(e => [e.dataset.source, e.dataset.target])"):
        assert xs[edge[0]] < xs[edge[1]]

    art.locator(".scidex-Page-replay").click()
    job = finished_job(art)
    expect(job.locator(".scidex-Job-count")).to_have_text("3/3 steps")
    assert job.locator(".scidex-Job-progress").evaluate("p => p.value === p.max")
    assert manifest_chips(job) == ["reproduced", "output-differs", "input-differs"]
    run_id = job.locator(".scidex-Job-run").inner_text()
    # the run is in the lineage tree, the graph is coloured by it (the artifact's last run now)
    run = art.locator(f".scidex-Lineage-item[data-run-id='{run_id}']")
    expect(run).to_have_attribute("data-kind", "replay")
    expect(run.locator(".scidex-Lineage-status").first).to_have_text("differs")
    expect(art.locator(".scidex-Graph-run .scidex-Graph-runId")).to_have_text(run_id)
    outcomes = art.locator(".scidex-Page-graph .scidex-Graph-step").evaluate_all("ns => ns.map(n => n.dataset.outcome)")
    assert outcomes == ["reproduced", "output-differs", "input-differs"]

    # Open manifest: the renderer in a main-area panel
    job.locator(".scidex-Job-open").click()
    panel = page.locator(f"#scidex-manifest-{run_id}")
    expect(panel.locator(".scidex-Manifest-runId")).to_have_text(run_id)
    expect(panel.locator(".scidex-Manifest-graph .scidex-Graph-node")).to_have_count(len(expected))

    # Insert cell: the magic in the notebook last active (behind the manifest panel now, shown again)
    art.locator(".scidex-Page-insert").click()
    cells = page.locator(".jp-NotebookPanel .jp-Cell .jp-InputArea-editor")
    expect(cells).to_have_count(2)
    assert [s.strip() for s in cells.all_inner_texts()] == ["", f"%rerun_artifact {chain.report}"]


def test_search_pages_with_more_and_filters_by_kind(page: Page, lab: Lab, bulk: int) -> None:
    sidebar = open_workbench(page)
    rows = sidebar.locator(".scidex-Workbench-artifact")
    sidebar.locator(".scidex-Workbench-search").press_sequentially("bulk-", delay=50)  # typed: one search, debounced
    expect(sidebar.locator(".scidex-Workbench-total")).to_have_text(f"{PAGE_SIZE} of {bulk} artifacts")
    expect(rows).to_have_count(PAGE_SIZE)
    more = sidebar.locator(".scidex-Workbench-more")
    more.click()
    expect(rows).to_have_count(bulk)
    expect(more).to_be_hidden()
    names = rows.locator(".scidex-Workbench-name").all_inner_texts()
    assert sorted(names) == [f"bulk-{i:03d}.txt" for i in range(bulk)]  # each once, none missing
    csv = api(lab, "artifacts?kind=csv&limit=500")
    sidebar.locator(".scidex-Workbench-search").fill("kind:csv")
    expect(sidebar.locator(".scidex-Workbench-total")).to_have_text(f"{csv['total']} of {csv['total']} artifacts")
    assert set(rows.locator(".scidex-Workbench-kind").all_inner_texts()) == {"csv"}
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.artifactId)")) == sorted(a["id"] for a in csv["artifacts"])


def test_replay_from_a_node_replays_that_step_and_the_steps_after_it(page: Page, lab: Lab, chain: Chain) -> None:
    art = open_artifact(open_workbench(page), "report", chain.report)
    steps = api(lab, f"artifacts/{chain.report}/chain")["steps"]
    sample = next(s for s in steps if chain.sample in s["outputs"])
    node = art.locator(f".scidex-Graph-node[data-node-id='step:{sample['step_id']}']")
    node.click()
    details = art.locator(".scidex-Page-details")
    expect(details.locator("[data-field='step id']")).to_have_text(sample["step_id"])
    expect(details.locator("[data-field='method']")).to_have_text(sample["method"])
    assert json.loads(details.locator("[data-field='parameters']").inner_text()) == sample["parameters"]
    details.locator(".scidex-Page-replayFrom").click()
    job = finished_job(art)
    run_id = job.locator(".scidex-Job-run").inner_text()
    detail = api(lab, f"runs/{run_id}")
    assert detail["from_step"] in (sample["step_id"], sample["step_name"])
    # the step before it is kept as recorded; it and the step after it ran
    chips = manifest_chips(job)
    assert chips[-2:] == ["output-differs", "input-differs"]
    assert all(c in ("frozen", "reused") for c in chips[:-2]), chips
    row = art.locator(f".scidex-Lineage-item[data-run-id='{run_id}'] .scidex-Lineage-from").first
    expect(row).to_contain_text(detail["from_step"])


def test_a_fork_through_the_form_previews_what_will_run_and_lands_in_the_lineage_as_a_fork(
    page: Page, lab: Lab, chain: Chain
) -> None:
    art = open_artifact(open_workbench(page), "report", chain.report)
    steps = api(lab, f"artifacts/{chain.report}/chain")["steps"]
    report = next(s for s in steps if chain.report in s["outputs"])
    art.locator(".scidex-Page-forkOpen").click()
    form = art.locator(".scidex-Page-fork")
    expect(form).to_be_visible()
    form.locator(".scidex-Fork-step").select_option(report["step_id"])
    params = json.loads(form.locator(".scidex-Fork-parameters").input_value())
    assert params == report["parameters"]
    # change the step's declared environment, and its input: the clean data in place of the sample
    params["env"] = {**(params.get("env") or {}), "SCIDEX_FORK_NOTE": "from the form"}
    form.locator(".scidex-Fork-parameters").fill(json.dumps(params, indent=2))
    form.locator(".scidex-Fork-inputId").nth(1).fill(chain.clean)
    form.locator(".scidex-Fork-preview-button").click()
    plan = form.locator(".scidex-Fork-planStep")
    expect(plan.first).to_be_visible()
    actions = dict(plan.evaluate_all("ls => ls.map(l => [l.dataset.stepId, l.dataset.action])"))
    assert actions[report["step_id"]] == "execute"
    expected = api(lab, f"artifacts/{chain.report}/chain")  # nothing was written by the preview
    assert [s["step_id"] for s in expected["steps"]] == [s["step_id"] for s in steps]
    widen_left_area(page, 560)
    form.screenshot(path=str(SHOTS / "workbench-fork.png"))
    form.locator(".scidex-Fork-run").click()
    job = finished_job(art)
    run_id = job.locator(".scidex-Job-run").inner_text()
    fork = art.locator(f".scidex-Lineage-item[data-run-id='{run_id}']")
    expect(fork).to_have_attribute("data-kind", "fork")
    expect(fork.locator(".scidex-Lineage-kind").first).to_have_text("fork")
    run = api(lab, f"runs/{run_id}")
    assert run["kind"] == "fork"


def test_a_bad_fork_shows_the_one_line_reason(page: Page, chain: Chain) -> None:
    art = open_artifact(open_workbench(page), "report", chain.report)
    art.locator(".scidex-Page-forkOpen").click()
    form = art.locator(".scidex-Page-fork")
    form.locator(".scidex-Fork-parameters").fill("{not json")
    form.locator(".scidex-Fork-preview-button").click()
    expect(form.locator(".scidex-Fork-error")).to_contain_text("parameters: not JSON")
    # an input the registry does not know: the server's 400, one line
    form.locator(".scidex-Fork-step").select_option(index=0)
    form.locator(".scidex-Fork-inputId").first.fill("a_doesnotexist")
    form.locator(".scidex-Fork-preview-button").click()
    error = form.locator(".scidex-Fork-error")
    expect(error).not_to_be_empty()
    assert "\n" not in error.inner_text() and "a_doesnotexist" in error.inner_text()


def test_an_unknown_artifact_shows_the_servers_message(page: Page) -> None:
    open_workbench(page)
    command(page, "scidex-replay:open-artifact", {"id": "a_nosuchthing"})
    error = page.locator(f"#{WORKBENCH} .scidex-Page .scidex-Workbench-error")
    expect(error).to_contain_text("a_nosuchthing")
    assert "\n" not in error.inner_text()


def test_cancel_interrupts_the_run_and_restart_completes_it(page: Page, lab: Lab, slow: str) -> None:
    art = open_artifact(open_workbench(page), "waited", slow)
    art.locator(".scidex-Page-replay").click()
    job = art.locator(".scidex-Page-job")
    expect(job.locator(".scidex-Job-current")).to_contain_text("running", timeout=SLOW)
    # the running step is highlighted in the graph
    expect(art.locator(".scidex-Graph-current.scidex-Graph-step")).to_have_count(1)
    job.locator(".scidex-Job-cancel").click()
    finished_job(art, "cancelled")
    run_id = job.locator(".scidex-Job-run").inner_text()
    run = art.locator(f".scidex-Lineage-item[data-run-id='{run_id}']")
    expect(run).to_have_attribute("data-status", "interrupted")
    restart = run.locator(".scidex-Lineage-restart").first
    expect(restart).to_be_visible()
    restart.click()
    job = finished_job(art)
    restarted = job.locator(".scidex-Job-run").inner_text()
    assert restarted != run_id
    child = run.locator(f".scidex-Lineage-item[data-run-id='{restarted}']")  # under its parent in the tree
    expect(child).to_have_attribute("data-kind", "restart")
    expect(child).to_have_attribute("data-status", "reproduced")
    assert api(lab, f"runs/{restarted}")["parent_run_id"] == run_id


def test_sidebar_and_graph_read_in_light_and_dark_themes(page: Page, chain: Chain) -> None:
    page.set_viewport_size({"width": 1900, "height": 1000})
    sidebar = open_workbench(page)
    art = open_artifact(sidebar, "report", chain.report)
    if not art.locator(".scidex-Lineage-item").count():
        art.locator(".scidex-Page-replay").click()
        finished_job(art)
        art.locator(".scidex-Page-back").click()  # the page afresh, without the job's pane
        art = open_artifact(sidebar, "report", chain.report)
    widen_left_area(page, 720)
    # the chain in a tab of the main area too, where it has room
    art.locator(".scidex-Page-openGraph").click()
    tab = page.locator(".jp-MainAreaWidget .scidex-GraphPanel")
    expect(tab.locator(".scidex-Graph-node")).to_have_count(art.locator(".scidex-Page-graph .scidex-Graph-node").count())
    tab.locator(".scidex-Graph-step").nth(1).click()
    expect(tab.locator(".scidex-Graph-details [data-field='outcome']")).not_to_be_empty()

    def contrasts() -> list[float]:
        """Each node label against its node's fill (sidebar and tab), and the sidebar's text against its background."""
        pairs = page.locator(".scidex-Graph-node").evaluate_all(
            """ns => ns.map(n => [getComputedStyle(n.querySelector('.scidex-Graph-label')).fill,
                                 getComputedStyle(n.querySelector('.scidex-Graph-shape')).fill])"""
        )
        bg = sidebar.evaluate("e => getComputedStyle(e).backgroundColor")
        for sel in (".scidex-Page-name", ".scidex-Lineage-runId"):
            pairs.append([art.locator(sel).first.evaluate("e => getComputedStyle(e).color"), bg])
        return [contrast(fg, back) for fg, back in pairs]

    assert page.evaluate("document.body.dataset.jpThemeLight") == "true"
    assert min(contrasts()) >= 4.5, contrasts()
    light_fill = art.locator(".scidex-Graph-shape").first.evaluate("e => getComputedStyle(e).fill")
    sidebar.screenshot(path=str(SHOTS / "workbench-light.png"))
    tab.screenshot(path=str(SHOTS / "graph-light.png"))
    command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    expect(page.locator("body[data-jp-theme-light='false']")).to_have_count(1, timeout=30_000)
    page.wait_for_timeout(500)  # the theme's stylesheet settles
    try:
        assert art.locator(".scidex-Graph-shape").first.evaluate("e => getComputedStyle(e).fill") != light_fill
        assert min(contrasts()) >= 4.5, contrasts()
        sidebar.screenshot(path=str(SHOTS / "workbench-dark.png"))
        tab.screenshot(path=str(SHOTS / "graph-dark.png"))
    finally:
        command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
        expect(page.locator("body[data-jp-theme-light='true']")).to_have_count(1, timeout=30_000)


def test_kept_manifests_are_listed_and_open_after_outputs_are_cleared(replayed: Page, lab: Lab) -> None:
    page = replayed
    command(page, "notebook:clear-all-cell-outputs")
    expect(page.locator(".jp-OutputArea .scidex-Manifest")).to_have_count(0)
    command(page, "docmanager:save")
    saved = json.loads((lab.root / "replay.ipynb").read_text())
    assert outputs_with_manifest(saved) == []
    kept = saved["metadata"]["scidex_replay"]["manifests"]
    assert len(kept) == 2
    sidebar = open_workbench(page)
    items = sidebar.locator(".scidex-Workbench-keptItem")
    expect(items).to_have_count(2)
    assert sorted(items.evaluate_all("ls => ls.map(l => l.dataset.runId)")) == sorted(kept)
    run_id = sorted(kept)[0]
    sidebar.locator(f".scidex-Workbench-keptItem[data-run-id='{run_id}']").click()
    panel = page.locator(f"#scidex-manifest-{run_id}")
    expect(panel.locator(".scidex-Manifest-runId")).to_have_text(run_id)
    shown = panel.locator(".scidex-Manifest-steps .scidex-Chip").all_inner_texts()
    assert shown == [s["outcome"] for s in kept[run_id]["steps"]]


def test_graph_mime_bundle_renders_in_a_notebook_output(lab: Lab, browser: Browser, chain: Chain) -> None:
    graph = api(lab, f"artifacts/{chain.report}/chain")["graph"]
    (lab.root / "graph.json").write_text(json.dumps(graph))
    write_notebook(
        lab.root / "graph.ipynb",
        "import json\nfrom IPython.display import display\n"
        "display({'application/vnd.scidex.replay-graph+json': json.load(open('graph.json'))}, raw=True)",
    )
    p = new_page(browser)
    try:
        lab.open(p, "graph.ipynb")
        command(p, "notebook:run-all-cells")
        view = p.locator(".jp-OutputArea .scidex-GraphView")
        expect(view.locator(".scidex-Graph-node")).to_have_count(len(graph["nodes"]), timeout=SLOW)
        view.locator(".scidex-Graph-step").first.click()
        expect(view.locator(".scidex-Graph-details [data-field='method']")).not_to_be_empty()
    finally:
        p.context.close()

