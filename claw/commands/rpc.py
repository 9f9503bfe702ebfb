"""`claw rpc METHOD`: call any gateway method of the running daemon, for scripts.

Output is machine-first: the result as JSON on stdout; with --stream every `event`
notification is one compact JSON line on stdout before it, so `… | jq -c` or a line reader
sees events in arrival order and the result last. Errors are one line on stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from claw.commands._base import LightClient, print_json, state
from claw.commands.tty import echo, json_for_terminal
from claw.errors import ClawError, UsageError


def rpc_command(
    ctx: typer.Context,
    method: str = typer.Argument(..., help="Method name, e.g. health, status, chat.send."),
    params: str = typer.Option(
        None,
        "--params",
        "-p",
        metavar="JSON",
        help="Params as a JSON object or array ('-' reads them from standard input).",
    ),
    stream: bool = typer.Option(
        False,
        "--stream",
        help="Print each event notification as one JSON line on stdout, then the result"
        " (pretty JSON) last.",
    ),
) -> None:
    """Call a daemon method and print its result as JSON.

    Needs a running daemon (`claw serve`) for the state directory. On a JSON-RPC error,
    prints `error <code>: <message>` (and the error data as JSON) on stderr and exits 2 for
    invalid params or request (-32602, -32600), 1 otherwise.
    """
    from claw.gateway.client import GatewayError, call_sync, find_daemon

    st = state(ctx)
    parsed = _parse_params(params)
    home = st.home()
    found = find_daemon(home)
    if found is None:
        raise ClawError(f"no claw daemon is running for {home.root} (start one with `claw serve`)")
    url, token = found

    def on_event(ev: dict[str, Any]) -> None:
        sys.stdout.write(json_for_terminal(json.dumps(ev, ensure_ascii=False)) + "\n")
        sys.stdout.flush()

    try:
        result = call_sync(url, token, method, parsed, on_event=on_event if stream else None)
    except GatewayError as e:
        line = f"error {e.code}: {e.message}"
        if e.data is not None:
            line += " " + json.dumps(e.data, ensure_ascii=False)
        echo(line, err=True)
        raise typer.Exit(e.exit_code) from None
    print_json(result)
    LightClient.done()


def _parse_params(raw: str | None) -> Any:
    if raw is None:
        return None
    if raw == "-":
        raw = sys.stdin.read()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise UsageError(f"--params: not valid JSON: {e}") from None
    if not isinstance(value, dict | list):
        raise UsageError("--params: must be a JSON object or array")
    return value


def register(app: typer.Typer) -> None:
    app.command("rpc")(rpc_command)
