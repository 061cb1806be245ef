"""Module-level functions for the ``record_call(check=True)`` tests (imported by the child as ``_explain_funcs``)."""

from __future__ import annotations

import time
from pathlib import Path


def stamp(inputs, output):
    """Write the wall clock, in seconds since the epoch."""
    Path(output).write_text(f"{int(time.time())}\n")


def pure(inputs, output):
    """Write the same bytes every time."""
    Path(output).write_text("hello\n")
