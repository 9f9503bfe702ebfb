"""The end-to-end fixtures (a real daemon, the fake Telegram, Discord and model servers)
for every test in tests/channels: see e2e_helpers."""

from tests.channels.e2e_helpers import (  # noqa: F401 (fixtures, found by name)
    discord_fixture,
    model_fixture,
    stack_fixture,
    telegram_fixture,
)
