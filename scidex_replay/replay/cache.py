"""Reuse of earlier results: the reuse key, and a cache whose miss is an ordinary answer.

As DVC's run-cache (``dvc/stage/cache.py``): the key is a content hash of everything that
decides a step's bytes; ``lookup`` raises ``CacheMiss`` when no earlier run has it, and the
step runner catches that and runs the step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scidex_replay.handlers.spec import Handler
from scidex_replay.registry import Registry, Step
from scidex_replay.replay.options import REUSE_MODES


class CacheMiss(LookupError):
    """No earlier run produced a result with this reuse key (or its bytes are gone from the store)."""


@dataclass(frozen=True)
class CachedResult:
    run_id: str  # the run that executed the step
    digests: tuple[str, ...]  # sha256 of each output it produced, in the step's order


def reuse_key(
    handler: Handler,
    step: Step,
    input_digests: Sequence[str],
    env_hash: str,
    *,
    staged: Sequence[str] = (),
    code: Sequence[str | None] = (),
) -> str:
    """The identity of a step execution: two executions with the same key produce the same bytes.

    sha256 over the canonical JSON of everything the step sees: handler identity (step_type)
    and version, method, parameters (a ``run`` step's declared environment is among them, as
    ``env``), the ordered input content hashes, where each input is staged (``staged``: its path
    in the working directory, or the file name it is given; a command may write the name into
    its output), the content hash of each code input as it is now (``code``; None: gone) and
    the env_hash of the environment it runs in. Display-only data (timestamps, ids) stays out.
    """
    doc = {
        "handler": step.step_type,
        "version": handler.version,
        "method": step.method,
        "parameters": step.parameters,
        "inputs": list(input_digests),
        "staged": list(staged),
        "code": list(code),
        "env": env_hash,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class ReuseCache:
    """The results a run may reuse, read from the registry once when the run starts.

    ``mode`` is one of ``REUSE_MODES``: ``succeeded-before`` reuses results of the runs in
    ``ancestry`` (the restarted run and the runs it descends from), ``all`` of any run,
    ``none`` nothing. The earliest result that reproduced wins.
    """

    def __init__(self, registry: Registry, step_ids: Iterable[str], mode: str, ancestry: Sequence[str] = ()):
        assert mode in REUSE_MODES, mode
        self._store = registry.store
        self._hits: dict[str, tuple[str, tuple[str, ...]]] = (
            {} if mode == "none" else registry.reusable_results(step_ids, None if mode == "all" else ancestry)
        )

    def __bool__(self) -> bool:
        return bool(self._hits)

    def lookup(self, key: str) -> CachedResult:
        """The earlier result with ``key``; ``CacheMiss`` when there is none or its bytes are gone."""
        hit = self._hits.get(key)
        if hit is None or not all(self._store.has(d) for d in hit[1]):
            raise CacheMiss(key)
        return CachedResult(*hit)
