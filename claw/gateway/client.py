"""A minimal JSON-RPC client for the claw daemon, over trio-websocket.

Why it exists: `claw send` through a running daemon must start fast, so this module imports
only trio, trio-websocket and claw's light state helpers — never litellm nor claw.agent.*
(tests/gateway/test_client.py checks that in a fresh interpreter). One call per connection
is enough for a CLI: the daemon keeps the warm state, the client stays stateless.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from claw.errors import EXIT_RUNTIME, EXIT_USAGE, ClawError

OnEvent = Callable[[dict[str, Any]], Any]

INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
NOT_FOUND = -32004
MODEL_FAILURE = -32005
UNAUTHORIZED = -32001
# WebSocket close codes the daemon uses instead of a response, as the JSON-RPC error they mean.
CLOSE_CODES = {
    4401: (UNAUTHORIZED, "Unauthorized: wrong or missing gateway token"),
    1009: (
        -32006,
        "Payload too large: the daemon takes at most 1 MiB a request (claw send --local has none)",
    ),
    1013: (-32003, "Busy: the daemon has too many connections, retry later"),
}
MAX_MESSAGE = 16 * 1024 * 1024  # replies may be large (history); the daemon limits requests

_ids = itertools.count(1)


class GatewayError(ClawError):
    """A JSON-RPC error from the daemon, kept whole so scripts can branch on `code`.

    The exit status follows the CLI's rule: invalid input (-32600/-32602) is a usage
    error (2), everything else a runtime error (1).
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code, self.data = code, data
        detail = data if isinstance(data, dict) else {}
        hint = detail.get("hint") if isinstance(detail.get("hint"), str) else None
        text, reason = message, detail.get("reason")
        if code == MODEL_FAILURE and reason:
            text = f"{message} (model failure: {reason})"
        elif code in (INVALID_PARAMS, INVALID_REQUEST) and reason and reason != message:
            # (equal: a user-facing UsageError from the turn, its message already whole)
            where = f"{detail['param']}: " if "param" in detail else ""
            text = f"{message}: {where}{reason}"
        elif isinstance(reason, str) and reason and reason != message:  # e.g. why -32003 busy
            text = f"{message}: {reason}"
        super().__init__(text, hint=hint)
        self.exit_code = EXIT_USAGE if code in (INVALID_PARAMS, INVALID_REQUEST) else EXIT_RUNTIME


class GatewayUnavailable(ClawError):
    """The daemon could not be reached (connection refused, closed mid-call, timeout).

    `sent` tells whether the request may have reached the daemon: only when it did not is
    it safe for a caller to retry elsewhere (e.g. in-process) without a duplicate turn.
    """

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message, hint="is `claw serve` still running? `--local` skips it")
        self.sent = sent


class _EventHandlerFailed(Exception):
    """What the caller's `on_event` raised (e.g. BrokenPipeError from `claw rpc --stream |
    head`): carried past `call`'s connection-error handling and re-raised as it was."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def gateway_info(home: Any) -> dict[str, Any] | None:
    """{pid, host, port, …} of the daemon serving `home`, or None when none runs (a torn
    or stale gateway.json counts as none: claw.daemon decides)."""
    from claw.daemon import read_gateway_info

    return read_gateway_info(home)


def find_daemon(home: Any) -> tuple[str, str] | None:
    """(ws url, token) for the daemon of `home`, or None when no daemon runs there."""
    info = gateway_info(home)
    if not info:
        return None
    from claw.gateway.security import load_token
    from claw.state.home import Home

    h = home if isinstance(home, Home) else Home(Path(home))
    host = str(info.get("host") or "127.0.0.1")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # a wildcard bind is reachable on loopback
    if ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{int(info['port'])}/ws", load_token(h)


async def call(
    url: str,
    token: str | None,
    method: str,
    params: Any = None,
    *,
    on_event: OnEvent | None = None,
    timeout: float | None = None,
) -> Any:
    """One request on a fresh connection: the result, or GatewayError with the daemon's code.

    `event` notifications met before the response go to `on_event(params)` (it may be a
    plain or an async function).
    """
    from trio_websocket import (
        ConnectionClosed,
        ConnectionRejected,
        HandshakeError,
        open_websocket_url,
    )

    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    rid = next(_ids)
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": rid}
    if params is not None:
        msg["params"] = params
    sent = False
    try:
        with trio.fail_after(timeout) if timeout else contextlib.nullcontext():
            async with open_websocket_url(
                url, extra_headers=headers, max_message_size=MAX_MESSAGE, connect_timeout=10
            ) as ws:
                sent = True
                await ws.send_message(json.dumps(msg, ensure_ascii=False))
                return await _receive(ws, rid, on_event)
    except _EventHandlerFailed as e:
        raise e.error from None
    except ConnectionRejected as e:
        if e.status_code in (401, 403):
            raise GatewayError(
                UNAUTHORIZED, "Unauthorized: wrong or missing gateway token"
            ) from None
        raise GatewayUnavailable(
            f"the claw daemon at {url} refused: HTTP {e.status_code}"
        ) from None
    except ConnectionClosed as e:
        code = getattr(e.reason, "code", None)
        if code in CLOSE_CODES:
            raise GatewayError(*CLOSE_CODES[code]) from None
        raise GatewayUnavailable(
            f"the claw daemon at {url} closed: {e.reason}", sent=sent
        ) from None
    except (OSError, HandshakeError) as e:
        msg_ = f"cannot talk to the claw daemon at {url}: {e}"
        raise GatewayUnavailable(msg_, sent=sent) from None
    except trio.TooSlowError:
        msg_ = f"no answer from the claw daemon within {timeout}s"
        raise GatewayUnavailable(msg_, sent=sent) from None


async def _receive(ws: Any, rid: int, on_event: OnEvent | None) -> Any:
    """Read until our response; forward `event` notifications on the way."""
    while True:
        reply = json.loads(await ws.get_message())
        if isinstance(reply, dict) and "method" in reply:
            if reply["method"] == "event" and on_event is not None:
                try:
                    out = on_event(reply.get("params") or {})
                    if hasattr(out, "__await__"):
                        await out
                except Exception as e:
                    raise _EventHandlerFailed(e) from e
            continue
        if not isinstance(reply, dict) or reply.get("id") not in (rid, None):
            continue  # not ours (cannot happen with one call per connection)
        if "error" in reply:
            err = reply["error"] or {}
            code = int(err.get("code", -32603))
            raise GatewayError(code, str(err.get("message", "error")), err.get("data"))
        return reply.get("result")


def call_sync(
    url: str,
    token: str | None,
    method: str,
    params: Any = None,
    *,
    on_event: OnEvent | None = None,
    timeout: float | None = None,
) -> Any:
    """`call` for synchronous callers (the CLI): runs its own trio loop."""

    async def main() -> Any:
        return await call(url, token, method, params, on_event=on_event, timeout=timeout)

    return trio.run(main)
