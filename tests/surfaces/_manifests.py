"""Manifests built by hand (v2 as the engine writes them, v1 as first-wave notebooks saved
them), so the surfaces' labels are tested without running a replay."""

from __future__ import annotations

from typing import Any

from scidex_replay.outcomes import Outcome, Status, is_ok

H_LIVE, H_OTHER, H_IN = "1" * 64, "2" * 64, "0" * 64


def v2_step(n: int, outcome: Outcome, detail: str = "") -> dict[str, Any]:
    replayed = {Outcome.OUTPUT_DIFFERS: H_OTHER, Outcome.FAILED: None, Outcome.SKIPPED: None}.get(outcome, H_LIVE)
    ok = is_ok(outcome)
    return {
        "step_id": f"s_{n:08d}", "step_name": f"step{n}", "step_type": "shell", "method": f"python step{n}.py",
        "target_artifact_id": f"a_{n:08d}", "input_hash": H_IN, "input_hash_replayed": H_IN,
        "output_hash_live": H_LIVE, "output_hash_replayed": replayed, "ok": ok, "outcome": str(outcome),
        "reason": f"{outcome}: {detail}" if detail else str(outcome), "reused_from_run": None, "duration_s": 0.25,
        "outputs": [{
            "artifact_id": f"a_{n:08d}", "name": f"out{n}.txt", "hash_live": H_LIVE, "hash_replayed": replayed,
            "ok": ok, "outcome": str(outcome), "comparison": None,
        }],
        "comparison": None,
    }


def v2_manifest(status: Status, *outcomes: Outcome, kind: str = "replay") -> dict[str, Any]:
    steps = [v2_step(n, o, "bytes differ at offset 3" if o is Outcome.OUTPUT_DIFFERS else "") for n, o in enumerate(outcomes, 1)]
    summary: dict[str, int] = {}
    for o in outcomes:
        summary[str(o)] = summary.get(str(o), 0) + 1
    return {
        "schema": "scidex-replay/manifest/v2", "run_id": "r_00000001", "kind": kind,
        "parent_run_id": "r_00000000" if kind != "replay" else None, "target_artifact_id": steps[-1]["target_artifact_id"],
        "from_step": None, "options": {}, "env": {"live": ["e" * 64], "replay": "e" * 64},
        "started_at": "2025-01-01T00:00:00+00:00", "completed_at": "2025-01-01T00:00:01+00:00",
        "status": str(status), "ok": status is Status.REPRODUCED, "summary": dict(sorted(summary.items())), "steps": steps,
    }


def v1_manifest(status: str | None, ok: bool, *reasons: str) -> dict[str, Any]:
    """A first-wave manifest: ``reason`` carries the outcome, ``status`` is ``succeeded``/``failed`` or absent."""
    steps = [
        {
            "step_id": f"s_{n:08d}", "step_type": "shell", "input_hash": H_IN, "output_hash_live": H_LIVE,
            "output_hash_replayed": H_LIVE, "ok": reason == "reproduced", "reason": reason, "reused_from_run": None,
            "duration_s": 0.1,
        }
        for n, reason in enumerate(reasons, 1)
    ]
    manifest = {
        "schema": "scidex-replay/manifest/v1", "run_id": "r_00000001", "kind": "replay", "target_artifact_id": "a_00000009",
        "ok": ok, "summary": {}, "steps": steps,
    }
    if status is not None:
        manifest["status"] = status
    return manifest
