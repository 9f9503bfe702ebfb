"""Inbound webhooks: `POST /hooks/<name>` journals a message for an agent to answer.

Each hook is configured under `[channels.webhook.hooks.<name>]` with its own token
(`token_env`, or `token`), which must differ from the gateway token: a hook token is
handed to third-party services, and must not open the whole gateway. The token comes in
`Authorization: Bearer <token>` only, never in the URL.

The body is JSON: `{"text": "...", "from": "alice", "id": "evt-42", "thread": "t1"}`;
only `text` is required. `id` makes retries safe: the same id is journaled once (the
answer says `"duplicate": true`). The message is journaled (fsynced) before the 200, so a
hook that got its 200 can forget the event. Messages arrive on channel `webhook` with
the hook's name as the account (bindings can route per hook); the reply goes to the
outbound target named by the hook's `reply_target`, or nowhere if it has none.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import uuid
from typing import TYPE_CHECKING, Any

from claw.delivery.inbox import InboundMessage
from claw.errors import ClawError, ConfigError, InvalidName, UsageError
from claw.gateway.security import RateLimiter, bearer_from_headers, check_token, load_token
from claw.state.config import Config
from claw.state.names import validate_simple_name

if TYPE_CHECKING:
    from claw.channels.runtime import ChannelRuntime
    from claw.state.home import Home

log = logging.getLogger("claw.gateway.hooks")
MAX_FIELD = 256
# What a token is compared with when there is no hook of that name (or it is refused),
# so an unknown hook costs the same comparison as a known one.
_NO_HOOK = secrets.token_urlsafe(32)
_warned_shared: set[str] = set()


DEFAULT_RATE_PER_S = 20


class HookError(Exception):
    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


class HookLimits:
    """One token bucket per hook (`rate_per_s`, bursts of twice that): a hook's sender
    may be one busy address (a CI server), so the limit is the hook's, not the address's.
    Strangers are slowed by the gateway's failed-auth throttle before they get here."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[int, RateLimiter]] = {}

    def take(self, config: Config, name: str) -> float:
        rate = int(hook_settings(config, name).get("rate_per_s") or DEFAULT_RATE_PER_S)
        known = self._buckets.get(name)
        if known is None or known[0] != rate:  # new, or the config changed
            known = self._buckets[name] = (rate, RateLimiter(rate, 2 * rate))
        return known[1].take()


def hook_settings(config: Config, name: str) -> dict[str, Any]:
    """`[channels.webhook.hooks.<name>]` ({} when there is no such hook)."""
    table = (config.get("channels.webhook.hooks", {}) or {}).get(name)
    return table if isinstance(table, dict) else {}


def hook_token(config: Config, name: str) -> str | None:
    """The configured token of hook `name` (None: no such hook, or no token set)."""
    table = hook_settings(config, name)
    env = table.get("token_env")
    token = os.environ.get(env, "") if env else table.get("token", "")
    return token or None


def authorise(config: Config, name: str, headers: Any, gateway_token: str) -> None:
    """Raise HookError unless the request carries this hook's token.

    An unknown hook, a wrong or missing token, and a hook refused because its token is
    the gateway token all look the same from outside (401, same body): a caller cannot
    probe which hook names exist. Only a caller presenting the gateway token itself is
    told why such a hook is refused.
    """
    try:
        validate_simple_name(name, "hook name")
    except InvalidName:
        raise HookError(404, "no such hook") from None
    expected = hook_token(config, name)
    presented = bearer_from_headers(headers)
    if expected is not None and check_token(expected, gateway_token):
        if name not in _warned_shared:
            _warned_shared.add(name)
            log.error("hook %r: its token equals the gateway token; refusing every call", name)
        if check_token(presented, gateway_token):
            raise HookError(403, "this hook's token must differ from the gateway token")
        expected = None
    if not check_token(presented, expected or _NO_HOOK):
        raise HookError(401, "unauthorized")


MIN_TOKEN_CHARS = 16  # a hook is reachable by anyone who can reach the port


