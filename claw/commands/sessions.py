"""`claw sessions`: list, show, clear, delete, archive and reindex conversations."""

from __future__ import annotations

import time

import typer

from claw.commands._base import confirm_or_refuse, print_json, session_ended, state, sub_app
from claw.commands.tty import echo, for_terminal
from claw.state.durations import parse_duration
from claw.state.names import validate_agent_id
from claw.state.transcript import now_iso

app = sub_app("List, show, clear and archive conversations.")


def _age(ts: float) -> str:
    secs = max(0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{int(secs // size)}{unit} ago"
    return "just now"


@app.command("list")
def list_(
    ctx: typer.Context,
    agent: str = typer.Option(None, "--agent", metavar="ID", help="Only this agent's sessions."),
    limit: int = typer.Option(
        50, "--limit", min=1, metavar="N", help="At most this many, newest first."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List sessions, most recently active first; subagent sessions under their parent."""
    from claw.supervisor.registry import nest, parents_of

    if agent:
        validate_agent_id(agent)
    st = state(ctx)
    rows = st.store().list(agent=agent, limit=limit)
    parents = parents_of(st.home(), [r.key for r in rows])
    if as_json:
        print_json(
            [
                {
                    **r.to_dict(),
                    "created_at": now_iso(r.created_at),
                    "updated_at": now_iso(r.updated_at),
                    **({"parent": parents[r.key]} if r.key in parents else {}),
                }
                for r in rows
            ]
        )
        return
    if not rows:
        hint = f"of agent {agent!r}" if agent else "yet (start one with `claw send TEXT`)"
        typer.echo(f"no sessions {hint}", err=True)
        return
    by_key = {r.key: r for r in rows}
    order = nest([r.key for r in rows], parents)
    shown = [("  └ " if depth else "") + for_terminal(key) for key, depth in order]
    width = max(len(s) for s in shown)
    for name, (key, _) in zip(shown, order, strict=True):
        r = by_key[key]
        echo(
            f"{name:<{width}}  {r.message_count:>5} msgs  {_age(r.updated_at):>9}  "
            f"{r.preview or ''}"
        )


@app.command("show")
def show(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Session key, e.g. agent:main:main."),
    tail: int = typer.Option(None, "--tail", min=0, metavar="N", help="Only the last N messages."),
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """Show a session's messages."""
    store = state(ctx).store()
    tr = store.tail(key, tail) if tail is not None else store.read(key)
    if as_json:
        print_json({"key": key, "records": tr.records, "skipped_lines": tr.bad_lines})
        return
    for rec in tr.messages:
        role = rec.get("role", "?")
        status = rec.get("status")
        label = role if status in (None, "ok") else f"{role} [{status}]"
        body = rec.get("content") or rec.get("error") or ""
        echo(f"--- {label} · {rec.get('ts', '')}")
        echo(body)
    if tr.bad_lines:
        typer.echo(f"(skipped {len(tr.bad_lines)} unreadable line(s))", err=True)


@app.command("clear")
def clear(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Session key."),
    as_json: bool = typer.Option(
        False, "--json", help="Print {cleared, session_key, archive} as JSON."
    ),
) -> None:
    """Start a session afresh; the old transcript is archived, not deleted.

    Refused (exit 1) while a turn runs on the session, in this or another process.
    """
    from claw.agent.session_lane import idle_lane

    st = state(ctx)
    with idle_lane(st.store(), key):
        dest = st.store().clear(key)
    session_ended(st, key)
    if as_json:
        print_json({"cleared": True, "session_key": key, "archive": str(dest)})
        return
    echo(f"cleared {key} (old transcript: {dest})")


@app.command("delete")
def delete(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Session key."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json", help="Print {deleted, session_key} as JSON."),
) -> None:
    """Delete a session's transcript for good.

    Refused (exit 1) while a turn runs on the session, in this or another process.
    """
    from claw.agent.session_lane import idle_lane

    store = state(ctx).store()
    store.require(key)
    confirm_or_refuse(f"Delete session {key} and its transcript for good?", yes)
    with idle_lane(store, key):
        store.delete(key)
    session_ended(state(ctx), key)
    if as_json:
        print_json({"deleted": True, "session_key": key})
        return
    echo(f"deleted {key}")


@app.command("archive")
def archive(
    ctx: typer.Context,
    older_than: str = typer.Option(
        None,
        "--older-than",
        metavar="DURATION",
        help="Archive sessions idle longer than this, e.g. 12h (default: sessions.archive_after).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the archived keys as JSON."),
) -> None:
    """Move idle sessions' transcripts to sessions/archive/.

    Without --older-than, sessions.archive_after from the config applies (default 30d).
    """
    st = state(ctx)
    idle = older_than or st.config().get("sessions.archive_after")
    keys = st.store().archive_older_than(parse_duration(idle))
    if as_json:
        print_json(keys)
        return
    for k in keys:
        echo(f"archived {k}")
    typer.echo(f"{len(keys)} session(s) archived", err=True)


@app.command("reindex")
def reindex(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print {sessions} as JSON."),
) -> None:
    """Rebuild the session index from the transcripts (they are the source of truth)."""
    n = state(ctx).store().reindex()
    if as_json:
        print_json({"sessions": n})
        return
    typer.echo(f"indexed {n} session(s)")
