"""Module-level functions for python.call steps replayed in pinned environments."""

from pathlib import Path


def six_version(inputs, output: Path) -> None:
    import six

    Path(output).write_text(six.__version__)


def constant(inputs, output: Path, text: str = "same") -> None:
    Path(output).write_text(text)
