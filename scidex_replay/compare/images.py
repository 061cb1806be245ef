"""Images (PNG, JPEG, TIFF, GIF, BMP, WebP) via Pillow: pixels first, then what the file says about them.

- Size, mode, format or frame count changed: ``content``, and nothing more is measured.
- Pixels differ: the metrics of Galaxy's image verifier (``lib/galaxy/tool_util/verify``,
  ``files_image_diff``): ``mae``, ``mse``, ``rms`` (over every sample, channels included, in
  the image's own units: 0-255 for 8-bit images), ``fro`` (Frobenius norm of the difference),
  plus ``changed_pixels``, ``changed_fraction``, ``max_abs_diff``, the changed region, and
  ``iou``: Galaxy's intersection over union for label images (one band, integers, at most
  ``MAX_LABELS`` labels: the worst object's IoU), else the IoU of the two images' foreground
  (pixels unlike the recorded image's top-left pixel, the background of a plot).
  ``within_galaxy_eps`` says whether Galaxy's default check (``mae <= 0.01``) would pass.
- The kind. An image difference is ``content``, unless the step declared a tolerance whose
  ``atol`` covers it: pixels that differ by at most ``atol`` per channel (0-255 scale for
  8-bit images, the image's own units otherwise) are ``numeric``. ``rtol`` is not used for
  pixels. With the default tolerance (atol 0) any changed pixel is ``content``.
- Same pixels, other bytes: ``metadata``, naming what differs: PNG text chunks (matplotlib's
  ``Software``, a ``Creation Time``), other ancillary chunks (``tIME``, ``pHYs``), the
  image info (EXIF, dpi, ICC profile), or the compressed data itself (``IDAT``).

A diff image (changed pixels red over the greyed recorded image, PNG) is returned in
``Comparison.attachments["diff_image"]``; the replay stores it as a blob. Memory: both
images decoded (bounded by their size; Pillow refuses decompression bombs) and the
differences computed in bands of rows.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

from scidex_replay.compare.base import Comparison, Difference, Kind, Tolerance, require

#: samples per band of rows the differences are computed in
BAND_SAMPLES = 1 << 22
#: most frames of an animation or multi-page TIFF compared
MAX_FRAMES = 100
#: a one-band integer image with at most this many distinct values is a label image
MAX_LABELS = 64
#: Galaxy's default image_diff threshold (metric mae)
GALAXY_EPS = 0.01
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


class ImageComparator:
    """Raster images via Pillow (the ``formats`` extra): see the module docstring for the rules.

    Metrics: ``width``, ``height``, ``mode``, ``frames``; when pixels differ ``changed_pixels``,
    ``changed_fraction``, ``max_abs_diff``, ``mae``, ``mse``, ``rms``, ``fro``, ``iou``,
    ``iou_of`` (``labels`` or ``foreground``), ``within_galaxy_eps``, ``changed_box``
    ([left, top, right, bottom], pixels, right/bottom exclusive). Raises ``MissingExtra``
    without Pillow or NumPy, and Pillow's errors for a damaged file.
    """

    name = "image"
    extensions = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp", ".webp")
    priority = 20

    def sniff(self, head: bytes, name: str) -> bool:
        return (
            head.startswith((PNG_MAGIC, b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF87a", b"GIF89a", b"BM"))
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        )

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        Image = require("PIL.Image")
        require("numpy")
        differences: list[Difference] = []
        metrics: dict[str, Any] = {}
        attachments: dict[str, Path] = {}
        with Image.open(live) as a, Image.open(replayed) as b:
            frames = (getattr(a, "n_frames", 1), getattr(b, "n_frames", 1))
            metrics.update(width=a.width, height=a.height, mode=a.mode, frames=frames[0])
            shape = [
                (label, x, y) for label, x, y in (
                    ("format", a.format, b.format), ("size", "%dx%d" % a.size, "%dx%d" % b.size),
                    ("mode", a.mode, b.mode), ("frames", *frames),
                ) if x != y
            ]
            if shape:
                differences = [Difference(label, Kind.CONTENT, f"{label} {x} → {y}") for label, x, y in shape]
                summary = "content differs: " + ", ".join(f"{label} {x} → {y}" for label, x, y in shape)
                return Comparison(self.name, summary, differences, metrics)
            changed_frames = []
            for frame in range(min(frames[0], MAX_FRAMES)):
                a.seek(frame)
                b.seek(frame)
                stats = pixel_difference(a, b)
                if stats is None:
                    continue
                changed_frames.append(frame)
                where = f"frame {frame} pixels" if frames[0] > 1 else "pixels"
                box = stats["changed_box"]
                where += " ({},{})-({},{})".format(*box)
                within = tolerance.atol > 0 and stats["max_abs_diff"] <= tolerance.atol
                kind = Kind.NUMERIC if within else Kind.CONTENT
                detail = (
                    f"{stats['changed_pixels']} of {a.width * a.height} pixels ({stats['changed_fraction']:.2%}) differ, "
                    f"max abs diff {stats['max_abs_diff']:g}, mae {stats['mae']:.4g}, rms {stats['rms']:.4g}, iou {stats['iou']:.4f}"
                    + (f" (within atol {tolerance.atol:g})" if within else "")
                )
                differences.append(Difference(where, kind, detail))
                if len(changed_frames) == 1:
                    metrics.update({k: v for k, v in stats.items() if k != "mask"})
                    attachments["diff_image"] = diff_image(a, stats["mask"])
            if changed_frames:
                metrics["changed_frames"] = len(changed_frames)
        metadata = metadata_differences(live, replayed, Image, pixels_equal=not differences)
        if not differences and not metadata:
            metadata = [Difference("encoded data", Kind.METADATA, "pixels equal; the encoder's output differs (compression or layout)")]
        differences += metadata
        return Comparison(self.name, _summary(differences, metrics, tolerance), differences, metrics, attachments)


def _summary(differences: list[Difference], metrics: dict[str, Any], tolerance: Tolerance) -> str:
    wheres = [d.where for d in differences if d.kind is Kind.METADATA]
    named = ", ".join(wheres[:6]) + (f" and {len(wheres) - 6} more" if len(wheres) > 6 else "")
    if "changed_pixels" not in metrics:
        return f"equivalent: pixels equal; only {named} differ{'s' if len(wheres) == 1 else ''}"
    pixels = (
        f"{metrics['changed_pixels']} of {metrics['width'] * metrics['height']} pixels ({metrics['changed_fraction']:.2%}) differ, "
        f"max abs diff {metrics['max_abs_diff']:g}, mae {metrics['mae']:.4g}"
    )
    if any(d.kind is Kind.CONTENT for d in differences):
        return f"content differs: {pixels}" + (f"; also {named}" if named else "")
    return f"equivalent: {pixels}, within atol {tolerance.atol:g}" + (f"; also {named}" if named else "")


def _array(im: Any) -> Any:
    """The frame's samples as a NumPy array (height, width[, bands]); palette images as RGBA."""
    import numpy as np

    if im.mode in ("P", "PA"):
        im = im.convert("RGBA")
    elif im.mode == "1":
        im = im.convert("L")
    return np.asarray(im)


