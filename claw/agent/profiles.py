"""Which credentials to try for a provider, and in which order.

`[providers.<p>].profiles` lists API keys (work, home, a spare…). When one fails for a
reason that is the key's fault (auth, rate limit, timeout, billing) it cools down in the
shared CooldownStore and the next turn, in this process or any other, starts with the next
one. A pinned profile (`[providers.<p>].pin`) is the user saying "use this key and no
other": it is never rotated away from, even while cooling down (it is then still tried,
because failing over to a key the user excluded would be worse than a failed call).

Nothing here imports litellm: `retry_after_seconds` only reads attributes and headers.
"""

from __future__ import annotations

import email.utils
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from claw.errors import ConfigError
from claw.state.config import Config
from claw.state.cooldowns import Cooldown, CooldownStore
from claw.state.locks import Timeout

log = logging.getLogger(__name__)

DEFAULT_PROFILE = "default"
DEFAULT_PROVIDER = "default"
# Failures that say something about the key itself. Others (a bad request, a context
# overflow, an unknown model, the network) would fail with any key: no cooldown.
COOLDOWN_REASONS = frozenset({"auth", "rate_limit", "timeout", "billing"})


@dataclass(frozen=True)
class AuthProfile:
    provider: str
    name: str
    # None: pass no key, so litellm reads the provider's usual variable (OPENAI_API_KEY…).
    api_key: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        # Written by hand as well as repr=False: a key must never reach a log or a traceback.
        key = "None" if self.api_key is None else "'***'"
        return f"AuthProfile(provider={self.provider!r}, name={self.name!r}, api_key={key})"


def provider_of(litellm_model: str) -> str:
    """The `[providers.<p>]` table a litellm model name uses: its prefix."""
    prefix, sep, _ = litellm_model.strip().partition("/")
    return prefix if sep and prefix else DEFAULT_PROVIDER


def profiles_for(config: Config, provider: str) -> list[AuthProfile]:
    """The provider's usable profiles, in config order.

    A profile whose key is neither given (`api_key`) nor set in its `api_key_env` variable
    is skipped. No profiles configured means one implicit "default" profile with no key
    (litellm's usual environment variable). If profiles are configured but none has a key,
    the implicit one is used too, with a warning: that is what claw did before profiles
    existed, and the provider's own error then says what is missing.
    """
    configured = config.get(f"providers.{provider}.profiles") or []
    out: list[AuthProfile] = []
    seen: set[str] = set()
    for i, entry in enumerate(configured):
        env = entry.get("api_key_env") or ""
        name = entry.get("name") or env or f"#{i + 1}"
        if name in seen:
            log.warning("providers.%s: profile %r is listed twice; using the first", provider, name)
            continue
        seen.add(name)
        key = entry.get("api_key") or (os.environ.get(env) if env else None)
        if not key:
            why = f"${env} is not set" if env else "it has no api_key or api_key_env"
            log.debug("providers.%s: skipping profile %r: %s", provider, name, why)
            continue
        out.append(AuthProfile(provider, name, key))
    if not out:
        if configured:
            log.warning(
                "providers.%s: no profile has a key (%s); using the provider's usual "
                "environment variable",
                provider,
                ", ".join(f"${e['api_key_env']}" for e in configured if e.get("api_key_env"))
                or "none set",
            )
        out.append(AuthProfile(provider, DEFAULT_PROFILE, None))
    return out


