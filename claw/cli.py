"""The root `claw` command: global options, one sub-app or command per module, nothing else.

Errors: a ClawError becomes one line on stderr and its exit code (1 runtime, 2 usage);
anything else is a bug and is shown as such (with a traceback when CLAW_DEBUG=1).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

from claw import __version__
from claw.commands._base import AppState, LightClient, styled
from claw.commands.tty import echo, for_terminal
from claw.errors import EXIT_PIPE, EXIT_RUNTIME, ClawError

EPILOG = (
    "Exit status: 0 success, 1 runtime error (model failure, unknown session, etc.), "
    "2 usage or invalid input (bad option, bad config), 130 interrupted, "
    "141 output closed early (`claw ... | head`). "
    "Environment: CLAW_HOME (state directory), CLAW_<SECTION>__<KEY> (override any "
    "config key), NO_COLOR, CLAW_DEBUG=1 (tracebacks)."
)


@dataclass(frozen=True)
class Entry:
    module: str  # claw.commands.<module>: a sub-app `app`, or `register(app)` for commands
    help: str  # the one-line purpose shown by `claw --help` (a test checks it matches)


# Commands are imported when they run, not when the CLI starts: `claw send` through a
# daemon should not pay for `sessions`, `skills` or the agent runner it does not use.
COMMANDS: dict[str, Entry] = {
    "init": Entry("init", "Create the state directory (config, token, workspace)."),
    "send": Entry("send", "Send a message and print the reply."),
    "chat": Entry("chat", "Talk with the assistant interactively."),
    "serve": Entry("serve", "Run the gateway daemon (foreground, until SIGTERM or Ctrl-C)."),
    "status": Entry("serve", "Show whether the daemon runs, and its figures."),
    "stop": Entry("serve", "Stop the daemon and wait for it to exit."),
    "rpc": Entry("rpc", "Call a daemon method and print its result as JSON."),
    "notify": Entry("notify", "Queue a message for delivery and print its queue id."),
    "queue": Entry("queue", "See and steer outbound deliveries (pending, failed)."),
    "heartbeat": Entry("heartbeat", "Run or inspect the heartbeat (periodic HEARTBEAT.md checks)."),
    "agents": Entry("agents", "Agents: list, add, remove."),
    "bindings": Entry("bindings", "Message routing: which agent answers whom."),
    "route": Entry("route", "Print which agent and session key a message would get, and why."),
    "pairing": Entry("pairing", "Pairing: let new people talk to the assistant."),
    "channels": Entry("channels", "Chat channels: Telegram, Discord, webhooks, the terminal."),
    "tasks": Entry("tasks", "Tasks and reminders: add, list, done, rm."),
    "memory": Entry("memory", "Memory: search notes and conversations, add notes, keep the index."),
    "cron": Entry("cron", "Scheduled jobs: add, list, rm, run, runs, enable, disable."),
    "config": Entry("config", "Read and change settings (config.toml)."),
    "sessions": Entry("sessions", "List, show, clear and archive conversations."),
    "tools": Entry("tools", "List the tools agents can call."),
    "skills": Entry("skills", "List and read the agent's skills."),
}


def load_command(name: str) -> Any:
    """The click command for `name`, importing only its module."""
    entry = COMMANDS[name]
    module = importlib.import_module(f"claw.commands.{entry.module}")
    holder = typer.Typer(add_completion=False, rich_markup_mode=None)
    sub_app = getattr(module, "app", None)
    if isinstance(sub_app, typer.Typer):
        holder.add_typer(sub_app, name=name)  # kept a group even with one subcommand
    else:
        module.register(holder)
    built = typer.main.get_command(holder)
    commands = getattr(built, "commands", None)  # one command: typer returns it bare
    return built if commands is None else commands[name]


class ClawGroup(TyperGroup):
    """Loads commands lazily, and turns ClawError into a message and an exit code."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry.help) for name, entry in COMMANDS.items()])

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ClawError as e:
            report(e)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:
            if os.environ.get("CLAW_DEBUG"):
                raise
            _drop_stdout()  # the reader went away (`claw … | head`): stop quietly, and
            raise typer.Exit(EXIT_PIPE) from None  # exit as a tool killed by SIGPIPE would
        except Exception as e:
            # Click's own errors (usage errors exit 2) carry `show` and `exit_code`; typer
            # vendors click, so match the shape rather than a private class.
            if os.environ.get("CLAW_DEBUG") or (hasattr(e, "show") and hasattr(e, "exit_code")):
                raise
            if isinstance(e, OSError) and _storage_error(e):
                where = f" ({e.filename})" if e.filename else ""
                report(
                    ClawError(
                        f"cannot write the state directory: {e.strerror}{where}",
                        hint="free some space (or make it writable) and run it again; "
                        "what was written before is kept",
                    )
                )
                raise typer.Exit(EXIT_RUNTIME) from None
            problem = for_terminal(f"{type(e).__name__}: {e}", err=True)
            typer.echo(
                styled("error:", fg="red", bold=True, err=True)
                + f" internal error: {problem} (CLAW_DEBUG=1 shows the traceback)",
                err=True,
            )
            raise typer.Exit(EXIT_RUNTIME) from None


