"""``python.call``: a ``module:function`` called as ``function(inputs, output, **parameters)``.

``inputs`` is the list of input paths in recorded order, ``output`` the path to
write, ``parameters`` the step's parameters but the environment it declared (``env``,
which it sees as ``os.environ``). The function is the step's own code: it runs in a fresh
deterministic interpreter at record time and at replay (``fresh_process``). Only ``module:function`` references are imported (no eval); set
``SCIDEX_REPLAY_ALLOW`` to a comma-separated list of module prefixes to restrict
which modules may be imported at all.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from scidex_replay.env.deterministic import call_parameters
from scidex_replay.errors import BadInput, OutputMissing, StepFailed
from scidex_replay.handlers.spec import ReplayedArtifact
from scidex_replay.registry.records import Step

_REF = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*")
ALLOW_ENV = "SCIDEX_REPLAY_ALLOW"


def reference(func: Callable[..., Any]) -> str:
    """``module:qualname`` of a module-level function, refusing lambdas and nested functions."""
    ref = f"{func.__module__}:{func.__qualname__}"
    if not _REF.fullmatch(ref) or func.__module__ == "__main__":
        raise BadInput(f"{ref} is not an importable module-level function")
    return ref


def resolve(ref: str) -> Callable[..., Any]:
    if not isinstance(ref, str) or not _REF.fullmatch(ref):
        raise BadInput(f"not a module:function reference: {ref!r:.80}")
    module_name, func_name = ref.split(":")
    allow = [p.strip() for p in os.environ.get(ALLOW_ENV, "").split(",") if p.strip()]
    if allow and not any(module_name == p or module_name.startswith(p + ".") for p in allow):
        raise BadInput(f"module {module_name} is not in {ALLOW_ENV}")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise StepFailed(f"cannot import {ref}: {exc}") from exc
    if not callable(func):
        raise BadInput(f"{ref} is not callable")
    return func


class PythonCallHandler:
    step_type = "python.call"
    version = "1"
    fresh_process = True

    def __call__(self, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        func = resolve(step.method)
        try:
            func(list(inputs), output, **call_parameters(step.parameters))
        except Exception as exc:
            raise StepFailed(f"{type(exc).__name__}: {exc}") from exc
        if not output.is_file():
            raise OutputMissing(f"{step.method} returned without writing its output")
        return ReplayedArtifact(output)
