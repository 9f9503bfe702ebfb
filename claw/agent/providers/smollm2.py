"""`local/smollm2`: SmolLM2-135M-Instruct run in-process by llama.cpp.

Small and weak, but real, offline and quick on a CPU: the default so that `claw send`
works on a fresh machine with no account anywhere. The model is loaded once per process
and used by one generation at a time (llama.cpp contexts are not thread-safe).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

from litellm.llms.custom_llm import CustomLLM

from claw.agent.providers.builtin import SMOLLM2_CONTEXT, broken_install, smollm2_path
from claw.agent.providers.stream import chunk, fill_response, final

_model: Any = None
_load_lock = threading.Lock()
_run_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """llama.cpp writes load-time chatter to fd 2 from C; keep the terminal clean."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load() -> Any:
    global _model
    with _load_lock:
        if _model is None:
            try:
                from llama_cpp import Llama
            except Exception as e:  # ImportError, OSError, RuntimeError (shared library)
                raise broken_install(e) from e

            with _quiet_stderr():
                _model = Llama(
                    model_path=str(smollm2_path()),
                    n_ctx=SMOLLM2_CONTEXT,
                    n_threads=max(1, os.cpu_count() or 1),
                    verbose=False,
                )
            atexit.register(_close)
        return _model


def _close() -> None:
    """Free the model before interpreter shutdown: llama-cpp-python's __del__ fails when
    it runs after the module globals it needs are gone."""
    global _model
    if _model is not None:
        with contextlib.suppress(Exception):
            _model.close()
        _model = None


def generate(messages: list[dict[str, Any]], max_tokens: int | None) -> Iterator[dict[str, Any]]:
    import litellm

    model = load()
    msgs = [{"role": m["role"], "content": str(m.get("content") or "")} for m in messages]
    with _run_lock:
        try:
            stream = model.create_chat_completion(
                messages=msgs,
                stream=True,
                max_tokens=max_tokens or 512,
                temperature=0.3,
                repeat_penalty=1.15,
            )
            produced = 0
            reason = "stop"
            for part in stream:
                choice = part["choices"][0]
                text = choice.get("delta", {}).get("content")
                if choice.get("finish_reason"):
                    reason = choice["finish_reason"]
                if text:
                    produced += 1
                    yield chunk(text)
        except ValueError as e:  # llama-cpp-python: "Requested tokens (…) exceed context window"
            if "context window" in str(e):
                raise litellm.ContextWindowExceededError(
                    message=str(e), model="smollm2", llm_provider="local"
                ) from e
            raise
        prompt_tokens = max(0, model.n_tokens - produced)
    yield final(prompt_tokens, produced, reason)


class SmolLM2Handler(CustomLLM):
    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
        max_tokens = (kwargs.get("optional_params") or {}).get("max_tokens")
        return fill_response(
            kwargs["model_response"], generate(messages, max_tokens), "local/smollm2"
        )

    def streaming(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Iterator[Any]:
        max_tokens = (kwargs.get("optional_params") or {}).get("max_tokens")
        return generate(messages, max_tokens)
