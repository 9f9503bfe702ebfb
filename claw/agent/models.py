"""The model seam: one registry, every call through litellm.

Model names are litellm's (`openai/gpt-4o-mini`, `ollama/llama3`, …) plus built-ins that are
registered as litellm custom providers (`echo`, `local/smollm2`), so a call to the embedded
model takes exactly the same path as a call to a hosted one. Tests register a scripted
provider through `register_provider` the same way.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from claw.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_WINDOW = 8192


@dataclass(frozen=True)
class ModelInfo:
    name: str  # as the user wrote it
    litellm_model: str  # what litellm is given
    context_window: int = DEFAULT_CONTEXT_WINDOW
    supports_tools: bool = False
    builtin: bool = False
    # Answers at once from local data (echo): nothing to abort or time out mid-call, so when
    # no one watches deltas it is called without streaming (litellm's stream wrapper costs
    # ~4 ms a call against ~1 ms for a plain call; see claw.agent.completion).
    instant: bool = False


@dataclass
class Provider:
    """A built-in provider: its litellm handler factory and the models it serves."""

    prefix: str
    handler_factory: Callable[[], Any]
    models: dict[str, ModelInfo] = field(default_factory=dict)
    check: Callable[[], None] | None = None  # raises ModelUnavailable when it cannot run
    default_context_window: int = DEFAULT_CONTEXT_WINDOW


_providers: dict[str, Provider] = {}
_registered: set[str] = set()
_lock = threading.Lock()


def register_provider(provider: Provider) -> None:
    with _lock:
        _providers[provider.prefix] = provider
        _registered.discard(provider.prefix)  # (re-)install on the next call


def resolve(name: str) -> ModelInfo:
    """What a model name means, checking built-ins can run (without importing litellm)."""
    name = name.strip()
    if not name:
        raise ModelError("no model name given", reason="format")
    prefix, _, rest = name.partition("/")
    provider = _providers.get(prefix)
    if provider is None:
        if not rest:
            raise ModelError(
                f"unknown model {name!r}",
                reason="format",
                hint="use a litellm name such as openai/gpt-4o-mini, or a built-in: "
                + ", ".join(known_builtins()),
            )
        window, tools = _litellm_facts(name)
        return ModelInfo(name, name, context_window=window, supports_tools=tools)
    if provider.check:
        provider.check()
    info = provider.models.get(rest or prefix)
    if info is None:
        if provider.models:
            raise ModelError(
                f"unknown model {name!r}",
                reason="format",
                hint="built-in models: " + ", ".join(known_builtins()),
            )
        return ModelInfo(
            name, f"{prefix}/{rest or prefix}", provider.default_context_window, builtin=True
        )
    return info


def known_builtins() -> list[str]:
    return sorted(m.name for p in _providers.values() for m in p.models.values())


def _litellm_facts(name: str) -> tuple[int, bool]:
    """(context window, can call tools) from litellm's local model map. A model it does
    not know gets the default window and no tools (sending tools to a model that cannot
    take them fails the call; a model without them still answers)."""
    try:
        info = litellm().get_model_info(name)
    except Exception:
        return DEFAULT_CONTEXT_WINDOW, False
    window = int(info.get("max_input_tokens") or info.get("max_tokens") or DEFAULT_CONTEXT_WINDOW)
    return window, bool(info.get("supports_function_calling"))


def litellm() -> Any:
    """Import litellm offline and quietly, and install our providers (once per process)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm as _litellm

    _litellm.suppress_debug_info = True  # it prints "Give Feedback" banners to stdout
    _litellm.disable_streaming_logging = True
    with _lock:
        missing = [p for p in _providers if p not in _registered]
        if missing:
            current = [
                e for e in (_litellm.custom_provider_map or []) if e.get("provider") not in missing
            ]
            for prefix in missing:
                current.append(
                    {"provider": prefix, "custom_handler": _providers[prefix].handler_factory()}
                )
                _registered.add(prefix)
            _litellm.custom_provider_map = current
            # litellm caches the provider list at import; keep it in step.
            from litellm.utils import custom_llm_setup

            custom_llm_setup()
            _litellm.register_model(_price_list(missing))
    return _litellm


def _price_list(prefixes: list[str]) -> dict[str, dict[str, Any]]:
    """litellm model-map entries for built-in models: free, with their context windows.

    Without one, litellm searches its whole map for a near match on every call to price
    the reply (about a quarter of an echo call's CPU). The cache-token prices are given
    so that `register_model` has nothing to warn about.
    """
    free = (
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_creation_input_token_cost",
        "cache_read_input_token_cost",
    )
    entries: dict[str, dict[str, Any]] = {}
    for prefix in prefixes:
        for info in _providers[prefix].models.values():
            entries[info.litellm_model] = {
                "litellm_provider": prefix,
                "mode": "chat",
                "max_input_tokens": info.context_window,
                "max_tokens": info.context_window,
                **dict.fromkeys(free, 0.0),
            }
    return entries


