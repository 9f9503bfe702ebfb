"""`claw serve`, `claw status`, `claw stop`: run the gateway daemon and manage it from any shell."""

from __future__ import annotations

from typing import Any

import typer

from claw.commands._base import info, print_json, state
from claw.commands.tty import echo
from claw.errors import EXIT_RUNTIME, UsageError


def serve_command(
    ctx: typer.Context,
    host: str = typer.Option(
        None, "--host", metavar="HOST", help="Address to listen on (default: gateway.host)."
    ),
    port: int = typer.Option(
        None,
        "--port",
        "-p",
        metavar="PORT",
        min=0,
        max=65535,
        help="Port (default: gateway.port; 0 picks a free one).",
    ),
) -> None:
    """Run the gateway daemon (foreground, until SIGTERM or Ctrl-C).

    Logs go to stderr and logs/daemon.log; gateway.json tells other commands where it
    listens. SIGTERM/SIGINT drain running turns (10 s to finish; a second signal aborts
    them at once), then exit 0; SIGHUP reloads config.toml. One daemon per state
    directory: a second one refuses (exit 1).

    Exit status: 0 stopped cleanly; 1 another daemon runs here or HOST:PORT cannot be
    used (in use, not an address of this machine); 2 a bad option or config.toml.
    """
    from claw.daemon import http_address, run_daemon
    from claw.state.config import load as load_config

    st = state(ctx)
    if host is not None and not host.strip():  # hypercorn would bind every interface
        raise UsageError("--host: give an address, e.g. 127.0.0.1 (0.0.0.0: every interface)")
    home = st.home()
    conf = st.config()  # a broken config.toml is reported before anything starts
    bind_host = host if host is not None else str(conf.get("gateway.host"))
    bind_port = port if port is not None else int(conf.get("gateway.port"))

    def ready(h: str, p: int) -> None:
        url = http_address(h, p)
        info(f"claw gateway listening on {url} ({url.replace('http', 'ws', 1)}/ws)")

    run_daemon(
        home,
        lambda: load_config(home.config_file),
        host=bind_host,
        port=bind_port,
        on_ready=ready,
    )


def status_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Show whether the daemon runs, and its figures.

    Pid, address, uptime, connections and active turns.

    Exit status: 0 when the daemon is running, 1 when it is not.
    """
    from claw.daemon import daemon_status

    st = daemon_status(state(ctx).home(create=False))
    if as_json:
        print_json(st)
    else:
        echo(_describe(st))  # lanes are named after session keys (a channel's peer ids)
    if not st["running"]:
        raise typer.Exit(EXIT_RUNTIME)


def _describe(st: dict[str, Any]) -> str:
    if not st["running"]:
        if st.get("stale"):
            return (
                f"not running (stale gateway.json: pid {st.get('pid')} is not a running "
                "claw daemon; the next `claw serve` replaces it)"
            )
        return "not running"
    lines = [
        f"running: pid {st['pid']}",
        f"address: {st['address']} (ws {st['address'].replace('http', 'ws', 1)}/ws)",
        f"uptime: {_duration(st.get('uptime_s'))}",
    ]
    if st.get("error"):
        lines.append(f"warning: {st['error']}")
    else:
        lines.append(f"connections: {st.get('connections')}")
        turns = st.get("active_turns") or {}
        shown = ", ".join(f"{lane} {n}" for lane, n in sorted(turns.items())) or "none"
        lines.append(f"active turns: {shown}")
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"


def stop_command(
    ctx: typer.Context,
    timeout: float = typer.Option(
        15.0, "--timeout", metavar="S", min=0, help="Seconds to wait for the daemon to exit."
    ),
) -> None:
    """Stop the daemon and wait for it to exit.

    Sends SIGTERM: running turns drain first.

    Exit status: 0 when it stopped, 1 when it was not running or did not stop in time.
    """
    from claw.daemon import info_file, read_gateway_info, stop_daemon

    home = state(ctx).home(create=False)
    before = read_gateway_info(home)
    if before is None:
        note = " (removed a stale gateway.json)" if info_file(home).exists() else ""
        stop_daemon(home, timeout=0)  # cleans the stale file, if any
        info(f"claw daemon is not running{note}")
        raise typer.Exit(EXIT_RUNTIME)
    if stop_daemon(home, timeout=timeout):
        info(f"claw daemon stopped (pid {before['pid']})")
        return
    info(f"claw daemon (pid {before['pid']}) did not stop within {timeout:g}s")
    raise typer.Exit(EXIT_RUNTIME)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.command("status")(status_command)
    app.command("stop")(stop_command)
