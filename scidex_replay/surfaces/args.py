"""Parsing shared by the CLI and the magic: ``--set STEP.KEY=VALUE`` and ``--input STEP[:N]=FILE``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from scidex_replay.errors import BadInput


def parse_sets(specs: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``["s_1.threshold=3", "s_1.label=a b"]`` -> ``{"s_1": {"threshold": 3, "label": "a b"}}``.

    VALUE is read as JSON when it parses (numbers, booleans, lists, quoted
    strings), otherwise taken as a plain string.
    """
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        target, sep, raw = spec.partition("=")
        step, dot, key = target.partition(".")
        if not sep or not dot or not step or not key:
            raise BadInput(f"--set {spec!r}: expected STEP.KEY=VALUE")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(step, {})[key] = value
    return out


def parse_inputs(specs: Iterable[str]) -> dict[str, str]:
    """``["s_1=new.csv", "s_2:1=a_xyz"]`` -> ``{"s_1": "new.csv", "s_2:1": "a_xyz"}``."""
    out: dict[str, str] = {}
    for spec in specs:
        target, sep, source = spec.partition("=")
        if not sep or not target or not source:
            raise BadInput(f"--input {spec!r}: expected STEP=FILE or STEP:N=FILE")
        out[target] = source
    return out
