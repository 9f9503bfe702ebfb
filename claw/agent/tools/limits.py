"""A time limit for every tool call that does not enforce one itself.

`exec` kills its process group and MCP cancels its request, so they bound themselves
(`own_time_limit = True`). Any other tool (built-in, task, memory, skill, a plugin's) runs
in a worker thread that the turn waits on for at most `tools.timeout_s`; past that, or when
the turn is aborted, the model gets an error result and the turn goes on.

Python cannot kill a thread. A timed-out call's thread is abandoned: it keeps running
until the tool returns on its own, and its result is dropped. It is a daemon thread, so it
never keeps the process alive at exit. A tool that can stop early should poll
`ctx.abort`. So that hung tools cannot pile up threads without bound, at most
MAX_STRANDED abandoned calls may be running at once in a process; beyond that, calls of
time-limited tools are refused (an error result naming the cause) until one of them ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from claw.agent.lanes import wait_for
from claw.agent.pump import Stopped

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
MAX_STRANDED = 8

_lock = threading.Lock()
_stranded = 0  # abandoned calls whose thread is still running


def stranded() -> int:
    """Abandoned tool calls still running in this process."""
    with _lock:
        return _stranded


def run_limited(
    name: str, fn: Callable[[], Any], timeout_s: float, abort: threading.Event
) -> tuple[str, Any]:
    """Run `fn` in a worker thread for at most `timeout_s` seconds.

    Returns ("ok", value), ("error", exception), ("timeout", None), ("aborted", None) or
    ("refused", None) when MAX_STRANDED abandoned calls are still running.
    """
    global _stranded
    with _lock:
        if _stranded >= MAX_STRANDED:
            return "refused", None
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        global _stranded
        try:
            box["ok"] = fn()
        except BaseException as e:  # handed to the caller's thread, which decides
            box["error"] = e
        finally:
            with _lock:  # the same lock as `abandon`: done and the count stay consistent
                done.set()
                if box.get("abandoned"):
                    _stranded -= 1
                    log.info("tool %s returned after it had been abandoned", name)

    worker = threading.Thread(target=work, name=f"claw-tool-{name}", daemon=True)
    worker.start()
    try:
        finished = wait_for(done.wait, timeout_s, abort)
    except Stopped:
        finished = False
    if not finished:
        with _lock:
            if not done.is_set():  # else it finished just now
                box["abandoned"] = True
                _stranded += 1
                return ("aborted" if abort.is_set() else "timeout"), None
    if "error" in box:
        return "error", box["error"]
    return "ok", box.get("ok")
