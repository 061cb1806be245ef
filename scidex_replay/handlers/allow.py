"""``SCIDEX_REPLAY_ALLOW``: the one policy on which Python code a step may import.

Unset or empty, every ``python.call`` module and every ``python.cell`` may run. Set to a
comma-separated list of module prefixes (``mylab, numpy``):

- a ``python.call`` step runs only when its module is one of them or inside one
  (``mylab.fit`` for ``mylab``);
- a ``python.cell`` step runs only when the list holds the entry ``python.cell``. A cell can
  import anything, so no list of modules can bound it: allowing cells allows every cell.

Other step types are not governed by it: a ``shell`` step runs its recorded command
(replaying a registry runs its commands, like ``make``). The replay checks the policy in its
own process before a step is staged (``replay/runner.py``), so a step whose subprocess does not
inherit the variable (one that declared its environment) is checked all the same;
``python_call.resolve`` checks it again where the module is imported.
"""

from __future__ import annotations

import os

ALLOW_ENV = "SCIDEX_REPLAY_ALLOW"
CELL = "python.cell"


def allow_list() -> list[str]:
    """The entries of ``SCIDEX_REPLAY_ALLOW``; empty when it is unset (everything allowed)."""
    return [p.strip() for p in os.environ.get(ALLOW_ENV, "").split(",") if p.strip()]


def module_refusal(module: str) -> str | None:
    """Why ``module`` may not be imported by a ``python.call`` step, or None when it may."""
    allow = allow_list()
    if allow and not any(module == p or module.startswith(p + ".") for p in allow):
        return f"module {module} is not in {ALLOW_ENV}"
    return None


def refusal(step_type: str, method: str) -> str | None:
    """Why a step of ``step_type`` with ``method`` may not run under the policy, or None when it may."""
    if step_type == CELL:
        allow = allow_list()
        return f"{ALLOW_ENV} is set and does not list {CELL}: a cell can import any module" if allow and CELL not in allow else None
    if step_type == "python.call" and ":" in method:
        return module_refusal(method.split(":", 1)[0])
    return None
