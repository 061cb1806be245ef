"""The replay engine: collect → plan → execute, compare, manifest."""

from scidex_replay.replay.engine import ReplayOptions, plan_replay, rerun_artifact, reuse_key
from scidex_replay.replay.plan import Plan, PlannedStep, plan
from scidex_replay.replay.report import Report

__all__ = ["Plan", "PlannedStep", "ReplayOptions", "Report", "plan", "plan_replay", "rerun_artifact", "reuse_key"]
