"""Getting an answer despite failures: auth profiles, model fallbacks, thinking levels,
context overflow — within a bounded number of model calls.

Order of resort, for each model in [model, *fallbacks]:
  each auth profile not cooling down (cooldowns persist in the state directory, so a
  one-shot `claw send` respects what the daemon learned and vice versa);
    a "format" error while a reasoning level is requested → the next lower level
    (high → medium → low → off), each level tried once;
    "overflow" → compact the history once, then retry;
    auth / rate_limit / timeout / billing → cool the profile down, next profile;
  a malformed request ("format" once no lower thinking level is left) → give up at once;
  model-specific failures (not_found, network, overflow after compaction, …) → next model.
Failures are classified from litellm's exception types (claw.agent.models.classify).
Nothing is retried once text has reached the user: that would repeat it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from claw.agent import completion
from claw.agent.events import Event, Retry
from claw.agent.models import ModelInfo
from claw.agent.profiles import AuthProfile, ProfileRotation, provider_of
from claw.errors import MissingCredentials, ModelError
from claw.state.config import Config
from claw.state.cooldowns import CooldownStore

log = logging.getLogger(__name__)

THINKING_LEVELS = ("high", "medium", "low", "off")
PROFILE_REASONS = {"auth", "rate_limit", "timeout", "billing"}
# The request itself was refused (malformed, too long even after compaction): another
# model or key would refuse it too, so the user hears why at once.
REQUEST_REASONS = {"format", "overflow_hard"}

# Every `reason` a failed model call can carry: in the `Retry` event, in each attempt of
# `claw send`'s error ("<model>: <reason> (...)") and as the gateway's -32005
# `data.reason` (the last attempt's). The README's Failover section lists them; a test
# keeps the two in step.
REASONS = {
    "auth": "the key was refused, or none is set (the error names the variable)",
    "rate_limit": "the provider is rate limiting (Retry-After honoured)",
    "billing": "out of credit or over budget",
    "timeout": "the provider took too long",
    "overflow": "the conversation is too long for the model (compacted once, then retried)",
    "overflow_hard": "the new message alone does not fit the model's context",
    "format": "the request was refused as malformed (a reasoning level is stepped down first)",
    "not_found": "the provider does not know the model",
    "network": "the provider could not be reached",
    "unavailable": "a built-in model cannot run here (not installed, or its install is broken)",
    "cooling_down": "every auth profile of the provider is cooling down",
    "budget": "model.retry_budget failed calls were used up",
    "unknown": "anything else (the message says what)",
}

Piece = tuple[str, str]  # ("text" | "reasoning", delta)
Messages = Callable[[ModelInfo], list[dict[str, Any]]]
Compact = Callable[[ModelInfo, completion.CallOptions], Generator[Event, None, bool]]


@dataclass
class Attempt:
    model: str
    profile: str
    reason: str
    detail: str

    def __str__(self) -> str:
        who = self.model if self.profile in ("", "default") else f"{self.model} [{self.profile}]"
        return f"{who}: {self.reason} ({self.detail})"


@dataclass
class Answer:
    model: ModelInfo
    completion: completion.Completion
    attempts: list[Attempt] = field(default_factory=list)


class Failover:
    def __init__(
        self,
        config: Config,
        cooldowns: CooldownStore,
        candidates: list[ModelInfo],
        *,
        thinking: str,
        budget: int,
        abort: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.cooldowns = cooldowns
        self.candidates = candidates
        self.thinking = thinking
        self.budget = budget
        self.failures = 0  # failed calls this turn: what the retry budget bounds
        self.abort = abort
        self.attempts: list[Attempt] = []
        self.compacted = False
        self.current = candidates[0]  # the model being called now
        self.last_error: ModelError | None = None

    def call(
        self, messages: Messages, base: completion.CallOptions, compact: Compact
    ) -> Generator[Event | Piece, None, Answer]:
        """Stream one answer; yields Retry/compaction events and text pieces."""
        for info in self.candidates:
            rotation, profiles = self._profiles(info)
            if not profiles:
                continue
            for profile in profiles:
                outcome = yield from self._on_profile(
                    info, profile, rotation, messages, base, compact
                )
                if isinstance(outcome, Answer):
                    return outcome
                if outcome == "next_model":
                    break
        tried = "; ".join(str(a) for a in self.attempts) or "nothing could be tried"
        last = self.attempts[-1].reason if self.attempts else "unavailable"
        # The last failure's own advice (set OPENAI_API_KEY, reinstall llama-cpp-python)
        # says more than the generic one.
        generic = (
            "see `claw config list` for model.default, model.fallbacks and providers; "
            "`claw send --verbose` shows each retry"
        )
        own = self.last_error.hint if self.last_error is not None else None
        raise ModelError(f"no model could answer: {tried}", reason=last, hint=own or generic)

    @staticmethod
    def _keys_fault(e: ModelError) -> bool:
        """Whether the failure says something about the key (so it cools down): a missing
        key is configuration, and cooling down would only delay the fix taking effect."""
        return not isinstance(e, MissingCredentials)

    def _profiles(self, info: ModelInfo) -> tuple[ProfileRotation | None, list[AuthProfile]]:
        if info.builtin:
            return None, [
                AuthProfile(provider=info.litellm_model.split("/")[0], name="default", api_key=None)
            ]
        rotation = ProfileRotation(self.cooldowns, self.config, provider_of(info.litellm_model))
        order = rotation.order()
        if not order:
            ready = rotation.next_ready_at()
            self.attempts.append(
                Attempt(
                    info.name,
                    "*",
                    "cooling_down",
                    "every auth profile is cooling down" + _until(ready),
                )
            )
        return rotation, order

    def _on_profile(
        self,
        info: ModelInfo,
        profile: AuthProfile,
        rotation: ProfileRotation | None,
        messages: Messages,
        base: completion.CallOptions,
        compact: Compact,
    ) -> Generator[Event | Piece, None, Answer | str]:
        tried_levels: set[str] = set()
        while True:
            if self.abort is not None and self.abort.is_set():
                raise completion.Aborted()
            if self.failures >= self.budget:
                self.attempts.append(
                    Attempt(
                        info.name,
                        profile.name,
                        "budget",
                        f"retry budget of {self.budget} failed calls used",
                    )
                )
                raise ModelError(
                    "gave up after the retry budget: " + "; ".join(str(a) for a in self.attempts),
                    reason="budget",
                )
            tried_levels.add(self.thinking)
            opts = self._options(info, profile, base)
            out = completion.Completion()
            self.current = info
            try:
                yield from completion.stream(info, messages(info), opts, out, self.abort)
            except ModelError as e:
                if self.abort is not None and self.abort.is_set():
                    # The call's timeout is the turn's remaining time: when the turn's own
                    # deadline (or an abort) cut it off, the profile is not at fault, and
                    # the turn ends as timed out (partial text kept), not as failed.
                    raise completion.Aborted() from None
                if out.text or out.tool_calls:
                    raise  # text already reached the user: a retry would repeat it
                self.attempts.append(Attempt(info.name, profile.name, e.reason, e.message))
                self.last_error = e
                self.failures += 1
                action = self._action(e, tried_levels, opts.reasoning_effort is not None)
                if action == "compacted":
                    self.compacted = True
                    ok = yield from compact(info, opts)
                    if not ok:
                        return "next_model"
                elif action == "next_profile" and rotation is not None and self._keys_fault(e):
                    rotation.failed(profile, e.reason, retry_after=e.retry_after, error=e.message)
                yield Retry(e.reason, action, info.name, e.message)
                log.info("%s failed (%s): %s", info.name, e.reason, action)
                if action in ("lower_thinking", "compacted"):
                    continue
                if action == "give_up":
                    raise e
                return action
            if rotation is not None:
                rotation.succeeded(profile)
            return Answer(info, out, self.attempts)

    def _action(self, e: ModelError, tried_levels: set[str], reasoning_sent: bool) -> str:
        if e.reason == "format" and reasoning_sent:
            for level in THINKING_LEVELS[THINKING_LEVELS.index(self.thinking) + 1 :]:
                if level not in tried_levels:
                    self.thinking = level
                    return "lower_thinking"
        if e.reason == "overflow" and not self.compacted:
            return "compacted"
        if e.reason in PROFILE_REASONS:
            return "next_profile"
        if e.reason in REQUEST_REASONS:
            return "give_up"
        return "next_model"

    def _options(
        self, info: ModelInfo, profile: AuthProfile, base: completion.CallOptions
    ) -> completion.CallOptions:
        prefix = info.litellm_model.split("/", 1)[0]
        section = self.config.get(f"providers.{prefix}") or {}
        effort = self.thinking if self.thinking != "off" and not info.builtin else None
        return completion.CallOptions(
            max_tokens=base.max_tokens,
            timeout=base.timeout,
            api_key=profile.api_key,
            api_base=section.get("api_base"),
            reasoning_effort=effort,
            tools=base.tools if info.supports_tools else None,
            live=base.live,
        )


def _until(ready: float | None) -> str:
    if ready is None:
        return ""
    import time

    return " until " + time.strftime("%H:%M:%S", time.localtime(ready))
