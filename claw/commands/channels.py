"""`claw channels`: which chat channels are configured and how they are doing."""

from __future__ import annotations

import time
from typing import Any

import typer

from claw.commands._base import info, print_json, state, styled, sub_app
from claw.commands.tty import echo
from claw.errors import ClawError

app = sub_app("Chat channels: Telegram, Discord, webhooks, the terminal.")


def _ago(at: float | None, now: float) -> str:
    if not at:
        return "never"
    secs = max(0.0, now - at)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{int(secs // size)}{unit} ago"
    return f"{int(secs)}s ago"


def _render(rows: list[dict[str, Any]], running: bool) -> None:
    now = time.time()
    if not running:
        info("the daemon is not running (`claw serve`): nothing is received")
    if not rows:
        info("no channels configured (see `[channels.*]` in examples/config.toml)")
    for row in rows:
        state_ = row.get("state", "idle")
        colour = {"connected": "green", "listening": "green", "backoff": "red"}.get(state_)
        line = f"{row['name']:<10} {styled(state_, fg=colour) if colour else state_:<10}"
        if running:
            line += (
                f"  in: {_ago(row.get('last_inbound_at'), now)}"
                f"  sent: {_ago(row.get('last_send_at'), now)}"
                f"  ({row.get('received', 0)} in, {row.get('sent', 0)} out"
                f", {row.get('send_failures', 0)} failed, {row.get('restarts', 0)} restarts)"
            )
        typer.echo(line)
        if row.get("last_error"):
            echo(  # a channel's error can quote what its server (or a sender) said
                f"{'':<10} last error ({_ago(row.get('last_error_at'), now)}): {row['last_error']}"
            )
        probe = row.get("probe")
        if probe is not None:
            verdict = {True: "ok", False: "FAILED", None: "n/a"}[probe.get("ok")]
            detail = probe.get("error") or ", ".join(
                f"{k}={v}" for k, v in probe.items() if k != "ok"
            )
            echo(f"{'':<10} probe: {verdict}" + (f" ({detail})" if detail else ""))


@app.command("status")
def status(
    ctx: typer.Context,
    probe: bool = typer.Option(
        False, "--probe", help="Also check each channel live (its token, that it is reachable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show each channel: connected or not, last message in, last successful send, last
    error, restarts.

    Asks the running daemon; without one, lists the configured channels (and probes them
    from here with --probe). Exits 1 when a probe fails.
    """
    from claw.channels.offline import offline_status
    from claw.gateway.client import GatewayError, GatewayUnavailable, call_sync, find_daemon

    st = state(ctx)
    home = st.home()
    found = find_daemon(home)
    rows: list[dict[str, Any]] | None = None
    if found is not None:
        url, token = found
        try:
            rows = call_sync(url, token, "channels.status", {"probe": probe}, timeout=30)[
                "channels"
            ]
        except GatewayUnavailable:
            found = None  # it went away meanwhile: answer from here
        except GatewayError as e:
            raise ClawError(f"channels.status failed: {e.message}") from None
    if rows is None:
        rows = offline_status(home, st.config(), probe=probe)
    if as_json:
        print_json({"daemon": found is not None, "channels": rows})
    else:
        _render(rows, running=found is not None)
    if any((row.get("probe") or {}).get("ok") is False for row in rows):
        raise typer.Exit(1)
