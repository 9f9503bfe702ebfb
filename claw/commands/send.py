"""`claw send`: one agent turn from the command line or a script."""

from __future__ import annotations

import sys
import time
from typing import Any

import typer

from claw.commands._base import AppState, LightClient, print_json, state
from claw.commands.tty import StreamFilter, echo
from claw.errors import ClawError, UsageError

THINKING = ("off", "low", "medium", "high")
MODES = ("auto", "fast", "single", "multi")


def read_text(text: str | None) -> str:
    if text == "-" or (text is None and not sys.stdin.isatty()):
        return sys.stdin.read().rstrip("\r\n")
    if text is None:
        raise UsageError("nothing to send: give TEXT, or '-' to read it from standard input")
    return text


def send_command(
    ctx: typer.Context,
    text: str = typer.Argument(
        None, help="The message. '-' (or piping into claw) reads it from standard input."
    ),
    session: str = typer.Option(
        None, "--session", "-s", metavar="KEY", help="Session key (default: agent:<agent>:main)."
    ),
    agent: str = typer.Option(
        None,
        "--agent",
        "-a",
        metavar="ID",
        help="Agent that answers (default: the one the session key names, else main).",
    ),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        metavar="MODEL",
        help="Model for this turn (default: from config), e.g. echo.",
    ),
    thinking: str = typer.Option(
        None,
        "--thinking",
        metavar="LEVEL",
        help="Reasoning level: off, low, medium, high (default: model.thinking).",
    ),
    timeout: float = typer.Option(
        None,
        "--timeout",
        metavar="SECONDS",
        min=0.001,
        help="Stop the turn after this long (default: model.timeout_s).",
    ),
    mode: str = typer.Option(
        "auto",
        "--mode",
        metavar="MODE",
        help="fast (no tools, short answer), single (the agent loop), multi (parallel "
        "subagents), or auto: the supervisor decides (default).",
    ),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        help="Show the mode chosen, tool calls and retries on stderr; list tools used.",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print {session_key, message_id, text, model, usage, duration_ms, mode} as JSON.",
    ),
    local: bool = typer.Option(
        False, "--local", help="Run the turn in this process even when a daemon is running."
    ),
    daemon: bool = typer.Option(
        False, "--daemon", help="Require the daemon (`claw serve`); fail if none is running."
    ),
    deliver: str = typer.Option(
        None,
        "--deliver",
        metavar="CHANNEL:PEER",
        help="Also queue the reply for delivery to PEER on CHANNEL (e.g. webhook:ops).",
    ),
) -> None:
    """Send a message and print the reply.

    The reply is streamed on a terminal and printed whole when piped. The exchange is
    stored in the session's transcript before this returns. When a daemon (`claw serve`)
    runs for the state directory the turn goes through it (much faster start).

    Exit status: 0 replied; 1 the turn failed (model failure, no daemon with --daemon,
    the daemon lost mid-turn); 2 bad input (empty message, bad option); 130 interrupted.
    """
    st = state(ctx)
    if local and daemon:
        raise UsageError("--local and --daemon exclude each other")
    if thinking is not None and thinking not in THINKING:
        raise UsageError(f"--thinking: expected one of {', '.join(THINKING)}, got {thinking!r}")
    if mode not in MODES:
        raise UsageError(f"--mode: expected one of {', '.join(MODES)}, got {mode!r}")
    message = read_text(text)
    from claw.state.session_keys import agent_for

    agent = agent_for(agent, session) or "main"
    if deliver:
        from claw.delivery.service import parse_target

        parse_target(deliver)  # a malformed target fails before the turn, not after
    if not local:
        params = {
            "text": message,
            "agent_id": agent,
            "session_key": session,
            "model": model,
            "thinking": thinking,
            "timeout_s": timeout,
            "mode": None if mode == "auto" else mode,
        }
        done = _send_via_daemon(st, params, as_json=as_json, verbose=verbose, required=daemon)
        if done is not None:
            if done.get("status", "ok") == "ok":
                _deliver(st, deliver, done.get("text", ""), done.get("session_key"), agent)
            LightClient.done()
            return
    LightClient.full()  # a turn in this process: not a light client any more
    from claw.agent.turn import TurnRequest  # in-process only: the daemon path stays light
    from claw.commands._turns import (
        echo_result,
        finish_background,
        run_and_render,
        wait_for_spawned,
    )

    stream = not as_json and sys.stdout.isatty()
    req = TurnRequest(
        text=message,
        agent_id=agent,
        session_key=session,
        model=model,
        thinking=thinking,
        timeout_s=timeout,
        verbose=verbose,
        live=stream,
        mode=mode,
    )
    try:
        result = run_and_render(st, req, stream=stream, show_events=verbose)
        if as_json:
            data = result.to_dict()
            for extra in ("status", "tools", "reasoning"):
                data.pop(extra, None)
            print_json(data)
        elif not stream:
            echo_result(result)
        if result.status == "ok":
            _deliver(st, deliver, result.text, result.session_key, agent)
        wait_for_spawned(None if as_json else _print_report)
    finally:
        finish_background()


