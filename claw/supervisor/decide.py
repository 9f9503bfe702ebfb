"""Which mode a turn runs in: forced, cheap classification, or (when the cheap score is
uncertain and `[supervisor].classifier_model` is set) a one-word LLM classification.

The classifier is built once per set of configured intents and cached; the LLM path is
the only one that imports model code (litellm), and only when it runs.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from claw.errors import ClawError, UsageError
from claw.state.config import Config
from claw.state.home import Home
from claw.supervisor.classifier import Classifier, Decision
from claw.supervisor.intents import MODES, load_intents

log = logging.getLogger(__name__)

CHOICES = ("auto", *MODES)
_lock = threading.Lock()
_cache: dict[str, Classifier] = {}

LLM_PROMPT = (
    "Classify the user's message for an assistant. Answer with exactly one word:\n"
    "fast - small talk, an acknowledgement, or a simple factual question answered in a "
    "sentence without tools or files;\n"
    "single - one task, which may need tools, files, reminders or a longer answer;\n"
    "multi - several separable sub-tasks, or research that compares or covers several "
    "things.\nMessage:\n"
)


def check_mode(mode: str | None) -> str:
    mode = mode or "auto"
    if mode not in CHOICES:
        raise UsageError(f"mode: expected one of {', '.join(CHOICES)}, got {mode!r}")
    return mode


def classifier(config: Config) -> Classifier:
    configured = config.get("supervisor.intents") or {}
    key = repr(sorted(configured.items()))
    with _lock:
        found = _cache.get(key)
        if found is None:
            found = _cache[key] = Classifier(load_intents(configured))
        return found


def decide(
    config: Config, text: str, mode: str | None = None, home: Home | None = None
) -> Decision:
    """The mode for `text`; `mode` other than auto forces it. The LLM fallback needs
    `home` (auth-profile cooldowns live there)."""
    mode = check_mode(mode)
    if mode != "auto":
        return Decision(mode, "forced", 1.0, "forced")
    if not config.get("supervisor.enabled", True):
        return Decision("single", "disabled", 1.0, "default", reason="supervisor.enabled is false")
    cheap = classifier(config).classify(
        text,
        min_score=int(config.get("supervisor.uncertain_below", 30)) / 100,
        margin=int(config.get("supervisor.uncertain_margin", 5)) / 100,
    )
    model = config.get("supervisor.classifier_model")
    if not cheap.uncertain or not model or home is None:
        return cheap
    return llm_decide(home, config, str(model), text, cheap)


def llm_decide(home: Home, config: Config, model: str, text: str, cheap: Decision) -> Decision:
    """Ask a cheap model; on any failure keep the cheap decision (and say why)."""
    from claw.agent import models
    from claw.supervisor.modelcall import ask

    messages: list[dict[str, Any]] = [{"role": "user", "content": LLM_PROMPT + text[:2000]}]
    try:
        reply = ask(home, config, [models.resolve(model)], messages, max_tokens=8, timeout=15.0)
        answer = reply.text.strip().lower()
    except ClawError as e:
        log.warning("supervisor.classifier_model %s failed: %s", model, e)
        return Decision(cheap.mode, cheap.intent, cheap.score, cheap.source, True, "llm failed")
    word = next((w for w in answer.replace(".", " ").split() if w in MODES), None)
    if word is None:
        return Decision(cheap.mode, cheap.intent, cheap.score, cheap.source, True, "llm unclear")
    return Decision(word, cheap.intent if word == cheap.mode else "llm", cheap.score, "llm")
