"""Executed Jupyter notebooks (``.ipynb``): cell by cell, what they print, volatile fields masked.

Two notebooks are parsed (stdlib ``json``; at most ``MAX_PARSE`` bytes each) and their cells
paired in order. A cell is named as the person who wrote the notebook counts it: ``cell N``
from 1 over the notebook's own cells, papermill's injected parameters cell left out of the
count (and called ``injected parameters``). What differs in a cell is:

- its ``source`` or type: ``content``;
- an output (``outputs``, walked with the JSON comparator's ``Walk``: a value, a missing or
  extra output): ``content``, numbers within the tolerance ``numeric``; an output's
  ``execution_count`` and ``metadata``: ``metadata``; a widget's ``model_id``, and memory
  addresses (``<object at 0x7f...>``) in text: ``volatile-id``;
- its ``execution_count``, its ``metadata`` (papermill's timings and status, nbclient's
  ``execution`` timestamps, tags): ``metadata``; its ``id``: ``volatile-id``.

In the notebook's ``metadata``: papermill's ``start_time``/``end_time``/``duration`` and
``language_info`` are ``metadata``; the widget state (``widgets``) is ``volatile-id``; a
changed papermill ``parameters`` is ``content`` (the notebook ran on other values).
Two executions whose cells print the same things are therefore ``equivalent``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from scidex_replay.compare.base import Comparison, Difference, Kind, Tolerance
from scidex_replay.compare.jsondoc import Walk, _show

#: the largest notebook parsed, in bytes (outputs with images are large); a larger one is compared as JSON
MAX_PARSE = 64 << 20
INJECTED = "injected-parameters"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]{6,16}")
_WIDGET = "application/vnd.jupyter.widget-view+json"


def _tags(cell: dict) -> list:
    tags = (cell.get("metadata") or {}).get("tags") or []
    return tags if isinstance(tags, list) else []


def _labels(cells: list) -> list[str]:
    """``cell N`` for each cell (its own cells counted from 1), ``injected parameters`` for papermill's."""
    labels, n = [], 0
    for cell in cells:
        if isinstance(cell, dict) and INJECTED in _tags(cell):
            labels.append("injected parameters")
        else:
            n += 1
            labels.append(f"cell {n}")
    return labels


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else value if isinstance(value, str) else json.dumps(value)


class _Masked:
    """The volatile parts of one output taken out, each difference in them noted as its kind."""

    def __init__(self, walk: Walk, where: str):
        self.walk, self.where = walk, where

    def output(self, a: dict, b: dict, i: int) -> tuple[dict, dict]:
        at = f"{self.where} output {i + 1}"
        a, b = dict(a), dict(b)
        for key, kind in (("execution_count", Kind.METADATA), ("metadata", Kind.METADATA)):
            x, y = a.pop(key, None), b.pop(key, None)
            if x != y:
                self.walk.note(f"{at} {key}", kind, f"{_show(x)} → {_show(y)}")
        for side in (a, b):
            if isinstance(side.get("data"), dict):
                side["data"] = dict(side["data"])
        da, db = a.get("data"), b.get("data")
        if isinstance(da, dict) and isinstance(db, dict):
            wa, wb = da.get(_WIDGET), db.get(_WIDGET)
            if isinstance(wa, dict) and isinstance(wb, dict) and wa.get("model_id") != wb.get("model_id"):
                self.walk.note(f"{at} widget model_id", Kind.VOLATILE_ID, f"{wa.get('model_id')} → {wb.get('model_id')}")
                da[_WIDGET], db[_WIDGET] = {**wa, "model_id": ""}, {**wb, "model_id": ""}
        for side in (a, b):  # the text of a stream, an error, a text/plain: addresses masked
            for container, key in ((side, "text"), (side.get("data") or {}, "text/plain"), (side.get("data") or {}, "text/html")):
                if key in container:
                    container[key] = _text(container[key])
        self._addresses(a, b, at)
        return a, b

    def _addresses(self, a: dict, b: dict, at: str) -> None:
        for ca, cb, key in ((a, b, "text"), (a.get("data") or {}, b.get("data") or {}, "text/plain"), (a.get("data") or {}, b.get("data") or {}, "text/html")):
            x, y = ca.get(key), cb.get(key)
            if isinstance(x, str) and isinstance(y, str) and x != y and _ADDRESS.sub(" at 0x", x) == _ADDRESS.sub(" at 0x", y):
                self.walk.note(f"{at} {key}", Kind.VOLATILE_ID, "memory addresses differ (" + ", ".join(_ADDRESS.findall(x)[:3]).strip() + " …)")
                ca[key] = cb[key] = _ADDRESS.sub(" at 0x", x)


