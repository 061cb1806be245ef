"""The replay engine: collect → plan → execute, compare, reuse, manifest."""

from scidex_replay.replay.engine import REUSE_MODES, plan_replay, rerun_artifact, reuse_key
from scidex_replay.replay.plan import Plan, PlannedStep, plan
from scidex_replay.replay.report import Report

__all__ = ["REUSE_MODES", "Plan", "PlannedStep", "Report", "plan", "plan_replay", "rerun_artifact", "reuse_key"]
