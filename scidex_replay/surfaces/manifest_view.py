"""The static view of a manifest: the chain as an HTML table, no kernel needed.

``ManifestView`` renders a manifest (``_repr_html_``, ``_repr_mimebundle_``);
``manifest_bundle`` is the display bundle the magic attaches to the notebook: the
manifest under ``MIMETYPE`` plus HTML and plain-text fallbacks. The replay widget
draws its table with the same ``table_html``. A step shows by its name when it has
one; a step with several outputs lists them, each marked ✓ (ok) or ✗ (not ok), so
the one that differs stands out. A v1 manifest (first-wave notebooks) renders too.

Below the table, each output whose bytes differ shows what its comparator said
(``comparison_rows``, ``comparisons_html``): the summary, and the differences with
their kind, where and detail, in a collapsible block. Given a blob store (the widget
has one), an image output whose comparator made a diff picture (``diff_image_blob``)
shows the recorded, replayed and diff pictures side by side, each at most
``IMAGE_MAX_BYTES`` and drawn at most ``IMAGE_WIDTH_PX`` wide.

A step the replay explained (``--explain``; ``explanation_rows``, ``explanations_html``)
shows its explanation's summary, one chip per factor (``changes-output`` highlighted,
its detail as tooltip, muted when only metadata changed; ``no-effect`` muted;
``not-tested`` grey, the reason as tooltip) and how many re-runs it took.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

from scidex_replay.replay.manifest import MIMETYPE
from scidex_replay.surfaces.labels import FACTOR_STYLES, OUTCOME_COLORS, manifest_verdict

COLUMNS = [
    "step", "type", "method", "input hash", "live output hash", "replayed hash", "outputs", "outcome", "reason", "reused-from",
]
HASH_COLUMNS = ["input hash", "live output hash", "replayed hash"]
OUTPUT_MARKS = {True: " ✓", False: " ✗"}  # by an output's ``ok``; none for an output not checked
#: Outcomes of an output whose bytes differ, which a comparator judged.
COMPARED = ("equivalent", "output-differs")
#: A picture larger than this (bytes) is not embedded; its size is said instead.
IMAGE_MAX_BYTES = 4 * 1024 * 1024
#: Width (CSS pixels) each of the three pictures is drawn at most.
IMAGE_WIDTH_PX = 320
#: Leading bytes of the picture formats a browser shows, and their mime types.
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"), (b"RIFF", "image/webp"),
)


# -- rows: the table as plain JSON (what the widget's ``rows`` trait syncs) ------
def manifest_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per step of a manifest: ``COLUMNS``, plus ``step_id`` (``step`` is the step's name when it has one)."""
    return [
        {
            "step_id": s["step_id"], "step": s.get("step_name") or s["step_id"], "type": s["step_type"],
            "method": s.get("method", ""), "input hash": s["input_hash"], "live output hash": s["output_hash_live"],
            "replayed hash": s["output_hash_replayed"], "outputs": outputs_text(s.get("outputs") or ()),
            "outcome": s.get("outcome") or _v1_outcome(s["reason"]), "reason": s["reason"],
            "reused-from": s["reused_from_run"],
        }
        for s in manifest["steps"]
    ]


def outputs_text(outputs: Sequence[dict[str, Any]]) -> str:
    """``figures/fig1.png ✓, figures/fig2.png ✗`` for a step with several outputs; ``""`` for one
    (the hash columns say it). An output's ``ok`` gives its mark; an unnamed one shows its artifact id."""
    if len(outputs) < 2:
        return ""
    return ", ".join(f"{o.get('name') or o['artifact_id']}{OUTPUT_MARKS.get(o.get('ok'), '')}" for o in outputs)


def _v1_outcome(reason: str) -> str:
    """The outcome of a v1 step saved without one: v1's ``reason`` starts with its code (v2 always has ``outcome``)."""
    return reason.split(":", 1)[0].strip()


