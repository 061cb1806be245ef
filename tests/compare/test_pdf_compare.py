"""The PDF comparator on documents made by matplotlib and pypdf, and a plotting step whose PDF
carries the clock in /CreationDate replayed through the CLI."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from pypdf import PdfReader, PdfWriter  # noqa: E402

from scidex_replay.compare import Kind, Tolerance, compare_files, load_comparators  # noqa: E402


def compare(a: Path, b: Path, name: str = "plot.pdf"):
    return compare_files(a, b, name=name, tolerance=Tolerance())


def plot_pdf(path: Path, *, title="growth", ys=(1, 4, 9), created=datetime(2024, 1, 1, 12, 0, 0), **metadata) -> Path:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2, 3], list(ys))
    ax.set_ylim(0, 10)
    ax.set_title(title)
    fig.savefig(path, metadata={"CreationDate": created, **metadata})
    plt.close(fig)
    return path


def pages_pdf(path: Path, n: int) -> Path:
    with PdfPages(path, metadata={"CreationDate": datetime(2024, 1, 1)}) as pdf:
        for i in range(n):
            fig, ax = plt.subplots(figsize=(2, 2))
            ax.set_title(f"page {i + 1}")
            pdf.savefig(fig)
            plt.close(fig)
    return path


def test_a_matplotlib_pdf_saved_again_with_another_creation_date_is_equivalent(tmp_path):
    c = compare(plot_pdf(tmp_path / "a.pdf"), plot_pdf(tmp_path / "b.pdf", created=datetime(2024, 1, 1, 12, 0, 5)))

    assert c.comparator == "pdf" and c.equivalent and c.kinds == ["metadata"]
    assert [d.to_json() for d in c.differences] == [
        {"where": "document info /CreationDate", "kind": "metadata", "detail": "'D:20240101120000Z' → 'D:20240101120005Z'"},
    ]
    assert c.summary == "equivalent: pages equal; only document info /CreationDate differs"
    assert c.metrics == {"pages_live": 1, "pages_replayed": 1, "pages_changed": 0}


def test_producer_creator_moddate_and_trailer_id_are_metadata_as_galaxy_ignores_them(tmp_path):
    a = plot_pdf(tmp_path / "a.pdf")
    b = plot_pdf(tmp_path / "b.pdf", Producer="other backend", Creator="other tool", ModDate=datetime(2024, 2, 2))
    for src, name in ((a, "a2.pdf"), (b, "b2.pdf")):
        w = PdfWriter(clone_from=src)
        w.generate_file_identifiers()  # a random trailer /ID per file
        w.write(tmp_path / name)
    assert PdfReader(tmp_path / "a2.pdf").trailer["/ID"] != PdfReader(tmp_path / "b2.pdf").trailer["/ID"]

    c = compare(tmp_path / "a2.pdf", tmp_path / "b2.pdf")
    assert c.equivalent and c.kinds == ["metadata"]
    assert [d.where for d in c.differences] == [
        "document info /Creator", "document info /ModDate", "document info /Producer", "trailer /ID",
    ]
    assert c.summary == "equivalent: pages equal; only document info /Creator, document info /ModDate, document info /Producer, trailer /ID differ"


def test_changed_text_is_content_naming_page_and_line(tmp_path):
    c = compare(plot_pdf(tmp_path / "a.pdf"), plot_pdf(tmp_path / "b.pdf", title="growth (n=3)", created=datetime(2024, 1, 2)))

    assert not c.equivalent and c.kinds == ["metadata", "content"]
    first = c.differences[0]
    assert first.kind is Kind.CONTENT and first.where.startswith("page 1 text line ")
    assert first.detail == "'growth' → 'growth (n=3)'"
    assert c.summary == f"content differs: 1 of 1 pages; first: {first.where}: 'growth' → 'growth (n=3)'; also document info /CreationDate"
    assert (c.metrics["pages_changed"], c.metrics["first_changed_page"]) == (1, 1)


def test_a_changed_drawing_with_the_same_text_is_content(tmp_path):
    c = compare(plot_pdf(tmp_path / "a.pdf"), plot_pdf(tmp_path / "b.pdf", ys=(1, 4, 8)))

    assert not c.equivalent
    assert c.differences[0].to_json() == {
        "where": "page 1", "kind": "content",
        "detail": "the text is equal but the drawing differs (content stream, resources or annotations)",
    }


def test_another_title_in_the_document_info_is_content(tmp_path):
    c = compare(plot_pdf(tmp_path / "a.pdf", Title="Run A"), plot_pdf(tmp_path / "b.pdf", Title="Run B"))
    assert not c.equivalent
    assert c.differences[0].to_json() == {"where": "document info /Title", "kind": "content", "detail": "'Run A' → 'Run B'"}


def test_another_page_count_is_content(tmp_path):
    c = compare(pages_pdf(tmp_path / "a.pdf", 2), pages_pdf(tmp_path / "b.pdf", 3))
    assert not c.equivalent
    assert c.differences[0].to_json() == {"where": "document", "kind": "content", "detail": "page count 2 → 3"}
    assert c.summary == "content differs: the document; first: document: page count 2 → 3"


def test_recompressed_pages_are_equivalent_file_layout(tmp_path):
    src = plot_pdf(tmp_path / "a.pdf")
    w = PdfWriter(clone_from=src)
    for page in w.pages:
        page.compress_content_streams(level=1)
    w.write(tmp_path / "b.pdf")
    plain = PdfWriter(clone_from=src)
    plain.write(tmp_path / "a2.pdf")
    assert (tmp_path / "a2.pdf").read_bytes() != (tmp_path / "b.pdf").read_bytes()

    c = compare(tmp_path / "a2.pdf", tmp_path / "b.pdf")
    assert c.equivalent and c.summary == "equivalent: pages equal; only file layout differs"


def test_a_damaged_pdf_falls_back_to_bytes(tmp_path):
    good = plot_pdf(tmp_path / "a.pdf")
    bad = tmp_path / "b.pdf"
    bad.write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 50)
    assert load_comparators().choose(bad.read_bytes(), "plot.pdf").name == "pdf"

    c = compare(good, bad)
    assert c.comparator == "bytes" and c.metrics["comparator_unavailable"] == "pdf"
    assert c.differences[0].detail.startswith("the pdf comparator could not read it (")


PLOT = '''"""A plot saved as PDF with the clock in /CreationDate (matplotlib's default, now, yields to
SOURCE_DATE_EPOCH, which the deterministic mode sets; this script asks for the clock)."""
from datetime import datetime
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(3, 2))
ax.plot([1, 2, 3], [1, 4, 9])
fig.savefig("plot.pdf", metadata={"CreationDate": datetime.now()})
'''


def test_a_matplotlib_pdf_step_replayed_a_second_later_is_equivalent_through_the_cli(cli, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "plot.py").write_text(PLOT)
    ran = cli("run", "-i", "plot.py", "-o", "plot.pdf", "--", sys.executable, "plot.py", cwd=work, timeout=120)
    assert ran.returncode == 0, ran.stderr
    recorded_by = time.time()
    time.sleep(max(0.0, recorded_by + 1.05 - time.time()))  # /CreationDate has 1 s resolution

    proc = cli("rerun-artifact", ran.stdout.strip(), "--json", "--out", str(tmp_path / "m"), cwd=work, timeout=120)

    assert proc.returncode == 1, proc.stderr
    (step,) = json.loads(proc.stdout)["steps"]
    assert step["outcome"] == "equivalent"
    comparison = step["comparison"]
    assert comparison["comparator"] == "pdf" and comparison["equivalent"] is True
    assert comparison["summary"] == "equivalent: pages equal; only document info /CreationDate differs"
    (diff,) = comparison["differences"]
    x, y = diff["detail"].split(" → ")
    assert diff["kind"] == "metadata" and x < y


@pytest.mark.parametrize("head", [b"%PDF-1.4\n", b"%PDF-2.0"])
def test_sniffs_pdf(head):
    assert load_comparators().choose(head, "anything").name == "pdf"