def pixel_difference(a: Any, b: Any) -> dict[str, Any] | None:
    """How the current frames of two same-size, same-mode images differ, computed in bands of
    rows; None when every pixel is equal. Keys: see ``ImageComparator``, plus ``mask`` (the
    changed pixels, a boolean array)."""
    import numpy as np

    x_all, y_all = _array(a), _array(b)
    if np.array_equal(x_all, y_all):
        return None
    height, width = x_all.shape[:2]
    bands = x_all.shape[2] if x_all.ndim == 3 else 1
    step = max(1, BAND_SAMPLES // max(1, width * bands))
    background = x_all[0, 0]
    labels = _labels(x_all, y_all)
    pairs: dict[tuple[int, int], int] = {}
    mask = np.zeros((height, width), dtype=bool)
    total_abs = total_sq = 0.0
    max_abs = 0.0
    inter = union = 0
    for r0 in range(0, height, step):
        x, y = x_all[r0:r0 + step], y_all[r0:r0 + step]
        ne = x != y
        if ne.any():  # the samples that differ, and only those, in float64
            diff = np.abs(x[ne].astype(np.float64) - y[ne].astype(np.float64))
            total_abs += float(diff.sum())
            total_sq += float(np.dot(diff, diff))
            max_abs = max(max_abs, float(diff.max()))
            mask[r0:r0 + step] = ne.any(axis=2) if ne.ndim == 3 else ne
        if labels:
            codes, counts = np.unique(np.stack([x_all[r0:r0 + step].ravel(), y_all[r0:r0 + step].ravel()]), axis=1, return_counts=True)
            for (p, q), n in zip(codes.T.tolist(), counts.tolist()):
                pairs[(p, q)] = pairs.get((p, q), 0) + n
        else:
            fa = _foreground(x_all[r0:r0 + step], background)
            fb = _foreground(y_all[r0:r0 + step], background)
            inter += int(np.logical_and(fa, fb).sum())
            union += int(np.logical_or(fa, fb).sum())
    samples = height * width * bands
    changed = int(mask.sum())
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    mae = total_abs / samples
    return {
        "changed_pixels": changed,
        "changed_fraction": changed / (height * width),
        "max_abs_diff": max_abs,
        "mae": mae,
        "mse": total_sq / samples,
        "rms": (total_sq / samples) ** 0.5,
        "fro": total_sq ** 0.5,
        "iou": label_iou(pairs) if labels else (inter / union if union else 1.0),
        "iou_of": "labels" if labels else "foreground",
        "within_galaxy_eps": mae <= GALAXY_EPS,
        "changed_box": [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1],
        "mask": mask,
    }


def _foreground(x: Any, background: Any) -> Any:
    return (x != background).any(axis=2) if x.ndim == 3 else x != background


def _labels(x: Any, y: Any) -> bool:
    """Whether two one-band integer images are label images (few distinct values)."""
    import numpy as np

    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        return False
    seen: set[int] = set()
    for arr in (x, y):
        for r0 in range(0, arr.shape[0], 1024):
            seen.update(np.unique(arr[r0:r0 + 1024]).tolist())
            if len(seen) > MAX_LABELS:
                return False
    return True


def label_iou(pairs: dict[tuple[int, int], int]) -> float:
    """Galaxy's ``intersection_over_union`` from the counts of (live label, replayed label)
    pixel pairs: each object's IoU with its best-matching object in the other image, both
    ways; the worst of them (1.0 when every object is matched exactly)."""
    live: dict[int, int] = {}
    replayed: dict[int, int] = {}
    for (p, q), n in pairs.items():
        live[p] = live.get(p, 0) + n
        replayed[q] = replayed.get(q, 0) + n
    worst = 1.0
    for own, other, first in ((live, replayed, 0), (replayed, live, 1)):
        for label, size in own.items():
            best = 0.0
            for pair, n in pairs.items():
                if pair[first] == label:
                    partner = pair[1 - first]
                    best = max(best, n / (size + other[partner] - n))
            worst = min(worst, best)
    return worst


#: the diff image's palette: 16 faded greys (the recorded image), then red (a changed pixel)
DIFF_GREYS = 16
DIFF_RED = (230, 0, 0)


def diff_image(live: Any, mask: Any) -> Path:
    """A PNG of the recorded frame, greyed, faded and reduced to ``DIFF_GREYS`` levels, with the
    changed pixels in red (a palette image: one byte a pixel, quick to write for a large
    frame); its path, a temporary file the caller removes (the replay stores it as a blob,
    then deletes it)."""
    import numpy as np
    from PIL import Image

    grey = np.asarray(live.convert("L"), dtype=np.uint16)
    index = (grey * DIFF_GREYS // 256).astype(np.uint8)
    index[mask] = DIFF_GREYS
    palette = []
    for level in range(DIFF_GREYS):
        v = 255 - (255 - level * 255 // (DIFF_GREYS - 1)) * 2 // 5
        palette += [v, v, v]
    out = Image.frombytes("P", (index.shape[1], index.shape[0]), index.tobytes())
    out.putpalette(palette + list(DIFF_RED))
    fd, path = tempfile.mkstemp(prefix="scidex-diff-", suffix=".png")
    os.close(fd)
    out.save(path, compress_level=1)
    return Path(path)


def png_chunks(path: Path) -> list[tuple[str, str | None, int, str | None]]:
    """The chunks of a PNG file as (type, text key or None, CRC, text or None), read header by
    header (only text chunks are read; image data is skipped). Empty for other formats."""
    out: list[tuple[str, str | None, int, str | None]] = []
    with open(path, "rb") as fh:
        if fh.read(8) != PNG_MAGIC:
            return out
        while len(header := fh.read(8)) == 8:
            length, ctype = struct.unpack(">I4s", header)
            key = text = None
            if ctype in TEXT_CHUNKS:
                key, text = _text_chunk(ctype, fh.read(length))
            else:
                fh.seek(length, 1)
            crc = fh.read(4)
            out.append((ctype.decode("latin-1"), key, struct.unpack(">I", crc)[0] if len(crc) == 4 else 0, text))
            if ctype == b"IEND":
                break
    return out


def _text_chunk(ctype: bytes, data: bytes) -> tuple[str, str]:
    """A PNG text chunk's keyword and text (PNG spec 11.3.4: tEXt, zTXt, iTXt)."""
    key, _, rest = data.partition(b"\x00")
    try:
        if ctype == b"tEXt":
            return key.decode("latin-1"), rest.decode("latin-1")
        if ctype == b"zTXt":
            return key.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")
        compressed, rest = rest[0], rest[2:]
        _lang, _, rest = rest.partition(b"\x00")
        _translated, _, rest = rest.partition(b"\x00")
        return key.decode("latin-1"), (zlib.decompress(rest) if compressed else rest).decode("utf-8", "replace")
    except (zlib.error, IndexError):
        return key.decode("latin-1"), f"{len(data)} bytes (unreadable)"


def metadata_differences(live: Path, replayed: Path, Image: Any, *, pixels_equal: bool) -> list[Difference]:
    """What differs in two images besides their pixels: PNG chunks by type (text chunks by key,
    with both values; the image data ``IDAT`` only when the pixels are equal), else the
    Pillow ``info`` entries (EXIF, dpi, ICC profile, comments)."""
    ca, cb = png_chunks(live), png_chunks(replayed)
    out: list[Difference] = []
    if ca or cb:
        texts_a = {(t, k): v for t, k, _, v in ca if k is not None}
        texts_b = {(t, k): v for t, k, _, v in cb if k is not None}
        for ctype, key in sorted(texts_a.keys() | texts_b.keys(), key=lambda tk: (tk[1], tk[0])):
            x, y = texts_a.get((ctype, key)), texts_b.get((ctype, key))
            if x != y:
                out.append(Difference(f"PNG {ctype} {key!r}", Kind.METADATA, f"{_short(x)} → {_short(y)}"))
        other_a = [(t, c) for t, k, c, _ in ca if k is None]
        other_b = [(t, c) for t, k, c, _ in cb if k is None]
        for ctype in dict.fromkeys(t for t, _ in other_a + other_b):
            if ctype == "IDAT" and not pixels_equal:
                continue
            if [c for t, c in other_a if t == ctype] != [c for t, c in other_b if t == ctype]:
                detail = "pixels equal; compressed differently" if ctype == "IDAT" else "chunk differs"
                out.append(Difference(f"PNG {ctype}", Kind.METADATA, detail))
        return out
    with Image.open(live) as a, Image.open(replayed) as b:
        ia, ib = a.info, b.info
    for key in sorted(set(ia) | set(ib), key=str):
        if ia.get(key) != ib.get(key):
            out.append(Difference(f"image info {key!r}", Kind.METADATA, f"{_short(ia.get(key))} → {_short(ib.get(key))}"))
    return out


def _short(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, bytes) and len(value) > 60:
        return f"{len(value)} bytes (crc {zlib.crc32(value):08x})"
    text = repr(value)
    return text if len(text) <= 120 else text[:119] + "…"
