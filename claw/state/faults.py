"""Crash points for tests: `CLAW_CRASH_AT=<point>` makes the process SIGKILL itself there.

The crash tests need a process to die at one exact step (say, right after a scheduled
message is queued and before its run is recorded) to prove that a restart neither loses
nor repeats it. A real SIGKILL is the honest way to do that: no `finally`, no atexit, no
buffered write flushed. Unset (always, outside tests), a crash point is one dict lookup.

Points: `enqueued:cron`, `enqueued:heartbeat`, `enqueued:reminder` (claw.delivery.origins:
a scheduled message is queued, its run not yet recorded); `pairing:stored` and
`pairing:queued` (claw.routing.inbound: a stranger's pairing code is stored, then its reply
queued, and the message not yet marked done).
"""

from __future__ import annotations

import os
import signal

ENV = "CLAW_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here, at once, if the environment names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
