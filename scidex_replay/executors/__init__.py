"""Where a handler runs: in this process (``kernel``) or in a fresh interpreter (``subprocess``).

An executor has one method, ``run(handler, step, inputs, output) ->
ReplayedArtifact``; the engine is handed one and never cares which.
"""

from __future__ import annotations

from scidex_replay.errors import BadInput
from scidex_replay.executors.kernel import KernelExecutor
from scidex_replay.executors.subprocess import SubprocessExecutor

EXECUTORS = ("kernel", "subprocess", "dask")


def get_executor(name: str, **options: object):
    """The executor called ``name``."""
    if name == "kernel":
        return KernelExecutor()
    if name == "subprocess":
        return SubprocessExecutor(**options)  # type: ignore[arg-type]
    if name == "dask":
        raise BadInput("the dask executor is not available in this version; use kernel or subprocess")
    raise BadInput(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "KernelExecutor", "SubprocessExecutor", "get_executor"]
