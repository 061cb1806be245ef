"""What the replay widget sends to the browser while a run goes on (through a fake comm that
counts bytes, no front end): one row per step, of a size that does not depend on the chain's
length; Cancel through the engine's event; the partial manifest of an interrupted run."""

from __future__ import annotations

import json
import threading

import pytest
from _comms import install

from scidex_replay.handlers.copy import CopyHandler
from scidex_replay.recording import run_handler
from scidex_replay.replay.engine import run_manifest
from scidex_replay.surfaces.manifest_view import COLUMNS, download_name
from scidex_replay.surfaces.widget import ReplayWidget


@pytest.fixture
def comms(monkeypatch):
    return install(monkeypatch)


def copy_chain(registry, tmp_path, n: int) -> str:
    """A chain of ``n`` cheap steps (``copy``, run in this process), recorded through the API."""
    seed = tmp_path / "seed.txt"
    seed.write_text("seed\n")
    current = str(seed)
    for k in range(n):
        current = run_handler(registry, CopyHandler(), method="copy", parameters={"k": k}, inputs=[current], output=f"o{k}.txt").id
    return current


def per_step_bytes(registry, tmp_path, comms, n: int) -> tuple[list[int], ReplayWidget]:
    """Bytes the widget sent per step of a replay of an ``n``-step chain (between two steps' results)."""
    w = ReplayWidget.for_artifact(registry, copy_chain(registry, tmp_path / str(n), n))
    sizes: list[int] = []
    mark = [None]
    inner = w._on_event

    def on_event(kind, payload):
        if kind == "step":  # all sent from one step's result to the next: its row, the progress, the next 'running'
            if mark[0] is not None:
                sizes.append(sum(size for _, _, size in comms[mark[0]:]))
            mark[0] = len(comms)
        inner(kind, payload)

    w._on_event = on_event
    w.replay()
    return sizes, w


def test_each_step_sends_one_row_of_a_size_independent_of_the_chain_length(registry, tmp_path, comms):
    (tmp_path / "30").mkdir()
    (tmp_path / "300").mkdir()
    short, w30 = per_step_bytes(registry, tmp_path, comms, 30)
    long, w300 = per_step_bytes(registry, tmp_path, comms, 300)
    try:
        assert len(short) == 29 and len(long) == 299
        assert w300.status == "reproduced" and len(w300.rows) == 300
        mean_short, mean_long = sum(short) / len(short), sum(long) / len(long)
        assert max(long) < 3000, f"a step sent {max(long)} bytes"
        assert mean_long < 1.2 * mean_short, (mean_short, mean_long)
        # the table's own messages: a step is one custom message holding one row, nothing resent whole
        table = [data for comm, data, _ in comms if comm is w300._table.comm]
        rows = [d["content"] for d in table if d.get("method") == "custom" and d["content"]["kind"] == "row"]
        assert len(rows) == 300 and sorted(r["index"] for r in rows) == list(range(300))
        assert set(rows[0]["row"]) == {"step_id", *COLUMNS}
        whole = [d for d in table if d.get("method") == "update" and "rows" in d.get("state", {})]
        assert len(whole) <= 3, "the whole table is sent only when a run starts and ends"
    finally:
        w30.close()
        w300.close()


def test_the_running_step_is_announced_before_its_row_comes(registry, tmp_path, comms):
    w = ReplayWidget.for_artifact(registry, copy_chain(registry, tmp_path, 3))
    try:
        w.replay()
        table = [d["content"] for c, d, _ in comms if c is w._table.comm and d.get("method") == "custom"]
        assert [(m["kind"], m["index"]) for m in table] == [
            ("running", 0), ("row", 0), ("running", 1), ("row", 1), ("running", 2), ("row", 2),
        ]
    finally:
        w.close()


def test_no_cell_holds_nan(registry, tmp_path, comms):
    w = ReplayWidget.for_artifact(registry, copy_chain(registry, tmp_path, 2))
    try:
        sent = [json.dumps(d, default=str) for _, d, _ in comms]
        w.replay()
        sent += [json.dumps(d, default=str) for _, d, _ in comms]
        assert not any("NaN" in s or '"nan"' in s for s in sent)
        assert "nan" not in w.static_html().replace("nanos", "")
        assert all(r["replayed hash"] is not None for r in w._table.rows)
    finally:
        w.close()


def test_the_download_is_named_after_the_run(registry, tmp_path, comms):
    w = ReplayWidget.for_artifact(registry, copy_chain(registry, tmp_path, 2))
    try:
        w.replay()
        assert download_name(w.manifest) == f"manifest-{w.run_id}.json"
        assert f'download="manifest-{w.run_id}.json"' in w._download.value
    finally:
        w.close()


