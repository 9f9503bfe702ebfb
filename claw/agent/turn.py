"""One agent turn: user text in, assistant reply out, both durable in the session.

`run_turn` is a generator of events so the caller decides how to show the reply (stream
to a terminal, collect for --json, forward to a client). The transcript is consistent
however the turn ends:
- success: user message, then the assistant message with model, usage and duration;
- model failure: user message, then an assistant record with status "error" saying why
  (replay leaves both out, so the next turn starts clean);
- Ctrl-C / abort: the partial reply is kept with status "interrupted".
Turns on one session never interleave, across processes too: the turn holds the
session's turn lock from reading the history to writing the reply.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from claw.agent import models, prompt
from claw.agent.events import Event, TextDelta, TurnEnd, TurnResult, TurnStart
from claw.errors import ClawError, ModelError, NotFound, UsageError
from claw.state import transcript
from claw.state.config import Config
from claw.state.home import Home
from claw.state.locks import Timeout, file_lock
from claw.state.names import encode_component, validate_agent_id, validate_session_key
from claw.state.session_keys import main_key
from claw.state.sessions import SessionStore
from claw.state.workspace import create_workspace, workspace_dir

log = logging.getLogger(__name__)

LANE_WAIT_LOG_S = 2.0


@dataclass
class TurnRequest:
    text: str
    agent_id: str = "main"
    session_key: str | None = None
    model: str | None = None


def check_agent(config: Config, agent_id: str) -> str:
    validate_agent_id(agent_id)
    if agent_id not in config.agent_ids():
        raise NotFound(
            f"unknown agent {agent_id!r}; configured agents: {', '.join(config.agent_ids())}",
        )
    return agent_id


def run_turn(home: Home, config: Config, store: SessionStore, req: TurnRequest) -> Iterator[Event]:
    text = req.text
    if not text.strip():
        raise UsageError("nothing to send: the message is empty")
    agent_id = check_agent(config, req.agent_id)
    key = validate_session_key(req.session_key or main_key(agent_id))
    candidates = _candidates(config, agent_id, req.model)
    info = candidates[0]
    max_tokens = int(config.get("model.max_tokens"))
    workspace = workspace_dir(home, agent_id)
    if not workspace.exists():
        create_workspace(home, agent_id)

    with _session_lane(store, key):
        started = time.monotonic()
        system = prompt.system_prompt(workspace)
        user = transcript.message("user", text)
        budget = _history_budget(config, info, system, text, max_tokens)
        history = store.history(key, budget)
        messages = _compose(system, history, text)
        store.append(key, [user], agent=agent_id)
        yield TurnStart(key, agent_id, info.name, user["id"])

        outcome = models.StreamOutcome()
        try:
            for n, model_info in enumerate(candidates):
                info = model_info
                try:
                    for delta in models.stream_chat(
                        info,
                        messages,
                        outcome,
                        max_tokens=max_tokens,
                        timeout=float(config.get("model.timeout_s")),
                        **_call_options(config, info),
                    ):
                        yield TextDelta(delta)
                    break
                except ModelError as e:
                    # Fall back only before any text reached the user, and only for
                    # failures another model may not have.
                    if outcome.text or e.reason not in FAILOVER_REASONS or n == len(candidates) - 1:
                        raise
                    log.warning("%s; trying fallback %s", e.message, candidates[n + 1].name)
            if not outcome.text.strip():
                raise ModelError(f"model {info.name} returned an empty reply", reason="empty")
        except ModelError as e:
            store.append(key, [_failure(user, info, str(e.message), e.reason)], agent=agent_id)
            raise
        except (KeyboardInterrupt, GeneratorExit) as e:
            reason = "interrupted"
            if outcome.text:
                store.append(
                    key, [_reply(user, info, outcome, started, "interrupted")], agent=agent_id
                )
            else:
                store.append(
                    key,
                    [_failure(user, info, "interrupted before any reply", reason)],
                    agent=agent_id,
                )
            if isinstance(e, GeneratorExit):
                return
            raise
        reply = _reply(user, info, outcome, started, "ok")
        store.append(key, [reply], agent=agent_id)
        yield TurnEnd(
            TurnResult(
                session_key=key,
                message_id=reply["id"],
                text=outcome.text,
                model=info.name,
                usage=outcome.usage,
                duration_ms=reply["duration_ms"],
            )
        )


class _session_lane:
    """The session's cross-process turn lock; logs when a turn waited for it."""

    def __init__(self, store: SessionStore, key: str) -> None:
        self.lock = file_lock(store.lock_dir / f"{encode_component(key)}.turn.lock")
        self.key = key

    def __enter__(self) -> None:
        t0 = time.monotonic()
        try:
            self.lock.acquire(timeout=LANE_WAIT_LOG_S)
        except Timeout:
            log.warning("session %s is busy with another turn; waiting", self.key)
            self.lock.acquire()
            log.warning("waited %.1fs for session %s", time.monotonic() - t0, self.key)

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def _history_budget(
    config: Config, info: models.ModelInfo, system: str, text: str, max_tokens: int
) -> int:
    fixed = transcript.estimate_tokens({"content": system}) + transcript.estimate_tokens(
        {"content": text}
    )
    budget = info.context_window - max_tokens - fixed
    cap = int(config.get("sessions.history_tokens") or 0)
    if cap:
        budget = min(budget, cap)
    if budget < 0:
        raise ClawError(
            f"the message does not fit in {info.name}'s context window "
            f"({info.context_window} tokens, {max_tokens} kept for the reply)",
            hint="send a shorter message, lower model.max_tokens, or use a larger model",
        )
    return budget


