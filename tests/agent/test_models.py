"""The model seam: name resolution, error classification, the echo provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from claw.agent import completion, models
from claw.agent.models import classify, litellm
from claw.errors import ModelError


def lm() -> Any:
    return litellm()


CASES: list[tuple[str, Callable[[], BaseException], str]] = [
    ("RateLimitError", lambda: lm().RateLimitError("slow", "openai", "gpt-x"), "rate_limit"),
    ("AuthenticationError", lambda: lm().AuthenticationError("bad key", "openai", "gpt-x"), "auth"),
    (
        "ContextWindowExceededError",
        lambda: lm().ContextWindowExceededError("too long", "gpt-x", "openai"),
        "overflow",
    ),
    ("Timeout", lambda: lm().Timeout("too slow", "gpt-x", "openai"), "timeout"),
    ("BadRequestError", lambda: lm().BadRequestError("bad", "gpt-x", "openai"), "format"),
    ("NotFoundError", lambda: lm().NotFoundError("no model", "gpt-x", "openai"), "not_found"),
    (
        "APIConnectionError",
        lambda: lm().APIConnectionError("refused", "openai", "gpt-x"),
        "network",
    ),
]


@pytest.mark.parametrize(
    ("make", "reason"), [(m, r) for _, m, r in CASES], ids=[n for n, _, _ in CASES]
)
def test_classify_litellm_exceptions(make: Callable[[], BaseException], reason: str) -> None:
    err = classify(make(), "openai/gpt-x")
    assert isinstance(err, ModelError)
    assert err.reason == reason
    assert "openai/gpt-x" in err.message
    assert f"({reason})" in err.message


def test_classify_unwraps_mid_stream_fallback() -> None:
    from litellm.exceptions import MidStreamFallbackError

    inner = lm().RateLimitError("slow", "openai", "gpt-x")
    wrapped = MidStreamFallbackError("stream broke", "gpt-x", "openai", original_exception=inner)
    assert classify(wrapped, "openai/gpt-x").reason == "rate_limit"
    twice = MidStreamFallbackError("again", "gpt-x", "openai", original_exception=wrapped)
    assert classify(twice, "openai/gpt-x").reason == "rate_limit"


def test_classify_ignores_message_text() -> None:
    # The reason comes from the type: a message that talks about rate limits is not one.
    err = classify(lm().AuthenticationError("rate limit exceeded", "openai", "gpt-x"), "m")
    assert err.reason == "auth"


def test_classify_unknown_exception() -> None:
    err = classify(ValueError("boom"), "m")
    assert err.reason == "unknown"
    assert "boom" in err.message


def test_classify_passes_model_errors_through() -> None:
    original = ModelError("already classified", reason="billing")
    assert classify(original, "m") is original


def test_classify_gives_actionable_hints() -> None:
    assert "API key" in (classify(lm().AuthenticationError("x", "openai", "m"), "m").hint or "")
    assert "sessions clear" in (
        classify(lm().ContextWindowExceededError("x", "m", "openai"), "m").hint or ""
    )


def test_resolve_builtins() -> None:
    echo = models.resolve("echo")
    assert echo.name == "echo" and echo.builtin
    assert models.resolve(" echo ").name == "echo"
    assert {"echo", "local/smollm2"} <= set(models.known_builtins())


def test_resolve_litellm_name_passes_through() -> None:
    info = models.resolve("openai/gpt-4o-mini")
    assert info.litellm_model == "openai/gpt-4o-mini"
    assert not info.builtin
    assert info.context_window > 0


@pytest.mark.parametrize("name", ["nosuchprovider", "echo/nope", "local/gpt5", ""])
def test_resolve_unknown_names(name: str) -> None:
    with pytest.raises(ModelError) as e:
        models.resolve(name)
    assert e.value.reason in ("format", "unavailable")


def test_resolve_unknown_name_hint_lists_builtins() -> None:
    with pytest.raises(ModelError) as e:
        models.resolve("nosuchprovider")
    assert "echo" in (e.value.hint or "")


def _echo(text: str) -> tuple[list[str], completion.Completion]:
    outcome = completion.Completion()
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "an older question"},
        {"role": "assistant", "content": "an older answer"},
        {"role": "user", "content": text},
    ]
    opts = completion.CallOptions(max_tokens=64, timeout=30)
    pieces = list(completion.stream(models.resolve("echo"), messages, opts, outcome))
    assert all(kind == "text" for kind, _ in pieces)
    return [delta for _, delta in pieces], outcome


def test_echo_streams_word_deltas() -> None:
    text = "the quick brown fox"
    deltas, outcome = _echo(text)
    assert deltas == ["the ", "quick ", "brown ", "fox"]
    assert "".join(deltas) == text
    assert outcome.text == text
    assert outcome.usage["completion_tokens"] == 4
    assert outcome.usage["total_tokens"] == (
        outcome.usage["prompt_tokens"] + outcome.usage["completion_tokens"]
    )
    assert outcome.finish_reason == "stop"


def test_echo_keeps_inner_whitespace() -> None:
    text = "two  spaces\nand a line"
    deltas, _ = _echo(text)
    assert "".join(deltas) == text
    assert len(deltas) > 1


def test_echo_unwatched_is_one_piece_with_the_same_outcome() -> None:
    """No live consumer: an instant model is called without streaming; what lands in the
    Completion is the same as when streamed."""
    text = "the quick  brown fox"
    messages = [{"role": "user", "content": text}]
    streamed = completion.Completion()
    opts = completion.CallOptions(max_tokens=64, timeout=30)
    list(completion.stream(models.resolve("echo"), messages, opts, streamed))
    whole = completion.Completion()
    opts.live = False
    pieces = list(completion.stream(models.resolve("echo"), messages, opts, whole))
    assert pieces == [("text", text)]
    assert (whole.text, whole.usage, whole.finish_reason, whole.tool_calls) == (
        streamed.text,
        streamed.usage,
        streamed.finish_reason,
        streamed.tool_calls,
    )


def test_unwatched_models_that_are_not_instant_still_stream() -> None:
    from tests import scripted

    scripted.install(["one two three"])
    out = completion.Completion()
    opts = completion.CallOptions(max_tokens=64, timeout=30, live=False)
    info = models.resolve("scripted/test")
    assert not info.instant
    pieces = list(completion.stream(info, [{"role": "user", "content": "x"}], opts, out))
    assert len(pieces) > 1 and out.text == "one two three"


def test_builtin_models_are_free_and_known_to_litellm(caplog: pytest.LogCaptureFixture) -> None:
    # litellm prices every reply; for a model missing from its map it searches the whole
    # map for a near match on every call. Built-ins are in the map, and their replies
    # say up front that they cost nothing.
    lm_ = lm()
    entry = lm_.model_cost["echo/echo"]
    assert entry["input_cost_per_token"] == entry["output_cost_per_token"] == 0.0
    assert entry["max_input_tokens"] == models.resolve("echo").context_window
    assert "local/smollm2" in lm_.model_cost
    msgs = [{"role": "user", "content": "hi"}]
    with caplog.at_level("WARNING"):
        reply = lm_.completion(model="echo/echo", messages=msgs)
    assert reply.choices[0].message.content == "hi"
    assert reply._hidden_params["response_cost"] == 0.0
    assert not [r for r in caplog.records if "register_model" in r.getMessage()]
