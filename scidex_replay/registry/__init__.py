"""The registry: SQLAlchemy models and the queries the engine and surfaces use."""

from scidex_replay.registry.records import Artifact, Environment, Step
from scidex_replay.registry.registry import Registry, input_hash_of, new_id

__all__ = ["Artifact", "Environment", "Registry", "Step", "input_hash_of", "new_id"]
