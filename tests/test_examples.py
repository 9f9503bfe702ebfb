"""The shipped examples must stay valid as the config schema changes."""

from __future__ import annotations

from pathlib import Path

from claw.state import config as cfg
from claw.state import config_schema

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_example_config_is_valid_and_documents_every_fixed_key() -> None:
    data = cfg.read_file(EXAMPLES / "config.toml")
    written = {k for k, _ in cfg.flatten(data)}
    fixed = {
        k
        for k in config_schema.all_keys()
        if "<name>" not in k and config_schema.lookup(k)[0].default is not None
    }
    assert fixed <= written, f"examples/config.toml does not show: {sorted(fixed - written)}"


def test_example_soul_has_content_for_the_model() -> None:
    from claw.agent.prompt import clean

    assert clean((EXAMPLES / "SOUL.md").read_text()).strip()
