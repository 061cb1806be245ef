"""scidex-replay deterministic mode, loaded at interpreter start via PYTHONPATH.

Seeds ``random`` now and ``numpy.random`` when (and only if) numpy is imported,
through a one-shot import hook, so numpy is never imported eagerly.
"""

import os
import random
import sys

_SEED = int(os.environ.get("SCIDEX_REPLAY_SEED", "0"))
random.seed(_SEED)


class _SeedNumpy:
    """Meta-path hook that seeds numpy.random right after numpy finishes importing."""

    def find_spec(self, name, path=None, target=None):
        if name != "numpy":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_seed(module):
            exec_module(module)
            import numpy.random

            numpy.random.seed(_SEED)

        loader.exec_module = exec_and_seed
        return spec


sys.meta_path.insert(0, _SeedNumpy())
