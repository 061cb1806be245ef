"""The JSON comparator: documents written by the json module, compared path by path."""

from __future__ import annotations

import json
import re
import sys
import tracemalloc
import uuid
from pathlib import Path

import pytest

from scidex_replay.compare import jsondoc
from scidex_replay.compare.base import Tolerance
from scidex_replay.compare.jsondoc import JsonComparator
from scidex_replay.compare.registry import compare_files, load_comparators

NOISE = Tolerance()


def document() -> dict:
    return {
        "run_id": "44c447c8-0396-4239-ae94-34afed14fefa",
        "results": [{"p": i / 8, "name": f"g{i}"} for i in range(5)],
        "tags": ["a", "b", "c"],
        "meta": {"x": 1, "y": 2},
    }


def compare(tmp_path: Path, live, replayed, name: str = "r.json", **dump):
    a, b = tmp_path / "live.json", tmp_path / "replayed.json"
    for path, doc in ((a, live), (b, replayed)):
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc, **dump))
    return compare_files(a, b, name=name, tolerance=NOISE)


def test_is_sniffed_for_json_like_names_and_not_for_notebooks():
    comparators = load_comparators()
    assert comparators.choose(b'  {"a": 1}', "results").name == "json"
    assert comparators.choose(b'[{"a": 1}]', "out.txt").name == "json"
    assert comparators.choose(b'{"cells": []}', "nb.ipynb").name != "json"
    assert comparators.choose(b"[INFO] started\n", "run.txt").name == "text"
    assert comparators.choose(b'{"i": 0}\n{"i": 1}\n', "rows.jsonl").name == "json"


def test_a_changed_value_is_content_at_its_path_with_the_amount(tmp_path):
    replayed = document()
    replayed["results"][3]["p"] = 0.5  # was 0.375
    c = compare(tmp_path, document(), replayed)
    assert c.comparator == "json" and not c.equivalent and c.kinds == ["content"]
    assert c.summary == ("content differs: 1 value(s) differ, first at $.results[3].p: 0.375 → 0.5 (abs diff 0.125, rel diff 0.333); "
                         "max abs diff 0.125 at $.results[3].p, max rel diff 0.333")
    assert c.metrics["max_abs_diff"] == 0.125 and c.metrics["max_abs_path"] == "$.results[3].p"


def test_float_noise_and_a_new_uuid_are_equivalent(tmp_path):
    replayed = document()
    replayed["run_id"] = str(uuid.uuid4())
    replayed["results"][1]["p"] *= 1 + 1.7e-12
    c = compare(tmp_path, document(), replayed)
    assert c.equivalent and c.kinds == ["volatile-id", "numeric"]
    assert c.differences[0].to_json() == {"where": "$.run_id", "kind": "volatile-id", "detail": f"44c447c8-0396-4239-ae94-34afed14fefa → {replayed['run_id']}"}
    assert c.metrics["max_rel_path"] == "$.results[1].p" and c.metrics["max_rel_diff"] == pytest.approx(1.7e-12, rel=1e-3)
    assert c.summary.startswith("equivalent: 1 number(s) within the tolerance, max abs diff 2.12e-13 at $.results[1].p")


def test_a_uuid_replaced_by_a_word_is_content(tmp_path):
    replayed = document()
    replayed["run_id"] = "none"
    c = compare(tmp_path, document(), replayed)
    assert c.comparator == "json" and c.kinds == ["content"]
    assert c.differences[0].to_json() == {"where": "$.run_id", "kind": "content", "detail": "'44c447c8-0396-4239-ae94-34afed14fefa' → 'none'"}


def test_reordered_keys_are_order_and_a_reordered_array_is_content(tmp_path):
    replayed = document()
    replayed["meta"] = {"y": 2, "x": 1}
    c = compare(tmp_path, document(), replayed)
    assert c.equivalent and c.kinds == ["order"] and [d.where for d in c.differences] == ["$.meta"]
    replayed["tags"] = ["c", "a", "b"]  # an array is ordered (RFC 8259): coefficients, ranks, a series
    c = compare(tmp_path, document(), replayed)
    assert not c.equivalent and c.kinds == ["order", "content"]
    assert c.differences[0].to_json() == {"where": "$.tags", "kind": "content", "detail": "the same 3 items in another order (3 moved)"}


