"""What a replay is asked to do: one frozen value shared by ``rerun_artifact`` and ``plan_replay``.

The surfaces build it from their flags (``surfaces/args.py`` declares them once for the
CLI and the magic); the choices the flags offer are the constants here.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from scidex_replay.errors import BadInput

if TYPE_CHECKING:
    from scidex_replay.compare.base import Tolerance
    from scidex_replay.handlers.process import Limits

#: Where reused results may come from: the restarted run and its ancestors, any run, or nowhere.
REUSE_MODES = ("succeeded-before", "all", "none")
#: The outcomes ``--accept`` can make ok.
ACCEPTABLE = ("equivalent",)
#: ``--explain`` given without a value: explain the steps that did not reproduce (no step can be called so).
EXPLAIN_NOT_REPRODUCED = "@not-reproduced"
#: Where handlers run (``scidex_replay.executors``).
EXECUTOR_NAMES = ("kernel", "subprocess", "dask")


@dataclass(frozen=True)
class ReplayOptions:
    """The options of one replay; every field has the CLI flag of the same meaning.

    - ``from_step`` (``--from``): replay that step and its descendants; freeze the rest.
    - ``strict`` (``--strict``): stop at the first input whose bytes differ from the record.
    - ``diff`` (``--diff``): for a differing output, say where it differs.
    - ``executor`` (``--executor``): one of ``EXECUTOR_NAMES``; ``dask_address`` an existing scheduler.
    - ``pin`` (not ``--no-pin``): run a step recorded in another environment in a venv pinned to its lock.
    - ``out`` (``--out``): the directory ``manifest.json`` is written to; never one that already
      holds a ``manifest.json``, and it must be writable (``check_out``, before the replay runs).
    - ``restart`` (``--restart RUN``), ``reuse`` (``--reuse``, one of ``REUSE_MODES``).
    - ``fork`` (``--fork``) with ``set_params`` ``{step: {key: value}}`` (``--set``) and
      ``input_overrides`` ``{"STEP" or "STEP:N": file or artifact id}`` (``--input``).
    - ``live`` (``--live``): replay with the working copy of every source file that changed since
      it was recorded (a fork of those inputs, ``replay/drift.py``); a plain replay when none did.
    - ``accept`` (``--accept``): outcomes of ``ACCEPTABLE`` that count as ok in this replay.
    - ``rtol``, ``atol`` (``--rtol``, ``--atol``): the tolerance numbers are compared with
      (``compare.Tolerance``), replacing the one recorded on each step; declaring one makes an
      ``equivalent`` step ok. Unset: the step's recorded one, else float noise (not ok).
    - ``explain`` (``--explain [STEP|all]``): after the run, re-run steps under perturbations and
      say which factors change their output (``replay/explain.py``): ``explain.NOT_REPRODUCED``
      (the flag alone) the steps that did not reproduce, a step name or id that step, ``all``
      every replayed step. None: no explanation.
    - ``timeout_s`` (``--timeout SECONDS``): how long each step's process may run before it and
      everything it started are stopped (the step fails ``timed out after N s``); default 3600.
    - ``memory_limit_mb`` (``--memory-limit MB``): the address space (MiB) each step's process may
      use; default ``$SCIDEX_REPLAY_MEMORY_LIMIT_MB``, else none (``handlers.process``).
    """

    from_step: str | None = None
    strict: bool = False
    diff: bool = False
    executor: str = "kernel"
    dask_address: str | None = None
    pin: bool = True
    out: Path | None = None
    restart: str | None = None
    reuse: str | None = None
    fork: bool = False
    set_params: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    input_overrides: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    live: bool = False
    accept: tuple[str, ...] = ()
    rtol: float | None = None
    atol: float | None = None
    explain: str | None = None
    timeout_s: float | None = None
    memory_limit_mb: int | None = None

    def __post_init__(self) -> None:
        if self.executor not in EXECUTOR_NAMES:
            raise BadInput(f"unknown executor {self.executor!r}: choose one of {', '.join(EXECUTOR_NAMES)}")
        if self.dask_address and self.executor != "dask":
            raise BadInput(f"a dask scheduler address was given for the {self.executor} executor: use executor dask")
        if self.reuse is not None and self.reuse not in REUSE_MODES:
            raise BadInput(f"--reuse {self.reuse}: choose one of {', '.join(REUSE_MODES)}")
        object.__setattr__(self, "accept", tuple(dict.fromkeys(self.accept or ())))
        for outcome in self.accept:
            if outcome not in ACCEPTABLE:
                raise BadInput(f"--accept {outcome}: choose one of {', '.join(ACCEPTABLE)}")
        _ = self.tolerance  # BadInput now for a bad --rtol/--atol, not in the middle of a run
        _ = self.limits  # and for a bad --timeout, --memory-limit or $SCIDEX_REPLAY_MEMORY_LIMIT_MB
        if self.out is not None and not isinstance(self.out, Path):
            object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "set_params", MappingProxyType({k: dict(v) for k, v in (self.set_params or {}).items()}))
        object.__setattr__(self, "input_overrides", MappingProxyType(dict(self.input_overrides or {})))

    @property
    def tolerance(self) -> "Tolerance | None":
        """The tolerance given with ``--rtol``/``--atol`` (the other one 0), or None. ``BadInput``
        for a negative or non-finite value."""
        if self.rtol is None and self.atol is None:
            return None
        from scidex_replay.compare.base import Tolerance

        try:
            return Tolerance(self.rtol or 0.0, self.atol or 0.0, declared=True)
        except ValueError as exc:
            raise BadInput(f"--{exc}") from None

    @property
    def limits(self) -> "Limits":
        """Each step process's limits (``handlers.process.Limits``): ``timeout_s`` and
        ``memory_limit_mb``, else the defaults. ``BadInput`` for a bad value."""
        from scidex_replay.handlers.process import parse_memory_limit, parse_timeout
        from scidex_replay.handlers.process import limits as resolve_limits

        return resolve_limits(
            parse_timeout(self.timeout_s) if self.timeout_s is not None else None,
            parse_memory_limit(self.memory_limit_mb) if self.memory_limit_mb is not None else None,
        )

    def check_out(self) -> None:
        """Raise ``BadInput`` (one line) unless ``out`` is unset or a directory this replay can write its
        manifest to: it exists and is writable, or its nearest existing parent is a writable directory;
        and it holds no ``manifest.json`` yet (a replay never replaces another one's manifest).
        Called by ``rerun_artifact`` before the run is created, so nothing runs for nothing."""
        out = self.out
        if out is None:
            return
        if os.path.lexists(out / "manifest.json"):
            raise BadInput(f"--out {out}: it already holds a manifest.json, which a replay never replaces; choose another directory or move it away")
        if out.exists() and not out.is_dir():
            raise BadInput(f"--out {out}: not a directory")
        where = out
        while not where.exists() and where != where.parent:
            where = where.parent
        if not where.is_dir():
            raise BadInput(f"--out {out}: {where} is not a directory")
        try:
            with tempfile.TemporaryFile(dir=where):
                pass
        except OSError as exc:
            raise BadInput(f"--out {out}: cannot write in {where}: {exc.strerror or exc}") from exc

    @classmethod
    def of(cls, options: "ReplayOptions | None" = None, **changes: Any) -> "ReplayOptions":
        """``options`` (or the defaults) with ``changes``; an unknown name raises ``TypeError``."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"unknown replay option {unknown[0]!r}")
        return dataclasses.replace(options or cls(), **changes)
