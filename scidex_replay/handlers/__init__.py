"""Replay handlers, one per ``step_type``; see ``spec.py`` for the contract."""

from scidex_replay.handlers.registry import HandlerRegistry, load_handlers
from scidex_replay.handlers.spec import Handler, ReplayedArtifact

__all__ = ["Handler", "HandlerRegistry", "ReplayedArtifact", "load_handlers"]
