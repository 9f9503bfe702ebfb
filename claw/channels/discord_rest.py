"""Discord's REST side, without state: ids safe in a path, nonces, rate limit buckets, and
how a failed request is classified for the queue (transient or permanent, a short reason).
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import httpx
import trio

from claw.channels.base import DeliveryError

MAX_429_RETRIES = 3
_SNOWFLAKE = re.compile(r"[0-9]{1,20}")


def snowflake(value: str, what: str) -> str:
    """An id that is safe in a URL path; anything else fails for good (never retried)."""
    if not _SNOWFLAKE.fullmatch(value):
        raise DeliveryError(f"discord: invalid {what} {value!r}", permanent=True, reason="bad_id")
    return value


def nonce_of(key: str) -> str:
    """Discord nonces are at most 25 characters; idempotency keys can be longer."""
    return hashlib.sha256(key.encode()).hexdigest()[:25]


class RateLimits:
    """Discord's per-route buckets and the global limit, shared by concurrent sends."""

    def __init__(self, max_wait_s: float) -> None:
        self.max_wait_s = max_wait_s
        self.global_until = 0.0  # time.monotonic()
        self._until: dict[str, float] = {}
        self._locks: dict[str, trio.Lock] = {}

    def lock(self, route: str) -> trio.Lock:
        """One request at a time per route: `Remaining` then describes the next one."""
        return self._locks.setdefault(route, trio.Lock())

    def delay(self, route: str) -> float:
        until = max(self.global_until, self._until.get(route, 0.0))
        return max(0.0, until - time.monotonic())

    async def wait(self, route: str) -> None:
        while (delay := self.delay(route)) > 0:
            if delay > self.max_wait_s:
                raise DeliveryError(
                    f"discord: rate limited for {delay:.1f} s",
                    permanent=False,
                    retry_after=delay,
                    reason="rate_limited",
                )
            await trio.sleep(delay)

    def update(self, route: str, headers: httpx.Headers) -> None:
        if headers.get("x-ratelimit-remaining") == "0":
            reset = _seconds(headers.get("x-ratelimit-reset-after"))
            if reset:
                self._until[route] = time.monotonic() + reset

    def limited(self, route: str, seconds: float, is_global: bool) -> None:
        until = time.monotonic() + seconds
        if is_global:
            self.global_until = max(self.global_until, until)
        else:
            self._until[route] = max(self._until.get(route, 0.0), until)


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _transport_error(e: Exception) -> DeliveryError:
    """Timeouts and network errors may pass; a bad api_base will not. (The class name
    only: an exception's text can be long.)"""
    if isinstance(e, httpx.TimeoutException):
        return DeliveryError("discord: request timed out", permanent=False, reason="timeout")
    if isinstance(e, httpx.UnsupportedProtocol | httpx.InvalidURL):
        what = "channels.discord.api_base is not an http(s) URL"
        return DeliveryError(f"discord: {what}", permanent=True, reason="bad_url")
    what = f"discord: unreachable ({type(e).__name__})"
    return DeliveryError(what, permanent=False, reason="network")


def classify(response: httpx.Response, what: str) -> DeliveryError:
    """The DeliveryError for a non-2xx, non-429 answer: only 408 and 5xx may pass later."""
    status, body = response.status_code, _json(response)
    code, text = body.get("code"), str(body.get("message", ""))
    detail = f"HTTP {status}" + (f" ({code} {text[:200]})" if code is not None else "")
    if status == 401:
        reason = "unauthorized"
    elif code == 50007:  # the user blocks the bot or accepts no DMs from it
        reason = "bot_blocked"
    elif status == 403:
        reason = "missing_access"
    elif status == 404:
        reason = "chat_not_found"
    else:
        reason = f"http_{status}"
    transient = status == 408 or status >= 500
    return DeliveryError(f"discord: {what}: {detail}", permanent=not transient, reason=reason)
