"""Deterministic mode for every step that runs in a subprocess, at record and replay.

What each setting fixes is measured in ``shared/notes/determinism-here.md``:
string hash randomization, local time, locale, embedded build dates, BLAS/OpenMP
reduction order, matplotlib's SVG id salt, and unseeded RNGs (``random`` and
``numpy.random`` are seeded at interpreter start by ``_site/sitecustomize.py``,
without importing numpy eagerly).
"""

from __future__ import annotations

import os
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


def declared_env(home: Path, declared: Mapping[str, str]) -> dict[str, str]:
    """The whole environment a step recorded with ``run --env`` starts from, before the fixed settings:
    ``PATH`` (this process's, or ``os.defpath``), ``HOME`` (the step's working directory, so no
    dotfiles of the user's leak in), and the ``declared`` variables. Nothing else of the caller's."""
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home), **declared}


def deterministic_env(source_date_epoch: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a step's subprocess: ``base`` (default ``os.environ``) plus the fixed settings."""
    env = dict(os.environ if base is None else base)
    env.update(FIXED)
    env["SOURCE_DATE_EPOCH"] = str(int(source_date_epoch))
    env["MATPLOTLIBRC"] = str(MPLRC_DIR)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE_DIR), env.get("PYTHONPATH")]))
    return env
