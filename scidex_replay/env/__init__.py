"""Environments: env_hash, requirements.lock capture (of the live interpreter, or of the
interpreter or program a command runs), deterministic mode.

Names are imported lazily (``scidex_replay._lazy``), so that importing ``scidex_replay.env.deterministic``
(as every handler that starts a step's process does) does not also load the
capture machinery (``platform``, ``sysconfig``, ``importlib.metadata``).
"""

from scidex_replay._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "capture": ["current_environment"],
        "command": ["InterpreterProbeFailed", "command_environment", "interpreter_environment"],
        "deterministic": ["deterministic_env"],
    },
)
