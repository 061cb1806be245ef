"""The result of a replay as the Python API returns it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scidex_replay.outcomes import Status
from scidex_replay.registry.records import Run

COLUMNS = [
    "step_id", "step_type", "method", "input_hash", "output_hash_live", "output_hash_replayed",
    "outcome", "ok", "reason", "reused_from_run", "duration_s",
]


@dataclass(frozen=True)
class Report:
    run: Run
    manifest: dict[str, Any]
    manifest_path: Path | None = None

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def status(self) -> Status:
        return Status(self.run.status)

    @property
    def ok(self) -> bool:
        """True when every checked step reproduced byte for byte."""
        return bool(self.manifest["ok"])

    @property
    def exit_code(self) -> int:
        """0 every step reproduced, 1 some step differed/failed/was unreplayable, 3 aborted by --strict."""
        if self.status is Status.ABORTED:
            return 3
        return 0 if self.ok else 1

    def to_dataframe(self):
        """One row per step (in execution order), the manifest's step fields as columns."""
        import pandas as pd

        return pd.DataFrame(self.manifest["steps"], columns=COLUMNS).set_index("step_id")

    def __repr__(self) -> str:
        summary = ", ".join(f"{v} {k}" for k, v in self.manifest["summary"].items())
        return f"<Report {self.run_id} {self.status}: {summary}>"
