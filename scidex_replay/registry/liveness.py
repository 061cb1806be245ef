"""Whether the process of a ``running`` replay is still alive.

A run records the process that executes it (``pid`` on ``host``) and a heartbeat
(``heartbeat_at``: set when the run starts, at each step's result, and every
``HEARTBEAT_S`` seconds while it runs). A run of this host is alive while its
process exists and started no later than the run (a reused pid is a stranger); a
run of another host, whose processes cannot be seen from here, is alive while its
heartbeat is younger than ``STALE_S``. A dead run is shown ``interrupted``
(kill -9, an OOM kill, a lost machine leave no chance to say so) and can be
restarted, reusing every result it wrote.
"""

from __future__ import annotations

import socket
from datetime import datetime, timedelta


#: seconds between two heartbeats of a running replay
HEARTBEAT_S = 30.0
#: a run of another host not heard of for this long is taken for dead (seconds)
STALE_S = 10 * HEARTBEAT_S
#: how much earlier than its run a process may have started and still be its own (clock rounding, seconds)
_SLACK_S = 2.0


def this_host() -> str:
    return socket.gethostname()


def is_alive(pid: int | None, host: str | None, started_at: datetime, heartbeat_at: datetime | None, now: datetime) -> bool:
    """Whether the process that runs a replay started at ``started_at`` (timezone-aware) still
    runs it; ``pid``/``host`` null (a run from before liveness was recorded) is dead."""
    if pid is None or host is None:
        return False
    if host != this_host():
        return heartbeat_at is not None and now - heartbeat_at < timedelta(seconds=STALE_S)
    import psutil

    try:
        created = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return created <= started_at.timestamp() + _SLACK_S
