"""Source drift: a source file recorded from a path that still exists and has changed since.

A source artifact added from a file (``run -i FILE``, a file the command names, a ``--fork
--input`` file, ``record_step``/``record_call`` given a path; not ``add FILE``, whose same bytes
give the same id wherever they are added) keeps that file's absolute path in its metadata
(``SOURCE_PATH``). Before a replay runs, ``find_drift`` hashes each such file of the chain that
still exists; one whose bytes differ from the artifact's has *drifted*. A replay still uses the
recorded bytes; the manifest lists the drift on every step that reads the file
(``source_drift``), the CLI warns, ``--strict`` aborts, and ``--live`` forks the chain with the
working copy of each drifted file instead (``live_overrides``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scidex_replay.registry import Artifact, Step
from scidex_replay.registry.registry import SOURCE_PATH
from scidex_replay.store import hash_file


@dataclass(frozen=True)
class SourceDrift:
    """A source artifact whose file (``path``) now hashes to ``current``, not ``recorded``."""

    artifact_id: str
    path: str
    recorded: str
    current: str

    def to_json(self, *, live: bool = False) -> dict[str, Any]:
        """The manifest's entry: ``{"path", "recorded", "current"}``, and ``"live": true`` when the
        replay used the working copy (``--live``)."""
        entry: dict[str, Any] = {"path": self.path, "recorded": self.recorded, "current": self.current}
        if live:
            entry["live"] = True
        return entry

    def describe(self) -> str:
        """One line for a warning."""
        return f"{self.path} changed since it was recorded (sha256 {self.recorded[:12]} -> {self.current[:12]})"


def find_drift(steps: Iterable[Step], artifacts: Mapping[str, Artifact]) -> dict[str, SourceDrift]:
    """artifact id -> its drift, for every source input of ``steps`` (an input no step of them
    produced) whose recorded file still exists and hashes differently; each file hashed once.

    A file that is gone or unreadable is not drift (there is nothing to compare).
    """
    steps = list(steps)
    produced = {a for s in steps for a in s.output_ids}
    drift: dict[str, SourceDrift] = {}
    seen: set[str] = set()
    for step in steps:
        for artifact_id in step.source_artifact_ids:
            if artifact_id in produced or artifact_id in seen or artifact_id not in artifacts:
                continue
            seen.add(artifact_id)
            found = _drift_of(artifacts[artifact_id])
            if found is not None:
                drift[artifact_id] = found
    return drift


def _drift_of(artifact: Artifact) -> SourceDrift | None:
    path = artifact.metadata.get(SOURCE_PATH)
    if not isinstance(path, str) or not Path(path).is_file():
        return None
    try:
        current = hash_file(path)
    except OSError:
        return None
    if current == artifact.content_hash:
        return None
    return SourceDrift(artifact.id, path, artifact.content_hash, current)


def step_drift(step: Step, drift: Mapping[str, SourceDrift]) -> list[tuple[int, SourceDrift]]:
    """(input position, drift) for each input of ``step`` that drifted, in input order."""
    return [(i, drift[a]) for i, a in enumerate(step.source_artifact_ids) if a in drift]


def live_overrides(steps: Iterable[Step], drift: Mapping[str, SourceDrift]) -> dict[str, str]:
    """The fork ``--live`` is: ``{"STEP:N": working copy}`` for every drifted input of every step,
    exactly what ``--fork --input STEP:N=FILE`` for each of them would give."""
    return {f"{step.step_id}:{i}": d.path for step in steps for i, d in step_drift(step, drift)}
