"""Steps whose outputs differ on replay, and stand-in comparators for formats whose real
comparator is written elsewhere: the surfaces' tests show comparisons without depending on
them. ``monkeypatch`` ``scidex_replay.replay.runner.compare_files`` with ``image_comparison``
or ``equivalent_comparison``; the runner stores their attachments and full diff as blobs."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from scidex_replay.compare import Comparison
from scidex_replay.compare.base import Difference, Kind
from scidex_replay.handlers.shell import ShellHandler
from scidex_replay.recording import run_handler

#: an 8x8 white PNG with one pixel of a random colour at (3, 5)
NOISY_PNG = (
    "import os, sys; from PIL import Image; im = Image.new('RGB', (8, 8), 'white'); "
    "im.putpixel((3, 5), tuple(os.urandom(3))); im.save(sys.argv[-1])"
)
#: a JSON document with a random id: the stand-in comparator calls it equivalent
NOISY_JSON = "import sys, uuid; open(sys.argv[-1], 'w').write('{\"id\": \"%s\", \"n\": 1}' % uuid.uuid4().hex)"


def record(registry, program: str, output: str) -> str:
    """Record a shell step running ``python -c program`` that writes ``output``; its artifact id."""
    argv = [sys.executable, "-c", program, "{out}"]
    return run_handler(registry, ShellHandler(), method=output, parameters={"argv": argv}, inputs=[], output=output).id


def image_comparison(live: Path, replayed: Path, *, name: str, tolerance) -> Comparison:
    """What an image comparator says of two PNGs: the differing pixels, and a diff picture."""
    from PIL import Image, ImageChops

    a, b = Image.open(live).convert("RGB"), Image.open(replayed).convert("RGB")
    diff = ImageChops.difference(a, b)
    fd, path = tempfile.mkstemp(suffix=".png")
    os.close(fd)
    diff.save(path)
    box = diff.getbbox()
    return Comparison(
        "image", f"content differs: 1 of 64 pixels, at {box[:2]}",
        [Difference(f"pixel {box[:2]}", Kind.CONTENT, f"{a.getpixel(box[:2])} → {b.getpixel(box[:2])}")],
        {"pixels_differing": 1}, attachments={"diff_image": Path(path)},
        full_diff=f"pixel {box[:2]}: {a.getpixel(box[:2])} → {b.getpixel(box[:2])}\n",
    )


def equivalent_comparison(live: Path, replayed: Path, *, name: str, tolerance) -> Comparison:
    """What a JSON comparator says when only a volatile id and a time differ."""
    return Comparison(
        "json", "equivalent: only $.id (a random id) and $.created differ",
        [Difference("$.id", Kind.VOLATILE_ID, "<b>uuid4</b> [red]a1[/red] → b2"), Difference("$.created", Kind.METADATA, "12:00 → 12:01")],
        {}, full_diff="".join(f"-line {i}\n+line {i}'\n" for i in range(100)),
    )
