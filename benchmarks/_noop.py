"""The step function benchmarks replay: as little work as a step can do."""

import os
from pathlib import Path


def noop(inputs, output, k: int = 0) -> None:
    fault = os.environ.get("BENCH_FAULT_AT")
    if fault and int(fault) == k:
        raise RuntimeError("injected fault")
    Path(output).write_bytes(Path(inputs[0]).read_bytes() if inputs else b"")
