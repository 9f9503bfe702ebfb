"""The exec tool: one shell command in the workspace, bounded in time and in output.

It is off unless `tools.exec_enabled` is true, because it gives the model whatever the user
can do. Three things keep a run bounded:
- the command gets its own process group (session), so a timeout or a cancelled turn kills
  the shell *and* everything it started, not just `/bin/sh`;
- output is collected by a thread into a bounded buffer (head and tail), so `yes` cannot eat
  memory, and the waiting loop can poll the turn's abort flag;
- stdin is /dev/null, so a command that asks a question fails instead of hanging.
Environment variables that look like secrets (API keys, tokens, passwords) are not passed
on: the model has no need for the user's model-provider keys, and a prompt-injected command
would otherwise print them.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from io import BufferedReader
from typing import Any, cast

from claw.agent.tools.base import ToolContext, ToolResult
from claw.agent.tools.paths import real_workspace

POLL_S = 0.05
TERM_GRACE_S = 1.0
SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


def child_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for commands: the user's, minus secret-looking variables."""
    source = os.environ if environ is None else environ
    return {k: v for k, v in source.items() if not SECRET_ENV.search(k)}


class _Output:
    """Reads a pipe to EOF on a thread, keeping the first and last bytes only."""

    def __init__(self, stream: BufferedReader, cap_chars: int) -> None:
        self.cap = cap_chars
        self.limit = cap_chars * 4  # bytes: enough for `cap` characters of any UTF-8
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._stream = stream
        self.thread = threading.Thread(target=self._run, name="claw-exec-output", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        # This thread owns the pipe and closes it: if it is abandoned (a detached grandchild
        # keeps the pipe open), closing the fd under it could let it read a reused fd number.
        try:
            while chunk := self._stream.read1(65536):
                self._keep(chunk)
        except (OSError, ValueError):
            pass
        finally:
            self._stream.close()

    def _keep(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.limit:
                del self.tail[: len(self.tail) - self.limit]

    def text(self) -> str:
        complete = self.total == len(self.head) + len(self.tail)
        full = bytes(self.head + self.tail).decode("utf-8", "replace") if complete else None
        if full is not None and len(full) <= self.cap:
            return full
        half = self.cap // 2
        if full is not None:
            first, last = full[:half], full[-half:]
        else:
            first = self.head.decode("utf-8", "replace")[:half]
            last = self.tail.decode("utf-8", "replace")[-half:]
        return (
            f"{first}\n[… output cut: {self.total:,} bytes in all; showing the first and last "
            f"{half:,} characters …]\n{last}"
        )


class ExecTool:
    own_time_limit = True  # exec_timeout_s, enforced by killing the process group
    name = "exec"

    def __init__(self, timeout_s: float = 30, max_output: int = 8_000) -> None:
        self.timeout_s = timeout_s
        self.max_output = max_output
        self.parameters: dict[str, Any] = {
            "type": "object",
            "properties": {
                "command": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Shell command, run by /bin/sh -c in the workspace directory.",
                }
            },
            "required": ["command"],
            "additionalProperties": False,
        }
        self.description = (
            "Run a shell command (/bin/sh -c) in the workspace and get its exit code and "
            f"combined stdout and stderr. Stops after {timeout_s:g} s; output beyond "
            f"{max_output} characters is cut. stdin is empty, so nothing can prompt."
        )

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        command = args["command"]
        if "\x00" in command:
            return ToolResult("the command contains a NUL byte", is_error=True)
        cwd = real_workspace(ctx.workspace)
        if not cwd.is_dir():
            return ToolResult(f"the workspace {cwd} does not exist", is_error=True)
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so killpg reaches children
                env=child_env(),
            )
        except OSError as e:
            return ToolResult(f"could not start /bin/sh: {e.strerror or e}", is_error=True)
        out = _Output(cast(BufferedReader, proc.stdout), self.max_output)
        try:
            stopped = self._wait(proc, out, ctx.abort)
        finally:
            if proc.poll() is None:  # an exception (KeyboardInterrupt) while waiting
                _kill_group(proc)
            out.thread.join(timeout=1.0)  # a detached grandchild may hold the pipe: give up
        text = out.text() or "(no output)"
        if stopped == "timeout":
            head = f"timed out after {self.timeout_s:g} s; the command and its children were killed"
            return ToolResult(f"{head}\noutput so far:\n{text}", is_error=True)
        if stopped == "aborted":
            return ToolResult(f"cancelled: the command was killed\n{text}", is_error=True)
        rc = proc.returncode
        status = f"exit code: {rc}" if rc >= 0 else f"killed by signal {_signame(-rc)}"
        return ToolResult(f"{status}\n{text}")

    def _wait(self, proc: subprocess.Popen[bytes], out: _Output, abort: threading.Event) -> str:
        """'' when the command finished (and its output closed), else why it was stopped."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            out.thread.join(timeout=POLL_S)  # returns at once when the output closes
            if not out.thread.is_alive() and proc.poll() is not None:
                return ""
            if abort.is_set():
                _kill_group(proc)
                return "aborted"
            if time.monotonic() >= deadline:
                _kill_group(proc)
                return "timeout"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, then SIGKILL whatever is left of it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=TERM_GRACE_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _signame(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)
