"""The registry: SQLAlchemy models and the queries the engine and surfaces use.

Names are imported lazily (``scidex_replay._lazy``) so that ``scidex_replay.registry.records``
(plain dataclasses) can be imported where SQLAlchemy is not installed, e.g. by a step
running in a pinned environment.
"""

from scidex_replay._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "records": ["Artifact", "Environment", "Step"],
        "registry": ["Registry", "input_hash_of", "new_id"],
    },
)