def refuse_gateway_token(home: Home, key: str, value: str) -> None:
    """`claw config set channels.webhook.hooks.<name>.token` refuses the gateway token: a
    hook token is handed to third-party services, and must not open the whole gateway
    (the gateway would refuse the hook anyway). It refuses a guessable one too: failed
    logins are only slowed down, so a short token is a matter of time."""
    parts = key.split(".")
    if len(parts) != 5 or parts[:3] != ["channels", "webhook", "hooks"] or parts[4] != "token":
        return
    if len(value.strip()) < MIN_TOKEN_CHARS:
        raise UsageError(
            f"{key}: a hook's token needs at least {MIN_TOKEN_CHARS} characters",
            hint="use a random one, e.g. from `openssl rand -hex 32`",
        )
    try:
        gateway_token = load_token(home)
    except ClawError:
        return  # no gateway token yet: `claw init` will draw a fresh random one
    if check_token(value.strip(), gateway_token):
        raise UsageError(
            f"{key}: a hook's token must differ from the gateway token",
            hint="use another secret, e.g. one from `openssl rand -hex 32`",
        )


def parse_message(config: Config, name: str, body: bytes) -> InboundMessage:
    """The InboundMessage a hook body describes (HookError 400 when it is not one)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise HookError(400, "the body must be JSON") from None
    if not isinstance(data, dict):
        raise HookError(400, "the body must be a JSON object")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise HookError(400, "'text' is required: a non-empty string")
    fields: dict[str, str | None] = {}
    for key in ("from", "id", "thread"):
        value = data.get(key)
        if value is not None and (
            not isinstance(value, str | int)
            or isinstance(value, bool)
            or len(str(value)) > MAX_FIELD
        ):
            raise HookError(400, f"'{key}' must be a string of at most {MAX_FIELD} characters")
        if value is not None and any(c.isspace() or not c.isprintable() for c in str(value)):
            raise HookError(400, f"'{key}' must not contain spaces or control characters")
        if value is not None and key != "id" and ":" in str(value):
            # it becomes part of a session key, whose parts ':' separates
            raise HookError(400, f"'{key}' must not contain ':'")
        fields[key] = None if value is None else str(value)
    reply_target = hook_settings(config, name).get("reply_target")
    meta: dict[str, Any] = {"hook": name}
    if reply_target:
        meta["chat"] = reply_target
    else:
        meta["no_reply"] = True
    from claw.routing.inbound import to_inbound
    from claw.routing.route import route

    try:
        msg = InboundMessage(
            channel="webhook",
            account=name,
            channel_message_id=fields["id"] or uuid.uuid4().hex,
            peer=fields["from"] or name,
            text=text,
            thread=fields["thread"],
            meta=meta,
        ).validate()
    except InvalidName as e:
        raise HookError(400, e.message) from None
    try:  # what cannot be routed (a session key too long) would stay pending forever
        route(config, to_inbound(msg))
    except InvalidName as e:
        raise HookError(400, e.message) from None
    except ConfigError:
        pass  # the owner's config, not the caller's message: journaled, routed once fixed
    return msg


async def receive(
    runtime: ChannelRuntime | None,
    config: Config,
    name: str,
    headers: Any,
    body: bytes,
    gateway_token: str,
    limits: HookLimits,
) -> dict[str, Any]:
    """Authorise, rate-limit, parse and journal one hook call; the JSON answer for a 200."""
    authorise(config, name, headers, gateway_token)
    wait = limits.take(config, name)
    if wait > 0:
        raise HookError(429, f"rate limited: hook {name!r} takes its rate_per_s", wait)
    msg = parse_message(config, name, body)
    if runtime is None:
        raise HookError(503, "the daemon is not receiving messages")
    try:
        entry_id, new = await runtime.record("webhook", msg)
    except ClawError as e:
        raise HookError(400, e.message) from None
    return {"ok": True, "id": entry_id, "duplicate": not new}
