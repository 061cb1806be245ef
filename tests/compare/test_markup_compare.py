"""The markup comparator: plotly HTML and matplotlib SVG written twice by the real libraries."""

from __future__ import annotations

import json
import re
import sys
import tracemalloc
import uuid
from pathlib import Path

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402
import plotly.graph_objects as go  # noqa: E402

from scidex_replay.compare.base import Tolerance  # noqa: E402
from scidex_replay.compare.markup import MarkupComparator  # noqa: E402
from scidex_replay.compare.registry import compare_files, load_comparators  # noqa: E402

NOISE = Tolerance()
UUID = re.compile(r'<div id="([0-9a-f-]{36})"')


def plotly_html(path: Path, y=(1.5, 2.25, 1.75)) -> str:
    """A scatter plot as plotly writes it (shared case 05-plotly-html); returns its div id."""
    go.Figure(go.Scatter(x=[0, 1, 2], y=list(y), mode="markers")).write_html(path, include_plotlyjs="cdn", full_html=True)
    return UUID.search(path.read_text()).group(1)


def svg(path: Path, y=(1, 4, 9)) -> None:
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], list(y), marker="o")
    fig.savefig(path)
    plt.close(fig)


def compare(a: Path, b: Path):
    return compare_files(a, b, name=b.name, tolerance=NOISE)


def test_is_sniffed_from_the_first_bytes_whatever_the_name():
    comparators = load_comparators()
    assert comparators.choose(b"\n  <!DOCTYPE html>\n<html>", "report").name == "markup"
    assert comparators.choose(b'<?xml version="1.0"?>\n<svg>', "plot.out").name == "markup"
    assert comparators.choose(b"<svg xmlns=", "x").name == "markup"
    assert comparators.choose(b"<p>a fragment</p>", "page.html").name == "markup"  # by extension
    assert comparators.choose(b"just text", "notes").name == "text"


def test_a_plotly_page_whose_div_id_changed_is_equivalent_and_names_the_ids(tmp_path):
    a, b = tmp_path / "live.html", tmp_path / "scatter.html"
    id_a, id_b = plotly_html(a), plotly_html(b)
    assert id_a != id_b and a.read_bytes() != b.read_bytes()
    c = compare(a, b)
    assert c.comparator == "markup" and c.equivalent and c.kinds == ["volatile-id"]
    assert c.summary == f"equivalent: only the div id {id_a[:8]}… → {id_b[:8]}… differs"
    (d,) = c.differences
    assert d.detail == f"div id {id_a} → {id_b} (3 occurrences)"  # the div, getElementById, newPlot
    assert c.metrics["ids_differing"] == 1 and c.metrics["hunks"] == 0


def test_a_plotly_page_with_another_point_is_content_and_still_names_the_ids(tmp_path):
    a, b = tmp_path / "live.html", tmp_path / "scatter.html"
    id_a, id_b = plotly_html(a), plotly_html(b, y=(1.5, 2.5, 1.75))
    c = compare(a, b)
    assert not c.equivalent and c.kinds == ["volatile-id", "content"]
    assert re.fullmatch(rf"content differs: 1 line\(s\) in 1 place\(s\), first at line \d+; also the div id {id_a[:8]}… → {id_b[:8]}…", c.summary)
    assert "2.25" in c.differences[0].detail and "2.5" in c.differences[0].detail
    assert f"# ⟨id1⟩ = {id_a} (live), {id_b} (replayed)" in c.full_diff


def test_a_matplotlib_svg_saved_twice_differs_in_hex_ids_and_its_date_only(tmp_path):
    a, b = tmp_path / "a.svg", tmp_path / "fig.svg"
    svg(a)
    svg(b)
    assert a.read_bytes() != b.read_bytes()
    c = compare(a, b)
    assert c.equivalent and c.kinds == ["metadata", "volatile-id"]
    assert re.fullmatch(r"equivalent: only \d+ ids \(path id m[0-9a-f]{7}… → m[0-9a-f]{7}…, .*\) and metadata \(dc:date\) differ", c.summary)
    assert any(d.detail.startswith("clipPath id p") for d in c.differences)
    (date,) = [d for d in c.differences if d.kind.value == "metadata"]
    assert date.detail.startswith("dc:date 20")


