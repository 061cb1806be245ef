"""Module-level step functions for ``record_call`` / ``recorded`` tests.

They must live in an importable module (not a test file, not ``__main__``):
``python.call`` records them as ``_steps:<name>`` and imports them by that name.
"""

from __future__ import annotations

from pathlib import Path

from scidex_replay.recording import recorded


def shout(inputs, output, suffix="!"):
    """Concatenate the inputs, upper-cased, plus ``suffix``."""
    text = "".join(Path(p).read_text() for p in inputs)
    Path(output).write_text(text.upper() + suffix)


def forget_output(inputs, output):
    """Returns without writing ``output``."""


def explode(inputs, output):
    Path(output).write_text("half")
    raise RuntimeError("boom")


@recorded()
def count_lines(inputs, output):
    """Write the number of lines of each input, one per line (recorded via the default registry)."""
    counts = [str(len(Path(p).read_text().splitlines())) for p in inputs]
    Path(output).write_text("\n".join(counts) + "\n")


def reverse(inputs, output):
    Path(output).write_bytes(Path(inputs[0]).read_bytes()[::-1])


CALLS: list[dict] = []


def show_params(inputs, output, **params):
    """Write ``repr`` of the parameters it was called with (and remember the call)."""
    CALLS.append(params)
    Path(output).write_text(repr(sorted(params.items())))


def hog_memory(inputs, output, mib=2048):
    """Allocate ``mib`` MiB (fails under a smaller address-space limit)."""
    block = bytearray(mib * 1024 * 1024)
    Path(output).write_text(str(len(block)))


def wait_for_release(inputs, output, marker="", release=""):
    """Touch ``marker``, then wait until ``release`` exists (a step the test can interrupt mid-run)."""
    import time

    Path(marker).touch()
    while not Path(release).exists():
        time.sleep(0.05)
    Path(output).write_bytes(Path(inputs[0]).read_bytes())


def logged_step(inputs, output, log="", n=0):
    """Append ``n`` to ``log`` (one line per execution), then copy the input plus a line ``n``."""
    with open(log, "a") as f:
        f.write(f"{n}\n")
    Path(output).write_text(Path(inputs[0]).read_text() + f"{n}\n")
