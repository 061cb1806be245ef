"""The step function benchmarks replay: as little work as a step can do."""

from pathlib import Path


def noop(inputs, output, k: int = 0, fault: str = "") -> None:
    """Copy the input; raise at step ``k`` when the file ``fault`` (if given) holds ``k``. A step sees
    only the variables it declares, so the benchmark injects its fault through a file."""
    if fault and Path(fault).is_file() and Path(fault).read_text() == str(k):
        raise RuntimeError("injected fault")
    Path(output).write_bytes(Path(inputs[0]).read_bytes() if inputs else b"")
