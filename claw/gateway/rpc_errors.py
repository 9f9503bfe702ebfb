"""JSON-RPC error codes and the one exception the gateway answers with.

Codes are a public contract: clients branch on them, so they never change meaning. The
standard five come from the JSON-RPC 2.0 specification; claw's own codes live in the range
the specification reserves for implementation-defined server errors (-32000 to -32099).
Every error carries a `data` object that tells a client what to do next, because a bare
code forces clients to guess (retry? re-authenticate? give up?).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from claw.errors import (
    ClawError,
    ConfigError,
    ModelError,
    NotFound,
    SessionBusy,
    TimedOut,
    UsageError,
)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

FAILED = -32000
UNAUTHORIZED = -32001
RATE_LIMITED = -32002
BUSY = -32003
NOT_FOUND = -32004
MODEL_FAILURE = -32005
PAYLOAD_TOO_LARGE = -32006
SHUTTING_DOWN = -32007
TIMED_OUT = -32008


@dataclass(frozen=True)
class CodeInfo:
    """One row of the error table; the README's error section is generated from these."""

    name: str
    message: str  # the default `error.message`
    meaning: str
    action: str  # what a well-behaved client should do


CODES: dict[int, CodeInfo] = {
    PARSE_ERROR: CodeInfo(
        "parse_error",
        "Parse error",
        "The payload is not valid UTF-8 JSON.",
        "Fix the client's encoder; resending the same bytes fails again.",
    ),
    INVALID_REQUEST: CodeInfo(
        "invalid_request",
        "Invalid Request",
        "Valid JSON but not a JSON-RPC 2.0 request (bad `jsonrpc`, `method`, `params` or `id`,"
        " or an empty batch). `data.reason` says which.",
        "Fix the request shape; do not retry unchanged.",
    ),
    METHOD_NOT_FOUND: CodeInfo(
        "method_not_found",
        "Method not found",
        "No such method (names starting with `rpc.` are reserved and never exist).",
        "Check the method name and the daemon's version.",
    ),
    INVALID_PARAMS: CodeInfo(
        "invalid_params",
        "Invalid params",
        "The params do not fit the method: `data.param` names the culprit when there is one,"
        " `data.reason` says why.",
        "Fix the named param; do not retry unchanged.",
    ),
    INTERNAL_ERROR: CodeInfo(
        "internal_error",
        "Internal error",
        "A bug in the daemon. Details are only in the daemon's log, never in the response.",
        "Report it with the daemon log; retrying may or may not help.",
    ),
    FAILED: CodeInfo(
        "failed",
        "Request failed",
        "An expected failure with a message written for the user (the CLI's exit status 1);"
        " `data.hint` may suggest a fix.",
        "Show the message to the user; retry only after acting on it.",
    ),
    UNAUTHORIZED: CodeInfo(
        "unauthorized",
        "Unauthorized",
        "Missing or wrong bearer token.",
        "Send `Authorization: Bearer <gateway.token>` or an `auth` request first.",
    ),
    RATE_LIMITED: CodeInfo(
        "rate_limited",
        "Rate limited",
        "Too many requests on this connection (WebSocket) or from this address (HTTP, answered"
        " with status 429 and Retry-After).",
        "Wait `data.retry_after_ms` milliseconds, then retry.",
    ),
    BUSY: CodeInfo(
        "busy",
        "Busy",
        "The session already has a turn running, or a limit is reached.",
        "Retry later, or `chat.abort` the running turn.",
    ),
    NOT_FOUND: CodeInfo(
        "not_found",
        "Not found",
        "The named session, agent or item does not exist.",
        "Check the name (e.g. with `sessions.list`).",
    ),
    MODEL_FAILURE: CodeInfo(
        "model_failure",
        "Model failure",
        "Every model the agent may use failed; `data.reason` is the failover class"
        " (auth, rate_limit, …: the list is under Failure reasons), `data.retry_after_ms`"
        " is set when the provider said.",
        "Act on `data.reason`: fix credentials for `auth`, wait for `rate_limit`,"
        " reinstall for `unavailable`; `data.hint` says how.",
    ),
    PAYLOAD_TOO_LARGE: CodeInfo(
        "payload_too_large",
        "Payload too large",
        "The frame or body exceeds the size limit.",
        "Send less (split the text or the batch).",
    ),
    SHUTTING_DOWN: CodeInfo(
        "shutting_down",
        "Shutting down",
        "The daemon is stopping and accepts no new work.",
        "Reconnect after the daemon restarts, or run in-process.",
    ),
    TIMED_OUT: CodeInfo(
        "timed_out",
        "Timed out",
        "The turn ran past its deadline (`timeout_s`, default model.timeout_s) and was"
        " stopped; its partial reply is kept in the transcript as interrupted.",
        "Retry with a larger `timeout_s`, or a faster model.",
    ),
}


class RpcError(Exception):
    """An error that becomes a JSON-RPC error object as-is: code, message, optional data."""

    def __init__(
        self, code: int, message: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        info = CODES.get(code)
        text = message if message is not None else (info.message if info else "Error")
        super().__init__(text)
        self.code = code
        self.message = text
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        """The error object; `data` is omitted when None (the spec says it may be)."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out

    def __repr__(self) -> str:
        return f"RpcError({self.code}, {self.message!r}, {self.data!r})"


def invalid_params(param: str | int | None, reason: str) -> RpcError:
    """-32602 with the uniform data shape, so clients can always read `data.reason`."""
    data: dict[str, Any] = {"reason": reason}
    if param is not None:
        data["param"] = param
    return RpcError(INVALID_PARAMS, data=data)


def invalid_request(reason: str) -> RpcError:
    return RpcError(INVALID_REQUEST, data={"reason": reason})


def rate_limited(retry_after_ms: int) -> RpcError:
    return RpcError(RATE_LIMITED, data={"retry_after_ms": max(0, int(retry_after_ms))})


def from_claw_error(e: ClawError) -> RpcError:
    """Map claw's user-facing errors to stable codes, keeping their message for the user.

    The message of a ClawError is written for users (the CLI prints it verbatim), so it is
    safe and useful to send; only non-ClawError exceptions are hidden (-32603). An expected
    runtime failure is not a bug, so it gets -32000 ("failed"), never -32603. ConfigError is
    a UsageError in the CLI but here it is the daemon's config, which the client cannot fix
    with other params: -32000 as well.
    """
    data: dict[str, Any] = {}
    if isinstance(e, NotFound):
        code = NOT_FOUND
    elif isinstance(e, SessionBusy):
        code = BUSY
        data["reason"] = e.message
    elif isinstance(e, UsageError) and not isinstance(e, ConfigError):
        code = INVALID_PARAMS
        data["reason"] = e.message
    elif isinstance(e, TimedOut):
        code = TIMED_OUT
    elif isinstance(e, ModelError):
        code = MODEL_FAILURE
        data["reason"] = e.reason
        if e.retry_after is not None and math.isfinite(e.retry_after):
            data["retry_after_ms"] = max(0, math.ceil(e.retry_after * 1000))
    else:
        code = FAILED
    if e.hint:
        data["hint"] = e.hint
    return RpcError(code, e.message, data or None)