def comparison_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per output whose bytes differ (outcome ``equivalent`` or ``output-differs``), in
    step order: ``step_id``, ``step`` (name, else id), ``step_name``, ``artifact_id``, ``output`` (its name, else artifact id),
    ``outcome``, ``hash_live``, ``hash_replayed`` and ``comparison`` (the manifest's dict, or
    None when nothing could compare). A step without ``outputs`` (v1, hand-made) stands for its
    one output with the step's own fields."""
    rows = []
    for s in manifest.get("steps", []):
        outputs = s.get("outputs") or [{
            "artifact_id": s.get("target_artifact_id"), "name": None, "outcome": s.get("outcome"),
            "hash_live": s.get("output_hash_live"), "hash_replayed": s.get("output_hash_replayed"),
            "comparison": s.get("comparison"),
        }]
        for o in outputs:
            if o.get("outcome") not in COMPARED:
                continue
            rows.append({
                "step_id": s["step_id"], "step": s.get("step_name") or s["step_id"], "step_name": s.get("step_name"),
                "artifact_id": o.get("artifact_id"), "output": o.get("name") or o.get("artifact_id") or "", "outcome": o["outcome"],
                "hash_live": o.get("hash_live"), "hash_replayed": o.get("hash_replayed"), "comparison": o.get("comparison"),
            })
    return rows


def image_of(data: bytes) -> str | None:
    """The mime type of a picture a browser shows (PNG, JPEG, GIF, WebP) from its first bytes, else None."""
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic) and (mime != "image/webp" or data[8:12] == b"WEBP"):
            return mime
    return None


def comparison_pictures(row: dict[str, Any], store: Any) -> dict[str, bytes | str]:
    """The recorded (``live``), ``replayed`` and ``diff`` pictures of a compared image output,
    read from ``store`` (a ``BlobStore``): each the picture's bytes, or the words saying why it is
    not shown (missing, larger than ``IMAGE_MAX_BYTES``, not a picture). ``{}`` when the
    comparator made no diff picture (no ``diff_image_blob`` in its metrics)."""
    metrics = (row.get("comparison") or {}).get("metrics") or {}
    diff = metrics.get("diff_image_blob")
    if store is None or not isinstance(diff, str):
        return {}
    out: dict[str, bytes | str] = {}
    for label, digest in (("live", row.get("hash_live")), ("replayed", row.get("hash_replayed")), ("diff", diff)):
        if not isinstance(digest, str) or not store.has(digest):
            out[label] = "not in the store"
            continue
        size = store.path(digest).stat().st_size
        if size > IMAGE_MAX_BYTES:
            out[label] = f"{size} bytes: too large to show here"
            continue
        data = store.path(digest).read_bytes()
        out[label] = data if image_of(data) else "not a picture a browser shows"
    return out


def picture_html(label: str, picture: bytes | str) -> str:
    """One captioned picture as a ``<figure>`` (a data: URI), or its caption and why it is not shown."""
    caption = f"<figcaption>{html.escape(label)}</figcaption>"
    if isinstance(picture, str):
        return f'<figure class="scidex-replay-picture">{caption}<i>{html.escape(picture)}</i></figure>'
    data = base64.b64encode(picture).decode()
    return (
        f'<figure class="scidex-replay-picture" style="margin: 0 8px 0 0">{caption}'
        f'<img alt="{html.escape(label)}" style="max-width: {IMAGE_WIDTH_PX}px; height: auto; image-rendering: pixelated" '
        f'src="data:{image_of(picture)};base64,{data}"></figure>'
    )


PICTURE_LABELS = {"live": "recorded", "replayed": "replayed", "diff": "difference"}


def comparison_html(row: dict[str, Any], store: Any = None) -> str:
    """One compared output as a collapsible ``<details>``: its summary line (step, output,
    outcome, comparator, the comparator's summary), the differences as a table (kind, where,
    detail) and, given ``store``, the pictures of an image output side by side."""
    c = row["comparison"]
    bg = OUTCOME_COLORS.get(row["outcome"], "")
    head = f"{row['step']}: {row['output']}: {row['outcome']}"
    if not c:
        return (
            f'<div class="scidex-replay-comparison" style="background-color: {bg}">{html.escape(head)}: no comparison '
            "(the recorded bytes are not in the store)</div>"
        )
    cells = "".join(
        f'<tr class="scidex-replay-difference" data-kind="{html.escape(d["kind"])}"><td><code>{html.escape(d["kind"])}</code></td>'
        f"<td>{html.escape(d['where'])}</td><td>{html.escape(d['detail'])}</td></tr>"
        for d in c.get("differences") or []
    )
    table = (
        '<table class="scidex-replay-differences"><thead><tr><th>kind</th><th>where</th><th>detail</th></tr></thead>'
        f"<tbody>{cells}</tbody></table>" if cells else "<p><i>no differences listed</i></p>"
    )
    pictures = comparison_pictures(row, store)
    figures = (
        '<div class="scidex-replay-pictures" style="display: flex; flex-wrap: wrap; align-items: flex-start">'
        + "".join(picture_html(PICTURE_LABELS[k], v) for k, v in pictures.items()) + "</div>"
    ) if pictures else ""
    return (
        f'<details class="scidex-replay-comparison" data-outcome="{html.escape(row["outcome"])}">'
        f'<summary style="background-color: {bg}"><b>{html.escape(head)}</b> ({html.escape(c["comparator"])}): '
        f'<span class="scidex-replay-comparison-summary">{html.escape(c["summary"])}</span></summary>'
        f"{table}{figures}</details>"
    )