def test_cancel_ends_the_run_interrupted_and_restart_completes_it(registry, tmp_path, comms):
    w = ReplayWidget.for_artifact(registry, copy_chain(registry, tmp_path, 5))
    inner = w._on_event

    def on_event(kind, payload):
        inner(kind, payload)
        if kind == "step" and payload["position"] == 1:
            w.cancel_button.click()  # what the browser's click does: the kernel reads it while the run goes on

    w._on_event = on_event
    try:
        assert not w.cancel_button.disabled or not w.running
        w.replay_all_button.click()
        assert w.wait(60)
        assert w.status == "interrupted" and w.run_id and w.last_failed_run == w.run_id
        assert not w.restart_button.disabled and w.cancel_button.disabled
        assert w.manifest == run_manifest(registry, w.run_id), "the partial manifest, as the engine keeps it"
        assert [r["outcome"] for r in w.rows] == ["reproduced", "reproduced", "pending", "pending", "pending"]
        assert w.run_id in w._status.value and "interrupted" in w._status.value
        interrupted = w.run_id
        w._on_event = inner
        w.restart_button.click()
        assert w.wait(60)
        assert w.status == "reproduced" and w.manifest["parent_run_id"] == interrupted
        assert [r["outcome"] for r in w.rows] == ["reused", "reused", "reproduced", "reproduced", "reproduced"]
    finally:
        w.close()


def test_a_keyboard_interrupt_keeps_the_widget_with_the_partial_manifest(registry, tmp_path, comms):
    w = ReplayWidget.for_artifact(registry, copy_chain(registry, tmp_path, 4))
    inner = w._on_event

    def on_event(kind, payload):
        inner(kind, payload)
        if kind == "step" and payload["position"] == 1:
            raise KeyboardInterrupt  # what the kernel's interrupt button raises in the running cell

    w._on_event = on_event
    try:
        report = w.replay()
        assert report.status == "interrupted" and report.run_id == w.run_id
        assert w.status == "interrupted" and w.last_failed_run == w.run_id and not w.restart_button.disabled
        assert [s["outcome"] for s in w.manifest["steps"]][:2] == ["reproduced", "reproduced"]
        assert w.manifest["status"] == "interrupted"
    finally:
        w.close()


def test_a_second_start_while_one_runs_is_refused_in_the_status_line(registry, tmp_path, comms):
    w = ReplayWidget.for_artifact(registry, copy_chain(registry, tmp_path, 3))
    gate, release = threading.Event(), threading.Event()
    inner = w._on_event

    def on_event(kind, payload):
        inner(kind, payload)
        if kind == "start":
            gate.set()
            release.wait(30)

    w._on_event = on_event
    try:
        w.replay_all_button.click()
        assert gate.wait(30)
        assert w.start() is None and "already running" in w.message
        release.set()
        assert w.wait(60) and w.status == "reproduced"
    finally:
        release.set()
        w.close()


def test_the_chain_graph_is_shown_at_the_start_and_coloured_once_at_the_end(registry, tmp_path, comms):
    from scidex_replay.surfaces.graph import MIME as GRAPH_MIME

    w = ReplayWidget.for_artifact(registry, copy_chain(registry, tmp_path, 3))
    try:
        (shown,) = w._graph.outputs
        steps = [n for n in shown["data"][GRAPH_MIME]["nodes"] if n["type"] == "step"]
        assert [n["outcome"] for n in steps] == [None] * 3
        updates = []
        w._graph.observe(lambda ch: updates.append(w.progress), names="outputs")
        w.replay()
        assert updates == [3], "the graph is sent when the run ends, not per step"
        graph = w._graph.outputs[0]["data"][GRAPH_MIME]
        assert [n["outcome"] for n in graph["nodes"] if n["type"] == "step"] == ["reproduced"] * 3
        assert graph["run"]["run_id"] == w.run_id
    finally:
        w.close()


def test_the_cell_output_becomes_the_static_manifest_once_nothing_is_left_to_restart(registry, tmp_path, comms):
    from scidex_replay.replay.manifest import MIMETYPE
    from scidex_replay.surfaces.widget import WIDGET_VIEW

    w = ReplayWidget.for_artifact(registry, copy_chain(registry, tmp_path, 3))
    inner = w._on_event

    def on_event(kind, payload):
        inner(kind, payload)
        if kind == "step" and payload["position"] == 0:
            w.cancel()

    w._on_event = on_event
    try:
        assert WIDGET_VIEW in w.output_bundle() and MIMETYPE not in w.output_bundle()
        w.replay()
        interrupted = w.output_bundle()
        assert interrupted[MIMETYPE]["run_id"] == w.run_id and interrupted[MIMETYPE]["status"] == "interrupted"
        assert WIDGET_VIEW in interrupted, "an interrupted run keeps the widget (Restart) above its manifest"
        w._on_event = inner
        w.replay(restart=w.last_failed_run)
        final = w.output_bundle()
        assert final[MIMETYPE]["status"] == "reproduced" and WIDGET_VIEW not in final
        assert {"text/html", "text/plain"} <= set(final)
    finally:
        w.close()