class ProfileRotation:
    """The order in which one call (or one turn) tries a provider's profiles.

    `now` (epoch seconds) is fixed for the rotation's life when given, for tests; the
    store is read once per `order()` / `next_ready_at()`.
    """

    def __init__(
        self, store: CooldownStore, config: Config, provider: str, *, now: float | None = None
    ) -> None:
        self.store = store
        self.provider = provider
        self.profiles = profiles_for(config, provider)
        self.pin: str | None = config.get(f"providers.{provider}.pin") or None
        self._fixed_now = now

    def now(self) -> float:
        return time.time() if self._fixed_now is None else self._fixed_now

    def order(self) -> list[AuthProfile]:
        """The pinned profile alone; else the profiles not cooling down, in config order.

        Empty when every profile is cooling down: see `next_ready_at` for when to retry.
        """
        if self.pin is not None:
            return [self._pinned()]
        cooling = self._cooling()
        return [p for p in self.profiles if p.name not in cooling]

    def next_ready_at(self) -> float | None:
        """When the first profile comes back, if all are cooling down; else None."""
        cooling = self._cooling()
        names = [self._pinned().name] if self.pin is not None else [p.name for p in self.profiles]
        if not names or any(n not in cooling for n in names):
            return None
        return min(cooling[n].until for n in names)

    def failed(
        self,
        profile: AuthProfile,
        reason: str,
        retry_after: float | None = None,
        error: str = "",
    ) -> Cooldown | None:
        """Cool the profile down if `reason` is its fault; None if not (or not recorded).

        A storage problem is logged, never raised: the caller is already handling the
        model's failure, which is what the user needs to hear about.
        """
        if reason not in COOLDOWN_REASONS:
            return None
        if profile.api_key:
            error = error.replace(profile.api_key, "***")  # never persist the key
        try:
            cd = self.store.mark_failure(
                self.provider,
                profile.name,
                reason,
                retry_after=retry_after,
                error=error,
                now=self._fixed_now,
            )
        except (OSError, Timeout) as e:
            log.warning("could not record a cooldown for %s/%s: %s", self.provider, profile.name, e)
            return None
        log.info(
            "auth profile %s/%s cooling down for %.0fs after %d failure(s) (%s)",
            self.provider,
            profile.name,
            cd.remaining(self._fixed_now),
            cd.failures,
            reason,
        )
        return cd

    def succeeded(self, profile: AuthProfile) -> None:
        """The profile works: forget its failures (cheap when it had none)."""
        try:
            self.store.clear(self.provider, profile.name)
        except (OSError, Timeout) as e:
            log.warning("could not clear the cooldown of %s/%s: %s", self.provider, profile.name, e)

    def _cooling(self) -> dict[str, Cooldown]:
        now = self.now()
        return {c.profile: c for c in self.store.all(now) if c.provider == self.provider}

    def _pinned(self) -> AuthProfile:
        for p in self.profiles:
            if p.name == self.pin:
                return p
        names = ", ".join(p.name for p in self.profiles if p.api_key) or "none with a key"
        raise ConfigError(
            f"providers.{self.provider}.pin is {self.pin!r}, but no usable profile has that "
            f"name (usable: {names})",
            hint=f"fix the name or the profile's key, or `claw config unset "
            f"providers.{self.provider}.pin`",
        )


def retry_after_seconds(exc: BaseException, *, now: float | None = None) -> float | None:
    """How long the server asked us to wait, from a litellm/OpenAI-style exception.

    Looks at the exception and what it wraps (`original_exception`, `__cause__`, e.g. the
    litellm error behind a ModelError): headers `retry-after-ms`, then `retry-after`
    (seconds or an HTTP date), then a `retry_after` attribute. None if absent or
    unparseable; never raises.
    """
    try:
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen and len(seen) < 8:
            seen.add(id(current))
            found = _own_retry_after(current, now)
            if found is not None:
                return found
            inner = getattr(current, "original_exception", None)
            current = inner if isinstance(inner, BaseException) else current.__cause__
    except Exception:  # a hostile attribute or property: no hint, not a crash
        log.debug("could not read a retry-after from %r", exc, exc_info=True)
    return None


def _own_retry_after(exc: BaseException, now: float | None) -> float | None:
    for headers in (_response_headers(exc), getattr(exc, "headers", None)):
        if not isinstance(headers, Mapping):
            continue
        lowered = {str(k).lower(): v for k, v in headers.items()}
        ms = _number(lowered.get("retry-after-ms"))
        if ms is not None:
            return ms / 1000.0
        value = lowered.get("retry-after")
        seconds = _number(value)
        if seconds is None and isinstance(value, str):
            seconds = _http_date(value, now)
        if seconds is not None:
            return seconds
    return _number(getattr(exc, "retry_after", None))


def _response_headers(exc: BaseException) -> Any:
    try:
        response = getattr(exc, "response", None)
    except Exception:  # httpx raises from some properties of a half-built response
        return None
    return getattr(response, "headers", None)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _http_date(value: str, now: float | None) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or parsed.tzinfo is None:  # RFC 9110 dates are always GMT
        return None
    return max(0.0, parsed.timestamp() - (time.time() if now is None else now))
