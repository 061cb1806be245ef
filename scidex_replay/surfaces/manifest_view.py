"""The static view of a manifest: the chain as an HTML table, no kernel needed.

``ManifestView`` renders a manifest (``_repr_html_``, ``_repr_mimebundle_``);
``manifest_bundle`` is the display bundle the magic attaches to the notebook: the
manifest under ``MIMETYPE`` plus HTML and plain-text fallbacks. The replay widget
draws its table with the same ``table_html``. A step shows by its name when it has
one; a step with several outputs lists them, each marked ✓ (ok) or ✗ (not ok), so
the one that differs stands out. A v1 manifest (first-wave notebooks) renders too.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

from scidex_replay.replay.manifest import MIMETYPE
from scidex_replay.surfaces.labels import OUTCOME_COLORS, manifest_verdict

COLUMNS = [
    "step", "type", "method", "input hash", "live output hash", "replayed hash", "outputs", "outcome", "reason", "reused-from",
]
HASH_COLUMNS = ["input hash", "live output hash", "replayed hash"]
OUTPUT_MARKS = {True: " ✓", False: " ✗"}  # by an output's ``ok``; none for an output not checked


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


def frame(rows: Iterable[dict[str, Any]]):
    """The rows as a pandas DataFrame with ``COLUMNS``."""
    import pandas as pd

    return pd.DataFrame(list(rows), columns=COLUMNS)


# -- HTML --------------------------------------------------------------------------
def _short(value: Any, n: int) -> str:
    if value is None:
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


def download_link(manifest: dict[str, Any]) -> str:
    """An anchor that downloads ``manifest.json`` from a data: URI."""
    data = base64.b64encode(json.dumps(manifest, indent=2).encode()).decode()
    return f'<a download="manifest.json" href="data:application/json;base64,{data}">download manifest.json</a>'


def summary_line(manifest: dict[str, Any]) -> str:
    """``run r_… (replay) of a_…: did not reproduce — 2 reproduced, 1 output-differs``."""
    lineage = f"{manifest['kind']} of {manifest['parent_run_id']}" if manifest.get("parent_run_id") else manifest["kind"]
    counts = ", ".join(f"{n} {k}" for k, n in manifest.get("summary", {}).items())
    return f"run {manifest['run_id']} ({lineage}) of {manifest['target_artifact_id']}: {manifest_verdict(manifest).label} — {counts}"


def manifest_html(manifest: dict[str, Any]) -> str:
    """The summary line in the verdict's colour, the table, and the download link."""
    color = manifest_verdict(manifest).color
    return (
        f'<div class="scidex-replay-manifest"><p style="color: {color}"><b>{html.escape(summary_line(manifest))}</b></p>'
        f"{table_html(manifest_rows(manifest))}<p>{download_link(manifest)}</p></div>"
    )


def manifest_bundle(manifest: dict[str, Any]) -> dict[str, Any]:
    """The display bundle saved in the notebook: the manifest, and HTML and text fallbacks."""
    return {MIMETYPE: manifest, "text/html": manifest_html(manifest), "text/plain": summary_line(manifest)}


class ManifestView:
    """A manifest rendered statically: the same table as the widget, with no kernel needed."""

    def __init__(self, manifest: dict[str, Any]):
        self.manifest = manifest

    @classmethod
    def load(cls, source: Any) -> "ManifestView":
        """A view of ``manifest.json`` (a path) or a manifest dict, checked as data first."""
        from scidex_replay.replay.manifest import load

        return cls(load(source))

    def to_dataframe(self):
        return frame(manifest_rows(self.manifest))

    def _repr_html_(self) -> str:
        return manifest_html(self.manifest)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return manifest_bundle(self.manifest)

    def __repr__(self) -> str:
        return summary_line(self.manifest)
