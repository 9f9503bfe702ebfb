"""What a turn is asked: its text, which agent and which models, checked before anything
is written."""

from __future__ import annotations

import logging

from claw.agent import models
from claw.errors import MessageTooLong, ModelError, NotFound, UsageError
from claw.state.config import Config
from claw.state.names import validate_agent_id

log = logging.getLogger(__name__)


def check_text(text: str) -> str:
    """A message to send: not empty, not only white space (every entry point checks it)."""
    if not text.strip():
        raise UsageError("nothing to send: the message is empty")
    return text


def check_fits(info: models.ModelInfo, text: str, room: int, reply_tokens: int) -> None:
    """Refuse, before it is stored, a message that alone overflows the `room` its model
    leaves for history: compaction only shortens older history, so no call could ever
    carry it, and a stored copy would be a question the session can never answer."""
    from claw.state.transcript import estimate_tokens

    need = estimate_tokens({"content": text})
    if need > room:
        raise MessageTooLong(
            f"the message is too long for {info.name}: about {need} tokens, and its "
            f"{info.context_window}-token context window leaves {room} for it "
            f"({reply_tokens} are kept for the reply, the rest for the system prompt)",
            hint="send a shorter message (or a file path to read), lower "
            "model.max_tokens, or use a model with a larger context window",
        )


CONTEXT_HARD_MIN = 1024  # tokens: below this no useful turn fits
CONTEXT_WARN_BELOW = 4096
_warned: set[str] = set()


def check_agent(config: Config, agent_id: str) -> str:
    validate_agent_id(agent_id)
    if agent_id not in config.agent_ids():
        raise NotFound(
            f"unknown agent {agent_id!r}; configured agents: {', '.join(config.agent_ids())}"
        )
    return agent_id


def candidates_for(config: Config, agent_id: str, explicit: str | None) -> list[models.ModelInfo]:
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


def guard_context(info: models.ModelInfo) -> None:
    if info.context_window < CONTEXT_HARD_MIN:
        raise ModelError(
            f"{info.name} has a {info.context_window}-token context window; claw needs at "
            f"least {CONTEXT_HARD_MIN}",
            reason="format",
            hint="choose a larger model",
        )
    if info.context_window < CONTEXT_WARN_BELOW and info.name not in _warned:
        _warned.add(info.name)
        level = logging.DEBUG if info.builtin else logging.WARNING
        log.log(
            level,
            "%s has a small context window (%d tokens): long conversations will be compacted often",
            info.name,
            info.context_window,
        )