def _print_report(report: dict[str, Any]) -> None:
    """A spawned subagent's report-back reply, printed after the turn's own."""
    echo(f"· subagent {report['subagent_id']} reported back ({report['status']})", err=True)
    if report.get("text"):
        echo(report["text"])


def _deliver(
    st: AppState, target: str | None, text: str, session_key: str | None, agent: str
) -> None:
    """Queue the reply for `--deliver` (an empty or silent reply is never sent)."""
    if not target or not text.strip():
        return
    from claw.delivery.service import enqueue_reply

    entry = enqueue_reply(
        st.home(), st.config(), target, text, agent=agent, session_key=session_key
    )
    typer.echo(f"queued for {target}: {entry.id}", err=True)


def _send_via_daemon(
    st: AppState, params: dict[str, Any], *, as_json: bool, verbose: bool, required: bool
) -> dict[str, Any] | None:
    """The turn through the daemon; its result, or None when no daemon answers (and
    it is not `required`), so the caller runs in-process. Never imports litellm."""
    from claw.gateway.client import GatewayUnavailable, call_sync, find_daemon

    home = st.home(create=False)  # a running daemon means it exists; else in-process creates it
    found = find_daemon(home)
    if found is None:
        if required:
            raise ClawError(
                f"no claw daemon is running for {home.root} (start one with `claw serve`)"
            )
        return None
    url, token = found
    stream = not as_json and sys.stdout.isatty()
    wrote = False
    reply = StreamFilter(sys.stdout)  # the model's words may hold escape sequences

    def on_event(ev: dict[str, Any]) -> None:
        nonlocal wrote
        kind = ev.get("type")
        if kind == "chat.delta" and stream:
            reply.write(str(ev.get("text", "")))
            wrote = True
        elif kind == "chat.tool" and verbose:
            state_ = "error" if ev.get("is_error") else "ok"
            extra = f" {state_} ({ev.get('ms')} ms)" if ev.get("phase") == "end" else ""
            echo(f"· tool {ev.get('name')}{extra}", err=True)
        elif kind in ("supervisor.mode", "subagent.start", "subagent.end") and verbose:
            echo(_supervisor_note(ev), err=True)

    started = time.monotonic()
    clean = {k: v for k, v in params.items() if v is not None}
    try:
        # Nothing to show as it comes (piped, --json, no --verbose): the plain call lets
        # the daemon skip streaming the model's reply.
        method = "chat.send_stream" if stream or verbose else "chat.send"
        result = call_sync(url, token, method, clean, on_event=on_event)
    except GatewayUnavailable as e:
        if required or e.sent:
            raise
        return None  # stale gateway.json: nothing reached a daemon, run in-process
    finally:
        reply.close()
        if wrote:
            sys.stdout.write("\n")
            sys.stdout.flush()
    if result.get("status") == "interrupted":  # chat.abort from another client
        raise ClawError(
            "the turn was aborted before it finished (chat.abort); "
            "its partial reply is kept in the transcript"
        )
    duration_ms = int((time.monotonic() - started) * 1000)
    if as_json:
        print_json(_json_result(result, duration_ms))
    elif not stream and result.get("status") != "silent":
        echo(result.get("text", ""))
    return result


def _supervisor_note(ev: dict[str, Any]) -> str:
    """The daemon's supervisor events, shown as the in-process run shows them."""
    from claw.agent.events import ModeDecision, SubagentEnd, SubagentStart
    from claw.commands._turns import supervisor_line

    try:
        if ev["type"] == "supervisor.mode":
            event: Any = ModeDecision(
                ev["mode"], ev["intent"], float(ev["score"]), ev["source"], ev.get("reason", "")
            )
        elif ev["type"] == "subagent.start":
            event = SubagentStart(ev["id"], ev["session_key"], ev.get("task", ""))
        else:
            event = SubagentEnd(ev["id"], ev["session_key"], ev["status"], int(ev.get("ms", 0)))
    except (KeyError, TypeError, ValueError):
        return f"· {ev.get('type')}"
    return supervisor_line(event)


def _json_result(result: dict[str, Any], duration_ms: int) -> dict[str, Any]:
    """The daemon's chat result in `claw send --json`'s shape (the in-process one); an
    older daemon without `usage` or `duration_ms` gets the total and the client's clock."""
    usage = result.get("usage")
    if not isinstance(usage, dict):
        usage = {"total_tokens": int(result.get("tokens_used") or 0)}
    return {
        "session_key": result.get("session_key"),
        "message_id": result.get("message_id"),
        "text": result.get("text", ""),
        "model": result.get("model", ""),
        "usage": usage,
        "duration_ms": int(result.get("duration_ms") or duration_ms),
        "mode": result.get("mode") or "single",
    }


def register(app: typer.Typer) -> None:
    app.command("send")(send_command)