def _compose(system: str, history: list[dict], text: str) -> list[dict]:
    # Leading system messages in the history (compaction summaries) join the system
    # prompt: several system messages confuse many chat templates.
    lead = []
    while history and history[0]["role"] == "system":
        lead.append(str(history[0]["content"]))
        history = history[1:]
    system_text = "\n\n".join(p for p in [system, *lead] if p)
    head = [{"role": "system", "content": system_text}] if system_text else []
    return [*head, *history, {"role": "user", "content": text}]


FAILOVER_REASONS = {
    "auth",
    "rate_limit",
    "billing",
    "timeout",
    "network",
    "not_found",
    "unavailable",
}


def _candidates(config: Config, agent_id: str, explicit: str | None) -> list[models.ModelInfo]:
    """The model to use, then its fallbacks (none when the user named a model).

    A model that cannot run here (e.g. the embedded one without its extra) is skipped in
    favour of the next; if none can run, the first one's error explains how to fix it.
    """
    if explicit:
        return [models.resolve(explicit)]
    names = config.get(f"agents.{agent_id}.fallbacks")
    if names is None:
        names = config.get("model.fallbacks") or []
    out: list[models.ModelInfo] = []
    first_error: ModelError | None = None
    for name in [config.agent_model(agent_id), *names]:
        try:
            out.append(models.resolve(name))
        except ModelError as e:
            first_error = first_error or e
            log.warning("cannot use model %s: %s", name, e.message)
    if not out:
        assert first_error is not None
        raise first_error
    return out


def _call_options(config: Config, info: models.ModelInfo) -> dict[str, object]:
    """api_key / api_base from [providers.<prefix>] (first usable profile), reasoning."""
    opts: dict[str, object] = dict(_credentials(config, info))
    thinking = config.get("model.thinking")
    if thinking and thinking != "off" and not info.builtin:
        opts["reasoning_effort"] = thinking
    return opts


def _credentials(config: Config, info: models.ModelInfo) -> dict[str, str | None]:
    """api_key / api_base from [providers.<prefix>] (first usable profile)."""
    prefix = info.litellm_model.split("/", 1)[0]
    section = config.get(f"providers.{prefix}") or {}
    api_key = None
    for profile in section.get("profiles", []):
        api_key = profile.get("api_key") or os.environ.get(profile.get("api_key_env") or "")
        if api_key:
            break
    return {"api_key": api_key, "api_base": section.get("api_base")}


def _reply(
    user: dict, info: models.ModelInfo, outcome: models.StreamOutcome, started: float, status: str
) -> dict:
    return transcript.message(
        "assistant",
        outcome.text,
        model=info.name,
        usage=outcome.usage or None,
        duration_ms=int((time.monotonic() - started) * 1000),
        status=status,
        reply_to=user["id"],
    )


def _failure(user: dict, info: models.ModelInfo, error: str, reason: str) -> dict:
    return transcript.message(
        "assistant",
        "",
        model=info.name,
        status="error",
        error=error,
        reason=reason,
        reply_to=user["id"],
    )
