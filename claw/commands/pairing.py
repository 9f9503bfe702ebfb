"""`claw pairing`: approve (or revoke) people who asked to talk to the assistant."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer

from claw.commands._base import info, print_json, state, sub_app
from claw.commands.tty import echo

if TYPE_CHECKING:
    from claw.routing.access import PairingStore

app = sub_app("Pairing: let new people talk to the assistant.")


def _span(secs: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{int(secs // size)}{unit}"
    return f"{int(secs)}s"


def _who(channel: str, peer: str, account: str, name: str | None) -> str:
    where = f"{channel}:{peer}" + ("" if account == "default" else f" ({account})")
    return where + (f" {name!r}" if name else "")


def _store(ctx: typer.Context) -> PairingStore:
    from claw.routing.access import PairingStore

    return PairingStore(state(ctx).home())


@app.command("list")
def list_(
    ctx: typer.Context,
    all_: bool = typer.Option(False, "--all", help="Also list the approved peers."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List pending pairing codes (and, with --all, approved peers)."""
    store = _store(ctx)
    now = time.time()
    pending = store.list_pending(now)
    approved = store.approved() if all_ else []
    if as_json:
        out: dict[str, object] = {"pending": [p.to_dict(now) for p in pending]}
        if all_:
            out["approved"] = [a.to_dict() for a in approved]
        print_json(out)
        return
    if not pending:
        info("no pending pairing codes")
    for p in pending:
        echo(
            f"{p.code}  {_who(p.channel, p.peer, p.account, p.sender_name)}  "
            f"asked {_span(now - p.created_at)} ago, expires in {_span(p.expires_at - now)}"
        )
    if all_:
        if not approved:
            info("no approved peers")
        for a in approved:
            echo(f"approved  {_who(a.channel, a.peer, a.account, a.sender_name)}")


@app.command("approve")
def approve(
    ctx: typer.Context,
    code: str = typer.Argument(..., metavar="CODE", help="The code the person was sent."),
) -> None:
    """Let the person who got CODE talk to the assistant."""
    peer = _store(ctx).approve(code)
    echo(f"approved {_who(peer.channel, peer.peer, peer.account, peer.sender_name)}")


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    channel: str = typer.Option(..., "--channel", "-c", help="Channel name, e.g. telegram."),
    peer: str = typer.Option(..., "--peer", "-p", help="The peer id."),
    account: str = typer.Option("default", "--account", help="Channel account."),
) -> None:
    """Take back an approval (peers in allow_from are not affected)."""
    gone = _store(ctx).revoke(channel, peer, account)
    echo(f"revoked {_who(gone.channel, gone.peer, gone.account, gone.sender_name)}")
