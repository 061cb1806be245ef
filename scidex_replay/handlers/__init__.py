"""Replay handlers, one per ``step_type``; see ``spec.py`` for the contract.

Names are imported lazily (``scidex_replay._lazy``), so that a step's process, which
imports one handler, does not also scan the installed packages' entry points.
"""

from scidex_replay._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {"registry": ["HandlerRegistry", "load_handlers"], "spec": ["Handler", "ReplayedArtifact"]},
)
