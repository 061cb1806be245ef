"""The replay engine: collect → plan → execute, compare, reuse, manifest.

Names are imported lazily (``scidex_replay._lazy``): ``chain`` and ``runs`` need the
ordering and the report, not the engine, its handlers and environment capture.
"""

from scidex_replay._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "engine": ["plan_replay", "rerun_artifact", "reuse_key"],
        "options": ["EXECUTOR_NAMES", "REUSE_MODES", "ReplayOptions"],
        "plan": ["Plan", "PlannedStep"],
        "report": ["Report"],
    },
)
