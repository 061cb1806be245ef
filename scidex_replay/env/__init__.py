"""Environments: env_hash, requirements.lock capture, deterministic mode."""

from scidex_replay.env.capture import current_environment
from scidex_replay.env.deterministic import deterministic_env

__all__ = ["current_environment", "deterministic_env"]
