"""One background replay of the workbench, in a process (and session) of its own::

    python -m scidex_replay.surfaces.server.job ARTIFACT_ID OPTIONS_JSON

``OPTIONS_JSON`` is the request body (``surfaces.args.json_options``). The registry is the one
of ``$SCIDEX_REPLAY_DB`` / ``$SCIDEX_REPLAY_HOME``. Writes one JSON object per line on stdout,
flushed at once (anything else the replay prints goes to stderr)::

    {"event": "start", "run_id", "steps": [{"step_id", "step_name", "action"}]}
    {"event": "step", "step_id", "position" (0-based), "outcome", "ok", "reused_from_run"}
    {"event": "end", "run_id", "status", "manifest"}          the replay ran to its end
    {"event": "interrupted", "run_id" | null, "manifest" | null}   SIGINT or SIGTERM: the run is ``interrupted``
    {"event": "error", "message"}                              it could not run (one line)

SIGINT and SIGTERM end the replay as Ctrl-C does (the engine stops the running step's process
group and writes the run as ``interrupted``); a server that is killed outright leaves the job to
run to its end (its run and manifest are in the registry). Exit status 0, or 1 after an ``error``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any, TextIO


def _writer() -> TextIO:
    """A line-buffered stream on the real stdout; fd 1 becomes stderr, so a step function that
    prints (the kernel executor runs it here) cannot garble the events."""
    events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    return events


def main(argv: list[str]) -> int:
    from scidex_replay.errors import ReplayError, one_line

    events = _writer()

    server_gone = False

    def send(event: str, **fields: Any) -> None:
        nonlocal server_gone
        if server_gone:
            return
        try:
            events.write(json.dumps({"event": event, **fields}, default=str) + "\n")
        except OSError:  # the server was killed: nobody reads; the replay goes on to its end all the same
            server_gone = True

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    run_id: str | None = None

    def on_event(kind: str, payload: dict[str, Any]) -> None:
        nonlocal run_id
        if kind == "start":
            run_id = payload["run_id"]
            steps = [
                {"step_id": p.step.step_id, "step_name": p.step.name, "action": p.action} for p in payload["plan"].steps
            ]
            send("start", run_id=run_id, steps=steps)
        elif kind == "step":
            r = payload["result"]
            send("step", step_id=r.step_id, position=r.position, outcome=r.outcome.value, ok=r.ok, reused_from_run=r.reused_from_run)

    try:
        from scidex_replay.replay import rerun_artifact
        from scidex_replay.surfaces.args import json_options

        artifact_id, body = argv
        report = rerun_artifact(artifact_id, json_options(json.loads(body)), on_event=on_event)
        send("end", run_id=report.run.run_id, status=str(report.status), manifest=report.manifest)
        return 0
    except KeyboardInterrupt:
        send("interrupted", run_id=run_id, manifest=_manifest(run_id))
        return 0
    except ReplayError as exc:
        send("error", message=one_line(exc))
        return 1
    except Exception as exc:  # a crash: said in one line (the traceback goes to stderr, the server's log)
        import traceback

        traceback.print_exc()
        send("error", message=one_line(f"{type(exc).__name__}: {exc}"))
        return 1


def _manifest(run_id: str | None) -> dict[str, Any] | None:
    """The manifest the interrupted run wrote, if it was created."""
    if run_id is None:
        return None
    from scidex_replay.registry import Registry
    from scidex_replay.replay.engine import run_manifest

    with Registry.open() as registry:
        return run_manifest(registry, run_id)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
