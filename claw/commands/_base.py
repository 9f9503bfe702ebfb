"""What every command shares: the resolved state directory, output helpers, prompts.

This is the only place (with cli.py) that knows about typer; the core raises ClawError
and returns dataclasses.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from claw.commands.tty import echo, for_terminal, json_for_terminal
from claw.errors import UsageError
from claw.state.home import Home

if TYPE_CHECKING:
    from claw.state.config import Config


@dataclass
class AppState:
    home_arg: str | None = None
    verbose: int = 0
    _home: Home | None = None
    _config: Config | None = None
    _store: Any = None

    def home(self, *, create: bool = True) -> Home:
        """The state directory; `create=False` does not initialise it (and a later
        `home()` still will)."""
        if self._home is None:
            home = Home.resolve(self.home_arg)
            if not create:
                return home
            from claw.state.init import ensure_initialised  # not needed via the daemon

            self._home = ensure_initialised(home)
        return self._home

    def config(self) -> Config:
        if self._config is None:
            from claw.state.config import load

            self._config = load(self.home().config_file)
        return self._config

    def store(self) -> Any:
        if self._store is None:
            conf = self.config()  # a broken config.toml is reported by every such command
            from claw.state.sessions import SessionStore

            self._store = SessionStore.configured(self.home(), conf)
        return self._store


def session_ended(st: AppState, key: str) -> None:
    """Tell plugins a session ended (cleared, deleted, or /new in chat)."""
    from claw.agent import hooks

    hooks.session_ended(list(st.config().get("plugins") or []), key)


class LightClient:
    """What a light client command (`claw send` through the daemon, `claw rpc`) may skip,
    since it only talks to the daemon and exits.

    - The cyclic garbage collector: the entry point (`claw.__main__`) pauses it while the
      CLI starts; `command()` turns it back on for every other command, and `claw send`
      calls `full()` when it runs the turn in this process after all.
    - The interpreter's teardown of trio and trio-websocket (50-65 ms, a fifth of `claw
      send`): such a command calls `done()` once its output is written, and
      `claw.cli.main` then flushes and leaves with `os._exit`. Only the console script
      honours it, so tests that run commands in-process are unaffected.
    """

    COMMANDS = frozenset({"send", "rpc"})
    skip_teardown = False

    @classmethod
    def command(cls, name: str | None) -> None:
        if name not in cls.COMMANDS:
            cls.full()

    @staticmethod
    def full() -> None:
        """Collect as usual from now on: this process does real work (a turn, a daemon,
        an interactive chat)."""
        gc.enable()

    @classmethod
    def done(cls) -> None:
        cls.skip_teardown = True


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def use_color(stream: Any = None) -> bool:
    """Colour on a terminal, unless NO_COLOR is set to a non-empty value (no-color.org:
    an empty NO_COLOR, e.g. `NO_COLOR= claw ...` or an unset variable exported, is not)."""
    stream = stream or sys.stdout
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def styled(text: str, *, fg: str | None = None, bold: bool = False, err: bool = False) -> str:
    stream = sys.stderr if err else sys.stdout
    return typer.style(text, fg=fg, bold=bold) if use_color(stream) else text


def print_json(obj: Any) -> None:
    """`obj` as JSON. json.dumps escapes C0 controls; on a terminal the other characters
    that can drive it (DEL, C1, bidi overrides) are written as \\u escapes too: the
    same JSON value, nothing for the terminal to obey."""
    text = json.dumps(obj, ensure_ascii=False, indent=2, default=str)
    typer.echo(json_for_terminal(text), color=True)


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Rows (the header first) in aligned columns; the last column is not padded, so a
    long value there (a path, a reason) does not widen the others. Cells may hold
    untrusted text (a task's title, a queue entry's error): see claw.commands.tty."""
    rows = [tuple(for_terminal(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])


def info(message: str) -> None:
    """A note for the person at the terminal (stderr, so stdout stays clean for scripts).
    Notes quote names, errors and messages from outside, so it is made terminal-safe."""
    echo(message, err=True)


def confirm_or_refuse(question: str, yes: bool, flag: str = "--yes") -> None:
    """Ask on a terminal; without one, refuse unless `yes` was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} Refusing without a terminal to ask; pass {flag}.")
    if not typer.confirm(question, default=False):
        raise typer.Exit(1)


def sub_app(help: str) -> typer.Typer:
    """A command group's Typer, built like the root: plain help (no rich), no completion
    options (claw ships generated completions). claw.cli loads it only when it is used."""
    return typer.Typer(help=help, no_args_is_help=True, add_completion=False, rich_markup_mode=None)
