"""scidex-replay deterministic mode, loaded at interpreter start via PYTHONPATH.

Seeds ``random`` and ``numpy.random`` when (and only if) they are imported, through
a one-shot import hook, so a step that uses neither does not pay for importing them.
Which entry points are seeded: ``scidex_replay/env/deterministic.py``.
"""

import os
import sys

_SEED = int(os.environ.get("SCIDEX_REPLAY_SEED", "0"))


def _seed_random(module):
    module.seed(_SEED)


def _seed_numpy(module):
    import numpy.random

    numpy.random.seed(_SEED)
    unseeded = numpy.random.SeedSequence(_SEED)
    default_rng = numpy.random.default_rng

    def seeded_default_rng(seed=None):
        """``numpy.random.default_rng``; without a seed, the next child of ``SeedSequence(SCIDEX_REPLAY_SEED)``."""
        return default_rng(unseeded.spawn(1)[0] if seed is None else seed)

    seeded_default_rng.__wrapped__ = default_rng
    numpy.random.default_rng = seeded_default_rng


_SEEDERS = {"random": _seed_random, "numpy": _seed_numpy}


class _Seed:
    """Meta-path hook that seeds each module of ``_SEEDERS`` right after it finishes importing."""

    def find_spec(self, name, path=None, target=None):
        seed = _SEEDERS.pop(name, None)
        if seed is None:
            return None
        if not _SEEDERS:
            sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_seed(module):
            exec_module(module)
            seed(module)

        spec.loader.exec_module = exec_and_seed
        return spec


for _name in [n for n in _SEEDERS if n in sys.modules]:  # imported before us, e.g. by a .pth file
    _SEEDERS.pop(_name)(sys.modules[_name])
if _SEEDERS:
    sys.meta_path.insert(0, _Seed())
