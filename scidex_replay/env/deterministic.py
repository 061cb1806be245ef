"""Deterministic mode for every step that runs in a subprocess, at record and replay.

What each setting fixes is measured in ``shared/notes/determinism-here.md``:
string hash randomization, local time, locale, embedded build dates, BLAS/OpenMP
reduction order, matplotlib's SVG id salt and defaults (its rc file here, whatever the
user's), and unseeded RNGs. ``_site/sitecustomize.py`` seeds, when they are imported
(numpy is never imported eagerly), with ``$SCIDEX_REPLAY_SEED`` (default 0):

- ``random``: the module-level functions (``random.random()``, ``random.shuffle`` ...);
- ``numpy.random``: the legacy global functions (``np.random.rand``, ``np.random.seed``'s state);
- ``numpy.random.default_rng()`` called without a seed: the Nth such call in a process gets
  the Nth child of ``SeedSequence(seed)``, so generators stay independent of each other and
  the same from run to run.

Not seeded: ``random.Random()``, ``np.random.RandomState()``, bit generators or
``SeedSequence()`` created without a seed, ``secrets``, ``os.urandom``, ``uuid.uuid4``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

_HERE = Path(__file__).parent
SITE_DIR = _HERE / "_site"
MPLRC_DIR = _HERE / "_mpl"

FIXED = {
    "PYTHONHASHSEED": "0",
    "TZ": "UTC",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


#: Where a re-run under a perturbation (``replay/explain.py``) hands its child process the variables
#: that replace the fixed settings (JSON ``{NAME: VALUE}``); the child takes it out of its
#: environment at start (``take_overlay``), so the step never sees it.
OVERLAY_ENV = "SCIDEX_REPLAY_OVERLAY"
_overlay: dict[str, str] = {}


def take_overlay() -> None:
    """Called by the subprocess executor's child: read ``$SCIDEX_REPLAY_OVERLAY`` (and remove it
    from ``os.environ``); every environment ``deterministic_env`` builds in this process then
    carries those variables over the fixed settings (a shell step's command, under ``--explain``)."""
    import json

    raw = os.environ.pop(OVERLAY_ENV, None)
    _overlay.clear()
    if raw:
        _overlay.update({str(k): str(v) for k, v in json.loads(raw).items()})


#: The key of a step's parameters that holds the environment variables it declared
#: (``run --env``, ``record_call(env=)``, ``%%scidex_step --env``): ``{NAME: VALUE}``.
ENV_KEY = "env"


def declared_of(parameters: Mapping[str, object]) -> dict[str, str] | None:
    """The variables a step declared, or None for a step recorded before steps declared them
    (it sees the caller's whole environment, as it did then)."""
    declared = parameters.get(ENV_KEY)
    return dict(declared) if isinstance(declared, dict) else None


def call_parameters(parameters: Mapping[str, object]) -> dict[str, object]:
    """The parameters a step's code is given: all but its declared environment."""
    return {k: v for k, v in parameters.items() if k != ENV_KEY or declared_of(parameters) is None}


def declared_env(home: Path, declared: Mapping[str, str]) -> dict[str, str]:
    """The whole environment a step that declares its variables starts from, before the fixed
    settings: ``PATH`` (this process's, or ``os.defpath``), ``HOME`` (the step's working
    directory, so no dotfiles of the user's leak in), ``MPLCONFIGDIR`` (one cache for every
    step, so matplotlib does not rebuild its font cache each time) and the ``declared``
    variables. Nothing else of the caller's."""
    from scidex_replay.config import cache_dir

    base = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home), "MPLCONFIGDIR": str(cache_dir() / "matplotlib")}
    return {**base, **declared}


def code_path() -> list[str]:
    """Where this process imports code from, beyond what any interpreter of its environment
    finds by itself: scidex-replay's own source root, then each ``sys.path`` directory outside
    ``sys.prefix`` and ``sys.base_prefix`` (the notebook's folder, ``$PYTHONPATH``, a project on
    the path), as absolute paths. A step run in a fresh process imports its code from there."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    paths = [str(Path(__file__).resolve().parents[2])]
    for entry in sys.path:
        path = os.path.realpath(entry or os.getcwd())
        inside = any(path == p or path.startswith(p + os.sep) for p in prefixes)
        if not inside and path not in paths and path != str(SITE_DIR) and os.path.isdir(path):
            paths.append(path)
    return paths


def deterministic_env(source_date_epoch: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a step's subprocess: ``base`` (default ``os.environ``) plus the fixed settings."""
    env = dict(os.environ if base is None else base)
    env.update(FIXED)
    env["SOURCE_DATE_EPOCH"] = str(int(source_date_epoch))
    env["MATPLOTLIBRC"] = str(MPLRC_DIR)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE_DIR), env.get("PYTHONPATH")]))
    env.update(_overlay)  # empty but in a child re-running a step under a perturbation
    return env
