"""The root `claw` command: global options, one sub-app or command per module, nothing else.

Errors: a ClawError becomes one line on stderr and its exit code (1 runtime, 2 usage);
anything else is a bug and is shown as such (with a traceback when CLAW_DEBUG=1).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from claw import __version__
from claw.commands import chat, config, init, rpc, send, serve, sessions, skills, tools
from claw.commands._base import AppState, styled
from claw.errors import EXIT_RUNTIME, ClawError

EPILOG = (
    "Exit status: 0 success, 1 runtime error (model failure, unknown session, …), "
    "2 usage or invalid input (bad option, bad config), 130 interrupted. "
    "Environment: CLAW_HOME (state directory), CLAW_<SECTION>__<KEY> (override any "
    "config key), NO_COLOR, CLAW_DEBUG=1 (tracebacks)."
)


class ClawGroup(TyperGroup):
    """Turns ClawError into a message and an exit code, for every command below it."""

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
        except Exception as e:
            # Click's own errors (usage errors exit 2) carry `show` and `exit_code`; typer
            # vendors click, so match the shape rather than a private class.
            if os.environ.get("CLAW_DEBUG") or (hasattr(e, "show") and hasattr(e, "exit_code")):
                raise
            typer.echo(
                styled("error:", fg="red", bold=True, err=True)
                + f" internal error: {type(e).__name__}: {e} (CLAW_DEBUG=1 shows the traceback)",
                err=True,
            )
            raise typer.Exit(EXIT_RUNTIME) from None


def report(e: ClawError) -> None:
    typer.echo(styled("error:", fg="red", bold=True, err=True) + f" {e.message}", err=True)
    if e.hint:
        typer.echo(f"  hint: {e.hint}", err=True)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
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
    ctx.obj = AppState(home_arg=home, verbose=verbose)
    setup_logging(verbose)


init.register(app)
send.register(app)
chat.register(app)
serve.register(app)
rpc.register(app)
app.add_typer(config.app, name="config")
app.add_typer(sessions.app, name="sessions")
app.add_typer(tools.app, name="tools")
app.add_typer(skills.app, name="skills")


def main() -> None:
    app(prog_name="claw")
