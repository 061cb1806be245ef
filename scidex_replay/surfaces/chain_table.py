"""The replay widget's table: an anywidget whose ES module (``static/chain_table.js``) draws the
rows in the browser, so that a step costs one row, not the table.

``rows`` (the whole table, one dict per step: ``COLUMNS`` and ``step_id``) is synced when it is
set, which the replay widget does when a run starts and ends. During a run ``set_row`` and
``set_running`` send one small message each (``{"kind": "row", "index", "row"}``,
``{"kind": "running", "index"}``) that the view applies to one row; their size does not depend
on the length of the chain. The Python copy (``current``) is patched in place the same way.
Colours come from JupyterLab's theme variables (``static/chain_table.css``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import anywidget
from traitlets import Dict, List, Unicode

from scidex_replay.surfaces.manifest_view import COLUMNS

STATIC = Path(__file__).parent / "static"


def clean(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with JSON values only: a missing value (None, NaN) as None, which the view shows empty."""
    return {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in row.items()}


class ChainTable(anywidget.AnyWidget):
    """One row per step of a chain, patched row by row while a run goes on."""

    _esm = STATIC / "chain_table.js"
    _css = STATIC / "chain_table.css"
    columns = List(Unicode(), default_value=list(COLUMNS), help="The columns shown, in order.").tag(sync=True)
    rows = List(Dict(), help="The whole table: one dict per step, keys COLUMNS and step_id.").tag(sync=True)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.current: list[dict[str, Any]] = list(self.rows)
        self.running_index = -1
        self.observe(lambda change: setattr(self, "current", list(change["new"])), names="rows")

    def set_row(self, index: int, row: dict[str, Any]) -> None:
        """Replace row ``index`` (0-based) here and in every view: one message of the row's size."""
        row = clean(row)
        self.current[index] = row
        if index == self.running_index:
            self.running_index = -1
        self.send({"kind": "row", "index": index, "row": row})

    def set_running(self, index: int) -> None:
        """Highlight row ``index`` as the running step (-1: none); the view counts its seconds."""
        self.running_index = index
        self.send({"kind": "running", "index": index})
