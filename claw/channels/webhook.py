"""Outbound webhooks: each part is one signed JSON POST to a named target.

Targets come from `[channels.webhook.targets.<name>]`; an Outbound's `to` is the target
name, so a URL (which may itself be a credential, as Slack-style hook URLs are) is never
part of a queue entry, an error message or a log line. Failures are classified for the
delivery queue: 408, 429, 5xx, timeouts and network errors may succeed later
(transient, with the receiver's Retry-After honoured); anything else will not.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from claw import __version__
from claw.channels.base import DeliveryError, Outbound, Receipt
from claw.errors import InvalidName
from claw.state.config import Config
from claw.state.names import validate_simple_name

log = logging.getLogger("claw.channels.webhook")

MAX_MESSAGE_CHARS = 65_536
DEFAULT_TIMEOUT_S = 10
SIGNATURE_HEADER = "X-Claw-Signature"


@dataclass(frozen=True)
class Target:
    """One configured receiver. `repr` leaves out the URL and secret on purpose."""

    name: str
    url: str | None
    secret_env: str | None = None
    secret: str | None = None
    timeout_s: int = DEFAULT_TIMEOUT_S

    def __repr__(self) -> str:
        return f"Target(name={self.name!r}, host={host_of(self.url)!r})"

    def signing_secret(self) -> str | None:
        """The secret to sign with, read from the environment at send time."""
        if self.secret_env:
            value = os.environ.get(self.secret_env)
            if not value:
                raise DeliveryError(
                    f"webhook target {self.name!r}: environment variable "
                    f"{self.secret_env} is not set (needed to sign the body)",
                    permanent=True,
                    reason="missing_secret",
                )
            return value
        return self.secret or None


def host_of(url: str | None) -> str:
    """Scheme, host and port only: safe to show, unlike the path or query of a hook URL."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "<invalid url>"


def sign(secret: str, body: bytes) -> str:
    """The X-Claw-Signature value: receivers recompute it over the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode_body(message: Outbound) -> bytes:
    text = json.dumps(message.fields(), ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "replace")  # a stray surrogate must not stop the send


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify(response: httpx.Response, target: str) -> Receipt:
    """A Receipt for 2xx; otherwise the DeliveryError the queue should act on."""
    status = response.status_code
    if 200 <= status < 300:
        return Receipt(message_id=_message_id(response))
    transient = status in (408, 429) or status >= 500
    raise DeliveryError(
        f"webhook target {target!r} answered HTTP {status}",
        permanent=not transient,
        retry_after=parse_retry_after(response.headers.get("retry-after")) if transient else None,
        reason=f"http_{status}",
    )


def _message_id(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    ident = data.get("id") if isinstance(data, dict) else None
    if isinstance(ident, bool) or not isinstance(ident, (str, int)):
        return None
    return str(ident)


def targets_from_config(config: Config) -> dict[str, Target]:
    raw = config.get("channels.webhook.targets", {}) or {}
    out: dict[str, Target] = {}
    for name, table in raw.items():
        out[name] = Target(
            name=name,
            url=table.get("url"),
            secret_env=table.get("secret_env"),
            secret=table.get("secret"),
            timeout_s=table.get("timeout_s", DEFAULT_TIMEOUT_S),
        )
    return out


class _HideTargetUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; a hook URL can be a credential, so
    records naming a configured target's URL show only its scheme, host and port."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and self.urls:
            record.args = tuple(
                f"{host_of(str(a))}/…" if str(a) in self.urls else a for a in record.args
            )
        return True


_URL_FILTER = _HideTargetUrls()
logging.getLogger("httpx").addFilter(_URL_FILTER)


def _hide_in_httpx_logs(url: str | None) -> None:
    if url:
        with contextlib.suppress(httpx.InvalidURL, TypeError):
            _URL_FILTER.urls.add(str(httpx.URL(url)))


class WebhookChannel:
    """Sends through one shared httpx client (connection reuse across parts and targets)."""

    name = "webhook"
    max_message_chars = MAX_MESSAGE_CHARS

    def __init__(self, targets: dict[str, Target]) -> None:
        self.targets = targets
        for target in targets.values():
            _hide_in_httpx_logs(target.url)
        self._client: httpx.AsyncClient | None = None
        self.sent = 0
        self.failed = 0

    @classmethod
    def from_config(cls, config: Config) -> WebhookChannel:
        return cls(targets_from_config(config))

    def target(self, name: str) -> Target:
        """The target to send to, or a permanent error: no config will appear by retrying."""
        try:
            validate_simple_name(name, "webhook target name")
        except InvalidName as e:
            raise DeliveryError(e.message, permanent=True, reason="unknown_target") from None
        target = self.targets.get(name)
        if target is None or not target.url:
            known = ", ".join(sorted(self.targets)) or "none configured"
            what = "has no url" if target else "is not configured"
            raise DeliveryError(
                f"webhook target {name!r} {what} (targets: {known}); "
                f"set channels.webhook.targets.{name}.url",
                permanent=True,
                reason="unknown_target",
            )
        if urlsplit(target.url).scheme.lower() not in ("http", "https"):
            raise DeliveryError(
                f"webhook target {name!r}: only http and https URLs are supported",
                permanent=True,
                reason="bad_url",
            )
        return target

    async def send(self, message: Outbound) -> Receipt:
        target = self.target(message.to)
        body = encode_body(message)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"claw/{__version__}",
        }
        if message.idempotency_key:
            headers["Idempotency-Key"] = message.idempotency_key
        secret = target.signing_secret()
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        try:
            response = await self._client.post(
                target.url or "", content=body, headers=headers, timeout=target.timeout_s
            )
        except httpx.TimeoutException as e:
            self.failed += 1
            raise self._transport_error(target, e, "timeout", "timed out") from None
        except (httpx.TransportError, httpx.InvalidURL) as e:
            self.failed += 1
            if isinstance(e, httpx.UnsupportedProtocol | httpx.InvalidURL):
                raise DeliveryError(
                    f"webhook target {target.name!r}: invalid URL",
                    permanent=True,
                    reason="bad_url",
                ) from None
            raise self._transport_error(target, e, "network", "could not be reached") from None
        try:
            receipt = classify(response, target.name)
        except DeliveryError:
            self.failed += 1
            raise
        self.sent += 1
        log.debug("webhook %s: part %d/%d delivered", target.name, message.part + 1, message.parts)
        return receipt

    @staticmethod
    def _transport_error(target: Target, e: Exception, reason: str, what: str) -> DeliveryError:
        # The class name, not str(e): the message may quote the URL.
        return DeliveryError(
            f"webhook target {target.name!r} ({host_of(target.url)}) {what} ({type(e).__name__})",
            permanent=False,
            reason=reason,
        )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def health(self) -> dict[str, Any]:
        return {
            "channel": self.name,
            "targets": sorted(self.targets),
            "sent": self.sent,
            "failed": self.failed,
        }
