"""The ``ipynb`` comparator: two executions of a notebook compared by what their cells print,
execution counts, timings, cell ids, widget ids and memory addresses masked."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from scidex_replay.compare.base import Tolerance
from scidex_replay.compare.registry import compare_files, load_comparators


def executed() -> dict:
    """A notebook as papermill leaves it: a parameters cell, the injected one, two code cells."""
    def code(source, outputs, n, tags=()):
        return {
            "cell_type": "code", "id": f"c{n}", "execution_count": n, "source": source, "outputs": outputs,
            "metadata": {"tags": list(tags), "execution": {"iopub.status.busy": "2026-11-30T00:00:0%dZ" % n},
                         "papermill": {"start_time": "2026-11-30T00:00:00", "duration": 0.5, "status": "completed"}},
        }

    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"papermill": {"parameters": {"n": 3}, "start_time": "2026-11-30T00:00:00", "duration": 2.5}},
        "cells": [
            {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": "# title"},
            code("n = 1", [], 1, ["parameters"]),
            code("# Parameters\nn = 3\n", [], 2, ["injected-parameters"]),
            code("print(n * 2)", [{"output_type": "stream", "name": "stdout", "text": ["6\n"]}], 3),
            code("object(), n", [{"output_type": "execute_result", "execution_count": 4, "metadata": {},
                                  "data": {"text/plain": "(<object object at 0x7f1a2b3c4d50>, 3)"}}], 4),
        ],
    }


def compare(tmp_path: Path, live: dict, replayed: dict):
    a, b = tmp_path / "live.ipynb", tmp_path / "replayed.ipynb"
    a.write_text(json.dumps(live, indent=1))
    b.write_text(json.dumps(replayed, indent=1))
    return compare_files(a, b, name="model.executed.ipynb", tolerance=Tolerance())


def test_is_chosen_for_notebooks():
    assert load_comparators().choose(b'{\n "cells": []}', "model.executed.ipynb").name == "ipynb"
    assert load_comparators().choose(b'{"cells": []}', "model.json").name == "json"


def test_two_executions_that_print_the_same_are_equivalent_whatever_their_counts_timings_and_ids(tmp_path):
    live, replayed = executed(), executed()
    replayed["metadata"]["papermill"]["duration"] = 3.1
    for n, cell in enumerate(replayed["cells"][1:], 7):
        cell["id"], cell["execution_count"] = f"x{n}", n
        cell["metadata"]["execution"]["iopub.status.busy"] = "2026-12-01T00:00:00Z"
        cell["metadata"]["papermill"]["duration"] = 0.25
    replayed["cells"][4]["outputs"][0]["execution_count"] = 9
    replayed["cells"][4]["outputs"][0]["data"]["text/plain"] = "(<object object at 0x7f99887766a0>, 3)"
    c = compare(tmp_path, live, replayed)
    assert c.comparator == "ipynb" and c.equivalent, c.summary
    assert c.summary.startswith("equivalent: the cells print the same")
    kinds = {(d.where, d.kind.value) for d in c.differences}
    assert ("cell 3 execution_count", "metadata") in kinds and ("cell 3 id", "volatile-id") in kinds
    assert ("injected parameters id", "volatile-id") in kinds
    assert ("cell 4 output 1 text/plain", "volatile-id") in kinds and ("metadata.papermill.duration", "metadata") in kinds


def test_an_output_that_differs_names_the_cell_as_the_notebook_counts_it(tmp_path):
    live, replayed = executed(), executed()
    replayed["cells"][3]["outputs"][0]["text"] = ["7\n"]
    c = compare(tmp_path, live, replayed)
    assert not c.equivalent
    assert c.summary == "content differs: cell 3 output 1.text: '6\\n' → '7\\n'"


def test_another_parameter_value_or_edited_code_is_content(tmp_path):
    live, replayed = executed(), executed()
    replayed["metadata"]["papermill"]["parameters"] = {"n": 4}
    edited = copy.deepcopy(live)
    edited["cells"][4]["source"] = "object(), n + 1"
    assert not compare(tmp_path, live, replayed).equivalent
    c = compare(tmp_path, live, edited)
    assert not c.equivalent and c.summary.startswith("content differs: cell 4 source: the cell's code differs")


def test_a_missing_output_or_cell_is_content(tmp_path):
    live, fewer_outputs, fewer_cells = executed(), executed(), executed()
    fewer_outputs["cells"][3]["outputs"] = []
    del fewer_cells["cells"][4]
    c = compare(tmp_path, live, fewer_outputs)
    assert not c.equivalent and c.differences[0].where == "cell 3 outputs"
    c = compare(tmp_path, live, fewer_cells)
    assert not c.equivalent and "5 → 4 cells" in c.summary
