"""One error family for everything a user can act on.

The core raises these; the CLI turns them into one line on stderr and an exit code
(0 ok, 1 runtime error, 2 usage or invalid input). Anything else is a bug and shows a
traceback only with CLAW_DEBUG=1.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_PIPE = 141  # stdout's reader went away: what a tool killed by SIGPIPE returns


class ClawError(Exception):
    """An expected failure with a message that tells the user what to do."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(ClawError):
    """Invalid input: a bad argument, name, key or value."""

    exit_code = EXIT_USAGE


class MessageTooLong(UsageError):
    """A message its model could never take, even with the history compacted away;
    refused before it is stored (retrying it can never help)."""


class ConfigError(UsageError):
    """config.toml (or a CLAW_* override) is unreadable or invalid."""


class InvalidName(UsageError):
    """A name from outside (session key, agent id, …) that must not become a path."""


class NotFound(ClawError):
    """Something named by the user does not exist (unknown session key, agent, …)."""


class SessionBusy(ClawError):
    """A turn is running on the session (in any process); the gateway's BUSY."""


class ModelError(ClawError):
    """A model call failed; `reason` is the failover class (auth, rate_limit, …)."""

    def __init__(
        self,
        message: str,
        *,
        reason: str = "unknown",
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason
        self.retry_after = retry_after  # seconds the provider asked us to wait, if it said


class ModelUnavailable(ModelError):
    """No model can run at all (missing extra, missing weights)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, reason="unavailable", hint=hint)


class Interrupted(ClawError):
    """The user cancelled (Ctrl-C); 130 is the shell's convention for SIGINT."""

    exit_code = 130


class TimedOut(ClawError):
    """Work ran past its time limit (a turn's deadline); what it produced so far is kept."""
