"""Where a handler runs: in this process (``kernel``), in a fresh interpreter
(``subprocess``), or in fresh interpreters on the workers of a Dask cluster (``dask``).

Every executor is an ``Executor`` (``executors/base.py``): ``run`` one call,
``run_many`` (in parallel where it can, calling ``on_done`` as each ends) and
``close``; the engine is handed one and never asks which.
"""

from __future__ import annotations

from scidex_replay.errors import BadInput
from scidex_replay.executors.base import Executor
from scidex_replay.executors.kernel import KernelExecutor
from scidex_replay.executors.subprocess import SubprocessExecutor

EXECUTORS = ("kernel", "subprocess", "dask")


def get_executor(name: str, *, address: str | None = None, **options: object) -> Executor:
    """The executor called ``name``; ``address`` (dask only) is the scheduler to use instead of a LocalCluster."""
    if name not in EXECUTORS:
        raise BadInput(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}")
    if address and name != "dask":
        raise BadInput(f"a dask scheduler address was given for the {name} executor: use executor dask")
    if name == "kernel":
        return KernelExecutor(**options)  # type: ignore[arg-type]
    if name == "subprocess":
        return SubprocessExecutor(**options)  # type: ignore[arg-type]
    try:
        from scidex_replay.executors.dask import DaskExecutor
    except ImportError as exc:
        if exc.name not in ("dask", "distributed") and not str(exc.name).startswith(("dask.", "distributed.")):
            raise
        raise BadInput("the dask executor needs `pip install scidex-replay[dask]`") from exc
    return DaskExecutor(address, **options)  # type: ignore[arg-type]


__all__ = ["EXECUTORS", "Executor", "KernelExecutor", "SubprocessExecutor", "get_executor"]
