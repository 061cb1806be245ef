"""The image comparator on images made by matplotlib and Pillow, and a plotting step replayed
through the CLI, whose diff image lands in the store."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from scidex_replay.compare import Tolerance, compare_files, load_comparators  # noqa: E402
from scidex_replay.compare.images import ImageComparator  # noqa: E402


@pytest.fixture
def compare():
    """``compare_files`` that removes the diff images it made once the test is done."""
    made: list[Path] = []

    def run(a: Path, b: Path, name: str = "plot.png", tolerance: Tolerance = Tolerance()):
        c = compare_files(a, b, name=name, tolerance=tolerance)
        made.extend(c.attachments.values())
        return c

    yield run
    for path in made:
        path.unlink(missing_ok=True)


def figure(path: Path, ys=(1, 4, 9), created: str = "2024-01-01T12:00:00") -> Path:
    fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
    ax.plot([1, 2, 3], list(ys))
    fig.savefig(path, metadata={"Creation Time": created})
    plt.close(fig)
    return path


def square(path: Path, shade: int = 0, *, size=(40, 30), at=(5, 5), mode="RGB", **save) -> Path:
    """A white image with a 5x5 square of ``shade`` at ``at`` (x, y)."""
    arr = np.full((size[1], size[0], 3), 255, dtype=np.uint8)
    x, y = at
    arr[y:y + 5, x:x + 5] = shade
    Image.fromarray(arr).convert(mode).save(path, **save)
    return path


def test_a_matplotlib_png_saved_again_with_another_creation_time_is_equivalent(tmp_path, compare):
    c = compare(figure(tmp_path / "a.png"), figure(tmp_path / "b.png", created="2024-01-01T12:00:05"))

    assert c.comparator == "image" and c.equivalent and c.kinds == ["metadata"]
    assert [d.to_json() for d in c.differences] == [
        {"where": "PNG tEXt 'Creation Time'", "kind": "metadata", "detail": "'2024-01-01T12:00:00' → '2024-01-01T12:00:05'"},
    ]
    assert c.summary == "equivalent: pixels equal; only PNG tEXt 'Creation Time' differs"
    assert c.metrics == {"width": 150, "height": 100, "mode": "RGBA", "frames": 1}
    assert c.attachments == {}


def test_the_same_pixels_compressed_differently_name_the_image_data_chunk(tmp_path, compare):
    c = compare(square(tmp_path / "a.png", compress_level=1), square(tmp_path / "b.png", compress_level=9))

    assert c.equivalent and c.kinds == ["metadata"]
    assert c.summary == "equivalent: pixels equal; only PNG IDAT differs"
    assert c.differences[0].detail == "pixels equal; compressed differently"


def test_changed_pixels_are_content_with_galaxys_metrics_and_a_diff_image(tmp_path, compare):
    c = compare(square(tmp_path / "a.png", 0), square(tmp_path / "b.png", 100))

    assert not c.equivalent and c.kinds == ["content"]
    m = c.metrics
    assert (m["changed_pixels"], m["changed_fraction"], m["max_abs_diff"]) == (25, 25 / 1200, 100.0)
    assert m["mae"] == pytest.approx(25 * 3 * 100 / 3600)
    assert m["mse"] == pytest.approx(25 * 3 * 100**2 / 3600)
    assert m["rms"] == pytest.approx(math.sqrt(m["mse"]))
    assert m["fro"] == pytest.approx(math.sqrt(75 * 100**2))
    assert (m["iou"], m["iou_of"], m["within_galaxy_eps"], m["changed_box"]) == (1.0, "foreground", False, [5, 5, 10, 10])
    assert c.differences[0].to_json() == {
        "where": "pixels (5,5)-(10,10)", "kind": "content",
        "detail": "25 of 1200 pixels (2.08%) differ, max abs diff 100, mae 2.083, rms 14.43, iou 1.0000",
    }
    assert c.summary == "content differs: 25 of 1200 pixels (2.08%) differ, max abs diff 100, mae 2.083"
    with Image.open(c.attachments["diff_image"]) as diff:
        assert (diff.format, diff.size, diff.mode) == ("PNG", (40, 30), "P")
        rgb = diff.convert("RGB")
    assert rgb.getpixel((7, 7)) == (230, 0, 0) and rgb.getpixel((20, 20)) == (255, 255, 255)
    assert rgb.getpixel((4, 4)) == (255, 255, 255)  # white stays white, darks are faded to light grey


def test_a_moved_object_lowers_the_foreground_iou(tmp_path, compare):
    c = compare(square(tmp_path / "a.png", 0), square(tmp_path / "b.png", 0, at=(6, 5)))
    # 25 dark pixels each, 20 shared: IoU 20 / 30
    assert c.metrics["iou"] == pytest.approx(20 / 30) and c.metrics["changed_pixels"] == 10


def test_a_label_image_gets_galaxys_worst_object_iou(tmp_path, compare):
    def labels(path: Path, shift: int) -> Path:
        arr = np.zeros((10, 10), dtype=np.uint8)
        arr[0:5, shift:shift + 5] = 1
        arr[7:9, 7:9] = 2
        Image.fromarray(arr, "L").save(path)
        return path

    c = compare(labels(tmp_path / "a.png", 0), labels(tmp_path / "b.png", 1), "mask.png")
    # label 1: 20 shared of 30; background: 66 shared of 76; label 2 equal -> the worst object is label 1
    assert c.metrics["iou_of"] == "labels" and c.metrics["iou"] == pytest.approx(20 / 30)
    assert not c.equivalent


def test_a_declared_atol_makes_small_pixel_changes_numeric_on_the_0_255_scale(tmp_path, compare):
    a, b = square(tmp_path / "a.png", 100), square(tmp_path / "b.png", 102)

    default = compare(a, b)
    within = compare(a, b, tolerance=Tolerance(atol=2, declared=True))
    beyond = compare(a, b, tolerance=Tolerance(atol=1, declared=True))

    assert not default.equivalent and default.kinds == ["content"]
    assert within.equivalent and within.kinds == ["numeric"]
    assert within.summary == "equivalent: 25 of 1200 pixels (2.08%) differ, max abs diff 2, mae 0.04167, within atol 2"
    assert within.differences[0].detail.endswith("(within atol 2)")
    assert within.metrics["within_galaxy_eps"] is False and within.metrics["max_abs_diff"] == 2.0
    assert not beyond.equivalent


def test_a_matplotlib_plot_of_other_data_is_content(tmp_path, compare):
    c = compare(figure(tmp_path / "a.png"), figure(tmp_path / "b.png", ys=(1, 4, 8)))

    assert not c.equivalent and c.kinds == ["content"]
    assert c.metrics["changed_pixels"] > 0 and 0 < c.metrics["iou"] < 1
    assert c.summary.startswith(f"content differs: {c.metrics['changed_pixels']} of 15000 pixels")
    assert "diff_image" in c.attachments


@pytest.mark.parametrize(
    ("b_args", "summary"),
    [
        ({"size": (41, 30)}, "content differs: size 40x30 → 41x30"),
        ({"mode": "RGBA"}, "content differs: mode RGB → RGBA"),
    ],
)
def test_another_size_or_mode_is_content(tmp_path, compare, b_args, summary):
    c = compare(square(tmp_path / "a.png"), square(tmp_path / "b.png", **b_args))
    assert not c.equivalent and c.summary == summary and c.kinds == ["content"]


def test_a_jpeg_comment_is_metadata(tmp_path, compare):
    c = compare(square(tmp_path / "a.jpg", quality=90), square(tmp_path / "b.jpg", quality=90, comment=b"run 2"), "plot.jpg")
    assert c.equivalent and c.summary == "equivalent: pixels equal; only image info 'comment' differs"
    assert c.differences[0].detail == "(absent) → b'run 2'"


def test_a_changed_frame_of_an_animation_is_named(tmp_path, compare):
    def gif(path: Path, shade: int) -> Path:
        frames = [Image.new("L", (8, 8), 0), Image.new("L", (8, 8), shade)]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
        return path

    c = compare(gif(tmp_path / "a.gif", 200), gif(tmp_path / "b.gif", 100), "anim.gif")
    assert not c.equivalent
    assert c.differences[0].where == "frame 1 pixels (0,0)-(8,8)"
    assert c.metrics["frames"] == 2 and c.metrics["changed_frames"] == 1


def test_a_truncated_png_falls_back_to_bytes(tmp_path, compare):
    good = figure(tmp_path / "a.png")
    bad = tmp_path / "b.png"
    bad.write_bytes(good.read_bytes()[:200])
    c = compare(good, bad)
    assert c.comparator == "bytes" and c.metrics["comparator_unavailable"] == "image"
    assert c.differences[0].detail.startswith("the image comparator could not read it (")


def test_sniffs_the_image_formats():
    sniff = ImageComparator().sniff
    for head in (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00", b"MM\x00*", b"GIF89a", b"BM6", b"RIFF\x00\x00\x00\x00WEBPVP8 "):
        assert sniff(head, "x"), head
    assert not sniff(b"%PDF-1.4", "x")
    assert load_comparators().choose(b"\x89PNG\r\n\x1a\n", "plot.png").name == "image"


PLOTS = '''"""Two plots: one whose only change on replay is its creation time, one that draws the clock."""
import sys, time
from datetime import datetime
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
ax.plot([1, 2, 3], [1, 4, 9])
fig.savefig("same.png", metadata={"Creation Time": datetime.now().isoformat()})
ax.set_title(f"{time.time():.6f}")
fig.savefig("clock.png", metadata={"Creation Time": datetime.now().isoformat()})
'''


def test_a_plot_step_replayed_stores_the_diff_image_and_names_the_creation_time(cli, home, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "plots.py").write_text(PLOTS)
    ran = cli("run", "-i", "plots.py", "-o", "same.png", "-o", "clock.png", "--", sys.executable, "plots.py", cwd=work, timeout=120)
    assert ran.returncode == 0, ran.stderr
    target = ran.stdout.split()[1]

    proc = cli("rerun-artifact", target, "--json", "--out", str(tmp_path / "m"), cwd=work, timeout=120)

    assert proc.returncode == 1, proc.stderr
    (step,) = json.loads(proc.stdout)["steps"]
    assert step["outcome"] == "output-differs"
    same, clock = step["outputs"]
    assert same["outcome"] == "equivalent"
    assert same["comparison"]["summary"] == "equivalent: pixels equal; only PNG tEXt 'Creation Time' differs"
    assert clock["outcome"] == "output-differs" and clock["comparison"]["comparator"] == "image"
    metrics = clock["comparison"]["metrics"]
    assert metrics["changed_pixels"] > 0 and [d["kind"] for d in clock["comparison"]["differences"]][0] == "content"
    blob = Path(os.environ["SCIDEX_REPLAY_HOME"]) / "blobs" / metrics["diff_image_blob"][:2] / metrics["diff_image_blob"][2:]
    with Image.open(blob) as diff:
        assert diff.format == "PNG" and diff.size == (150, 100)
        assert (np.asarray(diff.convert("RGB")) == (230, 0, 0)).all(axis=2).sum() == metrics["changed_pixels"]
    assert step["comparison"] == same["comparison"]  # the step's comparison is its first output's (DESIGN.md)