def comparisons_html(manifest: dict[str, Any], store: Any = None) -> str:
    """Every compared output of ``manifest`` (``comparison_html``), or ``""`` when none differs."""
    rows = comparison_rows(manifest)
    if not rows:
        return ""
    return '<div class="scidex-replay-comparisons"><p><b>What differs</b></p>' + "".join(comparison_html(r, store) for r in rows) + "</div>"


def explanation_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per step with an ``explanation``, in step order: ``step_id``, ``step`` (name, else id)
    and ``explanation`` (the manifest's dict)."""
    return [
        {"step_id": s["step_id"], "step": s.get("step_name") or s["step_id"], "explanation": s["explanation"]}
        for s in manifest.get("steps", [])
        if s.get("explanation")
    ]


def factor_chip(factor: str, verdict: str, explanation: dict[str, Any]) -> str:
    """One factor as a chip styled by its verdict (``FACTOR_STYLES``); its tooltip is how the output
    changed (``details``) or why the factor was not tested (``not_tested``)."""
    tip = ""
    style = verdict
    label = factor
    if verdict == "changes-output":
        tip = (explanation.get("details") or {}).get(factor, "")
        if tip.startswith("metadata:"):
            style, label = "metadata", f"{factor} (metadata only)"
    elif verdict == "not-tested":
        tip = (explanation.get("not_tested") or {}).get(factor, "")
    classes = f"scidex-replay-factor scidex-replay-factor-{style}"
    title = f' title="{html.escape(tip)}"' if tip else ""
    css = FACTOR_STYLES.get(style, "")
    return (
        f'<span class="{html.escape(classes)}" data-factor="{html.escape(factor)}" data-verdict="{html.escape(verdict)}"{title} '
        f'style="{css}; border-radius: 8px; padding: 0 6px; margin-right: 4px; white-space: nowrap">{html.escape(label)}</span>'
    )


def cost_text(explanation: dict[str, Any]) -> str:
    """``12 re-runs, 3.4 s`` (what the manifest says of the explanation's cost; ``""`` when nothing)."""
    parts = []
    if explanation.get("runs") is not None:
        runs = explanation["runs"]
        parts.append(f"{runs} re-run{'' if runs == 1 else 's'}")
    if explanation.get("seconds") is not None:
        parts.append(f"{explanation['seconds']:.1f} s")
    return ", ".join(parts)


def explanation_html(row: dict[str, Any]) -> str:
    """One explained step: its name, the explanation's summary, a chip per factor and the cost."""
    e = row["explanation"]
    chips = "".join(factor_chip(f, v, e) for f, v in (e.get("factors") or {}).items())
    cost = cost_text(e)
    return (
        f'<div class="scidex-replay-explanation" data-step="{html.escape(row["step_id"])}">'
        f'<b>{html.escape(row["step"])}</b>: <span class="scidex-replay-explanation-summary">{html.escape(e["summary"])}</span>'
        f'<div class="scidex-replay-factors">{chips}</div>'
        + (f'<small class="scidex-replay-explanation-cost">{html.escape(cost)}</small>' if cost else "")
        + "</div>"
    )


def explanations_html(manifest: dict[str, Any]) -> str:
    """Every explained step of ``manifest`` (``explanation_html``), or ``""`` when none was."""
    return explanations_block(explanation_rows(manifest))


def explanations_block(rows: Sequence[dict[str, Any]]) -> str:
    """``explanation_rows`` as one block under a heading, or ``""`` when there are none."""
    if not rows:
        return ""
    return (
        '<div class="scidex-replay-explanations"><p><b>What changes the output</b></p>'
        + "".join(explanation_html(r) for r in rows) + "</div>"
    )


def frame(rows: Iterable[dict[str, Any]]):
    """The rows as a pandas DataFrame with ``COLUMNS``."""
    import pandas as pd

    return pd.DataFrame(list(rows), columns=COLUMNS)


# -- HTML --------------------------------------------------------------------------
def _short(value: Any, n: int) -> str:
    if value is None or (isinstance(value, float) and value != value):  # a missing value (None, NaN): empty, never "nan"
        return ""
    text = str(value)
    first = next((line for line in text.splitlines() if line.strip()), "")
    more = first != text.strip()
    return first[:n] + ("…" if len(first) > n or more else "")


def table_html(rows: Sequence[dict[str, Any]]) -> str:
    """The chain as an HTML table (a pandas Styler), each row colored by its outcome."""
    df = frame(rows)
    uid = hashlib.sha1(json.dumps(list(rows), sort_keys=True, default=str).encode()).hexdigest()[:10]

    def color(row: Any) -> list[str]:
        bg = OUTCOME_COLORS.get(row["outcome"])
        return [f"background-color: {bg}" if bg else ""] * len(row)

    def text(n: int):
        return lambda v: html.escape(_short(v, n))

    styler = (
        df.style.apply(color, axis=1)
        .format(text(12), subset=HASH_COLUMNS)
        .format(text(60), subset=["method"])
        .format(text(400), subset=["step", "type", "outputs", "outcome", "reason", "reused-from"])
        .hide(axis="index")
        .set_uuid(f"scidex_{uid}")
        .set_table_attributes('class="scidex-replay-chain"')
    )
    return styler.to_html()


def download_name(manifest: dict[str, Any]) -> str:
    """``manifest-<run_id>.json``: the file name a manifest is downloaded as."""
    return f"manifest-{manifest.get('run_id') or 'run'}.json"


def download_link(manifest: dict[str, Any]) -> str:
    """An anchor that downloads the manifest as ``manifest-<run_id>.json`` from a data: URI."""
    data = base64.b64encode(json.dumps(manifest, indent=2).encode()).decode()
    name = html.escape(download_name(manifest))
    return f'<a class="scidex-download" download="{name}" href="data:application/json;base64,{data}">download {name}</a>'


def summary_line(manifest: dict[str, Any]) -> str:
    """``run r_… (replay) of a_…: did not reproduce — 2 reproduced, 1 output-differs``."""
    lineage = f"{manifest['kind']} of {manifest['parent_run_id']}" if manifest.get("parent_run_id") else manifest["kind"]
    counts = ", ".join(f"{n} {k}" for k, n in manifest.get("summary", {}).items())
    return f"run {manifest['run_id']} ({lineage}) of {manifest['target_artifact_id']}: {manifest_verdict(manifest).label} — {counts}"


def manifest_html(manifest: dict[str, Any], store: Any = None) -> str:
    """The summary line in the verdict's colour, the table, the explained steps (``explanations_html``),
    what differs (``comparisons_html``; with ``store``, an image output's pictures too), and the download link."""
    color = manifest_verdict(manifest).color
    return (
        f'<div class="scidex-replay-manifest"><p style="color: {color}"><b>{html.escape(summary_line(manifest))}</b></p>'
        f"{table_html(manifest_rows(manifest))}{explanations_html(manifest)}{comparisons_html(manifest, store)}<p>{download_link(manifest)}</p></div>"
    )


def manifest_bundle(manifest: dict[str, Any], store: Any = None) -> dict[str, Any]:
    """The display bundle saved in the notebook: the manifest, and HTML and text fallbacks."""
    return {MIMETYPE: manifest, "text/html": manifest_html(manifest, store), "text/plain": summary_line(manifest)}


class ManifestView:
    """A manifest rendered statically: the same table as the widget, with no kernel needed.
    Given a blob ``store``, an image output that differs shows its pictures too."""

    def __init__(self, manifest: dict[str, Any], store: Any = None):
        self.manifest = manifest
        self.store = store

    @classmethod
    def load(cls, source: Any) -> "ManifestView":
        """A view of ``manifest.json`` (a path) or a manifest dict, checked as data first."""
        from scidex_replay.replay.manifest import load

        return cls(load(source))

    def to_dataframe(self):
        return frame(manifest_rows(self.manifest))

    def _repr_html_(self) -> str:
        return manifest_html(self.manifest, self.store)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return manifest_bundle(self.manifest, self.store)

    def __repr__(self) -> str:
        return summary_line(self.manifest)