class NotebookComparator:
    """Jupyter notebooks: cell by cell, sources and outputs as content, execution counts, timings,
    ids and widget state masked (``metadata``/``volatile-id``)."""

    name = "ipynb"
    extensions = (".ipynb",)
    priority = 20

    def sniff(self, head: bytes, name: str) -> bool:
        """A file named ``.ipynb`` that starts like a JSON object."""
        return Path(name).suffix.lower() == ".ipynb" and head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        if max(live.stat().st_size, replayed.stat().st_size) > MAX_PARSE:
            from scidex_replay.compare.jsondoc import JsonComparator

            return JsonComparator().compare(live, replayed, name=name + ".json", tolerance=tolerance)
        with open(live, "rb") as fh:
            a = json.load(fh)
        with open(replayed, "rb") as fh:
            b = json.load(fh)
        if not (isinstance(a, dict) and isinstance(b, dict) and isinstance(a.get("cells"), list) and isinstance(b.get("cells"), list)):
            raise ValueError("not a Jupyter notebook (no cells list)")
        walk = Walk(tolerance)
        self._metadata(walk, a.get("metadata") or {}, b.get("metadata") or {})
        cells_a, cells_b = a["cells"], b["cells"]
        labels = _labels(cells_a)
        if len(cells_a) != len(cells_b):
            walk.note("cells", Kind.CONTENT, f"{len(cells_a)} → {len(cells_b)} cells")
        for label, x, y in zip(labels, cells_a, cells_b):
            self._cell(walk, label, x, y)
        for key in sorted((a.keys() | b.keys()) - {"cells", "metadata"}):
            if a.get(key) != b.get(key):
                walk.note(key, Kind.METADATA, f"{_show(a.get(key))} → {_show(b.get(key))}")
        metrics = {"cells_live": len(cells_a), "cells_replayed": len(cells_b),
                   "differences_by_kind": {k.value: n for k, n in walk.counts.items() if n}}
        return self._verdict(walk, metrics)

    def _metadata(self, walk: Walk, a: dict, b: dict) -> None:
        pa, pb = dict(a.get("papermill") or {}), dict(b.get("papermill") or {})
        if pa.get("parameters") != pb.get("parameters"):
            walk.note("metadata.papermill.parameters", Kind.CONTENT, f"{_show(pa.get('parameters'))} → {_show(pb.get('parameters'))}")
        for key in sorted((a.keys() | b.keys()) - {"papermill"}):
            if a.get(key) != b.get(key):
                kind = Kind.VOLATILE_ID if key == "widgets" else Kind.METADATA
                walk.note(f"metadata.{key}", kind, f"{_show(a.get(key))} → {_show(b.get(key))}")
        for key in sorted((pa.keys() | pb.keys()) - {"parameters"}):
            if pa.get(key) != pb.get(key):
                walk.note(f"metadata.papermill.{key}", Kind.METADATA, f"{_show(pa.get(key))} → {_show(pb.get(key))}")

    def _cell(self, walk: Walk, label: str, a: Any, b: Any) -> None:
        if not (isinstance(a, dict) and isinstance(b, dict)):
            walk(a, b, label)
            return
        if a.get("cell_type") != b.get("cell_type"):
            walk.note(label, Kind.CONTENT, f"a {a.get('cell_type')} cell → a {b.get('cell_type')} cell")
            return
        if _text(a.get("source", "")) != _text(b.get("source", "")):
            walk.note(f"{label} source", Kind.CONTENT, "the cell's code differs: " + " → ".join(
                repr(_text(s.get("source", "")))[:120] for s in (a, b)))
        if a.get("id") != b.get("id"):
            walk.note(f"{label} id", Kind.VOLATILE_ID, f"{a.get('id')} → {b.get('id')}")
        for key in ("execution_count", "attachments"):
            if a.get(key) != b.get(key):
                walk.note(f"{label} {key}", Kind.METADATA, f"{_show(a.get(key))} → {_show(b.get(key))}")
        ma, mb = a.get("metadata") or {}, b.get("metadata") or {}
        if ma != mb and isinstance(ma, dict) and isinstance(mb, dict):
            keys = sorted(k for k in ma.keys() | mb.keys() if ma.get(k) != mb.get(k))
            walk.note(f"{label} metadata", Kind.METADATA, "differs in " + ", ".join(keys) + " (papermill's timings, nbclient's execution timestamps, tags)")
        oa, ob = a.get("outputs") or [], b.get("outputs") or []
        if len(oa) != len(ob):
            walk.note(f"{label} outputs", Kind.CONTENT, f"{len(oa)} → {len(ob)} outputs: " + " → ".join(
                _show([o.get("output_type") for o in side if isinstance(o, dict)]) for side in (oa, ob)))
        masked = _Masked(walk, label)
        for i, (x, y) in enumerate(zip(oa, ob)):
            if isinstance(x, dict) and isinstance(y, dict):
                x, y = masked.output(x, y, i)
            walk(x, y, f"{label} output {i + 1}")

    def _verdict(self, walk: Walk, metrics: dict) -> Comparison:
        differences = walk.differences
        if not differences:
            d = Difference("notebook", Kind.METADATA, "the same notebook; only how its JSON is written differs")
            return Comparison(self.name, "equivalent: " + d.detail, [d], metrics)
        content = [d for d in differences if d.kind is Kind.CONTENT]
        if content:
            d = content[0]
            more = f" ({len(content)} differences in all)" if len(content) > 1 else ""
            return Comparison(self.name, f"content differs: {d.where}: {d.detail}{more}", differences, metrics)
        kinds = {d.kind for d in differences}
        said = []
        if Kind.METADATA in kinds:
            said.append("execution counts, timings or metadata")
        if Kind.VOLATILE_ID in kinds:
            said.append("cell ids, widget ids or memory addresses")
        if Kind.NUMERIC in kinds:
            said.append("numbers within the tolerance")
        return Comparison(self.name, "equivalent: the cells print the same; only " + " and ".join(said) + " differ",
                          differences, metrics)
