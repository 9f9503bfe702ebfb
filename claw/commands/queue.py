"""`claw queue`: see and steer the outbound delivery queue."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer

from claw.commands._base import confirm_or_refuse, info, print_json, state, sub_app
from claw.commands.tty import echo
from claw.errors import UsageError

if TYPE_CHECKING:
    from claw.delivery.queue import QueueStore

app = sub_app("See and steer outbound deliveries (pending, failed).")


def _when(ts: float) -> str:
    secs = ts - time.time()
    if secs <= 0:
        return "due"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"in {int(secs // size)}{unit}"
    return f"in {int(secs)}s"


def _store(ctx: typer.Context) -> QueueStore:
    from claw.delivery.queue import QueueStore

    return QueueStore(state(ctx).home())


@app.command("list")
def list_(
    ctx: typer.Context,
    failed: bool = typer.Option(False, "--failed", help="List failed entries instead."),
    limit: int = typer.Option(100, "--limit", min=1, metavar="N", help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List queued deliveries, oldest first (or the failed ones)."""
    entries = _store(ctx).entries(failed=failed)[:limit]
    if as_json:
        print_json([e.summary() for e in entries])
        return
    if not entries:
        info("no failed deliveries" if failed else "the queue is empty")
        return
    for e in entries:
        where = f"{e.channel}:{e.to}" + ("" if e.account == "default" else f" ({e.account})")
        status = (
            e.failed_reason
            if failed
            else (e.state if e.state == "sending" else _when(e.next_attempt_at))
        )
        extra = f"  [{e.last_error}]" if e.last_error else ""
        echo(f"{e.id}  {status:<10} {e.attempts} tries  {where}  {e.summary()['preview']}{extra}")


@app.command("show")
def show(
    ctx: typer.Context,
    entry_id: str = typer.Argument(..., metavar="ID", help="A queue id (from `claw queue list`)."),
    as_json: bool = typer.Option(
        True, "--json", hidden=True, help="Print JSON (what it prints anyway)."
    ),
) -> None:
    """Print one entry, whole, as JSON (pending or failed)."""
    from dataclasses import asdict

    print_json(asdict(_store(ctx).get(entry_id)))


@app.command("retry")
def retry(
    ctx: typer.Context,
    entry_id: str = typer.Argument(None, metavar="ID", help="A failed entry's id."),
    all_: bool = typer.Option(False, "--all", help="Every failed entry."),
    as_json: bool = typer.Option(False, "--json", help='Print {"retried": [ids]}.'),
) -> None:
    """Put failed deliveries back in the queue, attempts reset, due now; prints their ids."""
    store = _store(ctx)
    if bool(entry_id) == all_:
        raise UsageError("give one ID or --all")
    ids = store.ids(failed=True) if all_ else [entry_id]
    for i in ids:
        store.retry(i)
        if not as_json:
            echo(i)
    if as_json:
        print_json({"retried": ids})
    elif all_ and not ids:
        info("no failed deliveries")


@app.command("purge")
def purge(
    ctx: typer.Context,
    failed: bool = typer.Option(False, "--failed", help="Purge failed entries (default: pending)."),
    older_than: str = typer.Option(
        None, "--older-than", metavar="DURATION", help="Only entries queued longer ago, e.g. 7d."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json", help='Print {"purged": N, "failed": bool}.'),
) -> None:
    """Delete queued (or failed) deliveries for good."""
    from claw.state.durations import parse_duration

    store = _store(ctx)
    cutoff = time.time() - parse_duration(older_than) if older_than else None
    doomed = [e for e in store.entries(failed=failed) if cutoff is None or e.created_at < cutoff]
    kind = "failed" if failed else "pending"
    removed = 0
    if doomed:
        confirm_or_refuse(f"Delete {len(doomed)} {kind} deliveries?", yes)
        removed = sum(store.remove(e.id, failed=failed, origin=e.origin) for e in doomed)
    if as_json:
        print_json({"purged": removed, "failed": failed})
    else:
        info(f"purged {removed} {kind} deliveries" if doomed else "nothing to purge")


@app.command("stats")
def stats(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Depth, what is due, the oldest entry's age, and failures by reason."""
    s = _store(ctx).stats()
    if as_json:
        print_json(s.to_dict())
        return
    age = "-" if s.oldest_age_s is None else f"{s.oldest_age_s:.0f}s"
    echo(f"pending {s.depth} (due {s.due}, sending {s.sending}), oldest {age}")
    echo(f"failed  {s.failed}")
    for reason, n in sorted(s.failures_by_reason.items(), key=lambda kv: -kv[1]):
        echo(f"  {n:>5}  {reason}")


@app.command("flush")
def flush_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Deliver what is due now, in this process (for cron when no daemon runs).

    One pass: entries that fail are rescheduled on the queue's backoff. If the daemon
    (or another flush) is delivering, this says so and exits 1 without sending anything.
    """
    from claw.delivery.service import run_flush

    st = state(ctx)
    report = run_flush(st.home(), st.config())
    if as_json:
        print_json(report.to_dict())
        return
    d = report.to_dict()
    echo(
        f"delivered {d['delivered']}, retry later {d['retry']}, failed {d['failed']}, "
        f"not due {d['not_due']}"
    )
    for line in report.errors:
        info(f"  {line}")