def _storage_error(e: OSError) -> bool:
    """A full, over-quota or read-only disk, or a file made unwritable: the user's to fix.
    Permission errors count only with a file named (not, say, signalling a process)."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return True
    return e.errno in (errno.EACCES, errno.EPERM) and bool(e.filename)


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of what is still
    buffered does not fail a second time."""
    with contextlib.suppress(OSError, ValueError):  # no real descriptor (a test's stdout)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def report(e: ClawError) -> None:
    """The error on stderr. Its message may quote untrusted text (a model's reply, a
    channel's or a tool's error), so it is made terminal-safe (claw.commands.tty)."""
    message = for_terminal(e.message, err=True)
    typer.echo(styled("error:", fg="red", bold=True, err=True) + f" {message}", err=True)
    if e.hint:
        echo(f"  hint: {e.hint}", err=True)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(for_terminal(self.format(record), err=True) + "\n")
        except Exception:
            self.handleError(record)


def setup_logging(verbose: int) -> None:
    logger = logging.getLogger("claw")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.WARNING - 10 * min(verbose, 2))


app = typer.Typer(
    cls=ClawGroup,
    name="claw",
    help="claw: a self-hosted personal AI assistant.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"claw {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: str = typer.Option(
        None, "--home", metavar="PATH", help="State directory (default: $CLAW_HOME, else ~/.claw)."
    ),
    verbose: int = typer.Option(
        0, "-v", "--verbose", count=True, help="More detail on stderr (-vv for debug)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """claw: a self-hosted personal AI assistant."""
    if home is not None and not home.strip():  # `--home "$DIR"` with DIR unset
        raise typer.BadParameter(
            "give a directory (empty, it would mean ~/.claw)", ctx=ctx, param_hint="--home"
        )
    ctx.obj = AppState(home_arg=home, verbose=verbose)
    LightClient.command(ctx.invoked_subcommand)
    setup_logging(verbose)


def main() -> None:
    _lenient_stdio()
    try:
        app(prog_name="claw")
    except SystemExit as e:
        if LightClient.skip_teardown:
            _leave(e.code)
        raise


def _lenient_stdio() -> None:
    """Bytes that are not UTF-8 (a Latin-1 file piped in, a reply echoing it) pass through
    as lone surrogates both ways, as Python does in a C or UTF-8 locale, instead of an
    internal error when stdin/stdout are strict (PYTHONIOENCODING, other locales). The
    transcript stores such text escaped."""
    for stream in (sys.stdin, sys.stdout):
        with contextlib.suppress(AttributeError, ValueError):  # replaced or closed
            stream.reconfigure(errors="surrogateescape")


def _leave(code: object) -> None:
    """Exit now, without the interpreter's teardown (see `LightClient`); returns (for the
    normal exit) if the output cannot be flushed or the code is a message to print."""
    if not (code is None or isinstance(code, int)):
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        return
    logging.shutdown()
    os._exit(code or 0)
