"""Lazy public names for the packages' ``__init__`` modules (the pattern of SPEC 1's ``lazy_loader``).

Importing a package then costs nothing until one of its names is used, so a step's
process imports its handler without SQLAlchemy, pandas or the entry-point scan.
Written out here rather than taken from ``lazy_loader``: a step replayed in a pinned
environment imports scidex_replay from source with only the standard library there.

    __getattr__, __dir__, __all__ = attach(__name__, {"records": ["Step"], "registry": ["Registry"]})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def attach(package: str, names: Mapping[str, Sequence[str]]) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``, whose submodule ``m`` defines ``names[m]``."""
    where = {name: f"{package}.{module}" for module, attrs in names.items() for name in attrs}
    public = sorted(where)

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return list(public)

    return __getattr__, __dir__, public
