"""Set-up problems are named as such, not as a network failure: a llama.cpp install that
cannot load, and a hosted model with no API key. Both go through the real litellm call
path (no network: the OpenAI client refuses before connecting without a key)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from claw.errors import ModelError
from claw.gateway.rpc_errors import MODEL_FAILURE, from_claw_error
from claw.state.cooldowns import CooldownStore
from claw.state.home import Home
from tests.agent._helpers import turn
from tests.conftest import run_claw

REPO = Path(__file__).resolve().parents[2]
OPENAI_KEYS = ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE")


def _fake_llama(tmp_path: Path, error: str) -> Path:
    """A llama_cpp package whose import fails the way a broken build does."""
    pkg = tmp_path / "fake" / "llama_cpp"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"raise {error}\n")
    return pkg.parent


def _env(home: Home, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in OPENAI_KEYS}
    return {**base, "CLAW_HOME": str(home.root), **extra}


@pytest.mark.parametrize(
    "error",
    [
        "RuntimeError(\"Failed to load shared library '/x/libllama.so': libggml.so: "
        'cannot open shared object file")',
        "OSError('libllama.so: undefined symbol: ggml_backend_load')",
        "ImportError('cannot import name Llama')",
    ],
    ids=["runtime", "oserror", "importerror"],
)
def test_a_broken_llama_cpp_install_says_how_to_reinstall(
    home: Home, tmp_path: Path, error: str
) -> None:
    fake = _fake_llama(tmp_path, error)
    env = _env(home, PYTHONPATH=f"{fake}{os.pathsep}{REPO}")
    r = run_claw("send", "--local", "--model", "local/smollm2", "hi", env=env)
    assert r.returncode == 1, r.stderr
    assert "network" not in r.stderr
    assert "llama-cpp-python" in r.stderr and "cannot be loaded" in r.stderr
    assert "--force-reinstall" in r.stderr and "scripts/install" in r.stderr


def test_missing_credentials_are_an_auth_error_naming_the_variable(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in OPENAI_KEYS:
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(ModelError) as err:
        turn(home, "hi", model="openai/gpt-4o-mini")
    e = err.value
    assert e.reason == "auth"
    assert "OPENAI_API_KEY" in e.message and "network" not in e.message
    assert "OPENAI_API_KEY" in (e.hint or "") and "providers.openai" in (e.hint or "")
    # Not the key's fault: nothing cools down, so setting the variable works at once.
    assert CooldownStore(home).all() == []
    rpc = from_claw_error(e)
    assert rpc.code == MODEL_FAILURE and rpc.data["reason"] == "auth"


def test_claw_send_reports_missing_credentials(home: Home) -> None:
    r = run_claw("send", "--local", "--model", "openai/gpt-4o-mini", "hi", env=_env(home))
    assert r.returncode == 1, r.stderr
    assert "auth" in r.stderr and "OPENAI_API_KEY" in r.stderr
    assert "network" not in r.stderr


def test_every_failure_reason_is_documented() -> None:
    """The reasons classify, the failover and the turn produce are REASONS, and the README's
    Failure reasons list names each (claw send and the gateway's -32005 show them)."""
    import re

    from claw.agent.failover import REASONS
    from claw.agent.models import classify, litellm
    from claw.errors import MissingCredentials, ModelUnavailable

    lm = litellm()
    produced = {
        classify(exc, "m").reason
        for exc in (
            lm.RateLimitError("x", "openai", "m"),
            lm.AuthenticationError("x", "openai", "m"),
            lm.ContextWindowExceededError("x", "m", "openai"),
            lm.Timeout("x", "m", "openai"),
            lm.BadRequestError("x", "m", "openai"),
            lm.NotFoundError("x", "m", "openai"),
            lm.APIConnectionError("x", "openai", "m"),
            lm.BudgetExceededError(1.0, 2.0),
            ValueError("x"),
        )
    }
    produced |= {ModelUnavailable("x").reason, MissingCredentials("x").reason}
    produced |= {"overflow_hard", "budget", "cooling_down"}  # turn.py, failover.py
    assert produced == set(REASONS)
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("- **Failure reasons**") :]
    section = section[: section.index("\n- **")]
    assert set(re.findall(r"`([a-z_]+)`", section)) >= set(REASONS)