def test_a_matplotlib_svg_of_other_data_is_content(tmp_path):
    a, b = tmp_path / "a.svg", tmp_path / "fig.svg"
    svg(a)
    svg(b, y=(1, 4, 10))
    c = compare(a, b)
    assert not c.equivalent and "content" in c.kinds and "volatile-id" in c.kinds


def test_the_same_ids_on_both_sides_with_only_line_endings_changed_are_metadata(tmp_path):
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    a.write_bytes(b'<?xml version="1.0"?>\r\n<r id="a1b2c3d4e5">\r\n</r>\r\n')
    b.write_bytes(b'<?xml version="1.0"?>\n<r id="a1b2c3d4e5">\n</r>\n')
    c = compare(a, b)
    assert c.equivalent and c.kinds == ["metadata"] and c.summary == "equivalent: line endings differ ('\\r\\n' → '\\n')"


def test_a_truncated_or_binary_file_that_sniffs_as_markup_is_compared_without_crashing(tmp_path):
    a, b, junk = tmp_path / "a.html", tmp_path / "b.html", tmp_path / "junk.html"
    plotly_html(a)
    b.write_bytes(a.read_bytes()[:-40])
    junk.write_bytes(b"<svg" + bytes(range(256)) * 10)
    for other in (b, junk):
        c = compare(a, other)
        assert c.comparator == "markup" and not c.equivalent


def test_a_large_page_is_diffed_in_bounded_memory(tmp_path):
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    body = "".join(f"<tr><td>{i}</td><td>{i * 0.5}</td></tr>\n" for i in range(150_000))
    for path in (a, b):
        path.write_text(f'<!DOCTYPE html>\n<html><body><table>\n{body}</table><div id="{uuid.uuid4()}"></div></body></html>\n')
    assert a.stat().st_size > 5_000_000
    tracemalloc.start()
    try:
        c = MarkupComparator().compare(a, b, name="b.html", tolerance=NOISE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert c.equivalent and c.kinds == ["volatile-id"]
    assert peak < 3 << 20, f"peak {peak} bytes"


def test_a_recorded_plotly_step_replays_as_equivalent(cli, tmp_path):
    script = tmp_path / "scatter_html.py"
    script.write_text(
        "import sys, csv\nimport plotly.graph_objects as go\n"
        "src, dst = sys.argv[1], sys.argv[2]\nrows = list(csv.DictReader(open(src)))\n"
        "fig = go.Figure(go.Scatter(x=[float(r['t']) for r in rows], y=[float(r['v']) for r in rows], mode='markers'))\n"
        "fig.write_html(dst, include_plotlyjs='cdn', full_html=True)\n"
    )
    readings = tmp_path / "readings.csv"
    readings.write_text("t,v\n0,1.5\n1,2.25\n2,1.75\n")  # shared case 05-plotly-html (plotly.py#3449)
    rec = cli("run", "-i", "scatter_html.py", "-i", "readings.csv", "-o", "scatter.html", "--",
              sys.executable, "scatter_html.py", "readings.csv", "scatter.html", cwd=tmp_path)
    assert rec.returncode == 0, rec.stderr
    artifact = rec.stdout.split()[0]
    replay = cli("rerun-artifact", artifact, "--out", tmp_path / "m", timeout=120)
    assert replay.returncode == 1, replay.stdout + replay.stderr  # equivalent is not ok unless accepted
    (step,) = json.loads((tmp_path / "m" / "manifest.json").read_text())["steps"]
    assert step["outcome"] == "equivalent"
    comparison = step["comparison"]
    assert comparison["comparator"] == "markup" and comparison["equivalent"] is True
    assert re.fullmatch(r"equivalent: only the div id [0-9a-f]{8}… → [0-9a-f]{8}… differs", comparison["summary"])
    assert [d["kind"] for d in comparison["differences"]] == ["volatile-id"]
    accepted = cli("rerun-artifact", artifact, "--accept", "equivalent", "--out", tmp_path / "m2", timeout=120)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
