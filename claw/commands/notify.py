"""`claw notify`: queue a message for a channel peer directly (no model involved)."""

from __future__ import annotations

import time

import typer

from claw.commands._base import info, print_json, state
from claw.commands.send import read_text
from claw.delivery.entry import Delivery
from claw.errors import ClawError, TimedOut, UsageError


def notify_command(
    ctx: typer.Context,
    text: str = typer.Argument(
        None, help="The message. '-' (or piping into claw) reads it from standard input."
    ),
    channel: str = typer.Option(
        ..., "--channel", "-c", metavar="CHANNEL", help="Channel to deliver on, e.g. webhook."
    ),
    to: str = typer.Option(
        ..., "--to", metavar="PEER", help="Who receives it: a chat id, or a webhook target name."
    ),
    account: str = typer.Option(
        "default", "--account", metavar="NAME", help="The channel account to send from."
    ),
    wait: bool = typer.Option(
        False,
        "--wait",
        help="Wait until it is delivered; exit 1 if it fails for good. Without a daemon, "
        "delivers here and retries on the queue's schedule.",
    ),
    timeout: float = typer.Option(
        None,
        "--timeout",
        metavar="SECONDS",
        min=0.1,
        help="With --wait: give up waiting after this (exit 1; it stays queued).",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print {id, state, error} as JSON (state: pending, delivered or failed).",
    ),
) -> None:
    """Queue a message for delivery and print its queue id.

    The message is written to the durable queue before anything is sent, so it survives a
    crash or a restart; the daemon delivers it (or `claw queue flush` from cron).
    """
    from claw.daemon import read_gateway_info
    from claw.delivery import service

    st = state(ctx)
    home = st.home()
    if not channel or not to:
        raise UsageError("--channel and --to must not be empty")
    if timeout is not None and not wait:  # before anything is queued: nothing happens
        raise UsageError("--timeout is how long --wait waits: give --wait too")
    target = f"{channel}:{to}"
    # Split to the channel's limit, as every other sender does (one oversized part fails).
    entry = service.enqueue_reply(home, st.config(), target, read_text(text), account=account)
    daemon = read_gateway_info(home) is not None
    if not wait:
        if as_json:
            print_json({"id": entry.id, "state": "pending", "error": None})
        else:
            typer.echo(entry.id)
            if not daemon:
                info("queued; no daemon is running: deliver with `claw queue flush`")
        return

    def retrying(e: Delivery) -> None:
        left = max(0, round(e.next_attempt_at - time.time()))
        info(f"attempt {e.attempts} failed ({e.last_error}); next try in {left}s")

    try:
        failed = service.wait(
            home, st.config(), entry.id, daemon=daemon, timeout=timeout, on_retry=retrying
        )
    except TimedOut as e:
        if not as_json:
            raise
        print_json({"id": entry.id, "state": "pending", "error": e.message})
        raise typer.Exit(1) from None
    result = {"id": entry.id, "state": "failed" if failed else "delivered"}
    result["error"] = failed.last_error if failed else None
    if as_json:
        print_json(result)
    else:
        typer.echo(entry.id)
    if failed is not None:
        if as_json:
            raise typer.Exit(1)
        raise ClawError(
            f"delivery {entry.id} failed ({failed.failed_reason}): {failed.last_error}",
            hint=f"`claw queue retry {entry.id}` tries again once the cause is fixed",
        )


def register(app: typer.Typer) -> None:
    app.command("notify")(notify_command)