def classify(
    exc: BaseException, model: str, *, keyless: bool = False, litellm_model: str | None = None
) -> ModelError:
    """A ModelError whose reason comes from litellm's exception type, never its text.

    A ModelError raised inside a provider (the embedded model's broken install) arrives
    wrapped by litellm as a connection error: it is found in the exception chain and
    returned as it was. `keyless`: the call had no API key, so a failure of the provider's
    client while litellm's variable for it is unset is missing credentials, not "network"
    (the OpenAI client refuses before connecting; litellm reports that as a server error).
    """
    found = _raised_by_claw(exc)
    if found is not None:
        return found
    lm = litellm()
    # Errors raised inside a stream arrive wrapped; classify what really happened.
    from litellm.exceptions import MidStreamFallbackError

    while isinstance(exc, MidStreamFallbackError) and exc.original_exception is not None:
        exc = exc.original_exception
    table: list[tuple[tuple[type[BaseException], ...], str]] = [
        ((lm.ContextWindowExceededError,), "overflow"),
        ((lm.AuthenticationError, lm.PermissionDeniedError), "auth"),
        ((lm.RateLimitError,), "rate_limit"),
        ((lm.BudgetExceededError,), "billing"),
        ((lm.Timeout,), "timeout"),
        ((lm.NotFoundError,), "not_found"),
        ((lm.BadRequestError, lm.UnprocessableEntityError), "format"),
        ((lm.APIConnectionError, lm.ServiceUnavailableError, lm.InternalServerError), "network"),
    ]
    reason = next((r for types, r in table if isinstance(exc, types)), "unknown")
    if keyless and reason in ("auth", "network", "unknown"):
        missing = _missing_credentials(lm, litellm_model or model)
        if missing:
            return _no_credentials(model, litellm_model or model, missing)
    if reason == "format" and getattr(exc, "status_code", None) == 402:
        reason = "billing"
    detail = str(getattr(exc, "message", "") or exc).strip()
    detail = (detail.splitlines() or [type(exc).__name__])[0]
    detail = (
        detail.removeprefix("litellm.").split(": ", 1)[-1]
        if detail.startswith("litellm.")
        else detail
    )
    detail = detail[:300]
    from claw.agent.profiles import retry_after_seconds

    return ModelError(
        f"model {model} failed ({reason}): {detail}",
        reason=reason,
        hint=_HINTS.get(reason),
        retry_after=retry_after_seconds(exc),
    )


def _raised_by_claw(exc: BaseException) -> ModelError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 16:
        if isinstance(current, ModelError):
            return current
        seen.add(id(current))
        current = (
            getattr(current, "original_exception", None) or current.__cause__ or current.__context__
        )
    return None


def _missing_credentials(lm: Any, model: str) -> list[str]:
    """The provider's credential variables litellm finds unset (addresses left out: an
    unset OLLAMA_API_BASE is a network matter, and `api_base` in config covers it)."""
    try:
        missing = lm.validate_environment(model=model).get("missing_keys") or []
    except Exception:  # an unknown provider: nothing to say
        return []
    return [k for k in missing if not k.endswith(("_BASE", "_URL"))]


def _no_credentials(model: str, litellm_model: str, missing: list[str]) -> ModelError:
    from claw.agent.profiles import provider_of
    from claw.errors import MissingCredentials

    names = " or ".join(f"${k}" for k in missing)
    provider = provider_of(litellm_model)
    return MissingCredentials(
        f"model {model} failed (auth): no API key: {names} is not set and "
        f"[providers.{provider}] has no profile with a key",
        hint=f"export {missing[0]}=<your key>, or add a profile to config.toml: "
        f'[providers.{provider}] profiles = [{{ name = "main", api_key_env = "{missing[0]}" }}]',
    )


_HINTS = {
    "auth": "check the API key: [providers.<name>].profiles in config.toml, or the provider's "
    "usual environment variable (e.g. OPENAI_API_KEY)",
    "rate_limit": "the provider is rate limiting; wait and retry, or configure model.fallbacks",
    "overflow": "the conversation is too long for this model; `claw sessions clear KEY` starts "
    "afresh",
    "network": "the provider could not be reached; check the network and api_base",
    "not_found": "check the model name (litellm's names, e.g. openai/gpt-4o-mini)",
}


def _register_builtins() -> None:
    from claw.agent.providers import builtin

    for provider in builtin.providers():
        register_provider(provider)


_register_builtins()
