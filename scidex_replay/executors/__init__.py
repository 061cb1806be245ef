"""Where a handler runs: in this process (``kernel``), in a fresh interpreter
(``subprocess``), or in fresh interpreters on the workers of a Dask cluster (``dask``).

An executor has ``run(handler, step, inputs, output) -> ReplayedArtifact``; the
engine is handed one and never cares which. One that can run steps in parallel
also has ``run_many(calls, on_done)``, which calls ``on_done(index, outcome, seconds)``
as each step ends, and one that holds resources has
``close()``, which the engine calls when the run ends.
"""

from __future__ import annotations

from scidex_replay.errors import BadInput
from scidex_replay.executors.kernel import KernelExecutor
from scidex_replay.executors.subprocess import SubprocessExecutor

EXECUTORS = ("kernel", "subprocess", "dask")


def get_executor(name: str, *, address: str | None = None, **options: object):
    """The executor called ``name``; ``address`` (dask only) is the scheduler to use instead of a LocalCluster."""
    if name not in EXECUTORS:
        raise BadInput(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}")
    if address and name != "dask":
        raise BadInput(f"a dask scheduler address was given for the {name} executor: use executor dask")
    if name == "kernel":
        return KernelExecutor()
    if name == "subprocess":
        return SubprocessExecutor(**options)  # type: ignore[arg-type]
    try:
        from scidex_replay.executors.dask import DaskExecutor
    except ImportError as exc:
        if exc.name not in ("dask", "distributed") and not str(exc.name).startswith(("dask.", "distributed.")):
            raise
        raise BadInput("the dask executor needs `pip install scidex-replay[dask]`") from exc
    return DaskExecutor(address, **options)  # type: ignore[arg-type]


__all__ = ["EXECUTORS", "KernelExecutor", "SubprocessExecutor", "get_executor"]
