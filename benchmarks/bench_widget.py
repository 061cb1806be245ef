"""The replay widget's cost: a replay of 300 no-op steps through the widget against the same
replay without it, in one run, and the bytes the widget sends per step at 30 and 300 steps.

The widget is driven in this process with a fake comm that counts the bytes of every message
it would send to the browser (as ipywidgets' own tests replace the comm), so the figure is the
widget's Python-side cost: the engine's events copied into traits, one table row sent per step.
Steps are ``copy`` steps (they run in this process: the replay's own cost dominates, which is
the worst case for the widget's share). Target (issue 20): widget / plain <= 1.5, and the bytes
per step the same at 30 and 300 steps.

    .venv/bin/python benchmarks/bench_widget.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from scidex_replay.handlers.copy import CopyHandler
from scidex_replay.recording import run_handler
from scidex_replay.registry import Registry
from scidex_replay.replay import rerun_artifact


class CountingComm:
    """A comm with no kernel behind it that adds up the bytes of what it is asked to send."""

    kernel = "counting"

    def __init__(self, counter: list[int], **kwargs: Any):
        self.comm_id = kwargs.get("comm_id") or f"comm-{id(self)}"
        self.counter = counter

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.counter[0] += len(json.dumps(data, default=str).encode()) + sum(len(memoryview(b).cast("B")) for b in buffers or ())
        self.counter[1] += 1

    def open(self, *a: Any, **k: Any) -> None: ...
    def on_msg(self, *a: Any, **k: Any) -> None: ...
    def on_close(self, *a: Any, **k: Any) -> None: ...
    def close(self, *a: Any, **k: Any) -> None: ...


def count_messages() -> list[int]:
    """Route every widget created from now on through a ``CountingComm``: [bytes, messages]."""
    import comm

    counter = [0, 0]
    comm.create_comm = lambda **kwargs: CountingComm(counter, **kwargs)
    return counter


def copy_chain(reg: Registry, tmp: Path, n: int) -> str:
    seed = tmp / f"seed{n}.txt"
    seed.write_text("seed\n")
    current = str(seed)
    for k in range(n):
        current = run_handler(reg, CopyHandler(), method="copy", parameters={"n": n, "k": k}, inputs=[current], output=f"o{k}.txt").id
    return current


def widget_replay(reg: Registry, target: str, counter: list[int]) -> tuple[float, list[int]]:
    """Seconds of ``ReplayWidget.replay()`` and the bytes sent per step (between two steps' results)."""
    from scidex_replay.surfaces.widget import ReplayWidget

    w = ReplayWidget.for_artifact(reg, target)
    sizes: list[int] = []
    inner = w._on_event

    last = [None]

    def on_event(kind: str, payload: dict[str, Any]) -> None:
        """Bytes from one step's result to the next (its row, the progress, the next step's 'running')."""
        if kind == "step":
            if last[0] is not None:
                sizes.append(counter[0] - last[0])
            last[0] = counter[0]
        inner(kind, payload)

    w._on_event = on_event
    t0 = time.perf_counter()
    report = w.replay()
    seconds = time.perf_counter() - t0
    assert report.ok and w.status == "reproduced", report.manifest["summary"]
    w.close()
    return seconds, sizes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5, help="replays of each kind, alternated (median taken)")
    args = parser.parse_args()
    counter = count_messages()
    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry.open(f"sqlite:///{tmp}/r.db", home=tmp)
        short, long = copy_chain(reg, Path(tmp), 30), copy_chain(reg, Path(tmp), 300)
        widget_replay(reg, long, counter)  # warm-up: imports, the front end's module read once
        plain, widget = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            assert rerun_artifact(long, registry=reg).ok
            plain.append(time.perf_counter() - t0)
            seconds, long_sizes = widget_replay(reg, long, counter)
            widget.append(seconds)
        _, short_sizes = widget_replay(reg, short, counter)
        reg.close()
    p, w = statistics.median(plain), statistics.median(widget)
    print(f"replay of 300 no-op steps (median of {args.repeat}): plain {p:.3f} s, widget {w:.3f} s, "
          f"ratio {w / p:.2f} (target <= 1.5: {'met' if w / p <= 1.5 else 'NOT met'})")
    print(f"{'steps':>6} {'bytes/step mean':>16} {'min':>6} {'max':>6}")
    for n, sizes in ((30, short_sizes), (300, long_sizes)):
        print(f"{n:>6} {statistics.mean(sizes):>16.0f} {min(sizes):>6} {max(sizes):>6}")
    ratio = statistics.mean(long_sizes) / statistics.mean(short_sizes)
    print(f"bytes per step, 300 vs 30 steps: ratio {ratio:.2f} (independent of the chain's length: {'yes' if ratio < 1.1 else 'NO'})")


if __name__ == "__main__":
    main()
