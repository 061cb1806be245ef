"""python.call steps for restart/fork tests. CHAIN_LOG and CHAIN_FAULT are side channels the test owns;
they are environment variables, not parameters, so they stay out of the reuse key."""

import os
import signal
import time
from pathlib import Path


def bump(inputs, output, k: int = 0, suffix: str = "") -> None:
    with open(os.environ["CHAIN_LOG"], "a") as log:
        log.write(f"{k}\n")
    fault = os.environ.get("CHAIN_FAULT", "")
    if fault and Path(fault).exists() and Path(fault).read_text().strip() == str(k):
        kind = Path(fault).with_suffix(".kind")
        if kind.exists() and kind.read_text() == "interrupt":  # Ctrl-C, as the terminal sends it to the replay
            os.kill(os.getppid(), signal.SIGINT)
            time.sleep(60)
        raise RuntimeError(f"injected fault at step {k}")
    text = Path(inputs[0]).read_text() if inputs else ""
    Path(output).write_text(text + f"{k}{suffix}\n")
