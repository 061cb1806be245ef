"""A fake comm for widgets driven with no front end (as ipywidgets' own tests do,
``ipywidgets/widgets/tests/utils.py``): each comm keeps the messages the kernel would send,
so a test can read their shapes and count their bytes."""

from __future__ import annotations

import json
from typing import Any


class CountingComm:
    """Stands for a kernel comm: ``messages`` are the ``data`` dicts sent, in order."""

    kernel = "a kernel"  # ipywidgets sends only over a comm with a kernel

    def __init__(self, log: list[tuple["CountingComm", dict[str, Any], int]], **kwargs: Any):
        self.comm_id = kwargs.get("comm_id") or f"comm-{len(log)}-{id(self)}"
        self.log = log
        self.messages: list[dict[str, Any]] = []

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_close(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        size = len(json.dumps(data, default=str).encode()) + sum(len(memoryview(b).cast("B")) for b in buffers or ())
        self.messages.append(data)
        self.log.append((self, data, size))

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


def install(monkeypatch: Any) -> list[tuple[CountingComm, dict[str, Any], int]]:
    """Make every widget created from now on talk through a ``CountingComm``; returns the shared
    log of (comm, data, bytes) of every message sent."""
    import comm

    log: list[tuple[CountingComm, dict[str, Any], int]] = []
    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: CountingComm(log, **kwargs))
    return log