def test_a_changed_checksum_is_content_and_only_uuids_are_volatile(tmp_path):
    live = {"output": "counts.tsv", "sha256": "2ec1" * 16, "run": "44c447c8-0396-4239-ae94-34afed14fefa"}
    replayed = {"output": "counts.tsv", "sha256": "9f3a" * 16, "run": "5d1c2f7e-8a41-4b6e-9f0d-2b7c1e3a9d55"}
    c = compare(tmp_path, live, replayed)
    assert not c.equivalent and [(d.where, d.kind.value) for d in c.differences] == [("$.sha256", "content"), ("$.run", "volatile-id")]


def test_the_same_document_indented_is_metadata(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(document()))
    b.write_text(json.dumps(document(), indent=2))
    c = compare_files(a, b, name="b.json", tolerance=NOISE)
    assert c.equivalent and c.kinds == ["metadata"] and c.summary == "equivalent: the same JSON, written differently"


def test_true_turned_one_is_content(tmp_path):
    replayed = document()
    replayed["meta"]["x"] = True  # == 1 in Python
    c = compare(tmp_path, document(), replayed)
    assert not c.equivalent and c.differences[0].to_json() == {"where": "$.meta.x", "kind": "content", "detail": "1 → true"}


def test_an_inserted_array_item_is_aligned(tmp_path):
    replayed = document()
    replayed["results"].insert(2, {"p": 9.0, "name": "new"})
    c = compare(tmp_path, document(), replayed)
    assert [d.where for d in c.differences] == ["$.results", "$.results[2] (replayed)"]


def test_json_lines_are_compared_line_by_line(tmp_path):
    rows = [json.dumps({"i": i, "v": i / 3}) for i in range(10)]
    changed = list(rows)
    changed[4] = json.dumps({"i": 4, "v": 4 / 3 + 0.1})
    c = compare(tmp_path, "\n".join(rows) + "\n", "\n".join(changed) + "\n", name="x.jsonl")
    assert not c.equivalent and c.differences[0].where == "line 5 $.v"
    shuffled = compare(tmp_path, "\n".join(rows) + "\n", "\n".join(reversed(rows)) + "\n", name="x.jsonl")
    assert shuffled.equivalent and shuffled.kinds == ["order"]
    assert shuffled.summary == "equivalent: the same 10 lines in another order (9 moved)"


def test_a_file_over_the_parse_limit_is_compared_line_by_line_in_bounded_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(jsondoc, "MAX_PARSE", 1 << 20)
    values = [{"i": i, "p": i / 7} for i in range(150_000)]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"values": values}, indent=1))
    values[-1]["p"] *= 1 + 1e-12
    b.write_text(json.dumps({"values": values}, indent=1))
    assert a.stat().st_size > 5_000_000
    tracemalloc.start()
    try:
        c = JsonComparator().compare(a, b, name="b.json", tolerance=NOISE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 << 20, f"peak {peak} bytes"
    assert c.equivalent and c.kinds == ["metadata", "numeric"]
    assert c.metrics["compared_line_by_line"] == "over 1 MiB, compared line by line"
    assert c.differences[1].where == f"line {a.read_text().count(chr(10)) - 2} $.p"


def test_a_truncated_json_file_falls_back_to_bytes(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(document()))
    b.write_text(json.dumps(document())[:-10])
    c = compare_files(a, b, name="b.json", tolerance=NOISE)
    assert c.comparator == "bytes" and c.metrics["comparator_unavailable"] == "json"
    assert "the json comparator could not read it (JSONDecodeError" in c.summary


STEP = """\
import json, sys, uuid
json.dump({"run_id": str(uuid.uuid4()), "results": [{"p": i / 8} for i in range(5)]}, open(sys.argv[1], "w"), indent=2)
"""


def test_a_recorded_step_with_a_random_run_id_replays_as_equivalent(cli, tmp_path):
    (tmp_path / "fit.py").write_text(STEP)
    rec = cli("run", "-o", "fit.json", "--", sys.executable, "fit.py", "fit.json", cwd=tmp_path)
    assert rec.returncode == 0, rec.stderr
    replay = cli("rerun-artifact", rec.stdout.split()[0], "--out", tmp_path / "m", timeout=120)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    (step,) = json.loads((tmp_path / "m" / "manifest.json").read_text())["steps"]
    assert step["outcome"] == "equivalent"
    comparison = step["comparison"]
    assert comparison["comparator"] == "json"
    assert comparison["summary"] == "equivalent: 1 random id(s), first at $.run_id"
    assert re.fullmatch(r"[0-9a-f-]{36} → [0-9a-f-]{36}", comparison["differences"][0]["detail"])
