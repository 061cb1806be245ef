"""``python.call``: a ``module:function`` called as ``function(inputs, output, **parameters)``.

``inputs`` is the list of input paths in recorded order (data inputs only: the step's code
inputs, its module's source file, are not passed), ``output`` the path to write,
``parameters`` the step's parameters but the environment it declared (``env``, which it sees
as ``os.environ``). The function is the step's own code: it runs in a fresh deterministic
interpreter at record time and at replay (``fresh_process``), which imports the module from
the ``sys.path`` root it was recorded from (put on ``sys.path`` when missing), so a replay
from another process (the CLI) finds it. Only ``module:function`` references are
imported (no eval); ``SCIDEX_REPLAY_ALLOW`` restricts which modules may be imported at
all (``handlers/allow.py``).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from scidex_replay.env.deterministic import call_parameters
from scidex_replay.errors import BadInput, OutputMissing, StepFailed
from scidex_replay.handlers.allow import ALLOW_ENV, module_refusal
from scidex_replay.handlers.spec import ReplayedArtifact
from scidex_replay.registry.records import CodeInput, Step

_REF = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*")
__all__ = ["ALLOW_ENV", "PythonCallHandler", "check_origin", "ensure_importable", "reference", "resolve"]


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
    refused = module_refusal(module_name)
    if refused:
        raise BadInput(refused)
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise StepFailed(f"cannot import {ref}: {exc}") from exc
    if not callable(func):
        raise BadInput(f"{ref} is not callable")
    return func


def ensure_importable(code_inputs: Sequence[CodeInput]) -> None:
    """Put each code input's recorded root first on ``sys.path`` when it is not there yet."""
    for code in code_inputs:
        if code.root and code.root not in sys.path:
            sys.path.insert(0, code.root)
            importlib.invalidate_caches()


def check_origin(func: Callable[..., Any], code_inputs: Sequence[CodeInput]) -> None:
    """``StepFailed`` when ``func``'s module was imported from another file than the one recorded
    (another module of the same name earlier on ``sys.path``): replay checked the recorded one."""
    module = sys.modules.get(func.__module__)
    origin = getattr(getattr(module, "__spec__", None), "origin", None)
    for code in code_inputs:
        if code.module == func.__module__ and origin and os.path.abspath(origin) != code.path:
            raise StepFailed(f"module {code.module} was imported from {origin}, not from {code.path} as recorded")


class PythonCallHandler:
    step_type = "python.call"
    version = "1"
    fresh_process = True

    def __call__(self, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        ensure_importable(step.code_inputs)
        func = resolve(step.method)
        check_origin(func, step.code_inputs)
        try:
            func(list(inputs), output, **call_parameters(step.parameters))
        except Exception as exc:
            raise StepFailed(f"{type(exc).__name__}: {exc}") from exc
        if not output.is_file():
            raise OutputMissing(f"{step.method} returned without writing its output")
        return ReplayedArtifact(output)
