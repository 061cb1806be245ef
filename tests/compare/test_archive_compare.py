"""The zip, gzip and tar comparators on archives made by the real tools (openpyxl, zipfile,
gzip, tarfile), and one xlsx step recorded and replayed through the CLI."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from openpyxl import Workbook
from PIL import Image

from scidex_replay.compare import Kind, Tolerance, compare_files, load_comparators
from scidex_replay.compare.archives import GzipComparator, TarComparator, ZipComparator

CASE = Path("/work/shared/cases/01-xlsx-openpyxl")
TO_XLSX = '''"""Summarise a CSV into an .xlsx workbook with openpyxl (the shared case 01-xlsx-openpyxl)."""
import csv, sys
from openpyxl import Workbook

src, dst = sys.argv[1], sys.argv[2]
wb = Workbook()
ws = wb.active
ws.title = "summary"
ws.append(["site", "mean"])
rows = {}
with open(src) as fh:
    for r in csv.DictReader(fh):
        rows.setdefault(r["site"], []).append(float(r["value"]))
for site in sorted(rows):
    ws.append([site, sum(rows[site]) / len(rows[site])])
wb.save(dst)
'''
DATA = "site,value\nA,1.0\nA,3.0\nB,2.5\nB,4.5\n"
XLSX_MEMBERS = 9


def compare(a: Path, b: Path, name: str, tolerance: Tolerance = Tolerance()):
    return compare_files(a, b, name=name, tolerance=tolerance)


def workbook(path: Path, b_mean: float = 3.5) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "summary"
    ws.append(["site", "mean"])
    ws.append(["A", 2.0])
    ws.append(["B", b_mean])
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def books(tmp_path_factory) -> dict[str, Path]:
    """openpyxl workbooks: one saved now, the others more than 2 s later (zip times have 2 s
    resolution): the same data, one cell changed, one cell off by float noise, one by 1e-6."""
    d = tmp_path_factory.mktemp("books")
    first = workbook(d / "first.xlsx")
    time.sleep(2.1)
    return {
        "first": first,
        "same": workbook(d / "same.xlsx"),
        "changed": workbook(d / "changed.xlsx", 4.0),
        "noise": workbook(d / "noise.xlsx", 3.5 + 1e-12),
        "micro": workbook(d / "micro.xlsx", 3.5 + 1e-6),
    }


# -- zip: office documents ---------------------------------------------------------
def test_an_openpyxl_workbook_saved_again_is_equivalent_naming_core_xml_and_member_times(books):
    c = compare(books["first"], books["same"], "summary.xlsx")

    assert c.comparator == "zip" and c.equivalent and c.kinds == ["metadata"]
    assert c.summary == f"equivalent: only zip member times ({XLSX_MEMBERS} members) and docProps/core.xml dcterms:created, dcterms:modified differ"
    wheres = [d.where for d in c.differences]
    assert "docProps/core.xml dcterms:modified" in wheres and "docProps/core.xml dcterms:created" in wheres
    assert sum(d.detail.startswith("time ") for d in c.differences) == XLSX_MEMBERS
    modified = next(d for d in c.differences if d.where == "docProps/core.xml dcterms:modified")
    x, y = modified.detail.split(" → ")
    assert x < y and x.endswith("Z")  # two W3CDTF times, the replayed one later
    assert c.metrics["members_live"] == c.metrics["members_replayed"] == XLSX_MEMBERS
    assert c.metrics["members_changed"] == 0 and c.metrics["members_equivalent"] == XLSX_MEMBERS
    assert c.to_json()["equivalent"] is True


def test_a_changed_cell_is_content_named_by_sheet_member_and_cell(books):
    c = compare(books["first"], books["changed"], "summary.xlsx")

    assert not c.equivalent and c.kinds == ["metadata", "content"]
    first = c.differences[0]
    assert (first.where, first.kind) == ("xl/worksheets/sheet1.xml (sheet 'summary') cell B3", Kind.CONTENT)
    assert first.detail == "'3.5' → '4' (abs diff 0.5, rel 0.143)"
    assert [d.kind for d in c.differences].count(Kind.CONTENT) == 1
    assert c.summary.startswith(
        "content differs: 1 of 9 members (xl/worksheets/sheet1.xml); first: "
        "xl/worksheets/sheet1.xml (sheet 'summary') cell B3: '3.5' → '4'"
    )
    assert c.summary.endswith("; also zip member times (9 members) and docProps/core.xml dcterms:created, dcterms:modified")
    assert c.metrics["members_changed"] == 1
    assert c.metrics["members"]["xl/worksheets/sheet1.xml"] == {
        "cells_changed": 1, "cells_within_tolerance": 0, "max_abs_diff": 0.5, "max_rel_diff": 0.5 / 3.5, "max_abs_diff_at": "B3",
    }


def test_a_cell_off_by_float_noise_is_numeric_and_one_beyond_the_tolerance_is_content(books):
    noise = compare(books["first"], books["noise"], "summary.xlsx")
    micro = compare(books["first"], books["micro"], "summary.xlsx")
    declared = compare(books["first"], books["micro"], "summary.xlsx", Tolerance(rtol=1e-5, declared=True))

    assert noise.equivalent and noise.kinds == ["metadata", "numeric"]
    assert noise.summary.startswith("equivalent: only numbers within tolerance in xl/worksheets/sheet1.xml (1 cell, max abs diff 1e-12)")
    assert noise.differences[0].where.endswith("cell B3") and noise.differences[0].kind is Kind.NUMERIC
    assert not micro.equivalent and micro.differences[0].kind is Kind.CONTENT
    assert micro.metrics["members"]["xl/worksheets/sheet1.xml"]["max_abs_diff"] == pytest.approx(1e-6)
    assert declared.equivalent and declared.kinds == ["metadata", "numeric"]


def _zip(path: Path, members: list[tuple[str, bytes | str]], when=(2024, 1, 1, 12, 0, 0)) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, when)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


CORE = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/'
        'package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:title>{title}</dc:title><dcterms:created xsi:type="dcterms:W3CDTF">'
        '2024-01-01T12:00:00Z</dcterms:created><dcterms:modified xsi:type="dcterms:W3CDTF">{modified}</dcterms:modified></cp:coreProperties>')
DOCUMENT = ('<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>\n'
            '<w:p><w:r><w:t>Results</w:t></w:r></w:p>\n<w:p><w:r><w:t>{text}</w:t></w:r></w:p>\n</w:body></w:document>\n')


def docx(path: Path, *, modified="2024-01-01T12:00:00Z", title="Report", text="mean 2.5", order=1, when=(2024, 1, 1, 12, 0, 0)) -> Path:
    members = [("[Content_Types].xml", "<Types/>"), ("docProps/core.xml", CORE.format(title=title, modified=modified)),
               ("word/document.xml", DOCUMENT.format(text=text))]
    return _zip(path, members if order == 1 else [members[0], members[2], members[1]], when)


def test_a_docx_whose_core_xml_time_differs_is_metadata_and_a_changed_title_is_content(tmp_path):
    base = docx(tmp_path / "a.docx")
    later = docx(tmp_path / "b.docx", modified="2024-01-01T12:00:07Z")
    retitled = docx(tmp_path / "c.docx", modified="2024-01-01T12:00:07Z", title="Draft")

    c = compare(base, later, "report.docx")
    assert c.equivalent and c.kinds == ["metadata"]
    assert [d.to_json() for d in c.differences] == [
        {"where": "docProps/core.xml dcterms:modified", "kind": "metadata", "detail": "2024-01-01T12:00:00Z → 2024-01-01T12:00:07Z"},
    ]
    assert c.summary == "equivalent: only docProps/core.xml dcterms:modified differs"
    other = compare(base, retitled, "report.docx")
    assert not other.equivalent
    assert other.differences[0].where.startswith("docProps/core.xml") and other.differences[0].kind is Kind.CONTENT
    assert "Draft" in other.differences[0].detail


def test_a_docx_member_with_changed_text_is_compared_by_its_own_comparator(tmp_path):
    c = compare(docx(tmp_path / "a.docx"), docx(tmp_path / "b.docx", text="mean 2.7"), "report.docx")

    assert not c.equivalent and c.kinds == ["content"]
    chosen = load_comparators().choose(DOCUMENT.encode(), "word/document.xml").name  # text, or an XML comparator
    assert c.metrics["members"]["word/document.xml"]["comparator"] == chosen
    assert all(d.where.startswith("word/document.xml: ") for d in c.differences)
    assert "mean 2.7" in c.differences[0].detail
    assert c.summary.startswith("content differs: 1 of 3 members (word/document.xml); first: word/document.xml: ")
    if chosen == "text":
        assert [d.to_json() for d in c.differences] == [{
            "where": "word/document.xml: line 3", "kind": "content",
            "detail": "column 23: '<w:p><w:r><w:t>mean 2.5</w:t></w:r></w:p>' → '<w:p><w:r><w:t>mean 2.7</w:t></w:r></w:p>'",
        }]
        assert "=== word/document.xml\n" in c.full_diff and "+<w:p><w:r><w:t>mean 2.7" in c.full_diff


def test_members_in_another_order_with_other_times_are_order_and_metadata(tmp_path):
    c = compare(docx(tmp_path / "a.docx"), docx(tmp_path / "b.docx", order=2, when=(2024, 1, 1, 12, 0, 2)), "report.docx")

    assert c.equivalent and c.kinds == ["metadata", "order"]
    assert c.differences[0].to_json() == {
        "where": "member #2", "kind": "order",
        "detail": "the same members in another order: 'docProps/core.xml' recorded, 'word/document.xml' replayed",
    }
    assert c.summary == "equivalent: only member order and zip member times (3 members) differ"


def test_a_member_added_or_removed_is_content(tmp_path):
    a = _zip(tmp_path / "a.zip", [("x.txt", "x\n")])
    b = _zip(tmp_path / "b.zip", [("x.txt", "x\n"), ("y.txt", "y\n")])

    c = compare(a, b, "out.zip")
    assert not c.equivalent
    assert c.differences[0].to_json() == {"where": "y.txt", "kind": "content", "detail": "member only in the replayed archive"}
    assert (c.metrics["members_added"], c.metrics["members_removed"], c.metrics["members_changed"]) == (1, 0, 1)
    assert c.summary == "content differs: 1 of 1 members (y.txt); first: y.txt: member only in the replayed archive"


def test_odf_meta_and_jar_manifest_fields_are_metadata(tmp_path):
    meta = ('<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            '<office:meta><meta:generator>{gen}</meta:generator><meta:creation-date>{t}</meta:creation-date><dc:date>{t}</dc:date>'
            '<meta:editing-duration>PT{s}S</meta:editing-duration><dc:title>Table</dc:title></office:meta></office:document-meta>')
    ods = [_zip(tmp_path / f"{n}.ods", [("mimetype", "application/vnd.oasis.opendocument.spreadsheet"), ("content.xml", "<c/>"),
                                        ("meta.xml", meta.format(gen=g, t=t, s=s))])
           for n, g, t, s in (("a", "LibreOffice/7.5", "2024-01-01T12:00:00", 1), ("b", "LibreOffice/7.6", "2024-01-01T12:00:09", 2))]
    manifest = "Manifest-Version: 1.0\r\nCreated-By: {jdk} (Oracle)\r\nBuild-Jdk: {jdk}\r\nMain-Class: org.example.Main\r\n\r\n"
    jars = [_zip(tmp_path / f"{n}.jar", [("META-INF/MANIFEST.MF", manifest.format(jdk=j)), ("org/example/Main.class", b"\xca\xfe\xba\xbe")])
            for n, j in (("a", "17.0.1"), ("b", "21.0.2"))]

    c = compare(*ods, "table.ods")
    assert c.equivalent and c.kinds == ["metadata"]
    assert [d.where for d in c.differences] == [
        "meta.xml meta:creation-date", "meta.xml dc:date", "meta.xml meta:generator", "meta.xml meta:editing-duration",
    ]
    assert c.differences[2].detail == "LibreOffice/7.5 → LibreOffice/7.6"
    j = compare(*jars, "app.jar")
    assert j.equivalent and j.summary == "equivalent: only META-INF/MANIFEST.MF Created-By, Build-Jdk differs"
    changed_main = _zip(tmp_path / "c.jar", [("META-INF/MANIFEST.MF", manifest.format(jdk="21.0.2").replace("Main\r", "App\r")),
                                             ("org/example/Main.class", b"\xca\xfe\xba\xbe")])
    assert not compare(jars[0], changed_main, "app.jar").equivalent


def test_a_png_member_is_compared_as_an_image_and_its_diff_image_comes_back(tmp_path):
    def png(shade: int, when: str) -> bytes:
        arr = np.full((20, 30, 3), 255, dtype=np.uint8)
        arr[5:10, 5:10] = shade
        buf = io.BytesIO()
        from PIL import PngImagePlugin
        info = PngImagePlugin.PngInfo()
        info.add_text("Creation Time", when)
        Image.fromarray(arr).save(buf, "PNG", pnginfo=info)
        return buf.getvalue()
    a = _zip(tmp_path / "a.zip", [("plots/fig.png", png(0, "t1"))])
    b = _zip(tmp_path / "b.zip", [("plots/fig.png", png(0, "t2"))])
    c_ = _zip(tmp_path / "c.zip", [("plots/fig.png", png(100, "t2"))])

    same = compare(a, b, "plots.zip")
    assert same.equivalent
    assert [d.where for d in same.differences] == ["plots/fig.png: PNG tEXt 'Creation Time'"]
    assert same.summary == "equivalent: only plots/fig.png (pixels equal; PNG tEXt 'Creation Time') differs"
    changed = compare(a, c_, "plots.zip")
    try:
        assert not changed.equivalent
        assert changed.differences[0].where == "plots/fig.png: pixels (5,5)-(10,10)"
        assert changed.metrics["members"]["plots/fig.png"]["changed_pixels"] == 25
        assert Image.open(changed.attachments["diff_image"]).size == (30, 20)
    finally:
        for path in changed.attachments.values():
            path.unlink()


# -- gzip and tar ------------------------------------------------------------------
def gz(path: Path, data: bytes, mtime: int, filename: str = "") -> Path:
    with open(path, "wb") as raw, gzip.GzipFile(filename=filename, mode="wb", fileobj=raw, mtime=mtime) as g:
        g.write(data)
    return path


def test_gzip_files_differing_in_header_mtime_only_are_equivalent(tmp_path):
    text = b"alpha\nbeta\ngamma\n"
    c = compare(gz(tmp_path / "a.gz", text, 1_700_000_000), gz(tmp_path / "b.gz", text, 1_700_000_100), "notes.txt.gz")

    assert c.comparator == "gzip" and c.equivalent and c.kinds == ["metadata"]
    assert [d.to_json() for d in c.differences] == [
        {"where": "gzip header", "kind": "metadata", "detail": "mtime 2023-11-14 22:13:20 UTC → 2023-11-14 22:15:00 UTC"},
    ]
    assert c.summary == "equivalent: only gzip header mtime differs"
    assert c.metrics["payload_name"] == "notes.txt" and c.metrics["payload_size_live"] == len(text)


def test_a_gzip_payload_that_differs_is_compared_under_its_inner_name(tmp_path):
    a = gz(tmp_path / "a.gz", b"alpha\nbeta\ngamma\n", 1)
    b = gz(tmp_path / "b.gz", b"alpha\nBETA\ngamma\n", 2)
    c = compare(a, b, "notes.txt.gz")

    assert not c.equivalent and c.kinds == ["metadata", "content"]
    assert c.differences[0].to_json() == {"where": "notes.txt: line 2", "kind": "content", "detail": "column 1: 'beta' → 'BETA'"}
    assert c.summary == "content differs: the payload notes.txt; first: notes.txt: line 2: column 1: 'beta' → 'BETA'; also gzip header mtime"
    csv = compare(gz(tmp_path / "c.gz", b"x,y\n1,2\n", 1), gz(tmp_path / "d.gz", b"x,y\n1,3\n", 1), "data.csv.gz")
    expected = load_comparators().choose(b"x,y\n1,2\n", "data.csv").name  # csv when installed, else text
    assert csv.metrics["payload_name"] == "data.csv"
    assert csv.metrics["members"]["data.csv"]["comparator"] == expected
    assert not csv.equivalent and all(d.where.startswith("data.csv") for d in csv.differences)


def tar(path: Path, members: list[tuple[str, bytes]], mtime: int, uid: int = 1000, fmt=tarfile.GNU_FORMAT) -> Path:
    with tarfile.open(path, "w", format=fmt) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uid, info.uname, info.mode = len(data), mtime, uid, f"user{uid}", 0o644
            t.addfile(info, io.BytesIO(data))
    return path


def test_tar_members_with_other_times_and_owners_are_equivalent(tmp_path):
    members = [("data/a.txt", b"one\n"), ("data/b.txt", b"two\n")]
    c = compare(tar(tmp_path / "a.tar", members, 1_700_000_000), tar(tmp_path / "b.tar", members, 1_700_000_004, uid=1001), "out.tar")

    assert c.comparator == "tar" and c.equivalent and c.kinds == ["metadata"]
    assert c.summary == "equivalent: only tar member times (2 members), member owners (2 members) and member owner names (2 members) differ"
    assert c.differences[0].to_json() == {"where": "data/a.txt", "kind": "metadata", "detail": "mtime 2023-11-14 22:13:20 UTC → 2023-11-14 22:13:24 UTC"}
    assert c.metrics["members_equivalent"] == 2 and c.metrics["members_changed"] == 0


def test_a_tar_member_whose_payload_changed_is_content_and_reordering_is_order(tmp_path):
    base = tar(tmp_path / "a.tar", [("a.txt", b"one\n"), ("b.txt", b"two\n")], 5)
    changed = tar(tmp_path / "b.tar", [("a.txt", b"one\n"), ("b.txt", b"2\n")], 5)
    reordered = tar(tmp_path / "c.tar", [("b.txt", b"two\n"), ("a.txt", b"one\n")], 5)

    c = compare(base, changed, "out.tar")
    assert not c.equivalent and c.kinds == ["content"]
    assert c.differences[0].to_json() == {"where": "b.txt: line 1", "kind": "content", "detail": "column 1: 'two' → '2'"}
    assert c.summary == "content differs: 1 of 2 members (b.txt); first: b.txt: line 1: column 1: 'two' → '2'"
    r = compare(base, reordered, "out.tar")
    assert r.equivalent and r.kinds == ["order"] and r.summary == "equivalent: only member order differs"


def test_a_tgz_is_unpacked_twice_gzip_then_tar(tmp_path):
    def tgz(name: str, payload: bytes, mtime: int) -> Path:
        raw = tar(tmp_path / f"{name}.tar", [("table.txt", payload)], mtime)
        return gz(tmp_path / f"{name}.tgz", raw.read_bytes(), mtime)

    same = compare(tgz("a", b"1 2 3\n", 10), tgz("b", b"1 2 3\n", 20), "bundle.tgz")
    assert same.comparator == "gzip" and same.equivalent
    assert same.summary == "equivalent: only gzip header mtime and bundle.tar (tar member times (1 member)) differ"
    assert [d.where for d in same.differences] == ["gzip header", "bundle.tar: table.txt"]
    other = compare(tgz("a", b"1 2 3\n", 10), tgz("c", b"1 2 4\n", 10), "bundle.tgz")
    assert not other.equivalent and other.differences[0].where == "bundle.tar: table.txt: line 1"


def _gz_level(path: Path, data: bytes, level: int) -> Path:
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=1, compresslevel=level) as g:
        g.write(data)
    return path


def test_same_members_recompressed_differently_is_metadata(tmp_path):
    data = "".join(f"{i} {i * i % 97}\n" for i in range(20000)).encode()
    for name, level in (("a", 1), ("b", 9)):
        with zipfile.ZipFile(tmp_path / f"{name}.zip", "w") as zf:
            info = zipfile.ZipInfo("v.txt", (2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=level)
    assert (tmp_path / "a.zip").read_bytes() != (tmp_path / "b.zip").read_bytes()

    c = compare(tmp_path / "a.zip", tmp_path / "b.zip", "v.zip")
    assert c.equivalent and c.summary == "equivalent: only compressed streams or archive layout differs"
    g = compare(_gz_level(tmp_path / "a.gz", data, 1), _gz_level(tmp_path / "b.gz", data, 9), "v.txt.gz")
    assert g.equivalent and g.summary == "equivalent: only gzip header xfl differs"  # the header says how hard it tried
    assert g.differences[0].detail == "xfl 4 → 2"
    h = compare(_gz_level(tmp_path / "c.gz", data, 3), _gz_level(tmp_path / "d.gz", data, 6), "v.txt.gz")
    assert h.equivalent and h.summary == "equivalent: only compressed stream differs"


@pytest.mark.parametrize("kind", ["zip", "gzip", "tar"])
def test_a_damaged_archive_falls_back_to_bytes_and_says_why(tmp_path, books, kind):
    if kind == "zip":
        good = books["first"]
        name, error = "summary.xlsx", "BadZipFile"
    elif kind == "gzip":
        good = gz(tmp_path / "g.gz", b"x" * 1000 + bytes(range(256)) * 50, 1)
        name, error = "x.txt.gz", "EOFError"
    else:
        good = tar(tmp_path / "t.tar", [("a.txt", b"a\n")], 1)
        name, error = "t.tar", "ReadError"
    damaged = tmp_path / f"damaged-{kind}"
    data = good.read_bytes()
    damaged.write_bytes(data[: len(data) // 2] if kind != "tar" else data[:257] + b"ustar" + b"\xff" * 250)
    assert load_comparators().choose(data[:4096], name).name == kind
    assert load_comparators().choose(damaged.read_bytes()[:4096], name).name == kind

    c = compare(good, damaged, name)
    assert c.comparator == "bytes" and not c.equivalent
    assert c.metrics["comparator_unavailable"] == kind
    assert c.differences[0].detail.startswith(f"the {kind} comparator could not read it ({error}")


def test_sniffing_and_extensions():
    assert ZipComparator().sniff(b"PK\x03\x04rest", "x") and ZipComparator().sniff(b"PK\x05\x06", "empty.zip")
    assert GzipComparator().sniff(b"\x1f\x8b\x08", "x") and not GzipComparator().sniff(b"PK\x03\x04", "x.gz")
    assert TarComparator().sniff(b"\x00" * 257 + b"ustar\x0000", "x") and not TarComparator().sniff(b"\x00" * 600, "x")
    for suffix in (".zip", ".xlsx", ".docx", ".pptx", ".odt", ".ods", ".odp", ".jar", ".whl"):
        assert suffix in ZipComparator.extensions
    names = load_comparators().names()
    assert {"zip", "gzip", "tar"} <= set(names)


# -- end to end: the shared case 01-xlsx-openpyxl through the CLI ------------------------
def test_openpyxl_step_replayed_seconds_later_is_equivalent_through_the_cli(cli, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "to_xlsx.py").write_text(TO_XLSX)
    (work / "data.csv").write_text(DATA)
    if CASE.is_dir():  # the shared case's own script and data, when this checkout has them
        shutil.copyfile(CASE / "to_xlsx.py", work / "to_xlsx.py")
        shutil.copyfile(CASE / "data.csv", work / "data.csv")
    ran = cli("run", "-i", "to_xlsx.py", "-i", "data.csv", "-o", "summary.xlsx", "--", sys.executable, "to_xlsx.py", "data.csv", "summary.xlsx", cwd=work)
    assert ran.returncode == 0, ran.stderr
    recorded_by = time.time()
    target = ran.stdout.strip()
    time.sleep(max(0.0, recorded_by + 2.05 - time.time()))  # zip member times have 2 s resolution

    proc = cli("rerun-artifact", target, "--json", "--out", str(tmp_path / "m"), cwd=work)
    accepted = cli("rerun-artifact", target, "--accept", "equivalent", "--out", str(tmp_path / "m2"), cwd=work)

    assert proc.returncode == 1, proc.stderr  # equivalent is not ok unless accepted
    (step,) = json.loads(proc.stdout)["steps"]
    assert step["outcome"] == "equivalent"
    comparison = step["comparison"]
    assert comparison["comparator"] == "zip" and comparison["equivalent"] is True
    assert comparison["summary"] == "equivalent: only zip member times (9 members) and docProps/core.xml dcterms:created, dcterms:modified differ"
    assert {d["kind"] for d in comparison["differences"]} == {"metadata"}
    assert "docProps/core.xml dcterms:modified" in [d["where"] for d in comparison["differences"]]
    assert comparison["metrics"]["members_changed"] == 0
    assert accepted.returncode == 0, accepted.stderr


def _sheet_book(path: Path, cells: str, strings: list[str], when=(2024, 1, 1, 0, 0, 0), extra: str = "") -> Path:
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    workbook = f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets><sheet name="results" sheetId="1" r:id="rId1"/></sheets></workbook>'
    rels = ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="x"/></Relationships>')
    sst = f'<sst xmlns="{main}">' + "".join(f"<si><t>{s}</t></si>" for s in strings) + "</sst>"
    sheet = f'<worksheet xmlns="{main}">{extra}<sheetData><row r="1">{cells}</row></sheetData></worksheet>'
    return _zip(path, [("xl/workbook.xml", workbook), ("xl/_rels/workbook.xml.rels", rels),
                       ("xl/sharedStrings.xml", sst), ("xl/worksheets/sheet1.xml", sheet)], when)


def test_shared_string_cells_are_shown_by_their_strings_and_reserialised_sheets_are_metadata(tmp_path):
    a = _sheet_book(tmp_path / "a.xlsx", '<c r="A1" t="s"><v>0</v></c><c r="B1"><v>1.5</v></c>', ["control", "treated"])
    b = _sheet_book(tmp_path / "b.xlsx", '<c r="A1" t="s"><v>1</v></c><c r="B1"><v>1.5</v></c>', ["control", "treated"])
    spaced = _sheet_book(tmp_path / "c.xlsx", '<c r="A1"  t="s"><v>0</v></c> <c r="B1"><v>1.5</v></c>', ["control", "treated"])
    wider = _sheet_book(tmp_path / "d.xlsx", '<c r="A1" t="s"><v>0</v></c><c r="B1"><v>1.5</v></c>', ["control", "treated"],
                        extra='<cols><col min="1" max="1" width="30"/></cols>')

    c = compare(a, b, "t.xlsx")
    assert c.differences[0].to_json() == {"where": "xl/worksheets/sheet1.xml (sheet 'results') cell A1", "kind": "content",
                                          "detail": "'control' → 'treated'"}
    s = compare(a, spaced, "t.xlsx")
    assert s.equivalent and s.summary == "equivalent: only xl/worksheets/sheet1.xml serialisation differs"
    w = compare(a, wider, "t.xlsx")
    assert not w.equivalent and w.differences[0].detail.startswith("the sheet outside its cell values differs")
